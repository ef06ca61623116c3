package detect

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// req is one synthetic request for the newer detectors' tests.
type req struct {
	client string
	kind   ingest.ClientKind
	ip     string
	path   string // route is derived with ingest.RouteTemplate
	query  string
	status int
	bytes  int64
	id     string // request id
}

// sendAll observes rs spread over window w (minutes after t0).
func (s *synth) sendAll(w int, rs []req) {
	for i, r := range rs {
		s.ev.Reset()
		s.ev.Time = t0.Add(time.Duration(w)*time.Minute + time.Duration(i)*time.Minute/time.Duration(len(rs)+1))
		s.ev.ClientKey, s.ev.ClientKind = r.client, r.kind
		if r.kind == 0 {
			s.ev.ClientKind = ingest.ClientIP
		}
		if r.ip != "" {
			s.ev.RemoteIP = netip.MustParseAddr(r.ip)
		}
		s.ev.Path, s.ev.Route, s.ev.Query = r.path, ingest.RouteTemplate(nil, r.path), r.query
		s.ev.Status, s.ev.BytesOut, s.ev.RequestID = r.status, r.bytes, r.id
		s.ev.Auth = ingest.AuthOK
		if r.status == 401 {
			s.ev.Auth = ingest.AuthFailed
		}
		s.eng.Observe(&s.ev)
	}
}

// quietFleet is n ordinary clients' requests for one window.
func quietFleet(s *synth, n int) []req {
	var rs []req
	for i := range n {
		for range 5 + s.poisson(5) {
			rs = append(rs, req{client: clientName(i), path: "/api/v1/orders/" + strconv.Itoa(1000+i%7), status: 200, bytes: 2000})
		}
	}
	return rs
}

// interleave merges request lists (each window's events are spread by
// sendAll in list order, which need not be by client).
func interleave(lists ...[]req) []req {
	var out []req
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// TestNewerDetectors drives each newer detector with one attacker among
// quiet clients and checks the finding and its explanation.
func TestNewerDetectors(t *testing.T) {
	t.Parallel()
	scan := func(w int) []req {
		var rs []req
		for i := range 60 {
			rs = append(rs, req{client: "203.0.113.9", path: "/admin/x" + strings.Repeat("a", i%30) + "/" + []string{"a", "b"}[i%2], status: 404})
		}
		return rs
	}
	enum := func(w int) []req {
		var rs []req
		for i := range 200 {
			rs = append(rs, req{client: clientName(3), path: "/api/v1/orders/" + strconv.Itoa(500000+w*1000+i), status: 200, bytes: 2000})
		}
		return rs
	}
	probe := func(w int) []req {
		return []req{
			{client: "192.0.2.7", path: "/api/v2/search", query: "q=1%27%20OR%20%271%27%3D%271", status: 400},
			{client: "192.0.2.7", path: "/api/v1/files", query: "name=..%2F..%2Fetc%2Fpasswd", status: 400},
			{client: "192.0.2.7", path: "/api/v1/p", query: "x=%3Cscript%3Ealert(1)%3C%2Fscript%3E", status: 400},
		}
	}
	exfil := func(w int) []req {
		var rs []req
		for range 10 {
			rs = append(rs, req{client: clientName(5), path: "/api/v1/exports/7/download", status: 200, bytes: 5 << 20})
		}
		return rs
	}
	share := func(w int) []req {
		var rs []req
		for i := range 30 {
			rs = append(rs, req{client: "key:partner", kind: ingest.ClientAPIKey, ip: "198.18." + strconv.Itoa(i) + ".9", path: "/api/v1/me", status: 200, bytes: 500})
		}
		return rs
	}
	shareNormal := func() []req {
		var rs []req
		for range 10 {
			rs = append(rs, req{client: "key:partner", kind: ingest.ClientAPIKey, ip: "198.18.200.9", path: "/api/v1/me", status: 200, bytes: 500})
		}
		return rs
	}
	tests := []struct {
		det, client string
		attack      func(w int) []req
		routes      bool // the finding names routes
		samples     bool
	}{
		{DetectorScanning, "203.0.113.9", scan, true, true},
		{DetectorEnumeration, clientName(3), enum, true, false},
		{DetectorInjection, "192.0.2.7", probe, false, true},
		{DetectorExfiltration, clientName(5), exfil, true, true},
		{DetectorSharing, "key:partner", share, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.det, func(t *testing.T) {
			t.Parallel()
			s := newSynth(t, Options{})
			for w := range 40 {
				rs := interleave(quietFleet(s, 40), shareNormal())
				if w >= 30 && w < 33 {
					rs = interleave(rs, tt.attack(w))
				}
				s.sendAll(w, rs)
			}
			s.eng.Flush()
			fs := s.of(tt.client, tt.det)
			if len(fs) == 0 {
				t.Fatalf("no %s finding; all findings: %v", tt.det, summaries(s.findings))
			}
			f := fs[0]
			if f.Status != StatusOpen || !f.WindowStart.Equal(t0.Add(30*time.Minute)) {
				t.Errorf("first finding %s at %v, want open at window 30", f.Status, f.WindowStart)
			}
			if f.Why == "" || f.Requests <= 0 || (tt.routes && len(f.Routes) == 0) || (tt.samples && len(f.Samples) == 0) {
				t.Errorf("explanation incomplete: why %q, requests %v, routes %q, samples %q", f.Why, f.Requests, f.Routes, f.Samples)
			}
			for _, x := range append(f.Routes, f.Samples...) {
				if len(x) > 120 || strings.Contains(x, "REDACTED") && tt.det != DetectorExfiltration {
					t.Errorf("sample %q", x)
				}
			}
			t.Logf("%s | why: %s | routes %q samples %q", f.Summary, f.Why, f.Routes, f.Samples)
			for _, g := range s.findings {
				if g.Client != tt.client && g.Client != FleetClient {
					t.Errorf("quiet client flagged: %s", g.Summary)
				}
			}
		})
	}
}

// TestFleetFindingNamesClients: many new clients each below every
// per-client floor, failing logins together, are one fleet finding naming
// them.
func TestFleetFindingNamesClients(t *testing.T) {
	t.Parallel()
	s := newSynth(t, Options{})
	for w := range 40 {
		rs := quietFleet(s, 60)
		if w == 30 {
			for i := range 80 {
				for range 3 {
					rs = append(rs, req{client: "203.0.113." + strconv.Itoa(i+1), path: "/login", status: 401})
				}
			}
		}
		for i := range rs {
			if rs[i].status == 401 {
				rs[i].kind = ingest.ClientIP
			}
		}
		s.sendAllAuth(w, rs)
	}
	s.eng.Flush()
	fs := s.of(FleetClient, DetectorFleetAuth)
	if len(fs) == 0 {
		t.Fatalf("no fleet finding: %v", summaries(s.findings))
	}
	if len(fs[0].TopClients) != topClients || !strings.HasPrefix(fs[0].TopClients[0], "203.0.113.") || fs[0].ClientKind != "fleet" {
		t.Errorf("fleet finding %+v", fs[0])
	}
	for _, f := range s.findings {
		if f.Client != FleetClient {
			t.Errorf("per-client finding for a distributed attack: %s", f.Summary)
		}
	}
}

// sendAllAuth is sendAll with 401s marked as auth failures.
func (s *synth) sendAllAuth(w int, rs []req) {
	for i, r := range rs {
		s.ev.Reset()
		s.ev.Time = t0.Add(time.Duration(w)*time.Minute + time.Duration(i)*time.Minute/time.Duration(len(rs)+1))
		s.ev.ClientKey, s.ev.ClientKind = r.client, ingest.ClientIP
		s.ev.Path, s.ev.Route = r.path, ingest.RouteTemplate(nil, r.path)
		s.ev.Status, s.ev.BytesOut = r.status, r.bytes
		s.ev.Auth = ingest.AuthOK
		if r.status == 401 {
			s.ev.Auth = ingest.AuthFailed
		}
		s.eng.Observe(&s.ev)
	}
}

// TestSuppression: allowlisted clients and routes, and maintenance
// windows, silence what would otherwise be findings.
func TestSuppression(t *testing.T) {
	t.Parallel()
	attack := func(s *synth, w int) []req {
		rs := quietFleet(s, 40)
		if w >= 30 && w < 32 {
			for i := range 60 {
				rs = append(rs, req{client: "203.0.113.9", path: "/static/f" + strconv.Itoa(i%10) + "x/" + strings.Repeat("z", i), status: 404})
			}
			rs = append(rs, req{client: "203.0.113.9", path: "/api/v2/search", query: "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"},
				req{client: "203.0.113.9", path: "/api/v2/search", query: "q=%3Cscript%3Ealert(2)%3C%2Fscript%3E"},
				req{client: "203.0.113.9", path: "/api/v2/search", query: "q=%3Cscript%3Ealert(3)%3C%2Fscript%3E"})
		}
		return rs
	}
	run := func(opts Options) []Finding {
		s := newSynth(t, opts)
		for w := range 40 {
			s.sendAll(w, attack(s, w))
		}
		s.eng.Flush()
		return s.of("203.0.113.9", "")
	}
	if len(run(Options{})) == 0 {
		t.Fatal("the unsuppressed attack raised nothing: the test proves nothing")
	}
	for name, opts := range map[string]Options{
		"client":      {AllowClients: []string{"203.0.113.9"}},
		"cidr":        {AllowClients: []string{"203.0.113.0/24"}},
		"routes":      {AllowRoutes: []string{"/static/*", "/api/v2/search"}, Volume: DetectorSwitch{Disabled: true}},
		"maintenance": {Maintenance: []TimeRange{{Start: t0.Add(29 * time.Minute), End: t0.Add(33 * time.Minute)}}},
		"disabled":    {Scanning: Tuning{Disabled: true}, Injection: Tuning{Disabled: true}, Volume: DetectorSwitch{Disabled: true}, AuthFailures: DetectorSwitch{Disabled: true}},
	} {
		if fs := run(opts); len(fs) > 0 {
			t.Errorf("%s: still flagged: %v", name, summaries(fs))
		}
	}
}

// TestBenjaminiHochberg checks the cut on known p-values.
func TestBenjaminiHochberg(t *testing.T) {
	t.Parallel()
	e := New(Options{FDR: 0.1})
	ps := []float64{1e-9, 2e-7, 3e-7, 9e-7}
	for _, p := range ps {
		e.cands = append(e.cands, candidate{det: detVolume, v: verdict{logP: math.Log(p)}})
	}
	e.cands = append(e.cands, candidate{det: detProbe, v: verdict{logP: 0}})
	e.tests = 1_000_000
	// k·q/m: 1e-7, 2e-7, 3e-7, 4e-7: the largest k with p(k) <= k·q/m is 3.
	if cut := e.bhCut(); math.Abs(cut-math.Log(3e-7)) > 1e-12 {
		t.Errorf("cut at p=%g, want 3e-7", math.Exp(cut))
	}
	e.tests = 100
	if cut := e.bhCut(); cut != math.Log(9e-7) {
		t.Errorf("few tests: cut at p=%g, want all", math.Exp(cut))
	}
	e.opts.FDR = -1
	if cut := e.bhCut(); !math.IsInf(cut, 1) {
		t.Errorf("FDR off: cut %g", cut)
	}
	if got := slices.Index([]float64{1}, 1); got != 0 {
		t.Fatal(got)
	}
}

// TestFleetSeasonality: once two days of a sharp daily peak are known,
// the peak is expected; before that it is a finding.
func TestFleetSeasonality(t *testing.T) {
	t.Parallel()
	s := newSynth(t, Options{Window: time.Hour, MinHistory: 10, FleetVolume: Tuning{MinRatio: 2}})
	day := 24
	var peaks []time.Time
	for w := range 4 * day {
		n := 60
		if w%day == 10 { // a nightly batch hour, four times the traffic
			n = 240
		}
		ts := make([]traffic, 0, n)
		for i := range n {
			ts = append(ts, traffic{client: clientName(i), req: 10 + s.poisson(2)})
		}
		// window() spreads a window over one minute: map hours to minutes
		// by using a one-hour window and hour indexes.
		s.windowAt(time.Duration(w)*time.Hour, ts)
		if w%day == 10 {
			peaks = append(peaks, t0.Add(time.Duration(w)*time.Hour))
		}
	}
	s.eng.Flush()
	fleet := s.of(FleetClient, DetectorFleetVolume)
	flagged := func(at time.Time) bool {
		return slices.ContainsFunc(fleet, func(f Finding) bool { return !f.WindowStart.After(at) && f.WindowEnd.After(at) })
	}
	if !flagged(peaks[0]) {
		t.Errorf("first peak not flagged: %v", summaries(fleet))
	}
	if flagged(peaks[3]) {
		t.Errorf("fourth peak flagged although the hour-of-day factor knows it: %v", summaries(fleet))
	}
}

// windowAt is window for an arbitrary offset from t0.
func (s *synth) windowAt(off time.Duration, ts []traffic) {
	for _, tr := range ts {
		for i := range tr.req {
			s.send(t0.Add(off+time.Duration(i)*time.Second), tr.client, 200)
		}
	}
}

// TestEnumerationPerTemplate: a client that reads about twenty ids under
// each of three route templates every window, then walks 150 ids under
// one of them, is enumerating: per template its count rose 7x, though its
// distinct ids across all templates only rose 2.5x. A client that reads
// the same 150 ids spread evenly over its three templates is not.
func TestEnumerationPerTemplate(t *testing.T) {
	t.Parallel()
	// Three resources whose templates fall in different sketches.
	var res []string
	used := map[uint8]bool{}
	for _, r := range []string{"orders", "users", "carts", "invoices", "products", "accounts", "devices", "payments", "sessions", "tickets"} {
		b := routeBucket(ingest.RouteTemplate(nil, "/api/v1/"+r+"/123456"))
		if !used[b] && len(res) < 3 {
			used[b] = true
			res = append(res, r)
		}
	}
	if len(res) < 3 {
		t.Fatalf("no three templates in different sketches among the candidates: %v", res)
	}
	reads := func(client string, w, perTemplate int, only string) []req {
		var rs []req
		for i := range perTemplate {
			for _, r := range res {
				if only != "" && r != only {
					continue
				}
				rs = append(rs, req{client: client, path: "/api/v1/" + r + "/" + strconv.Itoa(100000+w*1000+i), status: 200, bytes: 1500})
			}
		}
		return rs
	}
	s := newSynth(t, Options{})
	for w := range 40 {
		rs := interleave(quietFleet(s, 40), reads("walker", w, 20, ""), reads("spreader", w, 20, ""))
		if w >= 30 && w < 33 {
			rs = interleave(quietFleet(s, 40), reads("walker", w, 150, res[0]), reads("spreader", w, 50, ""))
		}
		s.sendAll(w, rs)
	}
	s.eng.Flush()
	walker := s.of("walker", DetectorEnumeration)
	if len(walker) == 0 || !walker[0].WindowStart.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("the walk under one template was not found in its first window: %v", summaries(walker))
	}
	if want := ingest.RouteTemplate(nil, "/api/v1/"+res[0]+"/1"); !slices.Contains(walker[0].Routes, want) {
		t.Errorf("finding names routes %q, want %q among them", walker[0].Routes, want)
	}
	if f := s.of("spreader", DetectorEnumeration); len(f) != 0 {
		t.Errorf("a client reading more ids evenly over its usual templates was flagged: %v", summaries(f))
	}
}
