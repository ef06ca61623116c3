package ingest

import "bytes"

// Auto-detection tries every plausible parser on the first lines of a log
// and settles on the one that explains them best. It only ever looks at
// the line in hand: nothing is buffered, and every line gets a result while
// the decision is pending.
const (
	// detectStreak is how many consecutive lines one format must win to be
	// chosen early.
	detectStreak = 8
	// detectMaxLines is how many lines a streaming auto parser looks at
	// before it settles for the format that won most of them.
	detectMaxLines = 64
	// detectMaxSample bounds the lines Detect reads.
	detectMaxSample = 1024
)

// lineFamily groups formats whose lines look alike, so that a line is first
// tried against the parsers it resembles.
type lineFamily uint8

const (
	famJSON lineFamily = iota
	famEnvoyText
	famALB
	famHAProxy
	famCLF
	famAny // tried on every line: the operator's own log_format
)

// detectCandidates lists the formats auto-detection knows, in order of
// preference among equally good matches. They are looked up by name, so a
// format whose parser is not registered is simply skipped.
var detectCandidates = [...]struct {
	name string
	fam  lineFamily
}{
	{"nginx_json", famJSON},
	{"envoy_json", famJSON},
	{"kong", famJSON},
	{"traefik_json", famJSON},
	{"aws_apigw", famJSON},
	{"envoy_text", famEnvoyText},
	{"aws_alb", famALB},
	{"haproxy_http", famHAProxy},
	{"nginx", famAny}, // only when ParserOptions.LogFormat is set
	{"nginx_combined", famCLF},
	{"apache_combined", famCLF},
	{"apache_common", famCLF},
	{"apache_vhost_combined", famCLF},
}

// detectScorer is implemented by parsers that can say how well the last
// line they parsed fitted them (the JSON parsers: how many keys they knew).
type detectScorer interface {
	detectScore() int
}

type autoCandidate struct {
	name string
	fam  lineFamily
	p    Parser
	wins int   // lines on which it was the best match
	oks  int   // lines it parsed
	err  error // its error on the last line it failed
}

// autoParser is the Parser returned by NewAutoParser.
type autoParser struct {
	cands  []autoCandidate
	chosen Parser
	lines  int // non-blank lines seen while undecided
	last   int // candidate that won the previous line, or -1
	streak int
	apache bool // some line carried evidence of Apache rather than nginx
}

// NewAutoParser returns a parser that detects the format from the lines it
// is given. Until it has decided, its Format is "auto" and it parses each
// line with every plausible format, returning the best result; it decides
// when one format has won detectStreak consecutive lines, or after
// detectMaxLines lines for the format that won most of them. From then on
// it is exactly that format's parser.
//
// With opts.LogFormat set, the "nginx" log_format parser is a candidate
// too, and preferred on every line it parses.
func NewAutoParser(opts ParserOptions) Parser {
	a := &autoParser{last: -1}
	for _, c := range detectCandidates {
		f, ok := parserFactories[c.name]
		if !ok {
			continue
		}
		if c.name == "nginx" && opts.LogFormat == "" {
			continue
		}
		p, err := f.new(opts)
		if err != nil {
			continue
		}
		a.cands = append(a.cands, autoCandidate{name: c.name, fam: c.fam, p: p})
	}
	return a
}

// Format returns the detected format, or "auto" while undecided.
func (a *autoParser) Format() string {
	if a.chosen != nil {
		return a.chosen.Format()
	}
	return "auto"
}

// Parse implements Parser.
func (a *autoParser) Parse(line []byte, ev *Event) error {
	if a.chosen != nil {
		return a.chosen.Parse(line, ev)
	}
	best, err := a.observe(line, ev)
	if err == ErrEmptyLine {
		return err
	}
	switch {
	case a.streak >= detectStreak:
		a.lock(best)
	case a.lines >= detectMaxLines:
		if i := a.leader(); i >= 0 {
			a.lock(i)
		}
	}
	return err
}

// Detect guesses the format of a sample of lines (at most detectMaxSample
// are read), for reporting and for callers that pick a parser up front. It
// reports false when no known format parses any of them.
func Detect(lines [][]byte) (format string, ok bool) {
	a := NewAutoParser(ParserOptions{}).(*autoParser)
	var ev Event
	for i, line := range lines {
		if i == detectMaxSample {
			break
		}
		ev.Reset()
		a.observe(line, &ev)
	}
	i := a.leader()
	if i < 0 {
		return "", false
	}
	return a.cands[i].name, true
}

// observe parses line with the candidates it resembles (then, if none fits,
// with all others), leaves the best result in ev and tallies it. It returns
// the index of the best candidate, or -1 and an error.
func (a *autoParser) observe(line []byte, ev *Event) (int, error) {
	start := 0
	for start < len(line) && (line[start] == ' ' || line[start] == '\t' || line[start] == '\r' || line[start] == '\n') {
		start++
	}
	if start == len(line) {
		return -1, ErrEmptyLine
	}
	fam := sniffFamily(line[start:])
	apacheHint := fam == famCLF && apacheEvidence(line)
	if apacheHint {
		a.apache = true
	}

	// Each attempt starts from the event as the caller handed it over.
	saved := *ev
	n0 := len(ev.scratch)
	restore := func() {
		s := ev.scratch[:n0]
		*ev = saved
		ev.scratch = s
	}

	best, bestScore, parsed := -1, 0, -1
	for pass := 0; pass < 2 && best < 0; pass++ {
		for i := range a.cands {
			c := &a.cands[i]
			if (c.fam == fam || c.fam == famAny) != (pass == 0) {
				continue
			}
			restore()
			parsed = i
			if err := c.p.Parse(line, ev); err != nil {
				c.err = err
				continue
			}
			c.oks++
			if s := a.score(c, apacheHint); s > bestScore {
				best, bestScore = i, s
			}
		}
	}
	a.lines++
	if best < 0 {
		a.last, a.streak = -1, 0
		restore()
		return -1, a.failure()
	}
	if parsed != best {
		restore()
		if err := a.cands[best].p.Parse(line, ev); err != nil {
			return -1, err // cannot happen for a deterministic parser; be safe
		}
	}
	a.cands[best].wins++
	if best == a.last {
		a.streak++
	} else {
		a.last, a.streak = best, 1
	}
	return best, nil
}

// score rates a successful parse: JSON formats by how many keys they
// recognised (a line of one JSON format often parses as another with a
// handful of common keys), text formats by shape evidence the parsers
// cannot see.
func (a *autoParser) score(c *autoCandidate, apacheHint bool) int {
	s := 1
	if ds, ok := c.p.(detectScorer); ok {
		s += ds.detectScore()
	}
	switch c.name {
	case "nginx":
		s += 1 << 20 // the operator gave its log_format: believe it whenever it fits
	case "apache_combined", "apache_common":
		if apacheHint {
			s++
		}
	case "apache_vhost_combined":
		// It parses only lines that start with a host and then an
		// address, which the other CLF formats read with the host as the
		// client: whenever it parses, it is the better reading.
		s += 2
	}
	return s
}

// failure is the error for a line no candidate parsed: the error of the
// format leading so far, which says what is wrong with the line for the
// format it most likely is.
func (a *autoParser) failure() error {
	if i := a.leader(); i >= 0 && a.cands[i].err != nil {
		return a.cands[i].err
	}
	return &ParseError{Format: "auto", Reason: "unrecognised format"}
}

// leader returns the candidate that won most lines (ties go to the one
// that parsed most, then to the earlier in detectCandidates), or -1 when
// none won any.
func (a *autoParser) leader() int {
	best := -1
	for i := range a.cands {
		c := &a.cands[i]
		if c.wins == 0 {
			continue
		}
		if best < 0 || c.wins > a.cands[best].wins ||
			c.wins == a.cands[best].wins && c.oks > a.cands[best].oks {
			best = i
		}
	}
	return a.preferApache(best)
}

// preferApache turns a choice of nginx_combined into apache_combined when
// some line carried an Apache-only trait and apache_combined parsed every
// line nginx_combined did: the two formats are the same shape, so most
// lines could have come from either.
func (a *autoParser) preferApache(i int) int {
	if i < 0 || !a.apache || a.cands[i].name != "nginx_combined" {
		return i
	}
	for j := range a.cands {
		if a.cands[j].name == "apache_combined" && a.cands[j].oks >= a.cands[i].oks {
			return j
		}
	}
	return i
}

func (a *autoParser) lock(i int) {
	a.chosen = a.cands[a.preferApache(i)].p
	a.cands = nil
}

// sniffFamily guesses a line's lineFamily from its first bytes (line starts
// with a non-blank).
func sniffFamily(line []byte) lineFamily {
	switch {
	case line[0] == '{':
		return famJSON
	case (line[0] == '<' || bsdStampAt(line)) && bytes.Contains(line, []byte(": {")):
		return famJSON // through syslog to a file: "Mar  1 10:00:00 web1 nginx: {..."
	case line[0] == '[' && looksISOTime(line[1:]):
		return famEnvoyText // [2026-11-23T10:00:00.000Z] "GET / HTTP/1.1" ...
	}
	for _, p := range [...]string{"http ", "https ", "h2 ", "grpcs ", "ws ", "wss "} {
		if len(line) > len(p) && string(line[:len(p)]) == p {
			if looksISOTime(line[len(p):]) {
				return famALB
			}
			break
		}
	}
	if looksHAProxy(line) {
		return famHAProxy
	}
	return famCLF
}

func looksISOTime(b []byte) bool {
	return len(b) >= 19 && asciiDigit(b[0]) && asciiDigit(b[3]) && b[4] == '-' && b[7] == '-' &&
		(b[10] == 'T' || b[10] == ' ') && b[13] == ':'
}

func asciiDigit(c byte) bool { return '0' <= c && c <= '9' }

// looksHAProxy finds HAProxy's accept date, "[06/Feb/2009:12:14:14.655]":
// CLF-like but with milliseconds, which nginx and Apache never log there.
func looksHAProxy(line []byte) bool {
	rest := line
	for n := 0; n < 4; n++ {
		i := bytes.IndexByte(rest, '[')
		if i < 0 {
			return false
		}
		b := rest[i+1:]
		if len(b) >= 25 && b[2] == '/' && b[6] == '/' && b[11] == ':' && b[14] == ':' && b[17] == ':' &&
			b[20] == '.' && asciiDigit(b[0]) && asciiDigit(b[21]) {
			return true
		}
		rest = b
	}
	return false
}

// apacheEvidence reports a trait of Apache's combined/common format that
// nginx never writes: "-" for an empty body (%b; nginx's $body_bytes_sent
// logs 0). Quotes escaped as \" rather than nginx's \x22 would be another,
// but some nginx-fed pipelines rewrite escapes, so it is not trusted.
func apacheEvidence(line []byte) bool {
	// `" 304 -` then a space or the end of the line.
	rest := line
	for {
		i := bytes.Index(rest, []byte(`" `))
		if i < 0 {
			return false
		}
		b := rest[i+2:]
		if len(b) >= 5 && asciiDigit(b[0]) && asciiDigit(b[1]) && asciiDigit(b[2]) && b[3] == ' ' && b[4] == '-' &&
			(len(b) == 5 || b[5] == ' ') {
			return true
		}
		rest = rest[i+2:]
	}
}
