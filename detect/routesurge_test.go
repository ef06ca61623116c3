package detect

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// shopSite is six hours of a small shop: 30 steady customers browsing,
// adding to carts (three times as often during a half-hour sale),
// checking out (redirected, 5% refused) and writing to the contact form
// (redirected); a sign-up from a new address every ten minutes or so; and, from hour 3, three attacks that no single address
// makes visible: sign-up spam, card testing at the checkout, and contact
// form spam the form rejects. Each attacking address is new and sends one
// to four requests.
type shopSite struct {
	events           []siteEvent
	steady, signups  []string
	spam, cards, bot []string // the attacks' addresses
}

// Attack times, in minutes from the start.
const (
	shopSpamAt, shopCardsAt, shopFormAt, shopMinutes = 200, 250, 300, 360
)

func newShopSite(seed uint64) *shopSite {
	rng := rand.New(rand.NewPCG(seed, 11))
	s := &shopSite{}
	add := func(minute int, client, method, path string, status int) {
		at := t0.Add(time.Duration(minute)*time.Minute + time.Duration(rng.Int64N(int64(time.Minute))))
		s.events = append(s.events, siteEvent{at: at, client: client, method: method, path: path, route: path, status: status})
	}
	for i := range 30 {
		s.steady = append(s.steady, fmt.Sprintf("192.0.2.%d", 10+i))
	}
	pages := []string{"/", "/products", "/static/app.js", "/api/v1/products", "/api/v1/cart"}
	for m := range shopMinutes {
		for _, c := range s.steady {
			s.customer(rng, add, m, c, pages)
		}
		if rng.IntN(10) == 0 { // a genuine sign-up, who then browses
			c := fmt.Sprintf("198.18.%d.%d", m/200, m%200+1)
			s.signups = append(s.signups, c)
			add(m, c, "GET", "/signup", 200)
			add(m, c, "POST", "/api/v1/signup", 201)
			for k := range 3 {
				add(m+k, c, "GET", pages[rng.IntN(len(pages))], 200)
			}
		}
		s.attacks(rng, add, m)
	}
	sort.SliceStable(s.events, func(i, j int) bool { return s.events[i].at.Before(s.events[j].at) })
	return s
}

// customer adds a steady customer's minute: a few pages, now and then a
// cart update, a checkout or a contact message.
func (s *shopSite) customer(rng *rand.Rand, add func(int, string, string, string, int), m int, c string, pages []string) {
	for range 1 + rng.IntN(3) {
		add(m, c, "GET", pages[rng.IntN(len(pages))], 200)
	}
	cart := 6
	if m >= 120 && m < 150 { // a sale: customers fill their carts three times as often
		cart = 2
	}
	if rng.IntN(cart) == 0 {
		add(m, c, "POST", "/api/v1/cart", 200)
	}
	if rng.IntN(40) == 0 {
		status := 302
		if rng.IntN(20) == 0 {
			status = 402
		}
		add(m, c, "POST", "/checkout", status)
	}
	if rng.IntN(60) == 0 {
		add(m, c, "POST", "/contact", 302)
	}
}

// attacks adds minute m of the three attacks.
func (s *shopSite) attacks(rng *rand.Rand, add func(int, string, string, string, int), m int) {
	next := func(list *[]string, prefix string) string {
		c := fmt.Sprintf("%s.%d.%d", prefix, len(*list)/250, len(*list)%250+1)
		*list = append(*list, c)
		return c
	}
	if m >= shopSpamAt && m < shopSpamAt+10 { // sign-up spam: 30 new addresses a minute
		for range 30 {
			c := next(&s.spam, "100.64")
			for range 1 + rng.IntN(2) {
				add(m, c, "POST", "/api/v1/signup", 201)
			}
		}
	}
	if m >= shopCardsAt && m < shopCardsAt+10 { // card testing: 15 new addresses a minute, declined
		for range 15 {
			c := next(&s.cards, "100.65")
			for range 2 + rng.IntN(3) {
				add(m, c, "POST", "/checkout", 402)
			}
		}
	}
	if m >= shopFormAt && m < shopFormAt+6 { // form spam, redisplayed with an error
		for range 12 {
			c := next(&s.bot, "100.66")
			for range 2 {
				add(m, c, "POST", "/contact", 200)
			}
		}
	}
}

// observe feeds the site's events from..to to e, as smallSite.run does.
func (s *shopSite) observe(e *Engine, from, to int) {
	var ev ingest.Event
	for _, x := range s.events[from:to] {
		ev.Reset()
		ev.Time, ev.Format = x.at, "nginx_combined"
		ev.ClientKey, ev.ClientKind, ev.RemoteIP = x.client, ingest.ClientIP, netip.MustParseAddr(x.client)
		ev.Method, ev.Path, ev.Route, ev.Status, ev.BytesOut = x.method, x.path, x.route, x.status, 900
		e.Observe(&ev)
	}
}

// TestRouteSurges: sign-up spam, distributed card testing and form spam,
// each from addresses that send one to four requests, are each one route
// incident naming attackers and counting about as many as there were;
// the shop's own customers and genuine sign-ups are never named.
func TestRouteSurges(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			site := newShopSite(seed)
			var out []Finding
			e := New(Options{Emit: func(f Finding) { out = append(out, f) }})
			site.observe(e, 0, len(site.events))
			e.Flush()
			checkShopFindings(t, site, out)
		})
	}
}

// checkShopFindings asserts what TestRouteSurges says of findings.
func checkShopFindings(t *testing.T, site *shopSite, out []Finding) {
	t.Helper()
	incidents := map[string]Finding{} // the last emission of each
	for _, f := range out {
		incidents[f.IncidentID] = f
	}
	innocent := slices.Concat(site.steady, site.signups)
	want := map[string]struct {
		attackers []string
		at        int
	}{
		"campaign:route /api/v1/signup": {site.spam, shopSpamAt},
		"campaign:route /checkout":      {site.cards, shopCardsAt},
		"campaign:route /contact":       {site.bot, shopFormAt},
	}
	got := map[string]int{}
	for _, f := range incidents {
		for _, c := range namesOf(&f) {
			if slices.Contains(innocent, c) {
				t.Errorf("%s incident %s names the shop's own client %s: %s", f.Detector, f.Client, c, f.Summary)
			}
		}
		w, ok := want[f.Client]
		if !ok {
			if strings.HasPrefix(f.Client, "campaign:route ") {
				t.Errorf("unexpected route incident: %s", f.Summary)
			}
			continue
		}
		got[f.Client]++
		n := len(w.attackers)
		if f.ClientCount < n*8/10 || f.ClientCount > n*5/4 {
			t.Errorf("%s counts %d clients, %d attacked", f.Client, f.ClientCount, n)
		}
		if len(f.Clients) == 0 {
			t.Errorf("%s names no client", f.Client)
		}
		if tot := f.Totals; tot == nil || tot.Requests < float64(n) || tot.Bytes != 900*tot.Requests {
			t.Errorf("%s totals %+v: want at least a request per attacker, 900 bytes each", f.Client, tot)
		}
		for _, c := range f.Clients {
			if !slices.Contains(w.attackers, c) {
				t.Errorf("%s names %s, not one of its attackers", f.Client, c)
			}
		}
		if start := t0.Add(time.Duration(w.at) * time.Minute); f.WindowStart.Before(start) {
			t.Errorf("%s starts at %v, before the attack at %v", f.Client, f.WindowStart, start)
		}
		if f.Detector != DetectorCampaign || f.Why == "" || f.PValue <= 0 || f.PValue > 1e-6 {
			t.Errorf("%s: detector %s, p %g, why %q", f.Client, f.Detector, f.PValue, f.Why)
		}
	}
	for k := range want {
		if got[k] != 1 {
			t.Errorf("%d incidents for %s, want 1", got[k], k)
		}
	}
	if t.Failed() {
		for _, f := range incidents {
			t.Logf("%s %s %s clients %d: %s", f.Status, f.Detector, f.Client, f.ClientCount, f.Summary)
		}
	}
}

// TestRouteSurgesSnapshot: an engine restored from a snapshot taken in
// the middle of the sign-up spam emits what one that never stopped does.
func TestRouteSurgesSnapshot(t *testing.T) {
	t.Parallel()
	site := newShopSite(4)
	var whole []Finding
	e := New(Options{Emit: func(f Finding) { whole = append(whole, f) }})
	site.observe(e, 0, len(site.events))
	e.Flush()

	cut := sort.Search(len(site.events), func(i int) bool {
		return !site.events[i].at.Before(t0.Add((shopSpamAt + 4) * time.Minute))
	})
	var parts []Finding
	opts := Options{Emit: func(f Finding) { parts = append(parts, f) }}
	first := New(opts)
	site.observe(first, 0, cut)
	data, err := first.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	second, err := Restore(opts, data)
	if err != nil {
		t.Fatal(err)
	}
	again, err := second.MarshalBinary()
	if err != nil || string(again) != string(data) {
		t.Fatalf("restored engine's snapshot differs (%d vs %d bytes, %v)", len(again), len(data), err)
	}
	site.observe(second, cut, len(site.events))
	second.Flush()
	a, _ := json.Marshal(whole)
	b, _ := json.Marshal(parts)
	if string(a) != string(b) {
		t.Errorf("findings differ after a restore mid-attack:\n whole: %s\n parts: %s", a, b)
	}
	if !strings.Contains(string(a), "campaign:route /api/v1/signup") {
		t.Error("no sign-up spam incident to carry over")
	}
}

// TestRouteSurgesDisabled: Options.Routes.Disabled switches the detector
// off, and nothing else reports the route surges as route campaigns.
func TestRouteSurgesDisabled(t *testing.T) {
	t.Parallel()
	site := newShopSite(1)
	var out []Finding
	e := New(Options{Routes: Tuning{Disabled: true}, Emit: func(f Finding) { out = append(out, f) }})
	site.observe(e, 0, len(site.events))
	e.Flush()
	for _, f := range out {
		if strings.HasPrefix(f.Client, "campaign:route ") {
			t.Errorf("route incident with the detector off: %s", f.Summary)
		}
	}
	if e.routeStatsN != 0 {
		t.Errorf("%d route baselines kept with the detector off", e.routeStatsN)
	}
}

// TestRouteStatsBounded: a spray of distinct POST routes (a honeypot
// answers 200 to anything) keeps at most maxRouteStats baselines, the
// count stays true through eviction, and once the spray has aged out a
// new route gets a baseline again.
func TestRouteStatsBounded(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	var ev ingest.Event
	post := func(at time.Time, route string) {
		ev.Reset()
		ev.Time, ev.ClientKey, ev.ClientKind = at, "203.0.113.9", ingest.ClientIP
		ev.Method, ev.Path, ev.Route, ev.Status = "POST", route, route, 200
		e.Observe(&ev)
	}
	for i := range 6000 {
		post(t0.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("/spray/%d", i))
	}
	held := func() int {
		n := 0
		for _, r := range e.routeAuth {
			if r.stats != nil {
				n++
			}
		}
		return n
	}
	if n := held(); n != maxRouteStats || e.routeStatsN != n || len(e.routeAuth) != maxRouteAuth {
		t.Fatalf("after the spray: %d baselines (counted %d), %d routes; want %d, %d", n, e.routeStatsN, len(e.routeAuth), maxRouteStats, maxRouteAuth)
	}
	for at := t0; at.Before(t0.Add(72 * time.Hour)); at = at.Add(10 * time.Minute) { // the clock moves on
		ev.Reset()
		ev.Time, ev.ClientKey, ev.ClientKind, ev.Method, ev.Path, ev.Route, ev.Status = at, "192.0.2.1", ingest.ClientIP, "GET", "/", "/", 200
		e.Observe(&ev)
	}
	post(t0.Add(72*time.Hour), "/api/v1/signup")
	r := e.routeAuth["/api/v1/signup"]
	if r == nil || r.stats == nil {
		t.Fatal("a new route three days after the spray has no baseline")
	}
	if n := held(); e.routeStatsN != n || n > maxRouteStats {
		t.Errorf("after eviction: %d baselines, counted %d", n, e.routeStatsN)
	}
}

// TestRouteBaselineIsEWMAOverEveryWindow: folding only the windows with
// requests, idle ones decayed lazily, gives the bias-corrected EWMA (mean
// and variance) over every window, idle ones as zeros.
func TestRouteBaselineIsEWMAOverEveryWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	st := &routeStats{first: 100, baseW: 99}
	f := 1 - 1.0/routeHorizon
	var m, m2 float64
	for w := int64(100); w < 2100; w++ {
		x := 0.0
		if rng.IntN(3) == 0 {
			x = float64(rng.IntN(9))
		}
		if w%250 == 0 {
			norm := 1 - math.Pow(f, float64(w-st.first))
			gotM, gotV := st.decayed(w)
			wantM, wantV := m/norm, m2/norm-(m/norm)*(m/norm)
			if math.Abs(gotM-wantM) > 1e-9*(1+wantM) || math.Abs(gotV-wantV) > 1e-9*(1+wantV) {
				t.Fatalf("window %d: mean %g var %g, want %g %g", w, gotM, gotV, wantM, wantV)
			}
		}
		m, m2 = f*m+(1-f)*x, f*m2+(1-f)*x*x
		if x > 0 {
			st.fold(&routeWin{fresh: uint32(x)}, w, false)
		}
	}
}
