package detect

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// Engine runs the per-client detectors over a stream of events in
// event-time order. It is not safe for concurrent use: one goroutine
// calls Observe (or ObserveBatch), AdvanceTo, Flush and Stats, and
// Options.Emit runs on it and must not call back into the Engine.
type Engine struct {
	opts       Options
	a          float64 // EWMA weight of a window, from HalfLife
	ra         float64 // EWMA weight of a window in ratio baselines
	logPValue  float64 // ln(PValue)
	logSuspect float64 // ln(sqrt(PValue)): windows below it do not widen baselines
	per        string  // window unit for findings: "min", "5m", ...

	clock    clock
	ah       aheadState            // events held back for being far ahead of the clock (ahead.go)
	origins  map[uint64]originMark // newest position counted per file origin (replay.go)
	ring     windowRing
	tab      clientTable
	pop      population
	mpop     [numMetrics]metricPop
	fleet    fleetState
	fleetInc [numDetectors - numClientDetectors]int32 // open fleet incidents, index + 1
	inc      incidents
	samples  samplePool        // samples of the clients that have some (samples.go)
	seasons  seasonPool        // profiles of the clients that have one (season.go)
	more     paged[clientMore] // the newer detectors' baselines, by client slot
	incs     paged[clientIncs] // open incidents, by client slot
	reqIDs   requestIDs        // request ids for findings, shared by client slot

	on   detectorsOn
	pm   probeMatch // the probe classify found in the current event
	pred prediction // judgeOwn's prediction, for absorbOwn

	season seasonPoint // where the window being closed falls in the day and week

	// Allowlists, compiled from Options.
	routesListed            bool // AllowRoutes is not empty
	allowClient, allowRoute map[string]struct{}
	allowNets               []netip.Prefix
	allowPrefix             []string
	loginRoutes             map[string]struct{}
	routeAuth               map[string]*routeAuth // POST routes' refusals, to learn login routes (loginroutes.go)
	routeOpen               [][]*routeAuth        // by ring slot: the routes with requests in its window (routesurge.go)
	routeStatsN             int                   // routes with a baseline

	names   []string          // login routes and probe keys seen (winCold.loginRoute, sigKey)
	nameIdx map[string]uint16 // index + 1 in names
	camps   []campaign        // campaigns, in the order they were first seen
	campIdx map[string]int32  // campaign slot by key
	// seenTotal counts the participants remembered over all campaigns
	// (maxSeenTotal bounds them, whatever an attacker sprays).
	seenTotal int

	warmUntil int64 // clients first seen in a window before this are founding clients (present from the first line)
	nextSweep int64 // watermark at which to look for idle clients next

	// Scratch reused by every window close and eviction.
	work                          []windowItem
	fleetVol, fleetErr, fleetAuth []float64
	seen                          []float64
	cands                         []candidate
	logPs                         []float64
	tests                         int   // tests run in the window being closed, for FDR control
	curItem                       int32 // e.work index of the client being judged
	closing                       int64 // the window being closed
	refTmp                        []clientRef
	routeCount                    map[uint16]int      // absorbLogins: absorbable candidates per login route
	volView                       popView             // the volume population's view, cached
	metricViews                   [numMetrics]popView // the metric populations' (or priors') views

	wc    winCache
	stats Stats
	sink  uint64 // what ObserveBatch's cache warming loaded, kept so the loads are not optimised away
}

// windowItem is one client's tallies for the window being closed.
type windowItem struct {
	idx                     int32
	req, errs, auth         float64
	n                       winTally
	volFlagged, authFlagged bool    // the client's own detector flagged the window
	flagged                 bool    // some detector flagged the window
	volExpected             float64 // what the volume detector expected
	errExpected             float64 // the expected 5xx ratio
	authExpected            float64 // the expected auth failures
	volSpread, errSpread    float64 // ± around volExpected and errExpected (standard deviation)
	authSpread              float64 // ± around authExpected
}

// Stats are an Engine's counters.
type Stats struct {
	Events        uint64    // events passed to Observe
	LateEvents    uint64    // events whose window had already closed
	Untimed       uint64    // events without a usable time (zero, or outside 1700..2200)
	WindowsClosed uint64    // windows the watermark has passed, with or without events
	ActiveClients int       // clients held now
	Evicted       uint64    // clients dropped for being idle or over MaxClients
	Findings      uint64    // incidents opened
	Updates       uint64    // update findings emitted
	Resolved      uint64    // incidents resolved
	OpenIncidents int       // incidents open now
	Watermark     time.Time // events before the window holding it are late; zero before any
	Ahead         uint64    // events dated so far ahead of the stream that it never caught up: handed to OnLate (ahead.go)
	Replayed      uint64    // lines sent again by a restarted collector, skipped (replay.go); not in Events
	Forgiven      uint64    // anomalous windows absorbed as ordinary: marked false positives (Options.FalsePositives)
}

// New returns an Engine configured by opts; the zero Options work.
func New(opts Options) *Engine {
	opts = opts.withDefaults()
	e := &Engine{
		opts:       opts,
		a:          alpha(opts.HalfLife),
		ra:         alpha(ratioHalfLives * opts.HalfLife),
		logPValue:  math.Log(opts.PValue),
		logSuspect: math.Log(opts.PValue) / 2,
		per:        perWindow(opts.Window),
		clock:      newClock(opts.Window, opts.AllowedLateness),
		tab:        newClientTable(),
		more:       newPaged[clientMore](1),
		incs:       newPaged[clientIncs](1),
		pop:        newPopulation(),
	}
	e.ring = newWindowRing(e.clock.slots())
	e.routeOpen = make([][]*routeAuth, e.ring.slots)
	e.compileAllowLists()
	e.on = detectorsOn{scan: !opts.Scanning.Disabled, enum: !opts.Enumeration.Disabled, probe: !opts.Injection.Disabled,
		exfil: !opts.Exfiltration.Disabled, share: !opts.CredentialSharing.Disabled,
		sigs: !opts.Probes.Disabled, brute: !opts.BruteForce.Disabled, routes: !opts.Routes.Disabled}
	e.routesListed = len(opts.AllowRoutes) > 0
	return e
}

// unit is the Finding.Unit of detector d.
func (e *Engine) unit(d detector) string {
	switch d {
	case detErrors:
		return "5xx ratio"
	case detAuth:
		return "auth failures/" + e.per
	case detScan:
		return "distinct 404/403 paths/" + e.per
	case detEnum:
		return "distinct object ids/" + e.per
	case detProbe:
		return "probes/" + e.per
	case detExfil:
		return "bytes/request"
	case detShare:
		return "networks/" + e.per
	case detFleetAuth:
		return "fleet auth failures/" + e.per
	case detBrute:
		return "login attempts/" + e.per
	case detCampaign:
		return "clients"
	}
	return "req/" + e.per
}

// Observe counts one event. Events should arrive in roughly increasing
// event time: one for a window that has already closed is late, counted in
// Stats.LateEvents and passed to Options.OnLate, as is one without a usable
// time (Stats.Untimed). ev is not retained.
func (e *Engine) Observe(ev *ingest.Event) {
	if ev == nil {
		return
	}
	e.observe(ev, e.tab.hashKey(ev.ClientKey))
}

// observe is Observe with the hash of ev's client key already computed.
func (e *Engine) observe(ev *ingest.Event, hash uint64) {
	if ev.Origin != 0 && e.replayed(ev) {
		e.stats.Replayed++
		return
	}
	e.stats.Events++
	t, ok := unixNanos(ev.Time)
	if !ok {
		e.stats.Untimed++
		if e.opts.OnLate != nil {
			e.opts.OnLate(ev)
		}
		return
	}
	if t > e.clock.newest || !e.clock.started {
		if e.clock.started && t-e.clock.newest > e.aheadGap() {
			e.hold(ev)
			return
		}
		e.advance(t)
	}
	e.count(ev, hash, t)
	if len(e.ah.held) != 0 {
		e.afterCounted()
	}
}

// count counts ev, at time t within reach of the clock, in its window.
func (e *Engine) count(ev *ingest.Event, hash uint64, t int64) {
	w, slot := e.window(t)
	if e.clock.isLate(w) {
		e.stats.LateEvents++
		if e.opts.OnLate != nil {
			e.opts.OnLate(ev)
		}
		return
	}
	idx, found := e.tab.lookup(ev.ClientKey, hash)
	if !found {
		idx = e.addClient(ev, hash, w)
	}
	c := e.tab.hot.at(idx)
	if t > c.lastSeen {
		c.lastSeen = t
	}
	var h hit
	h.status = ev.Status
	h.err = ev.Status >= 500 && ev.Status <= 599
	h.auth = ev.Auth.Failure()
	if ev.BytesOut > 0 {
		h.bytes = uint64(ev.BytesOut)
	}
	if len(ev.Path) != 0 || ev.ClientKind != ingest.ClientIP || len(ev.Host) != 0 {
		e.classify(ev, &h, w)
	}
	ref := clientRef{idx: idx, gen: c.gen}
	if !h.login && h.status < 400 && e.on.brute {
		if r := e.ring.loginRoute(idx, slot); r != 0 {
			h.formFetch = ev.Route == e.nameOf(r)
		}
	}
	if e.on.routes && (ev.Method == "POST" || ev.Method == "PUT") && len(ev.Route) != 0 {
		e.countRoute(ev, &h, idx, c.gen, w, slot)
	}
	biggest := e.ring.add(ref, slot, &h)
	if e.needSample(&h, biggest) {
		e.sample(ev, idx, w, &h, biggest)
	}
	if len(ev.RequestID) != 0 && (h.err || h.auth || h.miss || h.probe || biggest || h.idReq) {
		e.recordID(ev, ref, w, &h, biggest)
	}
}

// winCache is the window of the previous event and its ring slot. Most
// events fall in the same window as the one before, and working it out
// anew takes two 64-bit divisions, a good share of counting an event.
type winCache struct {
	lo, hi int64 // the window's time range, [lo, hi); empty in the zero value
	w      int64
	slot   int
}

// window returns the index of the window holding time t and its ring
// slot.
func (e *Engine) window(t int64) (w int64, slot int) {
	c := &e.wc
	if t >= c.lo && t < c.hi {
		return c.w, c.slot
	}
	w = e.clock.index(t)
	slot = e.ring.slot(w)
	lo := w * e.clock.width
	*c = winCache{lo: lo, hi: lo + e.clock.width, w: w, slot: slot}
	return w, slot
}

// addClient starts tracking the client of ev, first seen in window w.
func (e *Engine) addClient(ev *ingest.Event, hash uint64, w int64) int32 {
	if e.tab.live >= e.opts.MaxClients {
		e.evictOldest()
	}
	idx := e.tab.add(ev.ClientKey, hash, ev.ClientKind)
	e.ring.grow(e.tab.list.len())
	e.growExtra(e.tab.list.len())
	*e.more.at(idx) = clientMore{}
	*e.incs.at(idx) = 0
	e.tab.list.at(idx).founding = w < e.warmUntil
	e.tab.list.at(idx).quiet = 1<<numMetrics - 1 // every metric baseline is zero
	e.tab.hot.at(idx).lastSeen = math.MinInt64
	return idx
}

// AdvanceTo tells the engine that no event older than t minus the allowed
// lateness will arrive, as an event at t would: windows the watermark
// passes are closed and their findings emitted. A streaming caller calls
// it with the wall clock when input is idle, so findings are not held back
// until the next event.
func (e *Engine) AdvanceTo(t time.Time) {
	ns, ok := unixNanos(t)
	if !ok || (e.clock.started && ns <= e.clock.newest) {
		return
	}
	e.advance(ns)
	if len(e.ah.held) != 0 {
		e.releaseReached()
	}
}

// advance moves the clock to t and closes the windows the watermark
// passed.
func (e *Engine) advance(t int64) {
	first := !e.clock.started
	e.clock.observe(t)
	if first {
		e.warmUntil = e.clock.index(t) + foundingWindows
		e.nextSweep = e.clock.watermark() + e.sweepEvery()
		return
	}
	e.closeUntil(e.clock.closeBefore())
}

// Flush ends the input: every open window is closed and every open
// incident resolved. Events for those windows are late afterwards.
func (e *Engine) Flush() {
	e.flushHeld()
	if e.clock.started {
		e.closeUntil(e.clock.index(e.clock.newest) + 1)
	}
	e.resolveAll()
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.ActiveClients = e.tab.live
	s.OpenIncidents = len(e.inc.open)
	if e.clock.started {
		s.Watermark = time.Unix(0, e.clock.watermark()).UTC()
	}
	return s
}

// closeUntil closes every window before end. Only the ring's windows can
// hold counts, so a long gap costs at most one pass over the ring.
func (e *Engine) closeUntil(end int64) {
	if end <= e.clock.next {
		return
	}
	last := min(end, e.clock.next+int64(e.ring.slots))
	for w := e.clock.next; w < last; w++ {
		e.closeWindow(w)
		e.resolveQuiet(w)
	}
	e.stats.WindowsClosed += uint64(end - e.clock.next)
	e.noteClosed(end - e.clock.next)
	e.clock.next = end
	if last < end {
		e.resolveQuiet(end - 1)
	}
	if wm := e.clock.watermark(); wm >= e.nextSweep {
		e.evictIdle(wm)
		e.nextSweep = wm + e.sweepEvery()
	}
}

// closeWindow judges every client active in window w and folds the window
// into their baselines and the population model.
func (e *Engine) closeWindow(w int64) {
	s := e.ring.slot(w)
	refs := e.ring.active[s]
	// Judging touches several per-client arrays; in slot order their
	// rows are read front to back instead of at random, which at a
	// hundred thousand clients costs less than the sort.
	e.refTmp = sortRefs(refs, e.refTmp)
	e.pop.reset()
	e.takeWindow(refs, s)
	e.ring.active[s] = refs[:0]
	if len(e.work) == 0 {
		e.judgeRoutes(w) // clients evicted since: their routes' tallies still close
		return
	}
	f := e.measureFleet()
	e.season = e.seasonPointOf(w)
	e.closing = w
	for i := range e.work {
		if i%judgeRun == 0 {
			e.warmClients(e.work[i:min(i+judgeRun, len(e.work))])
		}
		e.curItem = int32(i)
		e.judge(w, &e.work[i], &f)
		e.judgeMore(w, &e.work[i])
		e.judgeSweep(w, &e.work[i])
		if e.opts.OnWindow != nil {
			e.reportWindow(w, &e.work[i])
		}
	}
	e.judgeFleet(w)
	e.judgeSweeps(w)
	e.pop.update()
	for m := range e.mpop {
		e.mpop[m].update(&e.pop.tmp)
	}
	e.decide(w)
	e.feedCampaigns(w)
	e.judgeRoutes(w)
	e.decideFleetAuth(w)
	e.releaseSamplesUntil(w)
	e.cands, e.tests = e.cands[:0], 0
}

// takeWindow sets e.work to the tallies of the live clients of refs in
// ring slot s, taken out of the ring. It loads the lines of a run of
// clients before taking their tallies (see warmClients).
func (e *Engine) takeWindow(refs []clientRef, s int) {
	e.work = e.work[:0]
	for len(refs) > 0 {
		run := refs[:min(len(refs), judgeRun)]
		var sink uint64
		for _, r := range run {
			sink += uint64(e.tab.hot.at(r.idx).gen) + uint64(e.ring.counts.recs(r.idx)[s].req)
		}
		e.sink += sink
		for _, r := range run {
			if e.tab.hot.at(r.idx).gen != r.gen {
				continue // evicted since; its counts were cleared
			}
			n := e.ring.take(r.idx, s)
			if n.req == 0 {
				continue
			}
			it := windowItem{idx: r.idx, req: float64(n.req), errs: float64(n.err), auth: float64(n.auth), n: n}
			e.work = append(e.work, it)
		}
		refs = refs[len(run):]
	}
}

// judgeRun is how many clients closeWindow loads the records of at once
// (warmClients) before judging them.
const judgeRun = 16

// warmClients loads the cache lines judging the clients of items reads
// first, their records and metric baselines, without using them. With a
// million clients those rows are far apart in memory even in slot
// order, and judging one client waits for several misses in turn; in a
// loop of independent loads, the misses of a run of clients overlap
// instead, as ObserveBatch does for events.
func (e *Engine) warmClients(items []windowItem) {
	var sink uint64
	for i := range items {
		idx := items[i].idx
		c := e.tab.list.at(idx)
		m := e.more.at(idx)
		sink += uint64(c.quiet) + uint64(c.vol.n) + uint64(c.errs.n) + uint64(c.auth.n) + math.Float64bits(c.exfilRun)
		for k := range m {
			sink += math.Float64bits(m[k].mean)
		}
		sink += math.Float64bits(m[numMetrics-1].lv) + uint64(*e.incs.at(idx))
	}
	e.sink += sink
}

// radixBits is the digit of sortRefs: two passes sort up to four
// million client slots, with counts that fit in the L1 cache.
const radixBits = 11

// sortRefs sorts refs by client slot, using and returning tmp as scratch.
// A window close sorts the refs of every client active in the window,
// ~100,000 of them at a time: a least-significant-digit radix sort does
// that in two linear passes, where a comparison sort spent as much time
// as judging a tenth of the clients. Refs of the same slot (an evicted
// client and the one that reused its slot) may end in either order: all
// but one are skipped by generation.
func sortRefs(refs, tmp []clientRef) []clientRef {
	if len(refs) < 256 {
		slices.SortFunc(refs, func(a, b clientRef) int { return cmp.Compare(a.idx, b.idx) })
		return tmp
	}
	var top int32
	for _, r := range refs {
		top = max(top, r.idx)
	}
	tmp = slices.Grow(tmp[:0], len(refs))[:len(refs)]
	src, dst := refs, tmp
	for shift := 0; shift < 31 && top>>shift != 0; shift += radixBits {
		var count [1 << radixBits]int
		for _, r := range src {
			count[r.idx>>shift&(1<<radixBits-1)]++
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, r := range src {
			d := r.idx >> shift & (1<<radixBits - 1)
			dst[count[d]] = r
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &refs[0] {
		copy(refs, src)
	}
	return tmp
}

// judge runs the enabled detectors on one client window, then absorbs the
// window into the client's baselines.
func (e *Engine) judge(w int64, it *windowItem, f *fleet) {
	o := &e.opts
	if !o.Volume.Disabled {
		c := e.tab.list.at(it.idx)
		s, seasonal := e.seasonOf(it.idx).logFactor(&e.season)
		v := e.judgeVolume(c, it.req, f, s)
		v.seasonal = seasonal
		e.tests++
		e.candidate(it.idx, detVolume, &v)
		it.volFlagged, it.volExpected, it.volSpread = v.anomalous, v.expected, v.spread
		c = e.tab.list.at(it.idx)
		x := it.req
		if c.vol.n >= uint32(o.MinHistory) {
			e.learnSeason(it.idx, math.Log1p(x)-c.vol.lm-math.Log(f.vol))
			x *= math.Exp(-s) // the level is kept net of the schedule
		}
		e.absorbVolume(c, x, &v)
		if !v.anomalous {
			e.pop.addVolume(it.req)
		}
	}
	if !o.ErrorRatio.Disabled {
		c := e.tab.list.at(it.idx)
		j := ratioJudge{det: detErrors, minHits: o.MinErrors, model: e.pop.errs, excess: f.errs,
			own: !e.pastIsIncident(it.idx, c.errs.n)}
		v := e.judgeRatio(&c.errs, it.errs, it.req, j)
		e.tests++
		it.errExpected, it.errSpread = v.expected, v.spread
		e.candidate(it.idx, detErrors, &v)
		c = e.tab.list.at(it.idx)
		e.absorbRatio(&c.errs, it.errs, it.req, &j, &v)
		if !v.anomalous {
			e.pop.addErrors(it.req, it.errs)
		}
	}
	if !o.AuthFailures.Disabled {
		c := e.tab.list.at(it.idx)
		j := ratioJudge{det: detAuth, minHits: o.MinAuthFailures, model: e.pop.auth, excess: f.auth,
			own: !e.pastIsIncident(it.idx, c.auth.n)}
		v := e.judgeRatio(&c.auth, it.auth, it.req, j)
		e.tests++
		e.candidate(it.idx, detAuth, &v)
		it.authFlagged, it.authExpected, it.authSpread = v.anomalous, v.expected, v.spread
		c = e.tab.list.at(it.idx)
		e.absorbRatio(&c.auth, it.auth, it.req, &j, &v)
		if !v.anomalous {
			e.pop.addAuth(it.req, it.auth)
		}
	}
}

// pValue converts a log tail probability for a Finding.
func pValue(logP float64) float64 {
	if !(logP < 0) {
		return 1
	}
	return math.Exp(logP)
}

// finite replaces a NaN or infinity, which JSON cannot carry, by 0 or the
// largest float64.
func finite(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 1):
		return math.MaxFloat64
	case math.IsInf(x, -1):
		return -math.MaxFloat64
	}
	return x
}

// clientMore is a client's baselines of the newer detectors: scanning,
// enumeration, exfiltration, sharing. Apart from client, so the records
// Observe looks up per event stay small, and apart from the samples, so a
// window close reads them densely.
type clientMore [numMetrics]volumeBaseline

// clientIncs links a client's open incident: index + 1, 0 for none.
// Apart from client, since incidents are rare.
type clientIncs = int32

// growExtra makes room for the metric baselines and incident links of
// clients [0, n).
func (e *Engine) growExtra(n int) {
	e.more.grow(n)
	e.incs.grow(n)
}

// newClientExtra returns empty samples that belong to no window.
func newClientExtra() clientExtra {
	return clientExtra{win: [2]winExtra{{w: math.MinInt64}, {w: math.MinInt64}}}
}

// WindowStats is one client's tallies for one closed window and what its
// baselines expected: the per-client time series that storage keeps for
// the dashboards (Options.OnWindow). Its JSON form is what "gatewatch
// detect" produces to the windows topic.
type WindowStats struct {
	Client       string    `json:"client"`
	ClientKind   string    `json:"client_kind"` // as in Finding
	Start        time.Time `json:"window_start"`
	End          time.Time `json:"window_end"`
	Requests     uint64    `json:"requests"`
	Errors       uint64    `json:"errors"`        // 5xx responses
	AuthFailures uint64    `json:"auth_failures"` // 401 and 403 responses
	BytesOut     uint64    `json:"bytes_out"`
	// What the baselines expected for the window (the population's for a
	// client without its own history yet); 0 with the detector off.
	ExpectedRequests     float64 `json:"expected_requests"`
	ExpectedErrorRatio   float64 `json:"expected_error_ratio"`
	ExpectedAuthFailures float64 `json:"expected_auth_failures"`
	// The spread (one standard deviation) around each expectation, in the
	// same unit: the band a report draws around the expected line.
	SpreadRequests     float64 `json:"spread_requests,omitempty"`
	SpreadErrorRatio   float64 `json:"spread_error_ratio,omitempty"`
	SpreadAuthFailures float64 `json:"spread_auth_failures,omitempty"`
}

// reportWindow hands one client window to Options.OnWindow.
func (e *Engine) reportWindow(w int64, it *windowItem) {
	start := e.clock.start(w)
	e.opts.OnWindow(WindowStats{
		Client: e.tab.key(it.idx), ClientKind: e.tab.list.at(it.idx).kind.String(),
		Start: start, End: start.Add(e.opts.Window),
		Requests: uint64(it.n.req), Errors: uint64(it.n.err), AuthFailures: uint64(it.n.auth), BytesOut: it.n.bytes,
		ExpectedRequests: finite(it.volExpected), ExpectedErrorRatio: finite(it.errExpected), ExpectedAuthFailures: finite(it.authExpected),
		SpreadRequests: finite(it.volSpread), SpreadErrorRatio: finite(it.errSpread), SpreadAuthFailures: finite(it.authSpread),
	})
}
