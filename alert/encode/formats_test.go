package encode

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/leodido/go-syslog/v4/rfc5424"
)

// parseSyslog parses out with go-syslog's strict RFC 5424 parser.
func parseSyslog(t testing.TB, out []byte) *rfc5424.SyslogMessage {
	t.Helper()
	checkCommon(t, out)
	msg, err := rfc5424.NewParser().Parse(out)
	if err != nil {
		t.Fatalf("RFC 5424 does not parse: %v\n%s", err, out)
	}
	m := msg.(*rfc5424.SyslogMessage)
	if !m.Valid() {
		t.Fatalf("invalid syslog message: %s", out)
	}
	return m
}

// refHeader is the expected syslog header field of s: each rune outside
// printable ASCII (and each invalid byte) as '_', at most max of them.
func refHeader(s string, max int) string {
	var b strings.Builder
	for i, n := 0, 0; i < len(s) && n < max; n++ {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r > ' ' && r < 0x7f {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		i += size
	}
	return b.String()
}

// checkSyslogHeader checks the header of a parsed message.
func checkSyslogHeader(t testing.TB, n alert.Notification, m *rfc5424.SyslogMessage) {
	t.Helper()
	f := &n.Finding
	wantPri := 16*8 + map[detect.Severity]uint8{"medium": 4, "high": 3, "critical": 2}[f.Severity]
	if wantPri == 128 {
		wantPri = 16*8 + 5
	}
	if *m.Priority != wantPri || *m.Facility != 16 || m.Version != 1 {
		t.Errorf("PRI %d facility %d version %d, want %d 16 1", *m.Priority, *m.Facility, m.Version, wantPri)
	}
	if m.Timestamp == nil || !m.Timestamp.Equal(f.WindowEnd.Truncate(time.Microsecond)) {
		t.Errorf("TIMESTAMP %v, want %v", m.Timestamp, f.WindowEnd)
	}
	want := map[string][2]*string{
		"HOSTNAME": {m.Hostname, ptr(refHeader(n.Host, 255))}, "APP-NAME": {m.Appname, ptr("gatewatch")},
		"MSGID": {m.MsgID, ptr(refHeader(f.Detector, 32))}, "PROCID": {m.ProcID, nil},
	}
	for name, gw := range want {
		if got, w := gw[0], gw[1]; (got == nil) != (w == nil || *w == "" || *w == "-") || got != nil && *got != *w {
			t.Errorf("%s = %v, want %v", name, deref(got), deref(w))
		}
	}
}

func ptr(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return strconv.Quote(*s)
}

func checkRFC5424(t testing.TB, n alert.Notification, out []byte) {
	t.Helper()
	m := parseSyslog(t, out)
	checkSyslogHeader(t, n, m)
	f := &n.Finding
	if m.StructuredData == nil || len(*m.StructuredData) != 1 {
		t.Fatalf("structured data %v, want one element %s", m.StructuredData, SDID)
	}
	sd := (*m.StructuredData)[SDID]
	ref := func(s string) string {
		if len(s) > 1024 { // values are cut to 1024 bytes, on a rune boundary
			cut := 1024
			for cut > 1021 && !utf8.RuneStart(s[cut]) {
				cut--
			}
			s = s[:cut]
		}
		return refVisible(s, false, false)
	}
	method, route := request(f)
	want := map[string]string{
		"method": method, "incident": ref(f.IncidentID), "status": ref(string(f.Status)), "detector": ref(f.Detector),
		"client": ref(f.Client), "client_kind": ref(f.ClientKind), "severity": ref(string(f.Severity)),
		"unit": ref(f.Unit), "delivery_id": ref(n.DeliveryID), "windows": strconv.Itoa(f.Windows),
		"observed": strconv.FormatFloat(f.Observed, 'g', -1, 64), "spread": strconv.FormatFloat(f.Spread, 'g', -1, 64),
		"window_start": f.WindowStart.UTC().Format(time.RFC3339Nano), "route": ref(route), "campaign": ref(f.Campaign),
	}
	for name, w := range want {
		if got, ok := sd[name]; got != w || ok != (w != "" || name == "unit" || name == "client") {
			t.Errorf("SD %s = %q (present %v), want %q", name, got, ok, w)
		}
	}
	for name := range sd {
		if len(name) > 32 || strings.ContainsAny(name, "= ]\"") {
			t.Errorf("bad PARAM-NAME %q", name)
		}
	}
	if got, w := deref(m.Message), refVisible(f.Summary, false, false); got != strconv.Quote(w) && !(w == "" && m.Message == nil) {
		t.Errorf("MSG %s, want %q", got, w)
	}
}

func checkSyslogCEF(t testing.TB, n alert.Notification, out []byte) {
	t.Helper()
	checkSyslogWrapping(t, n, out, CEF, checkCEF)
}

func checkSyslogLEEF(t testing.TB, n alert.Notification, out []byte) {
	t.Helper()
	checkSyslogWrapping(t, n, out, LEEF, checkLEEF)
}

// checkSyslogWrapping checks a syslog message carrying enc's payload.
func checkSyslogWrapping(t testing.TB, n alert.Notification, out []byte, enc alert.Encoder,
	check func(testing.TB, alert.Notification, []byte)) {
	t.Helper()
	m := parseSyslog(t, out)
	checkSyslogHeader(t, n, m)
	if m.StructuredData != nil {
		t.Errorf("structured data %v, want NILVALUE", *m.StructuredData)
	}
	payload, err := enc(nil, n)
	if err != nil {
		t.Fatal(err)
	}
	if m.Message == nil || *m.Message != string(payload) {
		t.Fatalf("MSG %s, want %q", deref(m.Message), payload)
	}
	check(t, n, []byte(*m.Message))
}

// num is the JSON text of x, nil when JSON has no number for it.
func num(x float64) any {
	if !finite(x) {
		return nil
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// orNil is s, nil when empty.
func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func checkECS(t testing.TB, n alert.Notification, out []byte) {
	t.Helper()
	doc := decodeJSON(t, out)
	f := &n.Finding
	_, path := request(f)
	want := map[string]any{
		"@timestamp": f.WindowEnd.UTC().Format(time.RFC3339Nano), "message": orNil(refJSON(f.Summary)),
		"event.kind": "alert", "event.id": refJSON(n.DeliveryID), "event.action": refJSON(string(f.Status)),
		"event.severity": strconv.Itoa(severityLevel(f.Severity)), "rule.id": orNil(refJSON(f.Detector)),
		"rule.description": orNil(refJSON(f.Why)), "url.path": orNil(refJSON(path)),
		"observer.hostname": orNil(refJSON(n.Host)), "observer.product": "gatewatch",
		"gatewatch.incident_id": refJSON(f.IncidentID), "gatewatch.client": refJSON(f.Client),
		"gatewatch.observed": num(f.Observed), "gatewatch.spread": num(f.Spread), "gatewatch.p_value": num(f.PValue),
		"gatewatch.campaign": orNil(refJSON(f.Campaign)),
	}
	if ip, ok := clientIP(f); ok {
		want["source.ip"] = ip.String()
	} else {
		want["source.ip"] = nil
	}
	compareJSON(t, "ECS", doc, want)
	ips, _ := field(doc, "related.ip").([]any)
	if ip, ok := field(doc, "source.ip").(string); ok {
		ips = append(ips, ip)
	}
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip.(string)); err != nil || a.Zone() != "" {
			t.Errorf("ECS ip field %q is not an address", ip)
		}
	}
}

func checkOCSF(t testing.TB, n alert.Notification, out []byte) {
	t.Helper()
	doc := decodeJSON(t, out)
	f := &n.Finding
	ids := map[detect.Status][2]int{"open": {1, 1}, "update": {2, 2}, "resolved": {3, 4}}[f.Status]
	if ids[0] == 0 {
		ids = [2]int{99, 99}
	}
	want := map[string]any{
		"class_uid": "2004", "category_uid": "2", "activity_id": strconv.Itoa(ids[0]),
		"type_uid": strconv.Itoa(2004*100 + ids[0]), "status_id": strconv.Itoa(ids[1]),
		"severity_id": strconv.Itoa(f.Severity.Rank() + 2),
		"time":        strconv.FormatInt(f.WindowEnd.UnixMilli(), 10), "message": orNil(refJSON(f.Summary)),
		"metadata.uid": refJSON(n.DeliveryID), "metadata.version": "1.3.0", "metadata.product.name": "gatewatch",
		"finding_info.uid": refJSON(f.IncidentID), "finding_info.title": refJSON(eventName(f.Detector)),
		"finding_info.first_seen_time": strconv.FormatInt(f.WindowStart.UnixMilli(), 10),
		"unmapped.client":              refJSON(f.Client), "unmapped.spread": num(f.Spread), "unmapped.observed": num(f.Observed),
	}
	compareJSON(t, "OCSF", doc, want)
	evs, _ := field(doc, "evidences").([]any)
	if len(evs) != 1 {
		t.Fatalf("OCSF evidences %v, want one", evs)
	}
	ev := evs[0].(map[string]any)
	if ip, ok := clientIP(f); ok != (field(ev, "src_endpoint.ip") != nil) || ok && field(ev, "src_endpoint.ip") != ip.String() {
		t.Errorf("OCSF src_endpoint.ip %v for client %q", field(ev, "src_endpoint.ip"), f.Client)
	}
}
