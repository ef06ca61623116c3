package encode

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

func TestByName(t *testing.T) {
	for _, name := range formats {
		if enc, err := ByName(strings.ToUpper(name)); err != nil || enc == nil {
			t.Errorf("ByName(%q): %v", name, err)
		}
	}
	if got := strings.Join(Names(), " "); got != "cef ecs leef ocsf rfc5424 syslog-cef syslog-leef text" {
		t.Errorf("Names() = %s", got)
	}
	_, err := ByName("json")
	if err == nil || !strings.Contains(err.Error(), `"json"`) || !strings.Contains(err.Error(), "syslog-leef") {
		t.Errorf("ByName(json) error %v, want one naming it and listing the encodings", err)
	}
}

// TestEscapers pins the escapes of each place, with the bytes that matter.
func TestEscapers(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    *escaper
		in   string
		want string
	}{
		{"visible", visible, "a\x1b[2J\r\n\xff\u202e\u0085é=|^\\", `a\x1b[2J\x0d\x0a\xff\u202e\u0085é=|^\`},
		{"cef extension", cefExt, "a=b\\c\r\nd\x1be|f\xff", `a\=b\\c\r\nd\\x1be|f\\xff`},
		{"cef header", cefHeader, "a|b\\c\r\nd=e\x1b", `a\|b\\c  d=e\\x1b`},
		{"leef", leefText, "a^b=c\\d\te\n", `a\x5eb=c\d\x09e\x0a`},
		{"clean", cefExt, "plain text, é 日本", "plain text, é 日本"},
	} {
		if got := tc.e.escape(tc.in); got != tc.want {
			t.Errorf("%s: %q → %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestSyslogHeaderLimits(t *testing.T) {
	n := testCases()[0].n
	n.Host = strings.Repeat("h", 300) + " x"
	n.Finding.Detector = strings.Repeat("d", 40)
	out, err := RFC5424(nil, n)
	if err != nil {
		t.Fatal(err)
	}
	m := parseSyslog(t, out)
	if len(*m.Hostname) != 255 || len(*m.MsgID) != 32 {
		t.Errorf("HOSTNAME %d bytes, MSGID %d bytes, want 255 and 32", len(*m.Hostname), len(*m.MsgID))
	}
	n.Finding.Client = strings.Repeat("é", 1000) // 2000 bytes
	if out, err = RFC5424(nil, n); err != nil {
		t.Fatal(err)
	}
	checkRFC5424(t, n, out)
	if got := (*parseSyslog(t, out).StructuredData)[SDID]["client"]; len(got) != 1024 {
		t.Errorf("SD client of %d bytes, want it cut to 1024", len(got))
	}
	n.Finding.WindowEnd = time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)
	if out, err = RFC5424(nil, n); err != nil || !strings.Contains(string(out), ">1 - ") {
		t.Errorf("year 12000: %s, %v; want a NILVALUE timestamp", out, err)
	}
}

func TestBadSDID(t *testing.T) {
	defer func(id string) { SDID = id }(SDID)
	SDID = "bad id"
	if _, err := RFC5424(nil, testCases()[0].n); err == nil {
		t.Error("an SD-ID with a space encoded")
	}
}

// TestLifecycle checks the identifiers SIEMs deduplicate and correlate
// with across an incident's emissions: finding_info.uid and the incident
// id stay, metadata.uid / event.id / externalId change.
func TestLifecycle(t *testing.T) {
	f := testCases()[0].n.Finding
	seen := map[string]bool{}
	for i, st := range []detect.Status{detect.StatusOpen, detect.StatusUpdate, detect.StatusResolved} {
		f.Status, f.Windows, f.WindowEnd = st, i+1, t0.Add(time.Duration(i+1)*time.Minute)
		n := alert.NewNotification(f, "siem", "gw")
		out, err := OCSF(nil, n)
		if err != nil {
			t.Fatal(err)
		}
		doc := decodeJSON(t, out)
		if got := field(doc, "finding_info.uid"); got != f.IncidentID {
			t.Errorf("%s: finding_info.uid %v, want %s", st, got, f.IncidentID)
		}
		uid := field(doc, "metadata.uid").(string)
		if seen[uid] {
			t.Errorf("%s: metadata.uid %s repeats", st, uid)
		}
		seen[uid] = true
	}
}

// TestSourceIPOnlyAddresses checks that source.ip is never set to
// something an ip mapping rejects.
func TestSourceIPOnlyAddresses(t *testing.T) {
	for _, c := range []struct {
		client, kind string
		ip           any
	}{
		{"192.0.2.1", "ip", "192.0.2.1"}, {"::ffff:192.0.2.1", "ip", "192.0.2.1"}, {"2001:DB8::1", "ip", "2001:db8::1"},
		{"fe80::1%eth0", "ip", nil}, {"unknown", "ip", nil}, {"192.0.2.1", "api_key", nil}, {"192.0.2.1:8080", "ip", nil},
	} {
		n := testCases()[0].n
		n.Finding.Client, n.Finding.ClientKind = c.client, c.kind
		out, err := ECS(nil, n)
		if err != nil {
			t.Fatal(err)
		}
		if got := field(decodeJSON(t, out), "source.ip"); got != c.ip {
			t.Errorf("client %q kind %s: source.ip %v, want %v", c.client, c.kind, got, c.ip)
		}
	}
}

func TestNonFiniteJSON(t *testing.T) {
	n := testCases()[0].n
	n.Finding.Observed, n.Finding.Score, n.Finding.Totals = math.Inf(1), math.NaN(), &detect.Totals{Bytes: math.NaN()}
	for _, enc := range []alert.Encoder{ECS, OCSF} {
		out, err := enc(nil, n)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), `"observed":null`) || !strings.Contains(string(out), `"bytes":null`) {
			t.Errorf("non-finite figures not null: %s", out)
		}
	}
}

// TestConcurrent runs every encoder on every case at once; with -race
// it checks that encoders share no mutable state.
func TestConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for _, name := range formats {
		enc, _ := ByName(name)
		for _, tc := range testCases() {
			want, err := enc(nil, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			for range 4 {
				wg.Go(func() {
					if got, err := enc(nil, tc.n); err != nil || string(got) != string(want) {
						t.Errorf("%s/%s: concurrent output differs: %v", name, tc.name, err)
					}
				})
			}
		}
	}
	wg.Wait()
}

// TestRequestOfCampaigns: a login or write route campaign's route stands
// in for the request a SIEM's url.path gets; a probe campaign has none.
func TestRequestOfCampaigns(t *testing.T) {
	for _, tc := range []struct{ campaign, path string }{
		{"login /login", "/login"},
		{"route /api/v1/signup", "/api/v1/signup"},
		{"env-file .env", ""},
		{"route", ""},
	} {
		f := detect.Finding{ClientKind: kindCampaign, Campaign: tc.campaign}
		if m, p := request(&f); m != "" || p != tc.path {
			t.Errorf("request(campaign %q) = %q %q, want \"\" %q", tc.campaign, m, p, tc.path)
		}
	}
}
