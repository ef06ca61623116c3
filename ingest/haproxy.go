package ingest

import (
	"bytes"
	"time"
)

func init() {
	registerParser("haproxy_http",
		"HAProxy's default HTTP log (option httplog, also httpslog), with or without the syslog header",
		func(ParserOptions) (Parser, error) { return &haproxyParser{}, nil })
}

// haproxyParser reads HAProxy's "option httplog" lines:
//
//	[syslog header] haproxy[pid]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in \
//	  static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1"
//
// The line is anchored on the bracketed accept date preceded by the client
// address, so any syslog header (RFC 3164 or 5424) or none is accepted.
//
//   - The accept date carries no zone: HAProxy writes its host's local time,
//     which is read as UTC. Its year is the event's year (the syslog
//     header's date has none).
//   - Latency is the last timer (Ta, total active time; Tt before 1.9), in
//     milliseconds; "+" (option logasap) is dropped and -1 leaves it zero.
//   - BytesOut is bytes_read, the bytes sent to the client. HAProxy does not
//     log bytes received in this format.
//   - A frontend name ending in "~" is an SSL frontend: Scheme is https.
//   - Captured request headers ("{...}") are configuration dependent. The
//     first one is taken as the Host when it looks like a host name (the
//     common "capture request header Host" setup); others are ignored.
//   - "<BADREQ>" or a truncated request line leaves Method and Path empty
//     (the line still counts; see clfParser).
//   - With "option httpslog" the trailing "sni/version/cipher" field gives
//     TLSVersion (and the Host when no header was captured).
type haproxyParser struct {
	buf []byte
}

func (p *haproxyParser) Format() string { return "haproxy_http" }

func (p *haproxyParser) fail(reason string) error {
	return &ParseError{Format: "haproxy_http", Reason: reason}
}

// Parse implements Parser.
func (p *haproxyParser) Parse(line []byte, ev *Event) error {
	line = trimEOL(line)
	if isBlank(line) {
		return ErrEmptyLine
	}
	var t time.Time
	br := findAcceptDate(line, &t)
	if br < 0 {
		return p.fail("no client and [accept date]")
	}
	client := line[bytes.LastIndexByte(line[:br-1], ' ')+1 : br-1]
	if len(client) == 0 {
		return p.fail("no client address")
	}
	i := br + bytes.IndexByte(line[br:], ']') + 1
	if err := p.logFields(line, &i, t, client, ev); err != nil {
		return err
	}
	if err := p.headersAndRequest(line, &i, ev); err != nil {
		return err
	}
	// option httpslog: ... "request" fc_err/ssl_fc_err/... sni/sslv/sslc
	var last []byte
	for {
		tok, ok := nextToken(line, &i)
		if !ok {
			break
		}
		last = tok
	}
	if last != nil {
		if a := bytes.IndexByte(last, '/'); a >= 0 {
			if b := bytes.IndexByte(last[a+1:], '/'); b >= 0 {
				sni, ver := last[:a], last[a+1:a+1+b]
				if bytes.HasPrefix(ver, []byte("TLS")) || bytes.HasPrefix(ver, []byte("SSL")) {
					ev.TLSVersion = bytesString(ver)
					ev.Scheme = "https"
				}
				if ev.Host == "" && looksLikeHostname(sni) {
					ev.Host = bytesString(sni)
				}
			}
		}
	}
	return nil
}

// findAcceptDate finds "CLIENT [DATE]": the first '[' after a space whose
// contents parse as an accept date. It stores the date in *t and returns
// the index of the '[', or -1 when there is none. (Returning the date
// instead costs the HAProxy benchmark ~4%.)
func findAcceptDate(line []byte, t *time.Time) int {
	for i := 0; i < len(line); {
		j := bytes.IndexByte(line[i:], '[')
		if j < 0 {
			break
		}
		j += i
		if j > 0 && line[j-1] == ' ' {
			if end := bytes.IndexByte(line[j:], ']'); end > 0 && end <= 25 {
				if tt, ok := parseHAProxyDate(line[j+1 : j+end]); ok {
					*t = tt
					return j
				}
			}
		}
		i = j + 1
	}
	return -1
}

// logFields reads the ten fields after the accept date (frontend,
// backend/server, timers, status, bytes, two cookies, state, connections,
// queues) from *i, advancing it, and sets the event's time, status, bytes,
// latency, scheme and client. ev is untouched when they do not parse.
func (p *haproxyParser) logFields(line []byte, i *int, t time.Time, client []byte, ev *Event) error {
	var f [10][]byte
	for k := range f {
		tok, ok := nextToken(line, i)
		if !ok {
			return p.fail("truncated")
		}
		f[k] = tok
	}
	frontend, timers, status, size := f[0], f[2], f[3], f[4]
	if bytes.IndexByte(timers, '/') < 0 || bytes.IndexByte(f[8], '/') < 0 || bytes.IndexByte(f[9], '/') < 0 {
		return p.fail("not an httplog line")
	}
	code, ok := atoiSigned(status)
	if !ok || code > 999 {
		return p.fail("bad status")
	}
	nbytes, ok := atoi64(trimPlus(size))
	if !ok {
		return p.fail("bad bytes_read")
	}

	ev.Format = "haproxy_http"
	ev.Time = t
	if code > 0 { // -1: no response was sent
		ev.Status = code
	}
	ev.BytesOut = nbytes
	total := timers[bytes.LastIndexByte(timers, '/')+1:]
	if ms, ok := atoi64(trimPlus(total)); ok {
		ev.Latency = time.Duration(ms) * time.Millisecond
	}
	if frontend[len(frontend)-1] == '~' {
		ev.Scheme = "https"
	}
	if c := bytes.LastIndexByte(client, ':'); c > 0 {
		client = client[:c] // the port; IPv6 clients are logged unbracketed
	}
	ev.Raw.RemoteAddr = bytesString(client)
	return nil
}

// headersAndRequest reads what follows the log fields at *i: up to two
// captured-header blocks ("{...}"), the first block's first header being
// the Host when it looks like a host name, then the quoted request line,
// which sets ev's method and target (#XX escapes decoded). It advances *i
// past the request's closing quote, or to the end of a line HAProxy
// truncated.
func (p *haproxyParser) headersAndRequest(line []byte, i *int, ev *Event) error {
	for blocks := 0; blocks < 2; blocks++ {
		j := skipSpaces(line, *i)
		*i = j
		if j == len(line) || line[j] != '{' {
			break
		}
		end := bytes.IndexByte(line[j:], '}')
		if end < 0 {
			return p.fail("unterminated captured headers")
		}
		if blocks == 0 {
			hdr := line[j+1 : j+end]
			if bar := bytes.IndexByte(hdr, '|'); bar >= 0 {
				hdr = hdr[:bar]
			}
			if looksLikeHostname(hdr) {
				ev.Host = bytesString(hdr)
			}
		}
		*i = j + end + 1
	}
	j := skipSpaces(line, *i)
	if j == len(line) || line[j] != '"' {
		return p.fail("no quoted request")
	}
	j++
	req := line[j:]
	if q := bytes.IndexByte(req, '"'); q >= 0 { // the request is #XX-encoded: no quotes inside
		req = req[:q]
		*i = j + q + 1
	} else {
		*i = len(line) // truncated by HAProxy's log line length limit
	}
	if bytes.IndexByte(req, '#') >= 0 {
		p.buf = unescapeHash(p.buf[:0], req)
		setRequestLine(ev, ev.AppendString(p.buf))
	} else {
		setRequestLine(ev, bytesString(req))
	}
	return nil
}

// skipSpaces returns the index of the first byte at or after i in line
// that is not a space (len(line) when there is none).
func skipSpaces(line []byte, i int) int {
	for i < len(line) && line[i] == ' ' {
		i++
	}
	return i
}

// parseHAProxyDate parses "06/Feb/2009:12:14:14.655" (or without the
// milliseconds) as UTC.
func parseHAProxyDate(b []byte) (time.Time, bool) {
	if len(b) != 20 && (len(b) != 24 || b[20] != '.') {
		return time.Time{}, false
	}
	year, mon, day, hh, mm, ss, ok := clfDateTime(b[:20])
	ms, okms := 0, true
	if len(b) == 24 {
		ms, okms = atoiN(b[21:24])
	}
	if !ok || !okms {
		return time.Time{}, false
	}
	return time.Date(year, mon, day, hh, mm, ss, ms*int(time.Millisecond), time.UTC), true
}

func trimPlus(b []byte) []byte {
	if len(b) > 0 && b[0] == '+' {
		return b[1:]
	}
	return b
}

// atoiSigned parses a decimal int that may be -1-style negative.
func atoiSigned(b []byte) (int, bool) {
	if len(b) > 1 && b[0] == '-' {
		n, ok := atoiN(b[1:])
		return -n, ok && len(b) < 8
	}
	n, ok := atoiN(b)
	return n, ok && len(b) < 8
}

// looksLikeHostname reports whether b is a DNS name with an optional port:
// letters, digits, '-', '.', ':' and at least one letter and one dot.
func looksLikeHostname(b []byte) bool {
	if len(b) == 0 || len(b) > 255 {
		return false
	}
	letter, dot := false, false
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letter = true
		case c == '.':
			dot = true
		case '0' <= c && c <= '9', c == '-', c == ':':
		default:
			return false
		}
	}
	return letter && dot
}

// unescapeHash decodes the #XX escapes HAProxy writes for quotes, '#' and
// non-printable bytes in logged requests and headers.
func unescapeHash(dst, src []byte) []byte {
	for i := 0; i < len(src); i++ {
		if src[i] == '#' && i+2 < len(src) && isHex(src[i+1]) && isHex(src[i+2]) {
			dst = append(dst, unhex(src[i+1])<<4|unhex(src[i+2]))
			i += 2
			continue
		}
		dst = append(dst, src[i])
	}
	return dst
}
