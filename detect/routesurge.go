package detect

import (
	"math"
	"math/bits"
	"strconv"
	"strings"

	"github.com/gatewatch/gatewatch/detect/internal/tail"
	"github.com/gatewatch/gatewatch/ingest"
)

// Write routes.
//
// Some abuse is invisible per client and per login route: sign-up or
// comment spam, SMS-code pumping, card testing at a checkout, coupon
// guessing. Each address sends a request or two to one POST route, most
// of them new to the site, and the route answers as it always does, or
// fails them. So every POST or PUT route has a baseline of its own,
// across all its clients, and each window of it is judged against it:
//
//   - new clients: requests from clients with fewer than routeFreshWins
//     windows of history, against the route's usual number of such
//     requests per window (an EWMA over every window, idle ones too, with
//     a horizon of routeHorizon windows), by a negative binomial tail;
//   - failures: the share of requests answered 4xx (declined, invalid,
//     rate-limited: refused to the client, not a failing server, whose
//     5xx are error_ratio's), against the route's usual share, by a
//     binomial tail;
//   - redirects: on a route that usually answers a redirect (a form that
//     redirects on success), the share answered with one, by the lower
//     binomial tail: a form redisplayed to a bot's every guess.
//
// A window is anomalous when a test's p-value is below Options.PValue,
// the tested requests come from at least Options.Routes.Floor distinct
// clients (default 10: one client is the per-client detectors' business),
// number at least routeMinReqs, and are at least Options.Routes.MinRatio
// times what the route's baseline expects. A route is judged once it has
// been seen for routeMinAge windows: a route that appears with the attack
// has no past to leave (the probe, scanning and login detectors judge
// that). Login routes are the login campaigns' (campaign.go) and are not
// judged here; nor are requests answered 404 or 405 (no such route) or
// matching a commodity probe or an injection probe (their campaigns').
//
// Anomalous windows of a route are one incident, a campaign named "route"
// and the route ("campaign:route /signup"), naming the heaviest new clients
// of its anomalous windows and counting the clients of the tested kind
// (new, failed, or any for the redirect test) in a 512-bit
// linear-counting sketch, within a few percent up to about a thousand. It
// resolves after ResolveAfter quiet windows, as a client's incident does.

// Route detector constants.
const (
	routeBitsN     = 512  // bits of a route window's client sketches
	routeTopN      = 8    // clients a route window tracks by requests
	routeHorizon   = 1440 // windows: the EWMA weight of a route baseline is 1/routeHorizon (a day of one-minute windows)
	routeMinAge    = 60   // windows a route must have been seen over before it is judged
	routeFreshWins = 3    // a client with fewer windows of history is new
	routeMinReqs   = 20   // requests of the tested kind a route window needs
	routeMinHist   = 50   // decayed requests behind a route's failure and redirect shares
	routeMinRedir  = 0.5  // usual redirect share below which the redirect test is off
	routeMinKappa  = 1.0  // least overdispersion assumed for new clients' requests: they come in bursts
	maxRouteStats  = 1024 // routes with a baseline; beyond, new routes are not judged
)

// Route tests, as routeVerdict.test says.
const (
	routeTestFresh uint8 = iota + 1
	routeTestFail
	routeTestRedir
)

// routeSketch is a linear-counting sketch of client key hashes.
type routeSketch [routeBitsN / 64]uint64

func (s *routeSketch) add(h uint64) { s[(h>>32)%(routeBitsN/64)] |= 1 << (h & 63) }

func (s *routeSketch) or(o *routeSketch) {
	for i := range s {
		s[i] |= o[i]
	}
}

// estimate is the number of distinct hashes added: -m·ln(zeros/m), and
// at most m·ln(m) once every bit is set.
func (s *routeSketch) estimate() float64 {
	set := 0
	for _, x := range s {
		set += bits.OnesCount64(x)
	}
	const m = float64(routeBitsN)
	if set == routeBitsN {
		return math.Round(m * math.Log(m))
	}
	return math.Round(-m * math.Log(1-float64(set)/m))
}

// routeTop is a client tracked in a route window.
type routeTop struct {
	idx int32
	gen uint32
	n   uint32
}

// routeWin is a route's tallies in one open window.
type routeWin struct {
	w                       int64
	req, fail, redir, fresh uint32
	bytes                   uint64 // response bytes
	all, freshers, failers  routeSketch
	top                     [routeTopN]routeTop
	nTop                    uint8
}

// routeVerdict is a route window's worst test.
type routeVerdict struct {
	test                       uint8
	observed, expected, spread float64 // the tested requests, their expectation and its standard deviation (shares for ratios)
	requests, clients          float64
	logP                       float64
}

// routeStats is a write route's baseline and open windows.
type routeStats struct {
	first, baseW     int64   // first window seen; last window folded into the baseline
	seenW            int64   // newest window with a request
	mFresh, m2Fresh  float64 // EWMA of new clients' requests per window and of its square
	req, fail, redir float64 // decayed sums behind the shares
	win              []routeWin
	inc              routeSketch // clients of the open incident's anomalous windows
	worst            routeVerdict
}

// countRoute counts ev, a POST or PUT of client idx (gen) counted with h
// in window w at ring slot s, in its route's window.
func (e *Engine) countRoute(ev *ingest.Event, h *hit, idx int32, gen uint32, w int64, s int) {
	if ev.Status == 404 || ev.Status == 405 || h.sig != sigNone || h.probe || e.isLoginRoute(ev.Route) {
		return
	}
	r := e.routeAuth[ev.Route]
	if r == nil {
		if r = e.newRouteAuth(ev.Route, w); r == nil {
			return
		}
	}
	if r.learned {
		return
	}
	st := e.routeStatsOf(r, ev.Route, w)
	if st == nil {
		return
	}
	st.seenW = max(st.seenW, w)
	if w < st.first { // an earlier window still open
		st.first, st.baseW = w, min(st.baseW, w-1)
	}
	x := &st.win[s]
	if x.w != w || x.req == 0 {
		*x = routeWin{w: w}
		e.routeOpen[s] = append(e.routeOpen[s], r)
	}
	ch := hashString(ev.ClientKey)
	x.req++
	x.bytes += uint64(max(ev.BytesOut, 0))
	x.all.add(ch)
	if ev.Status >= 400 && ev.Status < 500 {
		x.fail++
		x.failers.add(ch)
	} else if ev.Status >= 300 {
		x.redir++
	}
	if e.tab.list.at(idx).vol.n < routeFreshWins {
		x.fresh++
		x.freshers.add(ch)
		x.track(idx, gen)
	}
}

// track counts a request of new client idx among the window's heaviest
// (Space-Saving, as campaign.rank). Only new clients are named: a
// customer whose one checkout failed in the minute the card testers came
// is not one of them.
func (x *routeWin) track(idx int32, gen uint32) {
	for i := range x.top[:x.nTop] {
		if t := &x.top[i]; t.idx == idx && t.gen == gen {
			t.n++
			return
		}
	}
	if int(x.nTop) < routeTopN {
		x.top[x.nTop] = routeTop{idx: idx, gen: gen, n: 1}
		x.nTop++
		return
	}
	lo := 0
	for i := range x.top {
		if x.top[i].n < x.top[lo].n {
			lo = i
		}
	}
	x.top[lo] = routeTop{idx: idx, gen: gen, n: x.top[lo].n + 1}
}

// routeStatsOf returns r's baseline, started in window w when it has
// none; nil when maxRouteStats routes have one.
func (e *Engine) routeStatsOf(r *routeAuth, route string, w int64) *routeStats {
	if r.stats != nil {
		return r.stats
	}
	if e.routeStatsN >= maxRouteStats {
		return nil
	}
	e.routeStatsN++
	r.stats = &routeStats{first: w, baseW: w - 1, seenW: w, win: make([]routeWin, e.ring.slots)}
	if r.key == "" {
		r.key = strings.Clone(route)
	}
	return r.stats
}

// judgeRoutes judges and folds the routes with requests in window w.
func (e *Engine) judgeRoutes(w int64) {
	s := e.ring.slot(w)
	open := e.routeOpen[s]
	for _, r := range open {
		st := r.stats
		if st == nil || st.win[s].w != w || st.win[s].req == 0 {
			continue
		}
		x := &st.win[s]
		v := e.judgeRoute(st, x, w)
		anomalous := v.test != 0 && !e.inMaintenance(w) && !e.routeAllowedBy(r.key)
		if anomalous {
			e.routeIncident(r, st, x, &v, w)
		}
		st.fold(x, w, anomalous)
		x.req = 0
	}
	clear(open)
	e.routeOpen[s] = open[:0]
}

// routeAllowedBy reports whether AllowRoutes lists route.
func (e *Engine) routeAllowedBy(route string) bool {
	return e.routesListed && e.routeAllowed(route)
}

// decayed returns the baseline's new-client mean and variance per window
// as of window w (bias-corrected: the EWMA started at zero when the route
// was first seen), and its decay factor per window.
func (st *routeStats) decayed(w int64) (mean, variance float64) {
	f := 1 - 1.0/routeHorizon
	k := float64(w - 1 - st.baseW) // idle windows since the last fold
	m, m2 := st.mFresh*math.Pow(f, k), st.m2Fresh*math.Pow(f, k)
	if n := float64(w - st.first); n > 0 {
		norm := 1 - math.Pow(f, n)
		m, m2 = m/norm, m2/norm
	}
	return m, math.Max(0, m2-m*m)
}

// fold adds window w's tallies x to the baseline. An anomalous window is
// clipped to what the baseline allowed and leaves the shares alone, so an
// attack does not teach the route that it is ordinary.
func (st *routeStats) fold(x *routeWin, w int64, anomalous bool) {
	fresh := float64(x.fresh)
	if anomalous {
		m, v := st.decayed(w)
		fresh = math.Min(fresh, m+3*math.Sqrt(v)+1)
	}
	f := 1 - 1.0/routeHorizon
	decay := math.Pow(f, float64(w-1-st.baseW))
	st.mFresh, st.m2Fresh = st.mFresh*decay, st.m2Fresh*decay
	st.mFresh = f*st.mFresh + (1-f)*fresh
	st.m2Fresh = f*st.m2Fresh + (1-f)*fresh*fresh
	d := decay * f
	st.req, st.fail, st.redir = st.req*d, st.fail*d, st.redir*d
	if !anomalous {
		st.req += float64(x.req)
		st.fail += float64(x.fail)
		st.redir += float64(x.redir)
	}
	st.baseW = w
}

// judgeRoute returns window x's worst test of route baseline st, test 0
// when none is anomalous.
func (e *Engine) judgeRoute(st *routeStats, x *routeWin, w int64) routeVerdict {
	var best routeVerdict
	if w-st.first < routeMinAge {
		return best
	}
	minClients, ratio := e.opts.Routes.Floor, e.opts.Routes.MinRatio
	consider := func(v routeVerdict) {
		if v.logP <= e.logPValue && v.clients >= minClients && v.logP < best.logP {
			best = v
		}
	}
	if f := float64(x.fresh); f >= routeMinReqs {
		m, vr := st.decayed(w)
		m = math.Max(m, 1/float64(min(w-st.first, routeHorizon)))
		vr = math.Max(vr, m+routeMinKappa*m*m)
		if f >= ratio*(m+3*math.Sqrt(vr)) {
			consider(routeVerdict{test: routeTestFresh, observed: f, expected: m, spread: math.Sqrt(vr),
				requests: float64(x.req), clients: x.freshers.estimate(), logP: tail.NegBinUpper(f, m, vr)})
		}
	}
	if st.req < routeMinHist || float64(x.req) < routeMinReqs {
		return best
	}
	n := float64(x.req)
	p0 := (st.fail + 1) / (st.req + 2)
	if k := float64(x.fail); k >= routeMinReqs && k/n >= math.Min(0.95, math.Max(ratio*p0, p0+0.3)) {
		consider(routeVerdict{test: routeTestFail, observed: k / n, expected: p0, requests: n,
			clients: x.failers.estimate(), logP: logBinomTail(k, n, p0)})
	}
	if p := (st.redir + 1) / (st.req + 2); p >= routeMinRedir {
		if k := float64(x.redir); k/n <= p/ratio {
			consider(routeVerdict{test: routeTestRedir, observed: k / n, expected: p, requests: n,
				clients: x.all.estimate(), logP: logBinomTail(n-k, n, 1-p)})
		}
	}
	return best
}

// routeIncident opens or extends the incident of route r with its
// anomalous window x: a campaign "route:<route>".
func (e *Engine) routeIncident(r *routeAuth, st *routeStats, x *routeWin, v *routeVerdict, w int64) {
	ci := e.campaignFor("route:"+r.key, sigNone)
	if ci < 0 {
		return
	}
	c := &e.camps[ci]
	if c.inc == 0 {
		st.inc, st.worst = routeSketch{}, routeVerdict{}
	}
	switch v.test {
	case routeTestFresh:
		st.inc.or(&x.freshers)
	case routeTestFail:
		st.inc.or(&x.failers)
	default:
		st.inc.or(&x.all)
	}
	for _, t := range x.top[:x.nTop] {
		if e.tab.hot.at(t.idx).gen == t.gen {
			c.rank(e.tab.key(t.idx), float64(t.n))
		}
	}
	before := c.clients
	c.clients = max(int(st.inc.estimate()), len(c.names))
	c.reqs += float64(x.req)
	c.tot.Requests += float64(x.req)
	c.tot.Failures += float64(x.fail)
	c.tot.Bytes += float64(x.bytes)
	c.lastW = w
	if v.logP < st.worst.logP || st.worst.test == 0 {
		st.worst = *v
	}
	e.campaignIncident(ci, w, bits.Len(uint(c.clients)) > bits.Len(uint(before)), false)
}

// routeFinding fills in what a route campaign's finding says.
func (e *Engine) routeFinding(f *Finding, c *campaign, b *strings.Builder) {
	route := strings.TrimPrefix(c.key, "route:")
	var v routeVerdict
	if r := e.routeAuth[route]; r != nil && r.stats != nil {
		v = r.stats.worst
	}
	b.WriteString(plural(c.clients, "client") + " sent " + plural(int(c.reqs), "request") + " to " + route)
	switch v.test {
	case routeTestFresh:
		b.WriteString(", " + formatCount(v.observed) + " in one window from clients new to the site (usually " +
			formatCount(v.expected) + " ± " + formatCount(v.spread) + ")")
		f.Unit = "new-client req/" + e.per
		f.Why = "requests to a write route from clients with under " + strconv.Itoa(routeFreshWins) +
			" windows of history, against the route's own past (all its clients, every window of the last day)"
	case routeTestFail:
		b.WriteString(", " + formatPercent(v.observed) + " of a window's requests failed (usually " + formatPercent(v.expected) + ")")
		f.Unit = "failure ratio"
		f.Why = "share of a write route's requests answered 4xx, against the route's own past, from many clients"
	case routeTestRedir:
		b.WriteString(", " + formatPercent(v.observed) + " of a window's requests redirected (usually " + formatPercent(v.expected) + ")")
		f.Unit = "redirect ratio"
		f.Why = "share of a form route's POSTs answered with a redirect (success), against the route's own past: a form redisplayed to many clients"
	}
	f.Observed, f.Expected, f.Spread = v.observed, v.expected, v.spread
	f.PValue, f.Baseline = pValue(v.logP), BaselineOwn
}
