package detect

import (
	"math"
	"strings"

	"github.com/gatewatch/gatewatch/detect/internal/tail"

	"github.com/gatewatch/gatewatch/ingest"
)

// The newer per-client detectors.
//
// scanning:           distinct paths answered 404/403 in the window;
// enumeration:        distinct object paths under routes with ids;
// exfiltration:       response bytes per request (so a flood, which the
//                     volume detector owns, does not count twice);
// credential_sharing: distinct /24 (IPv6 /48) networks a client key, not
//                     an IP-keyed client, was used from.
//
// Each is a count (or, for exfiltration, a size) judged like volume:
// against the client's own exponentially weighted baseline once it has
// MinHistory windows (negative binomial and log-scale Student-t tails,
// both of which must agree; exfiltration only the log scale, bytes not
// being counts), against the population's log-scale distribution before
// (only far beyond its 99th percentile), never for founding clients
// before their own baseline exists. Floors and MinRatio come from the
// detector's Tuning.
//
// injection is not baseline-relative: Floor probe requests in a window
// are a finding, whatever the client did before.

// metric indexes Engine.more.
type metric uint8

const (
	mScan metric = iota
	mEnum
	mExfil
	mShare
	mLogin
	numMetrics
)

// metricDetector maps a metric to its detector.
var metricDetector = [numMetrics]detector{detScan, detEnum, detExfil, detShare, detBrute}

// metricPop is the population model of one metric, like the volume one.
type metricPop struct {
	ready         bool
	mid, sd, high float64 // median, robust spread and 99th percentile of log1p(x)
	xs            []float64
}

func (m *metricPop) add(x float64) { m.xs = append(m.xs, math.Log1p(x)) }

// popSample bounds how many values measure a metric's population: a
// median, MAD and 99th percentile from 8,192 clients are as good as from
// 100,000, at a twelfth of the selection work per window close.
const popSample = 8192

// update folds the window's values into the model.
func (m *metricPop) update(tmp *[]float64) {
	if len(m.xs) < popMinClients {
		return // too few yet: kept for the next window (population.reset)
	}
	if n := len(m.xs); n > popSample {
		// A deterministic stride: the values are in client slot order,
		// which says nothing about them.
		step := (n + popSample - 1) / popSample
		j := 0
		for i := 0; i < n; i += step {
			m.xs[j] = m.xs[i]
			j++
		}
		m.xs = m.xs[:j]
	}
	if len(m.xs) >= popMinClients {
		mid, sd, high := logStats(m.xs, tmp)
		if !m.ready {
			m.mid, m.sd, m.high, m.ready = mid, sd, high, true
		} else {
			m.mid += popWeight * (mid - m.mid)
			m.sd += popWeight * (sd - m.sd)
			m.high += popWeight * (high - m.high)
		}
	}
	m.xs = m.xs[:0]
}

// logStats summarises a log-scale sample: median, robust spread and
// 99th percentile. The spread is the larger of the MAD-based one and the
// one the upper tail implies ((p99-median)/2.33 for a normal), because
// log1p squeezes the many low-volume clients together and the MAD alone
// would then call ordinary heavy clients outliers. Below robustSample
// values the empirical 99th percentile is the sample's largest value or
// near it — on a small site, an attacker's own windows — so the tail is
// taken from the MAD instead.
func logStats(xs []float64, tmp *[]float64) (mid, sd, high float64) {
	mid = quantile(xs, 0.5)
	t := (*tmp)[:0]
	for _, x := range xs {
		t = append(t, math.Abs(x-mid))
	}
	*tmp = t
	madSD := 1.4826 * quantile(t, 0.5)
	if len(xs) < robustSample {
		sd = max(madSD, minLogSpread)
		return mid, sd, mid + 2.326*sd
	}
	high = quantile(xs, 0.99)
	sd = max(madSD, (high-mid)/2.326)
	return mid, max(sd, minLogSpread), high
}

// robustSample is the smallest sample whose empirical 99th percentile is
// trusted.
const robustSample = 200

// routeAllowed reports whether route is on the AllowRoutes list.
func (e *Engine) routeAllowed(route string) bool {
	if len(e.opts.AllowRoutes) == 0 {
		return false
	}
	if _, ok := e.allowRoute[route]; ok {
		return true
	}
	for _, p := range e.allowPrefix {
		if strings.HasPrefix(route, p) {
			return true
		}
	}
	return false
}

// classify works out what ev's path, query and address add to its
// client's window: Observe calls it only for events with a path or a
// client not keyed by its address, and counts the rest itself. A probe
// found is left in e.pm for sample.
func (e *Engine) classify(ev *ingest.Event, h *hit, w int64) {
	allowed := e.routesListed && e.routeAllowed(ev.Route)
	if e.on.scan && isMiss(ev.Status) && len(ev.Path) != 0 && !allowed {
		h.miss = true
		h.tool = isScannerAgent(ev.UserAgent)
		h.asset = isAsset(ev.Path)
	}
	if e.on.enum && len(ev.Route) != 0 && ev.Route != ev.Path && !allowed {
		h.idReq = true
	}
	if h.miss || h.idReq {
		h.pathHash = hashString(ev.Path)
	}
	if h.idReq {
		h.routeBucket = routeBucket(ev.Route)
	}
	if e.on.share && ev.ClientKind != ingest.ClientIP && ev.RemoteIP.IsValid() {
		h.addr = true
		h.addrHash, h.netHash = hashAddr(ev.RemoteIP)
	}
	if e.on.sigs && !allowed {
		var key string
		if ev.Method == "CONNECT" || absoluteForm(ev) {
			h.sig, key = sigProxy, hostOf(ev.Host)
		} else {
			h.sig, key = sigOf(ev.Method, ev.Path, ev.Status)
		}
		if h.sig != sigNone {
			h.sigKey, h.sigOrd = e.internName(key), keyOrder(key)
		}
	}
	if e.on.brute && !allowed && e.loginAttempt(ev, w) {
		h.login, h.loginRoute = true, e.internName(ev.Route)
	}
	// A commodity probe is its signature's: the worm's traversal to
	// cmd.exe joins the worm's campaign rather than making each infected
	// host an injection incident of its own.
	if e.on.probe && !allowed && h.sig == sigNone && (mayProbe(ev.Path) || mayProbe(ev.Query)) {
		e.pm, h.probe = findProbe(ev.Path, ev.Query)
	}
	if e.on.probe && !allowed && h.sig == sigNone && !h.probe {
		e.pm, h.probe = headerProbe(ev.UserAgent, ev.Referer)
	}
	h.sure = h.probe && e.pm.sure
	if e.on.probe && h.sig != sigNone && mayProbe(ev.Path) {
		// A commodity probe that climbs out of the web root
		// ("/cgi-bin/.%2e/.%2e/bin/sh") needs no second request.
		m, ok := findProbe(ev.Path, "")
		h.sure = ok && m.sure
	}
}

// absoluteForm reports whether ev's request line named another host
// ("GET http://www.yahoo.com/ HTTP/1.1"): an open-proxy check. Only the
// formats that log the request line as the client sent it say so; a load
// balancer's log (aws_alb) writes every request in absolute form. A
// request naming the host its referer comes from is for the site itself
// (some bots write every request line in absolute form).
func absoluteForm(ev *ingest.Event) bool {
	if ev.Host == "" || refererHost(ev.Referer) == ev.Host {
		return false
	}
	switch ev.Format {
	case "nginx_combined", "apache_combined", "apache_common", "apache_vhost_combined":
		return true
	}
	return false
}

// refererHost is the host of a referer URL, "" for none.
func refererHost(ref string) string {
	_, rest, ok := strings.Cut(ref, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// isMiss reports whether status refuses a path as missing or forbidden:
// 404, 403, 410 and 418 (which some sites answer probes with).
func isMiss(status int) bool {
	return status == 404 || status == 403 || status == 410 || status == 418
}

// detectorsOn caches which of the detectors Observe feeds are enabled.
type detectorsOn struct {
	scan, enum, probe, exfil, share, sigs, brute, routes bool
}

// idSampling is how sparsely requests on id routes feed the dominant-route
// sample: one in idSampling (by path hash), which finds the same dominant
// route while sparing most events a visit to the cold samples.
const idSampling = 8

// needSample reports whether an event counted with h (and biggest, its
// response the window's largest so far) has something for sample.
func (e *Engine) needSample(h *hit, biggest bool) bool {
	return h.miss || h.probe || h.sure || biggest && e.on.exfil || h.idReq && h.pathHash%idSampling == 0
}

// sample keeps samples of ev, already counted in window w of client idx,
// for explanations. biggest says its response is the window's largest so
// far.
func (e *Engine) sample(ev *ingest.Event, idx int32, w int64, h *hit, biggest bool) {
	big := biggest && e.on.exfil
	ids := h.idReq && h.pathHash%idSampling == 0
	x := e.samplesFor(idx, w).forWindow(w)
	if x == nil {
		return
	}
	route := ev.Route
	if route == "" {
		route = "/"
	}
	if h.miss && x.nScan < 2 && !(x.nScan == 1 && x.scan[0].equal(route)) {
		x.scan[x.nScan].set(route)
		x.nScan++
	}
	if h.probe && x.nProbe < 2 {
		probeSample(&x.probe[x.nProbe], route, e.pm)
		x.nProbe++
	}
	x.sure = x.sure || h.sure
	if ids {
		switch {
		case x.idVotes == 0:
			x.idRoute.set(route)
			x.idVotes = 1
		case x.idRoute.equal(route):
			x.idVotes++
		default:
			x.idVotes--
		}
	}
	if big && int64(h.bytes) >= x.bigBytes {
		x.bigBytes = int64(h.bytes)
		x.big.set(route)
	}
}

// metricValue is the value of metric m in a client window, and whether
// it clears the detector's absolute floor.
func (e *Engine) metricValue(m metric, n *winTally) (x float64, floor bool) {
	o := &e.opts
	switch m {
	case mScan:
		x = n.scan.estimate()
		return x, x >= o.Scanning.Floor
	case mEnum:
		x = n.ids.estimate()
		return x, x >= o.Enumeration.Floor
	case mExfil:
		x = float64(n.bytes) / max(float64(n.req), 1)
		return x, float64(n.bytes) >= o.Exfiltration.Floor
	case mLogin:
		x = float64(n.logins.n)
		return x, x >= o.BruteForce.Floor
	}
	x = n.nets.estimate()
	return x, x >= o.CredentialSharing.Floor
}

// metricTuning returns the tuning of metric m.
func (e *Engine) metricTuning(m metric) *Tuning {
	switch m {
	case mScan:
		return &e.opts.Scanning
	case mEnum:
		return &e.opts.Enumeration
	case mExfil:
		return &e.opts.Exfiltration
	case mLogin:
		return &e.opts.BruteForce
	}
	return &e.opts.CredentialSharing
}

// judgeMetric judges value x of metric m for client c.
func (e *Engine) judgeMetric(idx int32, c *client, m metric, x float64, floor bool, n *winTally) verdict {
	t := e.metricTuning(m)
	b := &e.more.at(idx)[m]
	if b.n >= uint32(e.opts.MinHistory) {
		v := e.judgeOwn(b, x, floor, t.MinRatio, metricTails[m])
		v.requests = float64(n.req)
		return v
	}
	v := verdict{observed: x, requests: float64(n.req), history: int(b.n)}
	p := &e.mpop[m]
	if m == mExfil {
		// Response sizes are judged against the client's own past only:
		// a new client downloading a large file is what file servers
		// are for.
		v.expected = b.mean
		return v
	}
	if !p.ready {
		// No population yet (the first windows, or a site too small to
		// have measured one): the built-in prior of what any client does.
		if p = &metricPriors[m]; !p.ready {
			v.expected = b.mean
			return v
		}
		v.prior = true
	}
	v.population = true
	pv := e.metricViews[m].of(p.mid, p.sd, p.high)
	v.expected, v.spread = pv.expected, pv.spread
	high := max(pv.exHigh, b.mean)
	v.refHigh = high
	v.effect = x / max(high, 1)
	if c.founding {
		// Present from the first line: it could be any client, one
		// whose 404s are its normal included, so only the extreme —
		// foundingFloor times the floor — is judged before its own
		// baseline exists.
		floor = x >= foundingFloor*t.Floor
	}
	if floor && v.effect >= t.MinRatio {
		v.logP = tail.NormalUpper((math.Log1p(x) - p.mid) / p.sd)
		v.anomalous = v.logP < e.logPValue
	}
	return v
}

// popView is what a log-scale population model predicts on the count
// scale — expected value, spread, upper tail — for every client without
// a baseline of its own. It changes only when the model does, so it is
// computed once per model change rather than for every client window.
type popView struct {
	mid, sd, high            float64
	expected, spread, exHigh float64
	ok                       bool
}

// of returns the view of the model (mid, sd, high), recomputed when they
// changed.
func (v *popView) of(mid, sd, high float64) *popView {
	if !v.ok || v.mid != mid || v.sd != sd || v.high != high {
		*v = popView{mid: mid, sd: sd, high: high, expected: math.Expm1(mid),
			spread: (math.Expm1(mid+sd) - math.Expm1(mid-sd)) / 2, exHigh: math.Expm1(high), ok: true}
	}
	return v
}

// foundingFloor multiplies a detector's Floor for a client present from
// the start of the stream that has no baseline of its own yet.
const foundingFloor = 4

// foundingWindows is how many windows from the start of the stream a
// client is "present from the first line": the first, which a log may
// start in the middle of, and the next. A client that appears later is
// new, and judged as new clients are, however young the stream.
const foundingWindows = 2

// metricPriors are what a normal client does in a window on any site,
// for judging clients before the population has been measured: a few
// distinct 404s and a login attempt or two, at most. Walking object ids
// is what many API clients do, so enumeration has no prior. Set so that the
// detector's Floor is far in the tail (p below 1e-6 at 20 distinct 404
// paths, at 10 login attempts) and ordinary clients are nowhere near it.
// Response sizes and networks have no such site-independent bound.
var metricPriors = [numMetrics]metricPop{
	mScan:  {ready: true, mid: 0, sd: 0.6, high: 1.4},
	mLogin: {ready: true, mid: 0, sd: 0.45, high: 1.05},
}

// tails says which tail probabilities judge a value: both (the larger
// counts), only the log-scale Student-t (values that are not counts), or
// only the negative binomial (counts that do not burst multiplicatively,
// such as distinct networks, where the Poisson noise floor of the log
// scale would hide a key used from one network jumping to twenty).
type tails uint8

const (
	tailsBoth tails = iota
	tailsLog
	tailsCount
)

// metricTails gives each metric's tails.
var metricTails = [numMetrics]tails{mScan: tailsBoth, mEnum: tailsBoth, mExfil: tailsLog, mShare: tailsCount, mLogin: tailsBoth}

// judgeOwn judges x against an established baseline b.
func (e *Engine) judgeOwn(b *volumeBaseline, x float64, floor bool, minRatio float64, tl tails) verdict {
	logOnly := tl == tailsLog
	v := verdict{observed: x, history: int(b.n)}
	mean, variance := b.predict(e.a, dispersionPrior{})
	v.expected, v.spread = mean, math.Sqrt(variance)
	v.effect = x / max(mean, 1)
	lm, lsd, dof := b.predictLog(e.a, dispersionPrior{})
	// absorbOwn, which follows for the same baseline, reuses these.
	e.pred = prediction{b: b, mean: mean, sd: v.spread, lm: lm, lsd: lsd}
	if logOnly {
		v.effect = x / max(mean, minExpected)
		v.spread = math.Expm1(lm+lsd) - math.Expm1(lm)
	}
	floors := floor && v.effect >= minRatio
	if floors || x > mean+suspectZ*v.spread {
		switch tl {
		case tailsLog:
			v.logP = tail.StudentUpper((math.Log1p(x)-lm)/lsd, dof)
		case tailsCount:
			v.logP = tail.NegBinUpper(x, mean, variance)
		default:
			v.logP = max(tail.StudentUpper((math.Log1p(x)-lm)/lsd, dof), tail.NegBinUpper(x, mean, variance))
		}
		v.anomalous = floors && v.logP < e.logPValue
		v.suspect = v.logP < e.logSuspect
	}
	return v
}

// absorbMetric folds x into c's baseline of metric m, winsorised like
// volume.
func (e *Engine) absorbMetric(idx int32, m metric, x float64, v *verdict) {
	b := &e.more.at(idx)[m]
	if b.n < uint32(e.opts.MinHistory) && v.anomalous {
		p := &e.mpop[m]
		lhi := p.mid + clipNew*p.sd
		b.update(x, math.Inf(-1), math.Expm1(lhi), math.Inf(-1), lhi, e.a, true)
		return
	}
	e.absorbOwn(b, x, v)
}

// absorbOwn folds x into b, clipped around an established baseline.
func (e *Engine) absorbOwn(b *volumeBaseline, x float64, v *verdict) {
	lo, hi := math.Inf(-1), math.Inf(1)
	llo, lhi := lo, hi
	guarded := v.anomalous || v.suspect
	if b.n >= uint32(e.opts.MinHistory) {
		p := e.pred
		if p.b != b {
			mean, variance := b.predict(e.a, dispersionPrior{})
			lm, lsd, _ := b.predictLog(e.a, dispersionPrior{})
			p = prediction{mean: mean, sd: math.Sqrt(variance), lm: lm, lsd: lsd}
		}
		k := float64(clipNormal)
		if guarded {
			k = clipGuarded
		}
		lo, hi = p.mean-k*p.sd, p.mean+k*p.sd
		llo, lhi = p.lm-k*p.lsd, p.lm+k*p.lsd
	}
	e.pred = prediction{}
	b.update(x, lo, hi, llo, lhi, e.a, guarded)
}

// prediction is what judgeOwn computed of baseline b, for absorbOwn.
type prediction struct {
	b                 *volumeBaseline
	mean, sd, lm, lsd float64
}

// judgeMore runs the newer per-client detectors on one client window.
func (e *Engine) judgeMore(w int64, it *windowItem) {
	o := &e.opts
	for m := range numMetrics {
		d := metricDetector[m]
		if e.metricTuning(m).Disabled {
			continue
		}
		if m == mShare && e.tab.list.at(it.idx).kind == ingest.ClientIP {
			continue
		}
		x, floor := e.metricValue(m, &it.n)
		c := e.tab.list.at(it.idx)
		bit := uint8(1) << m
		e.tests++
		if x == 0 && c.quiet&bit != 0 && (m != mExfil || c.moreN[m] >= uint32(o.MinHistory)) {
			// Most clients never get a 404 nor use a key from anywhere
			// else: a zero window against an all-zero baseline is never
			// anomalous and leaves the baseline as it was, but for its
			// window count. So for a young baseline too, judged against
			// the population (an effect of 0 clears no floor), but for
			// exfiltration, whose young judgement ends a run.
			if c.moreN[m] < maxWindows {
				c.moreN[m]++
			}
			e.mpop[m].xs = append(e.mpop[m].xs, 0)
			e.pred = prediction{} // as absorbOwn leaves it
			continue
		}
		b := &e.more.at(it.idx)[m]
		b.n = c.moreN[m]
		var v verdict
		if m == mExfil {
			v = e.judgeExfil(it.idx, c, x, floor, &it.n)
		} else {
			v = e.judgeMetric(it.idx, c, m, x, floor, &it.n)
		}
		e.candidate(it.idx, d, &v)
		e.absorbMetric(it.idx, m, x, &v)
		if !v.anomalous {
			e.mpop[m].add(x)
		}
		c = e.tab.list.at(it.idx)
		c.moreN[m] = b.n
		c.quiet = setQuiet(c.quiet, bit, b)
	}
	if !o.Injection.Disabled && it.n.probes > 0 {
		k := float64(it.n.probes)
		v := verdict{observed: k, requests: it.req, expected: 0, effect: k / o.Injection.Floor}
		if k >= o.Injection.Floor {
			// Not a tail probability: the score grows with the count,
			// 0.5 at the floor, so severities rank probes sensibly.
			v.logP = e.logPValue * k / o.Injection.Floor
			v.anomalous = true
		}
		e.candidate(it.idx, detProbe, &v)
	}
}

// judgeExfil judges a client's bytes per request. The floor is on the
// bytes of the run of windows whose bytes per request are anomalous for
// the client, not on one window's: a bulk read at the client's usual
// request rate moving a few MB a minute is found once the run reaches
// the floor. A window that is not anomalous ends the run. Until the run
// reaches the floor its windows are suspect, so the baseline does not
// learn them.
func (e *Engine) judgeExfil(idx int32, c *client, x float64, floor bool, n *winTally) verdict {
	v := e.judgeMetric(idx, c, mExfil, x, true, n)
	if !v.anomalous {
		c.exfilRun = 0
		return v
	}
	c.exfilRun += float64(n.bytes)
	if !floor && c.exfilRun < e.opts.Exfiltration.Floor {
		v.anomalous, v.suspect = false, true
	}
	return v
}

// setQuiet sets or clears bit in quiet as baseline b is all zero.
func setQuiet(quiet, bit uint8, b *volumeBaseline) uint8 {
	if b.mean == 0 && b.vari == 0 && b.lm == 0 && b.lv == 0 {
		return quiet | bit
	}
	return quiet &^ bit
}
