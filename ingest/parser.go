package ingest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// A Parser reads one access-log line into an Event.
//
// Parse must not panic on any input and must not retain line. On success
// the event's strings may alias line (see the package doc). A Parser is not
// safe for concurrent use: give each goroutine its own (NewParser is cheap).
type Parser interface {
	// Format names the format, as accepted by NewParser.
	Format() string
	// Parse fills ev (which the caller has Reset) from line, which has no
	// trailing newline. It returns a *ParseError when the line is not of the
	// parser's format.
	Parse(line []byte, ev *Event) error
}

// ParseError says why a line could not be parsed. Reason is short, fixed
// text (it labels a metric and a dead-letter record), never the line itself.
type ParseError struct {
	Format string
	Reason string
}

func (e *ParseError) Error() string { return e.Format + ": " + e.Reason }

// ErrEmptyLine is returned for blank lines, which callers usually skip
// rather than dead-letter.
var ErrEmptyLine = errors.New("empty line")

// ParserOptions configure parsers that need more than a format name.
type ParserOptions struct {
	// LogFormat is an nginx log_format string, verbatim, for the
	// "nginx" format (e.g. `$remote_addr - $remote_user [$time_local] ...`).
	// Ignored by other formats.
	LogFormat string
	// VerifiedField names the log field or request header the gateway sets
	// once it verified the caller (NormalizerOptions.Identity): a JSON key
	// (a dotted path, or a last segment such as "x-jwt-verified" under
	// any headers object) or an nginx variable ($http_x_jwt_verified, or
	// the name itself). Its value goes to RawFields.IdentityVerified.
	// Read by the JSON formats and "nginx" (log_format); a Decoder takes
	// it from its normaliser options when it is empty here.
	VerifiedField string
}

type parserFactory struct {
	doc string
	new func(ParserOptions) (Parser, error)
}

// The registry is filled by init functions in this package only and never
// changed afterwards, so it is not mutable state.
var parserFactories = map[string]parserFactory{}

func registerParser(name, doc string, f func(ParserOptions) (Parser, error)) {
	if _, dup := parserFactories[name]; dup {
		panic("ingest: parser registered twice: " + name)
	}
	parserFactories[name] = parserFactory{doc: doc, new: f}
}

// NewParser returns a parser for the named format. "auto" returns a parser
// that detects the format from the first lines it sees (see Detect).
func NewParser(format string, opts ParserOptions) (Parser, error) {
	if format == "" || format == "auto" {
		return NewAutoParser(opts), nil
	}
	f, ok := parserFactories[format]
	if !ok {
		return nil, fmt.Errorf("unknown log format %q (known: %s)", format, strings.Join(Formats(), ", "))
	}
	p, err := f.new(opts)
	if err != nil {
		return nil, fmt.Errorf("format %s: %w", format, err)
	}
	return p, nil
}

// Formats lists the names NewParser accepts, sorted ("auto" excluded).
func Formats() []string {
	names := make([]string, 0, len(parserFactories))
	for n := range parserFactories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// FormatDoc returns a one-line description of a format, for --help.
func FormatDoc(format string) string { return parserFactories[format].doc }
