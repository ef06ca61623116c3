package encode

import (
	"strconv"
	"strings"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// pairs appends the key=value pairs of a CEF extension or a LEEF
// payload: keys are fixed, values escaped by esc, pairs separated by sep.
// Empty values and non-finite numbers are left out.
type pairs struct {
	b   []byte
	esc *escaper
	sep byte
	n   int
}

// key starts the pair of key k.
func (p *pairs) key(k string) {
	if p.n > 0 {
		p.b = append(p.b, p.sep)
	}
	p.n++
	p.b = append(p.b, k...)
	p.b = append(p.b, '=')
}

// str appends k=v unless v is empty.
func (p *pairs) str(k, v string) {
	if v != "" {
		p.key(k)
		p.b = p.esc.append(p.b, v)
	}
}

// list appends k=the items of v joined by sep, unless v is empty.
func (p *pairs) list(k string, v []string, sep string) {
	if len(v) > 0 {
		p.str(k, strings.Join(v, sep))
	}
}

// num appends k=x unless x is NaN or infinite.
func (p *pairs) num(k string, x float64) {
	if finite(x) {
		p.key(k)
		p.b = strconv.AppendFloat(p.b, x, 'g', -1, 64)
	}
}

// int appends k=x.
func (p *pairs) int(k string, x int64) {
	p.key(k)
	p.b = strconv.AppendInt(p.b, x, 10)
}

// CEF appends n as an ArcSight Common Event Format event, without a
// syslog header (SyslogCEF adds one):
//
//	CEF:0|gatewatch|gatewatch|<version>|<detector>|<name>|<severity>|<extension>
//
// The signature id is the detector, the name a fixed title per detector,
// the severity 3 (low), 5 (medium), 8 (high) or 10 (critical). Header
// fields escape '\' and '|' and turn line breaks into spaces. The
// extension uses the CEF dictionary: rt (end of the last window, ms since
// the epoch), start and end (the incident's windows), src (an IPv4
// client) or c6a3 (an IPv6 client) or shost (a host-name client) or suser
// (any other client key: an API key, the fleet, a campaign), request and requestMethod (the first route),
// act (open, update or resolved), cat (the detector), externalId (the
// delivery id: a SIEM deduplicates redeliveries with it), cnt (anomalous
// windows), msg (the summary), reason (why), dvchost (the reporting
// host), and labelled custom fields: cs1 incident id, cs2 client kind,
// cs3 unit, cs4 campaign, cs5 routes, cs6 samples, cfp1 observed, cfp2
// expected, cfp3 spread, cfp4 score, cn1 campaign client count,
// flexString1 p-value. Values escape '\' and '=' and write line breaks as
// \r and \n; keys are fixed.
func CEF(dst []byte, n alert.Notification) ([]byte, error) {
	f := &n.Finding
	dst = append(dst, "CEF:0|"...)
	for _, h := range [...]string{vendorName, productName, ProductVersion, f.Detector, eventName(f.Detector)} {
		dst = cefHeader.append(dst, h)
		dst = append(dst, '|')
	}
	dst = strconv.AppendInt(dst, int64(severityLevel(f.Severity)), 10)
	dst = append(dst, '|')
	p := pairs{b: dst, esc: cefExt, sep: ' '}
	cefExtension(&p, n)
	return p.b, nil
}

// cefExtension appends the extension of CEF.
func cefExtension(p *pairs, n alert.Notification) {
	f := &n.Finding
	p.int("rt", epochMillis(f.WindowEnd))
	p.int("start", epochMillis(f.WindowStart))
	p.int("end", epochMillis(f.WindowEnd))
	p.str("dvchost", n.Host)
	switch ip, ok := clientIP(f); {
	case ok && ip.Is4():
		p.str("src", ip.String())
	case ok:
		p.str("c6a3", ip.String())
		p.str("c6a3Label", "Source IPv6 Address")
	case f.ClientKind == kindHost:
		p.str("shost", f.Client)
	default:
		p.str("suser", f.Client)
	}
	method, path := request(f)
	p.str("request", path)
	p.str("requestMethod", method)
	p.str("act", string(f.Status))
	p.str("cat", f.Detector)
	p.str("externalId", n.DeliveryID)
	if f.Windows > 0 {
		p.int("cnt", int64(f.Windows))
	}
	p.str("msg", f.Summary)
	p.str("reason", f.Why)
	cefCustom(p, f)
}

// cefCustom appends CEF's labelled custom fields.
func cefCustom(p *pairs, f *detect.Finding) {
	label := func(k, name, v string) {
		if v != "" {
			p.str(k, v)
			p.str(k+"Label", name)
		}
	}
	label("cs1", "incidentId", f.IncidentID)
	label("cs2", "clientKind", f.ClientKind)
	label("cs3", "unit", f.Unit)
	label("cs4", "campaign", f.Campaign)
	label("cs5", "routes", strings.Join(f.Routes, ", "))
	label("cs6", "samples", strings.Join(f.Samples, " | "))
	for i, x := range [...]float64{f.Observed, f.Expected, f.Spread, f.Score} {
		if finite(x) {
			k := "cfp" + strconv.Itoa(i+1)
			p.num(k, x)
			p.str(k+"Label", [...]string{"observed", "expected", "spread", "score"}[i])
		}
	}
	if f.ClientCount > 0 {
		p.int("cn1", int64(f.ClientCount))
		p.str("cn1Label", "clientCount")
	}
	label("flexString1", "pValue", strconv.FormatFloat(f.PValue, 'g', -1, 64))
}
