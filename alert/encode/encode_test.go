package encode

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	t0 = time.Date(2026, 11, 2, 2, 0, 0, 0, time.UTC)
	t1 = t0.Add(10 * time.Minute)
)

// hostile holds every kind of byte an attacker can put in a finding.
const hostile = "a|b=c\\d]e\"f\r\ng\x1b[2Jh\xffi é 日本 🚀 \u202eevil\u202c ^x\u0085\x00\x7f"

// testCase is one notification the encoders are tested on.
type testCase struct {
	name string
	n    alert.Notification
}

func testCases() []testCase {
	volume := detect.Finding{
		IncidentID: "inc-1a2b3c4d5e6f7a8b", Status: detect.StatusOpen, Client: "198.51.100.23",
		ClientKind: "ip", Detector: detect.DetectorVolume, WindowStart: t0, WindowEnd: t0.Add(time.Minute),
		Windows: 1, Observed: 58, Expected: 2.1, Spread: 1.4, Unit: "req/min", Score: 0.93, PValue: 1e-40,
		Severity: detect.SeverityHigh, Baseline: detect.BaselineOwn, History: 120,
		Summary:  "client 198.51.100.23 sent 58 req/min, baseline 2.1±1.4",
		Why:      "own baseline over 120 active windows (EWMA, half-life 30 windows); observed/expected 27.6",
		Requests: 58, Routes: []string{"/api/v1/orders/{id}", "/api/v1/cart"},
	}
	apiKey := detect.Finding{
		IncidentID: "inc-77aa00bb11cc22dd", Status: detect.StatusUpdate, Client: "key:4f9c2e", ClientKind: "api_key",
		Detector: detect.DetectorBruteForce, WindowStart: t0, WindowEnd: t0.Add(3 * time.Minute), Windows: 3,
		Observed: 40, Expected: 1, Spread: 0.5, Unit: "login attempts/min", Score: 0.81, PValue: 3.2e-12,
		Severity: detect.SeverityMedium, Baseline: detect.BaselineOwn, History: 12,
		Summary:   "client key:4f9c2e made 40 login attempts/min, baseline 1±0.5; ongoing for 3 windows",
		Routes:    []string{"POST /api/v1/login"},
		Samples:   []string{"401 POST /api/v1/login", "request id 9f2c61d0 (401)"},
		Detectors: []string{"auth_failures", "brute_force"},
		Totals:    &detect.Totals{Requests: 125, Failures: 118, Bytes: 40960},
	}
	campaign := detect.Finding{
		IncidentID: "inc-134c1689dff8f426", Status: detect.StatusUpdate, Client: "campaign:login /login",
		ClientKind: "campaign", Detector: detect.DetectorCampaign, WindowStart: t0, WindowEnd: t0.Add(2 * time.Minute),
		Windows: 2, Observed: 64, Unit: "clients", Score: 0.885, Severity: detect.SeverityHigh,
		Baseline: detect.BaselineNone, Summary: "campaign login /login: 64 clients failed logins on /login (210 attempts)",
		Why:      "login attempts from clients not flagged on their own; 210 failures, 0 successes",
		Requests: 210, Campaign: "login /login", ClientCount: 64,
		Clients: []string{"2001:db8:ba0:a::e7", "2001:db8:ba0:2d::60", "203.0.113.9"},
		Totals:  &detect.Totals{Requests: 210, Failures: 207, Bytes: 16637},
	}
	resolved := detect.Finding{
		IncidentID: "inc-6b01449379721c84", Status: detect.StatusResolved, Client: "2001:db8:ba0:24::38",
		ClientKind: "ip", Detector: detect.DetectorScanning, WindowStart: t0, WindowEnd: t1, Windows: 10,
		Observed: 118.80307138340008, Unit: "distinct 404/403 paths/min", Score: 0.9281191950811286,
		PValue: 3.376607895355711e-78, Severity: detect.SeverityCritical, Baseline: detect.BaselineOwn, History: 61,
		Summary:   "client 2001:db8:ba0:24::38 got 404/403 on ~119 distinct paths/min, baseline 0±0; resolved after 10 anomalous windows",
		Routes:    []string{"/api/v1/orders/{id}"},
		Samples:   []string{"404/403 /api/v1/orders/{id}"},
		Detectors: []string{"volume", "auth_failures", "scanning", "enumeration"},
		Totals:    &detect.Totals{Requests: 2277, Failures: 217, Bytes: 407157, DistinctPaths: 930},
	}
	return []testCase{
		{"volume_ip", alert.NewNotification(volume, "siem", "gw-1.example.net")},
		{"api_key", alert.NewNotification(apiKey, "siem", "gw-1.example.net")},
		{"campaign", alert.NewNotification(campaign, "siem", "")},
		{"resolved", alert.NewNotification(resolved, "siem", "gw-1.example.net")},
		{"hostile", alert.NewNotification(hostileFinding(hostile, hostile, hostile), "siem", "gw 1|"+hostile)},
	}
}

// hostileFinding returns a finding whose every string holds hostile
// text, with client, route and summary as given.
func hostileFinding(client, route, summary string) detect.Finding {
	return detect.Finding{
		IncidentID: "inc-" + hostile, Status: detect.StatusOpen, Client: client, ClientKind: "ip",
		Detector: "volume|x=y\n" + hostile, WindowStart: t0, WindowEnd: t0.Add(time.Minute), Windows: 1,
		Observed: 7, Expected: math.Inf(1), Spread: math.NaN(), Unit: "req/" + hostile, Score: 0.5,
		PValue: math.NaN(), Severity: "bogus", Baseline: detect.BaselineOwn, Summary: summary, Why: "why " + hostile,
		Routes: []string{route, "/second"}, Samples: []string{"s1 " + hostile, "s2"}, Campaign: "c " + hostile,
		Clients: []string{hostile, "192.0.2.1"}, TopClients: []string{"192.0.2.1%eth0"}, ClientCount: 2,
		Detectors: []string{hostile}, Totals: &detect.Totals{Requests: math.NaN(), Bytes: math.Inf(-1)},
	}
}

// formats are the encoders under test, by ByName's names.
var formats = []string{"cef", "leef", "rfc5424", "syslog-cef", "syslog-leef", "ecs", "ocsf", "text"}

// checks are the structural checks of each format: what its consumer
// parses must be the notification's values.
var checks = map[string]func(testing.TB, alert.Notification, []byte){
	"cef": checkCEF, "leef": checkLEEF, "rfc5424": checkRFC5424, "syslog-cef": checkSyslogCEF,
	"syslog-leef": checkSyslogLEEF, "ecs": checkECS, "ocsf": checkOCSF, "text": checkText,
}

func TestGolden(t *testing.T) {
	for _, format := range formats {
		enc, err := ByName(format)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range testCases() {
			t.Run(format+"/"+tc.name, func(t *testing.T) {
				out, err := enc(nil, tc.n)
				if err != nil {
					t.Fatal(err)
				}
				compareGolden(t, filepath.Join("testdata", format, tc.name+".golden"), out)
				checks[format](t, tc.n, out)
				prefixed, err := enc([]byte("prefix"), tc.n)
				if err != nil || string(prefixed) != "prefix"+string(out) {
					t.Errorf("appending to a non-empty dst: %q, %v", prefixed, err)
				}
			})
		}
	}
}

// compareGolden compares got with the golden file at path, or rewrites
// it under -update. Golden files end with a newline the output lacks.
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(got[:len(got):len(got)], '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(append(got[:len(got):len(got)], '\n'), want) {
		t.Errorf("output differs from %s:\ngot  %s\nwant %s", path, got, want)
	}
}

// checkCommon checks what every output must be: valid UTF-8, one line.
func checkCommon(t testing.TB, out []byte) {
	t.Helper()
	if !utf8.Valid(out) {
		t.Errorf("output is not valid UTF-8: %q", out)
	}
	if bytes.ContainsAny(out, "\r\n") {
		t.Errorf("output holds a line break: %q", out)
	}
}

func checkCEF(t testing.TB, n alert.Notification, out []byte) {
	t.Helper()
	checkCommon(t, out)
	hdr, ext, err := parseCEF(string(out))
	if err != nil {
		t.Fatalf("CEF does not parse: %v\n%s", err, out)
	}
	f := &n.Finding
	line := func(s string) string {
		return strings.NewReplacer("\r", " ", "\n", " ").Replace(refVisible(s, true, false))
	}
	wantHdr := []string{"CEF:0", "gatewatch", "gatewatch", ProductVersion, line(f.Detector), line(eventName(f.Detector)),
		strconv.Itoa(severityLevel(f.Severity))}
	if strings.Join(hdr, "\x00") != strings.Join(wantHdr, "\x00") {
		t.Errorf("CEF header %q, want %q", hdr, wantHdr)
	}
	ref := func(s string) string { return refVisible(s, true, false) }
	_, path := request(f)
	want := map[string]string{
		"rt": strconv.FormatInt(f.WindowEnd.UnixMilli(), 10), "start": strconv.FormatInt(f.WindowStart.UnixMilli(), 10),
		"act": ref(string(f.Status)), "cat": ref(f.Detector), "externalId": ref(n.DeliveryID), "msg": ref(f.Summary),
		"cs1": ref(f.IncidentID), "cs2": ref(f.ClientKind), "request": ref(path),
		"cs5": ref(strings.Join(f.Routes, ", ")), "cs6": ref(strings.Join(f.Samples, " | ")), "reason": ref(f.Why),
	}
	wantClientCEF(f, want, ref)
	compareFields(t, "CEF", ext, want)
	for i, x := range []float64{f.Observed, f.Expected, f.Spread, f.Score} {
		k := "cfp" + strconv.Itoa(i+1)
		if got, ok := ext[k]; ok != finite(x) || ok && got != strconv.FormatFloat(x, 'g', -1, 64) {
			t.Errorf("CEF %s = %q (present %v), want %v", k, got, ok, x)
		}
	}
}

// wantClientCEF adds the client fields CEF must carry to want.
func wantClientCEF(f *detect.Finding, want map[string]string, ref func(string) string) {
	switch ip, err := netip.ParseAddr(f.Client); {
	case f.ClientKind == "ip" && err == nil && ip.Zone() == "" && ip.Unmap().Is4():
		want["src"], want["suser"], want["c6a3"] = ip.Unmap().String(), "", ""
	case f.ClientKind == "ip" && err == nil && ip.Zone() == "":
		want["c6a3"], want["src"], want["suser"] = ip.String(), "", ""
	case f.ClientKind == "host":
		want["shost"] = ref(f.Client)
	default:
		want["suser"], want["src"], want["c6a3"] = ref(f.Client), "", ""
	}
}

// compareFields compares the parsed fields of a format with want; an
// empty wanted value must be absent.
func compareFields(t testing.TB, format string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if w == "" && ok {
			t.Errorf("%s %s = %q, want it absent", format, k, g)
		}
		if w != "" && g != w {
			t.Errorf("%s %s = %q, want %q", format, k, g, w)
		}
	}
}

func checkLEEF(t testing.TB, n alert.Notification, out []byte) {
	t.Helper()
	checkCommon(t, out)
	hdr, attrs, err := parseLEEF(string(out))
	if err != nil {
		t.Fatalf("LEEF does not parse: %v\n%s", err, out)
	}
	f := &n.Finding
	line := func(s string) string {
		return strings.NewReplacer("\r", " ", "\n", " ").Replace(refVisible(s, true, false))
	}
	wantHdr := []string{"gatewatch", "gatewatch", ProductVersion, line(f.Detector), "^"}
	if strings.Join(hdr, "\x00") != strings.Join(wantHdr, "\x00") {
		t.Errorf("LEEF header %q, want %q", hdr, wantHdr)
	}
	ref := func(s string) string { return refVisible(s, false, true) }
	_, path := request(f)
	want := map[string]string{
		"devTime": f.WindowEnd.UTC().Format("Jan 02 2006 15:04:05.000 MST"), "devTimeFormat": "MMM dd yyyy HH:mm:ss.SSS z",
		"cat": ref(f.Detector), "sev": strconv.Itoa(severityLevel(f.Severity)), "externalId": ref(n.DeliveryID),
		"incidentId": ref(f.IncidentID), "status": ref(string(f.Status)), "msg": ref(f.Summary), "url": ref(path),
		"routes": ref(strings.Join(f.Routes, ", ")), "samples": ref(strings.Join(f.Samples, " | ")),
		"campaign": ref(f.Campaign), "reason": ref(f.Why), "dvchost": ref(n.Host),
	}
	switch ip, ok := clientIP(f); {
	case ok:
		want["src"], want["usrName"] = ip.String(), ""
	case f.ClientKind == "host":
		want["identHostName"], want["usrName"], want["src"] = ref(f.Client), "", ""
	default:
		want["usrName"], want["src"] = ref(f.Client), ""
	}
	compareFields(t, "LEEF", attrs, want)
	if _, ok := attrs["spread"]; ok != finite(f.Spread) {
		t.Errorf("LEEF spread present %v for %v", ok, f.Spread)
	}
}

func checkText(t testing.TB, n alert.Notification, out []byte) {
	t.Helper()
	checkCommon(t, out)
	if r := hasHidden(string(out)); r >= 0 {
		t.Errorf("text holds %U: %q", r, out)
	}
	if want := refVisible(n.Finding.Summary, false, false); !strings.Contains(string(out), want) {
		t.Errorf("text %q lacks the summary %q", out, want)
	}
}

// decodeJSON decodes out, which must be one JSON object.
func decodeJSON(t testing.TB, out []byte) map[string]any {
	t.Helper()
	checkCommon(t, out)
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || dec.More() {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	return doc
}

// field returns the value at the dotted path of doc, or nil.
func field(doc map[string]any, path string) any {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// compareJSON compares the fields of doc at the paths of want; a nil
// wanted value must be absent or null.
func compareJSON(t testing.TB, format string, doc map[string]any, want map[string]any) {
	t.Helper()
	for path, w := range want {
		g := field(doc, path)
		if n, ok := g.(json.Number); ok {
			g = n.String()
		}
		if g != w {
			t.Errorf("%s %s = %#v, want %#v", format, path, g, w)
		}
	}
}
