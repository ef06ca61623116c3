package detect

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// siteEvent is one request of a synthetic access log.
type siteEvent struct {
	at                  time.Time
	client              string
	method, path, route string
	status              int
}

// smallSite is the traffic of a small site: three steady clients for
// three hours, and attacks from clients whose first line is the attack,
// several of them present from the first minute of the log, before any
// baseline exists.
type smallSite struct {
	events   []siteEvent
	steady   []string
	scanner  string   // (a) ~150 distinct 404 paths a minute, minutes 0-9
	brute    string   // (b) 60 POST /login a minute answered 200, minutes 0-14
	prober   string   // (c) /.env, /.git/config, /wp-login.php (404) in minute 0
	spread   []string // (d) 40 clients, 1-2 POST /login a minute answered 401, minutes 60-89
	duration int      // minutes
}

func newSmallSite(seed uint64) *smallSite {
	rng := rand.New(rand.NewPCG(seed, 7))
	s := &smallSite{
		steady:   []string{"192.0.2.10", "192.0.2.11", "192.0.2.12"},
		scanner:  "198.51.100.7",
		brute:    "203.0.113.5",
		prober:   "203.0.113.66",
		duration: 180,
	}
	for i := range 40 {
		s.spread = append(s.spread, fmt.Sprintf("100.64.%d.%d", 1+i/10, 10+i%10*7))
	}
	add := func(minute int, client, method, path, route string, status int) {
		at := t0.Add(time.Duration(minute)*time.Minute + time.Duration(rng.Int64N(int64(time.Minute))))
		s.events = append(s.events, siteEvent{at: at, client: client, method: method, path: path, route: route, status: status})
	}
	type page struct{ path, route string }
	pages := []page{{"/", "/"}, {"/api/v1/products", "/api/v1/products"}, {"/static/app.js", "/static/app.js"},
		{"/static/site.css", "/static/site.css"}, {"/api/v1/cart", "/api/v1/cart"}}
	for m := range s.duration {
		for _, c := range s.steady {
			for range 1 + rng.IntN(5) {
				if rng.IntN(4) == 0 {
					id := fmt.Sprint(100 + rng.IntN(50))
					add(m, c, "GET", "/api/v1/orders/"+id, "/api/v1/orders/{id}", 200)
					continue
				}
				p := pages[rng.IntN(len(pages))]
				add(m, c, "GET", p.path, p.route, 200)
			}
		}
		if m < 10 {
			for i := range 140 + rng.IntN(21) {
				p := fmt.Sprintf("/%s%d/%s.html", []string{"files", "docs", "old", "test", "dev"}[i%5], m, fmt.Sprint(i))
				add(m, s.scanner, "GET", p, p, 404)
			}
		}
		if m < 15 {
			for range 60 {
				add(m, s.brute, "POST", "/login", "/login", 200)
			}
		}
		if m == 0 {
			for _, p := range []string{"/.env", "/.git/config", "/wp-login.php"} {
				add(m, s.prober, "GET", p, p, 404)
			}
		}
		if m >= 60 && m < 90 {
			for _, c := range s.spread {
				for range 1 + rng.IntN(2) {
					add(m, c, "POST", "/login", "/login", 401)
				}
			}
		}
	}
	sort.SliceStable(s.events, func(i, j int) bool { return s.events[i].at.Before(s.events[j].at) })
	return s
}

// run observes the site's events, as a parsed nginx log would give them,
// and returns every finding emitted.
func (s *smallSite) run(opts Options) []Finding {
	var out []Finding
	opts.Emit = func(f Finding) { out = append(out, f) }
	e := New(opts)
	var ev ingest.Event
	for i := range s.events {
		x := &s.events[i]
		ev.Reset()
		ev.Time, ev.Format = x.at, "nginx_combined"
		ev.ClientKey, ev.ClientKind, ev.RemoteIP = x.client, ingest.ClientIP, netip.MustParseAddr(x.client)
		ev.Method, ev.Path, ev.Route, ev.Status = x.method, x.path, x.route, x.status
		ev.BytesOut = 512
		switch x.status {
		case 401:
			ev.Auth = ingest.AuthFailed
		case 403:
			ev.Auth = ingest.AuthForbidden
		default:
			ev.Auth = ingest.AuthNone
		}
		e.Observe(&ev)
	}
	e.Flush()
	return out
}

// namesOf lists every client a finding names: its client, a campaign's
// clients, a fleet finding's top clients.
func namesOf(f *Finding) []string {
	return slices.Concat([]string{f.Client}, f.Clients, f.TopClients)
}

// TestSmallSiteAttacksFromFirstLine: on a site of three clients, attacks
// present from the log's first minute — before any baseline or population
// exists — are each reported once, a distributed login attack as one
// campaign, and the site's own clients never.
func TestSmallSiteAttacksFromFirstLine(t *testing.T) {
	t.Parallel()
	site := newSmallSite(1)
	findings := site.run(Options{})

	incidents := map[string][]Finding{} // by incident id, in emission order
	var order []string
	for _, f := range findings {
		if _, ok := incidents[f.IncidentID]; !ok {
			order = append(order, f.IncidentID)
		}
		incidents[f.IncidentID] = append(incidents[f.IncidentID], f)
	}
	describe := func() string {
		var b strings.Builder
		for _, id := range order {
			fs := incidents[id]
			last := fs[len(fs)-1]
			fmt.Fprintf(&b, "\n  %s %s [%s] %d emissions, clients %d: %s", last.Detector, last.Client,
				last.Status, len(fs), last.ClientCount, last.Summary)
		}
		return b.String()
	}
	// naming returns the incidents that name client.
	naming := func(client string) []string {
		var ids []string
		for _, id := range order {
			for _, f := range incidents[id] {
				if slices.Contains(namesOf(&f), client) {
					ids = append(ids, id)
					break
				}
			}
		}
		return ids
	}
	defer func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("%d events, %d findings, %d incidents:%s", len(site.events), len(findings), len(order), describe())
		}
	}()
	t.Run("steady clients", func(t *testing.T) {
		for _, c := range site.steady {
			if ids := naming(c); len(ids) > 0 {
				t.Errorf("steady client %s named by %d incidents", c, len(ids))
			}
		}
	})
	for _, a := range []struct{ name, client, det string }{
		{"scanner", site.scanner, DetectorScanning},
		{"brute force", site.brute, DetectorBruteForce},
		{"probe sweep", site.prober, DetectorScanning},
	} {
		t.Run(a.name, func(t *testing.T) {
			ids := naming(a.client)
			if len(ids) != 1 {
				t.Fatalf("%s %s named by %d incidents, want 1", a.name, a.client, len(ids))
			}
			if f := incidents[ids[0]][0]; f.Detector != a.det || f.Client != a.client {
				t.Errorf("%s reported as a %s incident of %s, want %s of %s", a.name, f.Detector, f.Client, a.det, a.client)
			}
		})
	}
	// The distributed attack: one campaign incident counting most of its
	// clients, and no other incident naming any of them.
	var camps, others []string
	for _, c := range site.spread {
		for _, id := range naming(c) {
			fs := incidents[id]
			switch {
			case fs[0].Detector == DetectorCampaign && !slices.Contains(camps, id):
				camps = append(camps, id)
			case fs[0].Detector != DetectorCampaign && !slices.Contains(others, id):
				others = append(others, id)
			}
		}
	}
	t.Run("distributed login campaign", func(t *testing.T) {
		if len(camps) != 1 {
			t.Fatalf("the distributed login attack is in %d campaign incidents, want 1", len(camps))
		}
		fs := incidents[camps[0]]
		if last := fs[len(fs)-1]; last.ClientCount < 30 {
			t.Errorf("the distributed login campaign counts %d clients, want 30 or more", last.ClientCount)
		}
	})
	t.Run("distributed login campaign alone", func(t *testing.T) {
		for _, id := range others {
			f := incidents[id][0]
			t.Errorf("the distributed login attack is also a %s incident %s naming %v", f.Detector, id, namesOf(&f))
		}
	})
}

// TestScannerAgentIsEvidence: three refused requests under Nikto's user
// agent in a minute are a scan; the same requests under a browser's, or
// Nikto's name on requests the site served, are not.
func TestScannerAgentIsEvidence(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		ua     string
		status int
		want   bool
	}{
		{"nikto refused", "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)", 404, true},
		{"browser refused", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", 404, false},
		{"nikto served", "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)", 200, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []Finding
			e := New(Options{Emit: func(f Finding) { got = append(got, f) }})
			var ev ingest.Event
			for i, p := range []string{"/doc/rt/", "/cgi-sys/", "/manual/index.php"} {
				ev.Reset()
				ev.Time, ev.ClientKey, ev.ClientKind = t0.Add(time.Duration(i)*time.Second), "192.0.2.9", ingest.ClientIP
				ev.Method, ev.Path, ev.Route, ev.Status, ev.UserAgent = "GET", p, p, tt.status, tt.ua
				e.Observe(&ev)
			}
			e.Flush()
			if found := len(got) > 0; found != tt.want {
				t.Fatalf("found %v, want %v: %+v", found, tt.want, got)
			}
			if tt.want && got[0].Detector != DetectorScanning {
				t.Errorf("detector %s, want scanning", got[0].Detector)
			}
		})
	}
}
