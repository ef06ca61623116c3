package ingest

import "time"

func init() {
	registerParser("envoy_text",
		"Envoy's default text access log (also the newer and Istio defaults with response code details)",
		func(ParserOptions) (Parser, error) { return &envoyTextParser{}, nil })
}

// envoyTextParser reads Envoy's default text access log format:
//
//	[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
//	%RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%
//	"%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
//
// and the newer default (Istio's too) that puts %RESPONSE_CODE_DETAILS%
// %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%"
// after the response flags; the two are told apart by whether the fifth
// field after the request is quoted.
//
// The default format logs no peer address, so Raw.XForwardedFor is set and
// Raw.RemoteAddr left empty (the Normalizer then takes the first hop).
// Istio's format appends %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS%
// %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% ...: when that
// fourth trailing field is an address it is the peer, and X-Forwarded-For
// is then only believed through trusted proxies. "-" means empty; a TCP
// proxy's "- - -" request leaves Method and Path empty.
type envoyTextParser struct {
	zones  zoneCache
	fields [9]textField
}

func (p *envoyTextParser) Format() string { return "envoy_text" }

func (p *envoyTextParser) fail(reason string) error {
	return &ParseError{Format: "envoy_text", Reason: reason}
}

// Parse implements Parser.
func (p *envoyTextParser) Parse(line []byte, ev *Event) error {
	line = trimEOL(line)
	if isBlank(line) {
		return ErrEmptyLine
	}
	if line[0] != '[' {
		return p.fail("no [start time]")
	}
	end := indexByteFrom(line, 1, ']')
	if end < 0 {
		return p.fail("no [start time]")
	}
	t, ok := parseISOTime(line[1:end], &p.zones)
	if !ok {
		return p.fail("bad start time")
	}
	rest := line[end+1:]
	if len(rest) < 2 || rest[0] != ' ' || rest[1] != '"' {
		return p.fail("no quoted request")
	}
	q := closingQuote(rest, 2)
	if q < 0 {
		return p.fail("unterminated request")
	}
	req := rest[2:q]
	var c envoyCounts
	pos, err := p.counts(rest, q+1, &c)
	if err != nil {
		return err
	}
	// "xff" "user agent" "request id" "authority" "upstream host": Envoy
	// does not escape quotes, so the user agent ends at the first `" "`.
	var q5 [5][]byte
	if !quotedFields(rest, &pos, &q5) {
		return p.fail("missing quoted field")
	}

	ev.Format = "envoy_text"
	ev.Time = t
	ev.Status = c.code
	ev.BytesIn, ev.BytesOut = c.in, c.out
	ev.Latency = time.Duration(c.dur) * time.Millisecond
	setRequestLine(ev, bytesString(req))
	ev.Raw.XForwardedFor = dashEmpty(q5[0])
	ev.UserAgent = dashEmpty(q5[1])
	ev.RequestID = dashEmpty(q5[2])
	if host := dashEmpty(q5[3]); host != "" {
		ev.Host = host
	}
	istioPeer(rest, pos, ev)
	return nil
}

// envoyCounts are the numbers of a line: response code, bytes received
// and sent, and the duration in milliseconds.
type envoyCounts struct {
	code         int
	in, out, dur int64
}

// counts reads the unquoted fields after the request, from offset from of
// rest: status flags [details termination "reason"] received sent
// duration upstream_time. It fills c and returns the offset past them.
func (p *envoyTextParser) counts(rest []byte, from int, c *envoyCounts) (int, error) {
	f := p.fields[:]
	n, pos := splitFields(rest, from, f[:5])
	if n < 5 {
		return 0, p.fail("truncated")
	}
	base := 2
	if f[4].quoted {
		base = 5
	}
	m, pos := splitFields(rest, pos, f[5:base+4])
	if n+m < base+4 {
		return 0, p.fail("truncated")
	}
	if f[0].quoted || f[base].quoted || f[base+3].quoted {
		return 0, p.fail("fields out of place")
	}
	code, ok := atoiN(f[0].bytes(rest))
	if !ok || f[0].end-f[0].start > 3 {
		return 0, p.fail("bad response code")
	}
	in, ok1 := atoiDash(f[base].bytes(rest))
	out, ok2 := atoiDash(f[base+1].bytes(rest))
	dur, ok3 := atoiDash(f[base+2].bytes(rest))
	if !ok1 || !ok2 || !ok3 {
		return 0, p.fail("bad byte count or duration")
	}
	*c = envoyCounts{code: code, in: in, out: out, dur: dur}
	return pos, nil
}

// quotedFields reads len(q) quoted fields at *i into q, advancing *i past
// them; the second (the user agent) ends before the next quoted field.
// It reports whether all were there.
func quotedFields(line []byte, i *int, q *[5][]byte) bool {
	for k := range q {
		v, ok := quotedField(line, i, k == 1)
		if !ok {
			return false
		}
		q[k] = v
	}
	return true
}

// istioPeer sets Raw.RemoteAddr from Istio's fields after the upstream
// host, read from offset pos: ... cluster upstream_local downstream_local
// downstream_remote ..., when the fourth is an address.
func istioPeer(line []byte, pos int, ev *Event) {
	var tok []byte
	ok := true
	for k := 0; k < 4 && ok; k++ {
		tok, ok = nextToken(line, &pos)
	}
	if ok && tok[0] != '"' {
		if a := dashEmpty(tok); a != "" {
			if _, ok := parseHostIP(a); ok {
				ev.Raw.RemoteAddr = a
			}
		}
	}
}

// quotedField reads the quoted field at *i (after spaces), advancing past
// it. beforeQuoted selects closingQuoteBeforeQuoted.
func quotedField(line []byte, i *int, beforeQuoted bool) ([]byte, bool) {
	j := *i
	for j < len(line) && line[j] == ' ' {
		j++
	}
	if j == len(line) || line[j] != '"' {
		return nil, false
	}
	var q int
	if beforeQuoted {
		q = closingQuoteBeforeQuoted(line, j+1)
	} else {
		q = closingQuote(line, j+1)
	}
	if q < 0 {
		return nil, false
	}
	*i = q + 1
	return line[j+1 : q], true
}

// dashEmpty returns b as a string aliasing it, "" for "-".
func dashEmpty(b []byte) string {
	if isDash(b) {
		return ""
	}
	return bytesString(b)
}

func indexByteFrom(b []byte, from int, c byte) int {
	for i := from; i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}
