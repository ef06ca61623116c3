package ingest

import "bytes"

func init() {
	registerParser("aws_alb",
		"AWS Application Load Balancer access log entries (as written to S3, one per line)",
		func(ParserOptions) (Parser, error) { return &albParser{}, nil })
}

// ALB entry fields, in order. Entries written before a field was added end
// earlier; everything after the user agent is optional.
const (
	albType = iota
	albTime
	albELB
	albClient
	albTarget
	albRequestProcessing
	albTargetProcessing
	albResponseProcessing
	albELBStatus
	albTargetStatus
	albReceivedBytes
	albSentBytes
	albRequest
	albUserAgent
	albSSLCipher
	albSSLProtocol
	albTargetGroup
	albTraceID
	albDomainName
	albNumFields = 30 // through conn_trace_id
)

// albParser reads AWS Application Load Balancer access log entries:
//
//		type time elb client:port target:port request_processing_time target_processing_time
//		response_processing_time elb_status_code target_status_code received_bytes sent_bytes
//		"request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name" ...
//
//	  - Time is the entry's time field (when the load balancer sent the
//	    response), which every entry has.
//	  - Status is elb_status_code, what the client got.
//	  - Latency is the sum of the three processing times that apply (-1 means
//	    the step did not happen, e.g. no target was reached).
//	  - Method, Scheme, Host, Path and query come from the request field's
//	    absolute URL ("GET https://api.example.com:443/v1/x?y HTTP/1.1"); a
//	    default port is dropped from the Host; domain_name (the TLS SNI) is
//	    the Host when the URL has none. A malformed request ("- http://h:80- -")
//	    leaves Method and Path empty.
//	  - RequestID is the X-Amzn-Trace-Id (trace_id).
//	  - Raw.RemoteAddr is the client address without its port; the load
//	    balancer's peer is the client, so there is no X-Forwarded-For.
type albParser struct {
	zones  zoneCache
	fields [albNumFields]textField
	buf    []byte
}

func (p *albParser) Format() string { return "aws_alb" }

func (p *albParser) fail(reason string) error {
	return &ParseError{Format: "aws_alb", Reason: reason}
}

// Parse implements Parser.
func (p *albParser) Parse(line []byte, ev *Event) error {
	line = trimEOL(line)
	if isBlank(line) {
		return ErrEmptyLine
	}
	n, _ := splitFields(line, 0, p.fields[:])
	f := p.fields[:n]
	if len(f) <= albUserAgent {
		return p.fail("truncated")
	}
	for k := albType; k < albRequest; k++ {
		if f[k].quoted {
			return p.fail("fields out of place")
		}
	}
	if !f[albRequest].quoted || !f[albUserAgent].quoted {
		return p.fail("fields out of place")
	}
	typ := f[albType].bytes(line)
	scheme := ""
	switch string(typ) {
	case "http", "ws":
		scheme = "http"
	case "https", "h2", "grpcs", "wss":
		scheme = "https"
	default:
		return p.fail("unknown entry type")
	}
	t, ok := parseISOTime(f[albTime].bytes(line), &p.zones)
	if !ok {
		return p.fail("bad time")
	}
	status, ok := atoiDash(f[albELBStatus].bytes(line))
	if !ok || status > 999 {
		return p.fail("bad elb_status_code")
	}
	in, ok1 := atoiDash(f[albReceivedBytes].bytes(line))
	out, ok2 := atoiDash(f[albSentBytes].bytes(line))
	if !ok1 || !ok2 {
		return p.fail("bad byte count")
	}

	ev.Format = "aws_alb"
	ev.Time = t
	ev.Status = int(status)
	ev.BytesIn, ev.BytesOut = in, out
	for k := albRequestProcessing; k <= albResponseProcessing; k++ {
		if d, ok := parseSeconds(f[k].bytes(line)); ok {
			ev.Latency += d
		}
	}
	if c := f[albClient].bytes(line); !isDash(c) {
		ev.Raw.RemoteAddr = bytesString(albHost(c))
	}
	setRequestLine(ev, textValue(ev, f[albRequest].bytes(line), &p.buf))
	if ev.Scheme == "" && ev.Method != "" {
		ev.Scheme = scheme
	}
	ev.UserAgent = textValue(ev, f[albUserAgent].bytes(line), &p.buf)
	if len(f) > albSSLProtocol {
		ev.TLSVersion = dashEmpty(f[albSSLProtocol].bytes(line))
	}
	if len(f) > albTraceID {
		ev.RequestID = dashEmpty(f[albTraceID].bytes(line))
	}
	if ev.Host == "" && len(f) > albDomainName {
		ev.Host = dashEmpty(f[albDomainName].bytes(line))
	}
	return nil
}

// albHost drops the port from "1.2.3.4:5678" or "[2001:db8::1]:5678" (or,
// unbracketed, "2001:db8::1:5678"): the field always carries one.
func albHost(c []byte) []byte {
	if len(c) > 0 && c[0] == '[' {
		if end := bytes.IndexByte(c, ']'); end > 0 {
			return c[1:end]
		}
		return c
	}
	if i := bytes.LastIndexByte(c, ':'); i > 0 {
		return c[:i]
	}
	return c
}
