package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/buger/jsonparser"
)

func init() {
	registerParser("nginx",
		"any nginx log_format, given verbatim as the log format option (a bare format string, the quoted parts, or the whole log_format directive; escape=json understood)",
		func(o ParserOptions) (Parser, error) {
			p, err := newLogFormatParser(o.LogFormat)
			if err != nil {
				return nil, err
			}
			p.setVerifiedField(o.VerifiedField)
			return p, nil
		})
}

// combinedLogFormat is nginx's predefined "combined" format.
const combinedLogFormat = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

// maxLogFormatVars bounds a format's variables so parse state fits in a
// fixed array on the parser.
const maxLogFormatVars = 64

// lfEscape is how nginx escaped variable values (log_format's escape=).
type lfEscape uint8

const (
	escDefault lfEscape = iota // ", \ and bytes outside 0x20-0x7e as \xHH
	escJSON                    // JSON string escapes
	escNone                    // nothing escaped
)

var escapeNames = [...]string{"default", "json", "none"}

// lfKind says which event field a log_format variable feeds.
type lfKind uint8

const (
	lfIgnored lfKind = iota
	lfRemoteAddr
	lfRealIPRemoteAddr
	lfXFF
	lfProxyAddXFF
	lfTimeLocal
	lfTimeISO
	lfMsec
	lfRequest
	lfMethod
	lfRequestURI
	lfURI
	lfArgs
	lfStatus
	lfBodyBytes
	lfBytesSent
	lfRequestLength
	lfRequestTime
	lfUpstreamTime
	lfReferer
	lfUserAgent
	lfHTTPHost
	lfHost
	lfServerName
	lfScheme
	lfHTTPS
	lfSSLProtocol
	lfSSLClientDN
	lfSSLClientVerify
	lfRequestID
	lfHTTPRequestID
	lfAPIKey
	lfAuthorization
	lfVersion
	lfJWTSub
	lfNumKinds
)

// logFormatVars maps the variables gatewatch understands to what they
// feed. Variables not listed ($binary_remote_addr, $remote_user,
// $server_protocol, $connection, ...) are matched and ignored. When a format
// has several variables for one field the order of preference is fixed in
// logFormatParser.fill.
var logFormatVars = map[string]lfKind{
	"remote_addr":               lfRemoteAddr,
	"realip_remote_addr":        lfRealIPRemoteAddr,
	"http_x_forwarded_for":      lfXFF,
	"proxy_add_x_forwarded_for": lfProxyAddXFF,
	"time_local":                lfTimeLocal,
	"time_iso8601":              lfTimeISO,
	"msec":                      lfMsec,
	"request":                   lfRequest,
	"request_method":            lfMethod,
	"request_uri":               lfRequestURI,
	"uri":                       lfURI,
	"document_uri":              lfURI,
	"args":                      lfArgs,
	"query_string":              lfArgs,
	"status":                    lfStatus,
	"body_bytes_sent":           lfBodyBytes,
	"bytes_sent":                lfBytesSent,
	"request_length":            lfRequestLength,
	"request_time":              lfRequestTime,
	"upstream_response_time":    lfUpstreamTime,
	"http_referer":              lfReferer,
	"http_user_agent":           lfUserAgent,
	"http_host":                 lfHTTPHost,
	"host":                      lfHost,
	"server_name":               lfServerName,
	"scheme":                    lfScheme,
	"https":                     lfHTTPS,
	"ssl_protocol":              lfSSLProtocol,
	"ssl_client_s_dn":           lfSSLClientDN,
	"ssl_client_verify":         lfSSLClientVerify,
	"request_id":                lfRequestID,
	"http_x_request_id":         lfHTTPRequestID,
	"http_x_api_key":            lfAPIKey,
	"http_authorization":        lfAuthorization,
	"http_x_api_version":        lfVersion,
	"http_accept_version":       lfVersion,
	"jwt_claim_sub":             lfJWTSub,
	"jwt_sub":                   lfJWTSub,
}

// lfVar is one variable of a compiled format and the literal that follows
// it, which is where its value ends.
type lfVar struct {
	name  string // lower-case, without '$'
	kind  lfKind
	width int    // fixed width of every value (the time variables); 0 if it varies
	token bool   // values never hold a space
	next  string // literal after the value; "" when the value runs to the end of the line
}

// logFormat is a compiled nginx log_format: a leading literal, then
// variables each followed by the literal that separates it from the next.
type logFormat struct {
	text   string // the format string, after directive quoting is removed
	escape lfEscape
	prefix string
	vars   []lfVar
	slot   [lfNumKinds]int8 // index in vars of the first variable of a kind, -1 if none
}

// compileLogFormat compiles what a user gave as ParserOptions.LogFormat:
//
//   - a format string verbatim: $remote_addr - [$time_local] "$request" ...
//   - the name "combined" (nginx's predefined format);
//   - the quoted parts of a log_format directive, as they appear in
//     nginx.conf: '$remote_addr - ' '"$request" ...' (concatenated, with
//     nginx's quoting rules; must start with a single quote);
//   - the above preceded by escape=json, escape=default or escape=none;
//   - the whole directive: log_format main escape=json '{...}';
func compileLogFormat(spec string) (*logFormat, error) {
	text, esc, err := logFormatText(spec)
	if err != nil {
		return nil, err
	}
	return compileLogFormatText(text, esc)
}

func logFormatText(spec string) (string, lfEscape, error) {
	s := strings.TrimSpace(spec)
	switch {
	case s == "":
		return "", 0, errors.New("empty log format: set the nginx log_format string")
	case s == "combined":
		return combinedLogFormat, escDefault, nil
	case hasWord(s, "log_format"):
		name, rest := cutWord(strings.TrimSpace(s[len("log_format"):]))
		if n, ok := strings.CutSuffix(name, ";"); ok {
			name, rest = n, ";"+rest
		}
		if name == "" {
			return "", 0, errors.New("log_format directive has no name")
		}
		esc, rest, err := cutEscape(rest)
		if err != nil {
			return "", 0, err
		}
		text, err := confArgs(rest, true)
		if err != nil {
			return "", 0, fmt.Errorf("log_format %s: %w", name, err)
		}
		if text == "" {
			if name == "combined" {
				return combinedLogFormat, esc, nil
			}
			return "", 0, fmt.Errorf("log_format %s has no format string", name)
		}
		return text, esc, nil
	case strings.HasPrefix(s, "escape="):
		esc, rest, err := cutEscape(s)
		if err != nil {
			return "", 0, err
		}
		if rest != "" && rest[0] == '\'' {
			if text, err := confArgs(rest, false); err == nil {
				return text, esc, nil
			}
		}
		if rest == "" {
			return "", 0, errors.New("escape= without a format string")
		}
		return rest, esc, nil
	case s[0] == '\'':
		// The quoted parts of a directive. A verbatim format that happens
		// to start with a single quote does not tokenize as quoted strings
		// and is taken as it is.
		if text, err := confArgs(s, false); err == nil && text != "" {
			return text, escDefault, nil
		}
	}
	return s, escDefault, nil
}

func hasWord(s, w string) bool {
	return strings.HasPrefix(s, w) && (len(s) == len(w) || isConfSpace(s[len(w)]))
}

func isConfSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// cutWord splits s at its first run of white space.
func cutWord(s string) (word, rest string) {
	i := strings.IndexFunc(s, func(r rune) bool { return r < 0x80 && isConfSpace(byte(r)) })
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// cutEscape reads an optional leading escape=VALUE.
func cutEscape(s string) (lfEscape, string, error) {
	if !strings.HasPrefix(s, "escape=") {
		return escDefault, s, nil
	}
	word, rest := cutWord(s)
	val := word[len("escape="):]
	for i, n := range escapeNames {
		if val == n {
			return lfEscape(i), rest, nil
		}
	}
	return 0, "", fmt.Errorf("unknown %s (want escape=default, escape=json or escape=none)", word)
}

// confArgs concatenates the arguments of an nginx directive, as nginx does
// for log_format: quoted strings ('...' or "...", with \", \', \\, \t, \r
// and \n unescaped) and, when bare is true, unquoted words, up to an
// optional final ';'.
func confArgs(s string, bare bool) (string, error) {
	var b strings.Builder
	i := 0
	for {
		for i < len(s) && isConfSpace(s[i]) {
			i++
		}
		if i == len(s) {
			return b.String(), nil
		}
		c := s[i]
		switch {
		case c == ';':
			if strings.TrimSpace(s[i+1:]) != "" {
				return "", errors.New("text after ';'")
			}
			return b.String(), nil
		case c == '\'' || c == '"':
			i++
			closed := false
			for i < len(s) && !closed {
				ch := s[i]
				switch {
				case ch == '\\' && i+1 < len(s):
					switch e := s[i+1]; e {
					case '"', '\'', '\\':
						b.WriteByte(e)
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					case 'n':
						b.WriteByte('\n')
					default:
						b.WriteByte('\\')
						b.WriteByte(e)
					}
					i += 2
				case ch == c:
					closed = true
					i++
				default:
					b.WriteByte(ch)
					i++
				}
			}
			if !closed {
				return "", errors.New("unterminated quoted string")
			}
			if i < len(s) && !isConfSpace(s[i]) && s[i] != ';' {
				return "", fmt.Errorf("unexpected %q after a quoted string", s[i])
			}
		case !bare:
			return "", errors.New("expected a quoted string")
		default:
			j := i
			for j < len(s) && !isConfSpace(s[j]) && s[j] != ';' {
				j++
			}
			b.WriteString(s[i:j])
			i = j
		}
	}
}

func compileLogFormatText(text string, esc lfEscape) (*logFormat, error) {
	f := &logFormat{text: text, escape: esc}
	for i := range f.slot {
		f.slot[i] = -1
	}
	litStart := 0
	for i := 0; i < len(text); {
		if text[i] != '$' {
			i++
			continue
		}
		lit := text[litStart:i]
		j := i + 1
		brace := j < len(text) && text[j] == '{'
		if brace {
			j++
		}
		start := j
		for j < len(text) && isVarNameChar(text[j]) {
			j++
		}
		name := text[start:j]
		if brace {
			if j == len(text) || text[j] != '}' {
				return nil, fmt.Errorf("log format: variable ${%s is missing its closing '}'", name)
			}
			j++
		}
		if name == "" {
			return nil, fmt.Errorf("log format: '$' at offset %d is not followed by a variable name", i)
		}
		name = strings.ToLower(name)
		if n := len(f.vars); n == 0 {
			f.prefix = lit
		} else if lit == "" {
			return nil, fmt.Errorf("log format: $%s and $%s are adjacent, so their values cannot be told apart; put a separator between them", f.vars[n-1].name, name)
		} else {
			f.vars[n-1].next = lit
		}
		if len(f.vars) == maxLogFormatVars {
			return nil, fmt.Errorf("log format: more than %d variables", maxLogFormatVars)
		}
		kind := logFormatVars[name]
		f.vars = append(f.vars, lfVar{name: name, kind: kind, width: fixedWidth(kind), token: isTokenKind(kind)})
		if kind != lfIgnored && f.slot[kind] < 0 {
			f.slot[kind] = int8(len(f.vars) - 1)
		}
		i, litStart = j, j
	}
	if len(f.vars) == 0 {
		return nil, errors.New("log format has no $variables")
	}
	f.vars[len(f.vars)-1].next = text[litStart:]
	return f, nil
}

func isVarNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// fixedWidth is the width of values that always have one, so a value with
// spaces in it ($time_local) can be followed by a space in the format.
func fixedWidth(k lfKind) int {
	switch k {
	case lfTimeLocal:
		return len("02/Jan/2006:15:04:05 -0700")
	case lfTimeISO:
		return len("2006-01-02T15:04:05-07:00")
	}
	return 0
}

// isTokenKind reports whether values of k never hold a space, so when such
// a variable ends the format, fields appended to the log after it are not
// taken into its value.
func isTokenKind(k lfKind) bool {
	switch k {
	case lfRemoteAddr, lfRealIPRemoteAddr, lfMsec, lfMethod, lfStatus, lfBodyBytes, lfBytesSent,
		lfRequestLength, lfRequestTime, lfHTTPHost, lfHost, lfServerName, lfScheme, lfHTTPS,
		lfSSLProtocol, lfRequestID:
		return true
	}
	return false
}

// shape renders the compiled format, for tests and debugging: quoted
// literals and $variables, fixed widths in parentheses.
func (f *logFormat) shape() string {
	var b strings.Builder
	if f.escape != escDefault {
		b.WriteString("escape=" + escapeNames[f.escape] + " ")
	}
	if f.prefix != "" {
		b.WriteString(strconv.Quote(f.prefix) + " ")
	}
	for i, v := range f.vars {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("$" + v.name)
		if v.width > 0 {
			b.WriteString("(" + strconv.Itoa(v.width) + ")")
		}
		if v.next != "" {
			b.WriteString(" " + strconv.Quote(v.next))
		}
	}
	return b.String()
}

// logFormatParser parses lines written with a compiled log_format: it
// matches the literals in order and captures each variable's value as the
// text up to the next literal (a literal starting with '"' is not matched
// at a backslash-escaped quote). Bytes after the format's last literal, or
// after a last variable whose values hold no spaces ($status, $host,
// $request_id, ...), are ignored, so a log whose format has since grown
// extra fields at the end still parses.
//
// The format nginx predefines as "combined" is handed to the combined
// scanner (see clfParser), so both read such a log identically.
type logFormatParser struct {
	f     *logFormat
	clf   *clfParser
	zones zoneCache
	vals  [maxLogFormatVars]lfSpan
	buf   []byte
	// verified is the index in f.vars of the ParserOptions.VerifiedField
	// variable, or -1.
	verified int
}

type lfSpan struct{ start, end int }

func newLogFormatParser(spec string) (*logFormatParser, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("the nginx format needs the log_format string (ParserOptions.LogFormat); use nginx_combined for the default")
	}
	f, err := compileLogFormat(spec)
	if err != nil {
		return nil, err
	}
	p := &logFormatParser{f: f, verified: -1}
	if f.text == combinedLogFormat && f.escape == escDefault {
		p.clf = newCLFParser("nginx", true)
	}
	return p, nil
}

// setVerifiedField finds the variable carrying ParserOptions.VerifiedField:
// the name itself ($jwt_verified) or the header of that name
// ($http_x_jwt_verified, $sent_http_..., $upstream_http_...).
func (p *logFormatParser) setVerifiedField(name string) {
	name = strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "$")), "-", "_")
	if name == "" {
		return
	}
	for i, v := range p.f.vars {
		switch v.name {
		case name, "http_" + name, "sent_http_" + name, "upstream_http_" + name:
			p.verified = i
			return
		}
	}
}

func (p *logFormatParser) Format() string { return "nginx" }

func (p *logFormatParser) fail(reason string) error {
	return &ParseError{Format: "nginx", Reason: reason}
}

// Parse implements Parser.
func (p *logFormatParser) Parse(line []byte, ev *Event) error {
	if p.clf != nil {
		return p.clf.Parse(line, ev)
	}
	line = trimEOL(line)
	if isBlank(line) {
		return ErrEmptyLine
	}
	f := p.f
	if !hasPrefixAt(line, 0, f.prefix) {
		return p.fail("line does not start as the format does")
	}
	pos := len(f.prefix)
	for k := range f.vars {
		v := &f.vars[k]
		var end int
		switch {
		case v.width > 0 && pos+v.width <= len(line) && hasPrefixAt(line, pos+v.width, v.next):
			end = pos + v.width
		case v.next == "":
			end = len(line)
			if sp := bytes.IndexByte(line[pos:], ' '); sp >= 0 && v.token {
				end = pos + sp
			}
		default:
			end = findLiteral(line, pos, v.next)
			if end < 0 {
				return p.fail("line does not match the format")
			}
		}
		p.vals[k] = lfSpan{pos, end}
		pos = end + len(v.next)
	}
	return p.fill(line, ev)
}

func hasPrefixAt(line []byte, at int, lit string) bool {
	return len(line)-at >= len(lit) && string(line[at:at+len(lit)]) == lit
}

// findLiteral returns the index of the first lit in line at or after from,
// skipping backslash-escaped quotes when lit starts with one, or -1.
func findLiteral(line []byte, from int, lit string) int {
	if lit[0] != '"' {
		j := bytes.Index(line[from:], stringBytes(lit))
		if j < 0 {
			return -1
		}
		return from + j
	}
	for i := from; i < len(line); {
		j := bytes.IndexByte(line[i:], '"')
		if j < 0 {
			return -1
		}
		j += i
		if hasPrefixAt(line, j, lit) && !escapedAt(line, from, j) {
			return j
		}
		i = j + 1
	}
	return -1
}

// val returns the raw value of the first variable of kind k, or nil when
// the format has none or nginx logged it as "-" (empty).
func (p *logFormatParser) val(line []byte, k lfKind) []byte {
	i := p.f.slot[k]
	if i < 0 {
		return nil
	}
	s := p.vals[i]
	v := line[s.start:s.end]
	if isDash(v) {
		return nil
	}
	return v
}

// first returns the value of the first of kinds that has one.
func (p *logFormatParser) first(line []byte, kinds ...lfKind) []byte {
	for _, k := range kinds {
		if v := p.val(line, k); len(v) > 0 {
			return v
		}
	}
	return nil
}

// str turns a value into an event string, unescaping per the format's
// escape= into ev's scratch arena when it holds a backslash.
func (p *logFormatParser) str(ev *Event, v []byte) string {
	if len(v) == 0 {
		return ""
	}
	if p.f.escape == escNone || bytes.IndexByte(v, '\\') < 0 {
		return bytesString(v)
	}
	if p.f.escape == escJSON {
		out, err := jsonparser.Unescape(v, p.buf[:cap(p.buf)])
		if err != nil {
			return bytesString(v) // not valid JSON escaping: keep what was logged
		}
		if cap(out) > cap(p.buf) {
			p.buf = out[:0]
		}
		return ev.AppendString(out)
	}
	p.buf = unescapeCLF(p.buf[:0], v)
	return ev.AppendString(p.buf)
}

// fill maps the captured values onto ev. Where several variables feed one
// field the first listed wins: nginx's own resolution ($remote_addr after
// realip, $request_id) over raw headers, the precise over the coarse.
func (p *logFormatParser) fill(line []byte, ev *Event) error {
	ev.Format = "nginx"
	if err := p.fillTime(line, ev); err != nil {
		return err
	}
	if v := p.val(line, lfStatus); v != nil {
		code, ok := atoiN(v)
		if !ok || len(v) > 3 {
			return p.fail("bad $status")
		}
		ev.Status = code
	}
	p.fillRequest(line, ev)
	if v := p.first(line, lfBodyBytes, lfBytesSent); v != nil {
		ev.BytesOut, _ = atoi64(v)
	}
	if v := p.val(line, lfRequestLength); v != nil {
		ev.BytesIn, _ = atoi64(v)
	}
	if v := p.val(line, lfRequestTime); v != nil {
		ev.Latency, _ = parseSeconds(v)
	} else if v := p.val(line, lfUpstreamTime); v != nil {
		// "0.012, 0.004" (retries) or "0.012 : 0.004" (internal redirect):
		// the first upstream's time.
		if i := bytes.IndexAny(v, ", :"); i >= 0 {
			v = v[:i]
		}
		ev.Latency, _ = parseSeconds(v)
	}
	ev.Referer = p.str(ev, p.val(line, lfReferer))
	ev.UserAgent = p.str(ev, p.val(line, lfUserAgent))
	ev.RequestID = p.str(ev, p.first(line, lfRequestID, lfHTTPRequestID))
	p.fillRaw(line, ev)
	return nil
}

// fillTime sets ev.Time from $msec, $time_iso8601 or $time_local.
func (p *logFormatParser) fillTime(line []byte, ev *Event) error {
	if v := p.val(line, lfMsec); v != nil {
		t, ok := parseEpoch(v)
		if !ok {
			return p.fail("bad $msec")
		}
		ev.Time = t
	} else if v := p.val(line, lfTimeISO); v != nil {
		t, ok := parseISOTime(v, &p.zones)
		if !ok {
			return p.fail("bad $time_iso8601")
		}
		ev.Time = t
	} else if v := p.val(line, lfTimeLocal); v != nil {
		t, ok := parseCLFTime(v, &p.zones)
		if !ok {
			return p.fail("bad $time_local")
		}
		ev.Time = t
	}
	return nil
}

// fillRequest sets the method and target from $request, else from
// $request_method with $request_uri, or $uri and $args; then the host and
// scheme unless an absolute-form target gave them, and the TLS version.
func (p *logFormatParser) fillRequest(line []byte, ev *Event) {
	if v := p.val(line, lfRequest); v != nil {
		setRequestLine(ev, p.str(ev, v))
	}
	if ev.Method == "" {
		ev.Method = p.str(ev, p.val(line, lfMethod))
	}
	if ev.Raw.Target == "" && ev.Path == "" {
		if t := p.str(ev, p.val(line, lfRequestURI)); t != "" {
			setTarget(ev, ev.Method, t)
		} else if u := p.val(line, lfURI); u != nil {
			ev.Path = p.str(ev, u)
			ev.Raw.RawQuery = p.str(ev, p.val(line, lfArgs))
		}
	}
	if ev.Host == "" {
		ev.Host = p.str(ev, p.first(line, lfHTTPHost, lfHost, lfServerName))
	}
	if ev.Scheme == "" {
		if v := p.val(line, lfScheme); v != nil {
			ev.Scheme = p.str(ev, v)
		} else if p.f.slot[lfHTTPS] >= 0 {
			// $https is "on" or empty.
			if v := p.val(line, lfHTTPS); len(v) == 2 && v[0] == 'o' && v[1] == 'n' {
				ev.Scheme = "https"
			} else {
				ev.Scheme = "http"
			}
		}
	}
	ev.TLSVersion = p.str(ev, p.val(line, lfSSLProtocol))
}

// fillRaw sets the raw client identity the Normalizer resolves: address,
// forwarded-for chain, API key, credentials, version, JWT subject and a
// verified client certificate's subject.
func (p *logFormatParser) fillRaw(line []byte, ev *Event) {
	r := &ev.Raw
	r.RemoteAddr = p.str(ev, p.first(line, lfRemoteAddr, lfRealIPRemoteAddr))
	r.XForwardedFor = p.str(ev, p.first(line, lfXFF, lfProxyAddXFF))
	r.APIKey = p.str(ev, p.val(line, lfAPIKey))
	r.Authorization = p.str(ev, p.val(line, lfAuthorization))
	r.Version = p.str(ev, p.val(line, lfVersion))
	r.JWTSub = p.str(ev, p.val(line, lfJWTSub))
	if p.verified >= 0 {
		if s := p.vals[p.verified]; !isDash(line[s.start:s.end]) {
			r.IdentityVerified = p.str(ev, line[s.start:s.end])
		}
	}
	if dn := p.val(line, lfSSLClientDN); dn != nil {
		// With ssl_verify_client optional(_no_ca) nginx logs the subject of a
		// certificate it did not verify; only a verified one is an identity.
		if p.f.slot[lfSSLClientVerify] < 0 || string(p.val(line, lfSSLClientVerify)) == "SUCCESS" {
			r.MTLSSubject = p.str(ev, dn)
		}
	}
}
