package alert

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatewatch/gatewatch/detect"
)

var update = flag.Bool("update", false, "rewrite the golden text files under testdata/")

// textCases are findings of each kind, as the engine emits them (taken
// from `gatewatch demo --output json`, request ids added).
func textCases() []struct {
	name string
	f    detect.Finding
} {
	t0 := time.Date(2026, 11, 2, 1, 0, 0, 0, time.UTC)
	campaignClients := []string{"2001:db8:ba0:a::e7", "2001:db8:ba0:29::98", "2001:db8:ba0:32::9", "2001:db8:ba0:4f::fc",
		"2001:db8:ba0:2d::60", "2001:db8:ba0:21::ce", "2001:db8:ba0:1b::f0", "2001:db8:ba0:19::59", "2001:db8:ba0:4e::3c",
		"2001:db8:ba0:2a::67", "2001:db8:ba0:37::d", "2001:db8:ba0:42::b6", "2001:db8:ba0:24::f1", "2001:db8:ba0:14::3a",
		"2001:db8:ba0:16::99", "2001:db8:ba0:17::21", "2001:db8:ba0:4b::76", "2001:db8:ba0:40::b8", "2001:db8:ba0:13::c3",
		"2001:db8:ba0:8::93"}
	return []struct {
		name string
		f    detect.Finding
	}{
		{"client", detect.Finding{
			IncidentID: "inc-5d0c2b7e19a4f380", Status: detect.StatusOpen, Client: "k_3f9a41c2", ClientKind: "api_key",
			Detector: detect.DetectorAuthFailures, WindowStart: t0, WindowEnd: t0.Add(time.Minute), Windows: 1,
			Observed: 41, Expected: 0.4, Spread: 0.6, Unit: "auth failures/min", Score: 0.81, PValue: 2.3e-19,
			Severity: detect.SeverityHigh, Baseline: detect.BaselineOwn, History: 118,
			Summary:  "client k_3f9a41c2 had 41 auth failures/min (93% of 44 requests), baseline 0.4±0.6",
			Requests: 44, Routes: []string{"/api/v1/orders/{id}"},
			Samples: []string{"request id 6c1e2f0a-77b4-4d0e-9a51-0b8f2c3d4e5f (auth failure)"},
			Totals:  &detect.Totals{Requests: 44, Failures: 41, Bytes: 5863},
		}},
		{"multi_detector", detect.Finding{
			IncidentID: "inc-6b01449379721c84", Status: detect.StatusResolved, Client: "198.18.134.40", ClientKind: "ip",
			Detector: detect.DetectorScanning, WindowStart: t0, WindowEnd: t0.Add(10 * time.Minute), Windows: 10,
			Observed: 118.80307138340008, Spread: 0, Unit: "distinct 404/403 paths/min", Score: 0.9281191950811286,
			PValue: 3.376607895355711e-78, Severity: detect.SeverityCritical, Baseline: detect.BaselineOwn, History: 61,
			Summary:  "client 198.18.134.40 got 404/403 on ~119 distinct paths/min, baseline 0±0; resolved after 10 anomalous windows",
			Requests: 240, Routes: []string{"/api/v1/orders/{id}", "/private/.env"},
			Samples: []string{"404/403 /api/v1/orders/{id}", "404/403 /private/.env", "request id 9f2c61d0b7e4 (404/403)"},
			Detectors: []string{detect.DetectorVolume, detect.DetectorAuthFailures, detect.DetectorScanning,
				detect.DetectorEnumeration, detect.DetectorInjection, detect.DetectorBruteForce, detect.DetectorExfiltration},
			Totals: &detect.Totals{Requests: 2277, Failures: 217, Bytes: 407157, DistinctPaths: 930},
		}},
		{"campaign", detect.Finding{
			IncidentID: "inc-134c1689dff8f426", Status: detect.StatusResolved, Client: "campaign:login /login", ClientKind: "campaign",
			Detector: detect.DetectorCampaign, WindowStart: t0, WindowEnd: t0.Add(10 * time.Minute), Windows: 10,
			Observed: 80, Unit: "clients", Score: 0.9096995461577347, Severity: detect.SeverityHigh, Baseline: detect.BaselineNone,
			Summary:  "campaign login /login: 80 clients failed logins on /login (1,077 attempts), most active 2001:db8:ba0:a::e7, 2001:db8:ba0:29::98, 2001:db8:ba0:32::9; resolved",
			Why:      "login attempts from clients not flagged on their own, 401/403 and 2xx answers the client did not follow with other requests count as failures; decayed over 360 windows: 1,068 failures, 0 successes",
			Requests: 1077, Campaign: "login /login", Clients: campaignClients, ClientCount: 80,
			Totals: &detect.Totals{Requests: 1077, Failures: 1060, Bytes: 86132},
		}},
		{"fleet", detect.Finding{
			IncidentID: "inc-82a1e94941c6c9fe", Status: detect.StatusOpen, Client: detect.FleetClient, ClientKind: "fleet",
			Detector: detect.DetectorFleetAuth, WindowStart: t0, WindowEnd: t0.Add(time.Minute), Windows: 1,
			Observed: 253, Expected: 2.63, Spread: 1.63, Unit: "fleet auth failures/min", Score: 0.74, PValue: 7.059347922162882e-18,
			Severity: detect.SeverityHigh, Baseline: detect.BaselineOwn, History: 120,
			Summary:  "the fleet had 253 auth failures/min from failure-dominated clients, baseline 2.6±1.6",
			Requests: 37677,
			TopClients: []string{"2001:db8:ba0:24::38", "2001:db8:ba0:3a::14", "2001:db8:ba0:5d::7d", "2001:db8:ba0:7b::4a",
				"2001:db8:ba0:7d::48"},
		}},
		{"plain", detect.Finding{
			IncidentID: "inc-0a1b", Status: detect.StatusOpen, Client: "203.0.113.7", ClientKind: "ip",
			Detector: detect.DetectorVolume, WindowStart: t0, WindowEnd: t0.Add(time.Minute), Windows: 1,
			Observed: 52, Expected: 2, Spread: 1, Unit: "req/min", Score: 0.99, PValue: 3e-21,
			Severity: detect.SeverityMedium, Baseline: detect.BaselineOwn, History: 40,
			Summary: "client 203.0.113.7 sent 52 req/min, baseline 2±1",
		}},
		// Hostile text in every printed field: no control character may
		// reach the terminal.
		{"control_chars", detect.Finding{
			IncidentID: "inc-evil", Status: detect.Status("open\x1b[2J"), Client: "sub:\x1b]0;pwned\x07", ClientKind: "jwt_sub",
			Detector: "volume\r", WindowStart: t0, WindowEnd: t0.Add(2 * time.Minute), Windows: 2, PValue: 1e-9,
			Severity: detect.Severity("high\x00"), Baseline: detect.BaselineOwn,
			Summary: "client sub:\x1b]0;pwned\x07 sent\n52 req/min\x7f, ünïcode kept, C1 \u009b2J and bad \xff byte",
			Routes:  []string{"/a\tb"}, Samples: []string{"sqli /x ?q=\x1b[31m", "xss /y \u0085"},
			Detectors: []string{"volume\r", "scanning\x1b"}, Campaign: "x", Clients: []string{"c\n1", "c2"}, ClientCount: 2,
			TopClients: []string{"t\x08"},
			Totals:     &detect.Totals{Requests: 3, Failures: 1, Bytes: 999999, DistinctPaths: 2},
		}},
	}
}

// TestTextGolden pins the text form of a finding of each kind.
// Regenerate with: go test ./alert -run TestTextGolden -update
func TestTextGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range textCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			w, err := NewWriter(&buf, FormatText)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(tc.f); err != nil {
				t.Fatal(err)
			}
			got := buf.String()
			checkTerminalSafe(t, got)
			path := filepath.Join("testdata", tc.name+".txt")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("text form differs from %s (run with -update if intended):\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// checkTerminalSafe fails unless out is valid UTF-8 without control
// characters but the line ends, and every line after a finding's first
// is indented.
func checkTerminalSafe(t *testing.T, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("output is not valid UTF-8: %q", out)
	}
	for _, r := range strings.TrimSuffix(out, "\n") {
		if r < 0x20 && r != '\n' || r >= 0x7f && r <= 0x9f {
			t.Errorf("output holds control character %U: %q", r, out)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if strings.HasPrefix(lines[0], " ") {
		t.Errorf("summary line is indented: %q", lines[0])
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "    ") {
			t.Errorf("evidence line not indented: %q", l)
		}
	}
}

func TestTextLists(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		items []string
		total int
		want  string
	}{
		{nil, 0, ""},
		{[]string{"a"}, 1, "a"},
		{[]string{"a", "b", "c", "d", "e"}, 5, "a, b, c, d, e"},
		{[]string{"a", "b", "c", "d", "e", "f"}, 6, "a, b, c, d, e +1 more"},
		{[]string{"a", "b"}, 1234, "a, b +1,232 more"},
	} {
		if got := string(appendList(nil, tc.items, tc.total, maxTextList, ", ")); got != tc.want {
			t.Errorf("appendList(%q, %d) = %q, want %q", tc.items, tc.total, got, tc.want)
		}
	}
	for b, want := range map[float64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 1225: "1.2 kB", 86132: "86 kB",
		407157: "407 kB", 999999: "1.0 MB", 48_213_004: "48 MB", 3.2e12: "3.2 TB"} {
		if got := string(appendBytes(nil, b)); got != want {
			t.Errorf("appendBytes(%v) = %q, want %q", b, got, want)
		}
	}
	for x, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1500: "-1,500", 2.5: "3"} {
		if got := string(appendCount(nil, x)); got != want {
			t.Errorf("appendCount(%v) = %q, want %q", x, got, want)
		}
	}
}
