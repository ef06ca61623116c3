package encode

import (
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// leefDelim separates LEEF attributes; the header declares it. LEEF has
// no escape for it, so a value's '^' is written as \x5e.
const leefDelim = '^'

// LEEF time format: devTime in UTC, devTimeFormat its Java pattern.
const (
	leefTimeLayout = "Jan 02 2006 15:04:05.000 MST"
	leefTimeFormat = "MMM dd yyyy HH:mm:ss.SSS z"
)

// LEEF appends n as an IBM QRadar LEEF 2.0 event, without a syslog
// header (SyslogLEEF adds one):
//
//	LEEF:2.0|gatewatch|gatewatch|<version>|<detector>|^|key=value^key=value...
//
// The event id is the detector; the attributes are separated by '^',
// which the header declares. Header fields escape '\' and '|' and turn
// line breaks into spaces. Attributes: devTime and devTimeFormat (end of
// the last window, UTC, to the millisecond), cat (the detector), sev (3
// low, 5 medium, 8 high, 10 critical), src (an IP client) or
// identHostName (a host-name client) or usrName (any other client key),
// url and requestMethod (the first route), dvchost, externalId (the
// delivery id), incidentId, status, clientKind, startTime and endTime
// (the incident's windows, ms since the epoch), windows, observed,
// expected, spread, unit, score, pValue, campaign, clientCount, routes,
// samples, msg (the summary) and reason (why). Values never hold '^',
// a control character or invalid UTF-8: they are written as \xNN.
func LEEF(dst []byte, n alert.Notification) ([]byte, error) {
	f := &n.Finding
	dst = append(dst, "LEEF:2.0|"...)
	for _, h := range [...]string{vendorName, productName, ProductVersion, f.Detector} {
		dst = cefHeader.append(dst, h)
		dst = append(dst, '|')
	}
	dst = append(dst, leefDelim, '|')
	p := pairs{b: dst, esc: leefText, sep: leefDelim}
	leefAttributes(&p, n)
	return p.b, nil
}

// leefAttributes appends the attributes of LEEF.
func leefAttributes(p *pairs, n alert.Notification) {
	f := &n.Finding
	p.str("devTime", leefTime(f.WindowEnd))
	p.str("devTimeFormat", leefTimeFormat)
	p.str("cat", f.Detector)
	p.int("sev", int64(severityLevel(f.Severity)))
	switch ip, ok := clientIP(f); {
	case ok:
		p.str("src", ip.String())
	case f.ClientKind == kindHost:
		p.str("identHostName", f.Client)
	default:
		p.str("usrName", f.Client)
	}
	method, path := request(f)
	p.str("url", path)
	p.str("requestMethod", method)
	p.str("dvchost", n.Host)
	p.str("externalId", n.DeliveryID)
	p.str("incidentId", f.IncidentID)
	p.str("status", string(f.Status))
	p.str("clientKind", f.ClientKind)
	leefFigures(p, f)
	p.str("msg", f.Summary)
	p.str("reason", f.Why)
}

// leefFigures appends the incident's windows and figures.
func leefFigures(p *pairs, f *detect.Finding) {
	p.int("startTime", epochMillis(f.WindowStart))
	p.int("endTime", epochMillis(f.WindowEnd))
	p.int("windows", int64(f.Windows))
	p.num("observed", f.Observed)
	p.num("expected", f.Expected)
	p.num("spread", f.Spread)
	p.str("unit", f.Unit)
	p.num("score", f.Score)
	p.num("pValue", f.PValue)
	p.str("campaign", f.Campaign)
	if f.ClientCount > 0 {
		p.int("clientCount", int64(f.ClientCount))
	}
	p.list("routes", f.Routes, ", ")
	p.list("samples", f.Samples, " | ")
}

// leefTime formats t as devTime.
func leefTime(t time.Time) string { return t.UTC().Format(leefTimeLayout) }
