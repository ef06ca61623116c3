package ingest

import (
	"bytes"
	"net/netip"
	"strings"
	"time"
)

func init() {
	registerParser("nginx_combined",
		`nginx's predefined "combined" log_format, also with "$http_x_forwarded_for", $request_time or other fields appended, $time_iso8601 for $time_local, or behind a syslog header`,
		func(ParserOptions) (Parser, error) { return newCLFParser("nginx_combined", true), nil })
}

// clfParser reads the Common/Combined Log Format family that nginx and
// Apache share:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// It is the hot path of the common deployment, so it is a hand-written
// scanner: it finds each separator with bytes.IndexByte and slices the line
// in place, allocating nothing.
//
// Fields appended after the user agent (the ubiquitous
// `"$http_x_forwarded_for"` and `$request_time` extensions) are recognised
// by shape: the first quoted field that holds only address characters is
// taken as X-Forwarded-For, the first field that is a decimal number of
// seconds with a fraction ("0.042") as the request time; anything else is
// ignored. For exact control over extra fields use the "nginx" format with
// the log_format string.
//
// The time may be $time_iso8601 instead of $time_local: a common edit of
// the combined format that changes nothing else.
//
// A request line that is "-", empty or not of the form METHOD SP TARGET
// [SP PROTOCOL] (a TLS handshake sent to a plain-HTTP port, a scanner's
// junk) does not fail the line: the event keeps its status, time and
// client with an empty Method and Path, because it is a real request that
// got a real (usually 400) response, and an attacker probing a server
// should not be able to vanish from the counts by sending garbage.
type clfParser struct {
	format   string
	combined bool // the referer and user agent fields are required
	vhost    bool // the line starts with the virtual host (apache_vhost_combined)
	zones    zoneCache
	buf      []byte // unescaping scratch, reused across lines
}

func newCLFParser(format string, combined bool) *clfParser {
	return &clfParser{format: format, combined: combined}
}

func (p *clfParser) Format() string { return p.format }

func (p *clfParser) fail(reason string) error {
	return &ParseError{Format: p.format, Reason: reason}
}

// Parse implements Parser.
func (p *clfParser) Parse(line []byte, ev *Event) error {
	line = trimEOL(line)
	if isBlank(line) {
		return ErrEmptyLine
	}
	line = p.syslogBody(line)
	if p.vhost {
		skip, err := p.skipVhost(line)
		if err != nil {
			return err
		}
		line = line[skip:]
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return p.fail("no remote address")
	}
	addr := line[:sp]
	// Ident and user sit between the address and " [": neither is used, and
	// a user name may hold spaces, so skip straight to the bracket.
	br := bytes.Index(line[sp:], []byte(" ["))
	if br < 0 {
		return p.fail("no [time]")
	}
	i := sp + br + 2
	t, n, ok := p.bracketTime(line[i:])
	if !ok {
		return p.fail("bad [time]")
	}
	i += n + 1
	if len(line) < i+2 || line[i] != ' ' || line[i+1] != '"' {
		return p.fail("no quoted request")
	}
	i += 2
	q := closingQuote(line, i)
	if q < 0 {
		return p.fail("unterminated request")
	}
	request := line[i:q]
	i = q + 1
	code, nbytes, err := p.statusAndBytes(line, &i)
	if err != nil {
		return err
	}

	ev.Format = p.format
	ev.Time = t
	ev.Status = code
	ev.BytesOut = nbytes
	if !isDash(addr) {
		ev.Raw.RemoteAddr = bytesString(addr)
	}
	p.setRequest(ev, request)

	// Referer and user agent, then whatever an operator appended.
	for n := 0; ; n++ {
		v, quoted, ok := nextField(line, &i)
		if !ok {
			if p.combined && n < 2 {
				return p.fail("no referer or user agent")
			}
			return nil
		}
		switch {
		case n == 0 && quoted:
			ev.Referer = textValue(ev, v, &p.buf)
		case n == 1 && quoted:
			ev.UserAgent = textValue(ev, v, &p.buf)
		case n < 2:
			if p.combined {
				return p.fail("referer or user agent not quoted")
			}
			return nil // apache_common with trailing fields of its own
		default:
			p.extraField(ev, v, quoted)
		}
	}
}

// syslogBody returns the message of a line that went through syslog to a
// file (nginx's access_log syslog:, rsyslog's file output): "Mar  1
// 10:00:00 web1 nginx: 192.0.2.1 - - [...", with or without a <PRI>, or
// with an RFC 3339 stamp. A line without such a header is returned as it
// is; the cheap checks on its first bytes fail for an address or a host
// name. The event's time stays the one in the message.
func (p *clfParser) syslogBody(line []byte) []byte { return syslogBody(line, &p.zones) }

// syslogBody is clfParser.syslogBody for any parser, with its zone cache.
func syslogBody(line []byte, zones *zoneCache) []byte {
	if len(line) == 0 {
		return line
	}
	var m SyslogMessage
	switch {
	case line[0] == '<':
		var err error
		if m, err = parseSyslog(line, time.Time{}, zones); err != nil {
			return line
		}
	case bsdStampAt(line) || len(line) > 20 && line[4] == '-' && looksISOTime(line):
		m = parse3164(m, line, time.Time{}, zones)
	default:
		return line
	}
	if m.AppName == "" || len(m.Message) == 0 {
		return line
	}
	return m.Message
}

// bsdStampAt reports whether b starts with an RFC 3164 stamp and a space:
// "Mar  1 10:00:00 ".
func bsdStampAt(b []byte) bool {
	if len(b) < 16 || b[3] != ' ' || b[6] != ' ' || b[9] != ':' || b[12] != ':' || b[15] != ' ' {
		return false
	}
	_, ok := month3(b[:3])
	return ok
}

// bracketTime reads the time at the start of b, up to its closing ']':
// $time_local ("10/Oct/2000:13:55:36 -0700"), or $time_iso8601
// ("2000-10-10T13:55:36-07:00"), which many nginx configurations log in
// its place. It returns the time and the index of the ']'.
func (p *clfParser) bracketTime(b []byte) (time.Time, int, bool) {
	if len(b) > 26 && b[26] == ']' {
		if t, ok := parseCLFTime(b[:26], &p.zones); ok {
			return t, 26, true
		}
	}
	end := bytes.IndexByte(b[:min(len(b), 40)], ']')
	if end < 0 {
		return time.Time{}, 0, false
	}
	t, ok := parseISOTime(b[:end], &p.zones)
	return t, end, ok
}

// skipVhost returns where the client address starts in an
// apache_vhost_combined line ("www.example.com:443 192.0.2.1 - - [...").
// The second field must be an IP address: in the other CLF formats it is
// the ident, which is "-" (identd is long gone), so a combined line is
// never read as one with a virtual host.
func (p *clfParser) skipVhost(line []byte) (int, error) {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || isDash(line[:sp]) {
		return 0, p.fail("no virtual host")
	}
	rest := line[sp+1:]
	end := bytes.IndexByte(rest, ' ')
	if end <= 0 {
		return 0, p.fail("no remote address")
	}
	if _, err := netip.ParseAddr(bytesString(rest[:end])); err != nil {
		return 0, p.fail("no IP address after the virtual host")
	}
	return sp + 1, nil
}

// statusAndBytes reads the status and the bytes sent at *i, advancing it.
func (p *clfParser) statusAndBytes(line []byte, i *int) (int, int64, error) {
	status, ok := nextToken(line, i)
	if !ok {
		return 0, 0, p.fail("no status")
	}
	code, ok := atoiN(status)
	if !ok || len(status) > 3 {
		return 0, 0, p.fail("bad status")
	}
	size, ok := nextToken(line, i)
	if !ok {
		return 0, 0, p.fail("no bytes sent")
	}
	nbytes, ok := atoiDash(size)
	if !ok {
		return 0, 0, p.fail("bad bytes sent")
	}
	return code, nbytes, nil
}

// extraField interprets one field appended after the user agent.
func (p *clfParser) extraField(ev *Event, v []byte, quoted bool) {
	if ev.Latency == 0 && bytes.IndexByte(v, '.') > 0 {
		if d, ok := parseSeconds(v); ok {
			ev.Latency = d
			return
		}
	}
	if quoted && ev.Raw.XForwardedFor == "" && looksLikeAddrList(v) {
		ev.Raw.XForwardedFor = bytesString(v)
	}
}

func (p *clfParser) setRequest(ev *Event, request []byte) {
	if bytes.IndexByte(request, '\\') >= 0 {
		p.buf = unescapeCLF(p.buf[:0], request)
		setRequestLine(ev, ev.AppendString(p.buf))
		return
	}
	setRequestLine(ev, bytesString(request))
}

// Shared scanning helpers for the text formats.

// trimEOL drops a trailing "\n" or "\r\n" that a caller left on the line.
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

func isBlank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

func isDash(b []byte) bool { return len(b) == 1 && b[0] == '-' }

// closingQuote returns the index of the '"' that closes a field whose text
// starts at from: the first quote that is not backslash-escaped (Apache and
// escape=json write \") and is followed by a space or the end of the line.
// The second rule keeps lines from servers that do not escape quotes at all
// (Envoy, ALB user agents) in one piece. It returns -1 when there is none.
func closingQuote(line []byte, from int) int {
	for i := from; i < len(line); {
		j := bytes.IndexByte(line[i:], '"')
		if j < 0 {
			return -1
		}
		j += i
		if (j+1 == len(line) || line[j+1] == ' ') && !escapedAt(line, from, j) {
			return j
		}
		i = j + 1
	}
	return -1
}

// closingQuoteBeforeQuoted is closingQuote for a field that the format
// follows with another quoted field: it prefers the first quote followed by
// ` "`, so a value with unescaped quotes and spaces in it (a user agent
// logged raw by Envoy) stays whole.
func closingQuoteBeforeQuoted(line []byte, from int) int {
	for i := from; i < len(line); {
		j := bytes.IndexByte(line[i:], '"')
		if j < 0 {
			break
		}
		j += i
		if j+2 < len(line) && line[j+1] == ' ' && line[j+2] == '"' && !escapedAt(line, from, j) {
			return j
		}
		i = j + 1
	}
	return closingQuote(line, from)
}

// escapedAt reports whether line[j] is preceded by an odd number of
// backslashes (not looking before from).
func escapedAt(line []byte, from, j int) bool {
	n := 0
	for k := j - 1; k >= from && line[k] == '\\'; k-- {
		n++
	}
	return n%2 == 1
}

// nextToken skips spaces at *i and returns the unquoted token there,
// advancing *i past it.
func nextToken(line []byte, i *int) ([]byte, bool) {
	j := *i
	for j < len(line) && line[j] == ' ' {
		j++
	}
	if j == len(line) {
		*i = j
		return nil, false
	}
	end := bytes.IndexByte(line[j:], ' ')
	if end < 0 {
		end = len(line)
	} else {
		end += j
	}
	*i = end
	return line[j:end], true
}

// nextField is nextToken for fields that may be quoted: a field starting
// with '"' runs to its closingQuote (or, truncated, to the end of the
// line) and is returned without the quotes.
func nextField(line []byte, i *int) (v []byte, quoted, ok bool) {
	j := *i
	for j < len(line) && line[j] == ' ' {
		j++
	}
	if j == len(line) {
		*i = j
		return nil, false, false
	}
	if line[j] != '"' {
		tok, ok := nextToken(line, i)
		return tok, false, ok
	}
	q := closingQuote(line, j+1)
	if q < 0 {
		*i = len(line)
		return line[j+1:], true, true
	}
	*i = q + 1
	return line[j+1 : q], true, true
}

// textField is one field of a space-separated line, as offsets into it.
type textField struct {
	start, end int
	quoted     bool
}

// splitFields splits line from offset from into at most len(dst) fields
// (see nextField). It returns how many it found and the offset just past
// the last one; fields past len(dst) are left unread.
func splitFields(line []byte, from int, dst []textField) (n, end int) {
	i := from
	for n < len(dst) {
		j := i
		v, quoted, ok := nextField(line, &i)
		if !ok {
			break
		}
		start := j
		for line[start] == ' ' {
			start++
		}
		if quoted {
			start++
		}
		dst[n] = textField{start: start, end: start + len(v), quoted: quoted}
		n++
	}
	return n, i
}

func (f textField) bytes(line []byte) []byte { return line[f.start:f.end] }

// textValue returns v as an event string: "" for "-", v itself when it has
// no backslash escapes, else its unescaped form in ev's scratch arena.
func textValue(ev *Event, v []byte, buf *[]byte) string {
	if len(v) == 0 || isDash(v) {
		return ""
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return bytesString(v)
	}
	*buf = unescapeCLF((*buf)[:0], v)
	return ev.AppendString(*buf)
}

// unescapeCLF appends src to dst with the escapes nginx (\xHH) and Apache
// (\", \\, \xHH) write in log fields decoded. Other backslashes are kept,
// and so is the escape of a control byte (below 0x20, or 0x7F): the
// server escaped it so that no terminal or viewer acts on it, and
// decoding it would hand a client's ESC sequence to every output.
func unescapeCLF(dst, src []byte) []byte {
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != '\\' || i+1 == len(src) {
			dst = append(dst, c)
			continue
		}
		switch n := src[i+1]; {
		case n == '"' || n == '\\':
			dst = append(dst, n)
			i++
		case n == 'x' && i+3 < len(src) && isHex(src[i+2]) && isHex(src[i+3]):
			if b := unhex(src[i+2])<<4 | unhex(src[i+3]); b >= 0x20 && b != 0x7f {
				dst = append(dst, b)
			} else {
				dst = append(dst, src[i:i+4]...)
			}
			i += 3
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// atoiDash parses a non-negative count where "-" means zero.
func atoiDash(b []byte) (int64, bool) {
	if isDash(b) {
		return 0, true
	}
	return atoi64(b)
}

// atoi64 parses a non-negative decimal that fits an int64 (18 digits).
func atoi64(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseSeconds parses a non-negative decimal number of seconds, "0.042" or
// "3", as gateways log durations. Digits past nanoseconds are dropped.
func parseSeconds(b []byte) (time.Duration, bool) {
	i := 0
	var sec int64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i == 9 { // more than 31 years: not a request duration
			return 0, false
		}
		sec = sec*10 + int64(b[i]-'0')
	}
	if i == 0 {
		return 0, false
	}
	var nsec int64
	if i < len(b) {
		if b[i] != '.' {
			return 0, false
		}
		i++
		start := i
		for scale := int64(1e8); i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			nsec += int64(b[i]-'0') * scale
			scale /= 10
		}
		if i == start || i != len(b) {
			return 0, false
		}
	}
	return time.Duration(sec)*time.Second + time.Duration(nsec), true
}

// looksLikeAddrList reports whether b could be an X-Forwarded-For value:
// only the characters of IPv4/IPv6 addresses, ports and list separators.
func looksLikeAddrList(b []byte) bool {
	digit := false
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			digit = true
		case 'a' <= c && c <= 'f', 'A' <= c && c <= 'F', c == '.', c == ':', c == ',', c == ' ', c == '[', c == ']':
		default:
			return false
		}
	}
	return digit
}

// setRequestLine splits an HTTP request line "METHOD TARGET PROTOCOL" into
// ev.Method and the target (see setTarget). A line that is not of that
// shape leaves both empty; see clfParser for why that is not an error.
func setRequestLine(ev *Event, req string) {
	method, target, ok := splitRequestLine(req)
	if !ok {
		return
	}
	ev.Method = method
	setTarget(ev, method, target)
}

// splitRequestLine returns the method and target of "METHOD TARGET
// [PROTOCOL]". The method must be an HTTP token of letters, digits, '-' or
// '_' starting with a letter; anything else is not a request line.
func splitRequestLine(req string) (method, target string, ok bool) {
	sp := strings.IndexByte(req, ' ')
	if sp <= 0 || sp > 32 {
		return "", "", false
	}
	method = req[:sp]
	for i := 0; i < len(method); i++ {
		c := method[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && ('0' <= c && c <= '9' || c == '-' || c == '_')) {
			return "", "", false
		}
	}
	target = req[sp+1:]
	// The protocol is the last word when it looks like one; a target with
	// spaces in it (sent raw by scanners) keeps them.
	if end := strings.LastIndexByte(target, ' '); end >= 0 && strings.HasPrefix(target[end+1:], "HTTP/") {
		target = target[:end]
	}
	target = strings.TrimSpace(target)
	if target == "" {
		return "", "", false
	}
	return method, target, true
}

// setTarget records a request target: an origin-form "/path?query" goes to
// Raw.Target for the Normalizer to split; an absolute-form
// "https://host:port/path?query" also sets Scheme and Host; CONNECT's
// authority-form "host:port" sets Host.
func setTarget(ev *Event, method, target string) {
	if method == "CONNECT" {
		ev.Host = target
		return
	}
	if target[0] == '/' || target == "*" {
		ev.Raw.Target = target
		return
	}
	scheme, host, rest, ok := splitAbsoluteURL(target)
	if !ok {
		ev.Raw.Target = target
		return
	}
	ev.Scheme = scheme
	if ev.Host == "" {
		ev.Host = host
	}
	if rest[0] == '?' { // "http://host?q": the path is the root
		ev.Path, ev.Raw.RawQuery = "/", rest[1:]
		return
	}
	ev.Raw.Target = rest
}

// splitAbsoluteURL splits "scheme://[userinfo@]host[:port]/path?query" into
// a scheme (http or https; WebSocket's ws and wss count as those), the host
// without userinfo and without a port that is the scheme's default, and the
// path and query ("/" when the URL has none; a bare query comes back as
// "?query").
func splitAbsoluteURL(u string) (scheme, host, rest string, ok bool) {
	switch {
	case hasPrefixFold(u, "https://"):
		scheme, u = "https", u[8:]
	case hasPrefixFold(u, "http://"):
		scheme, u = "http", u[7:]
	case hasPrefixFold(u, "wss://"):
		scheme, u = "https", u[6:]
	case hasPrefixFold(u, "ws://"):
		scheme, u = "http", u[5:]
	default:
		return "", "", "", false
	}
	if u == "" {
		return "", "", "", false
	}
	end := strings.IndexAny(u, "/?")
	if end < 0 {
		host, rest = u, "/"
	} else {
		host, rest = u[:end], u[end:]
	}
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:] // user:password@ is a credential, never a host
	}
	if scheme == "https" {
		host = strings.TrimSuffix(host, ":443")
	} else {
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme, host, rest, true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
