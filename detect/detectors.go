package detect

import (
	"math"

	"github.com/gatewatch/gatewatch/detect/internal/tail"
)

// The three detectors judge one client window each, against the client's
// own baseline once it has MinHistory windows and against the population
// before that; then the window is absorbed into the baseline.
//
// volume:        requests per window. Own: two tails that must both call
//                the window anomalous (the larger probability counts). A
//                negative binomial whose variance is the Poisson variance
//                plus the client's own excess (shrunk towards the fleet's
//                typical overdispersion), so low counts get exact
//                Poisson-like tails and noisy heavy clients are not flagged
//                for being noisy; and a Student-t tail on the log scale,
//                its degrees of freedom from the windows behind the
//                estimated part of the spread, which holds up against
//                multiplicative bursts and against a spread estimated from
//                few windows. Population: log-normal over the fleet's log
//                volumes, and only beyond MinRatio times the fleet's 99th
//                percentile.
// error_ratio,
// auth_failures: hits (5xx; 401/403) out of the window's requests, a
//                binomial tail on an effective sample size n/dispersion:
//                the client's own measured overdispersion, or the
//                population's between-client spread for new clients. Being
//                conditional on the requests, they do not fire just
//                because volume rose; that is the volume detector's job.
//
// A window is anomalous only if it clears every floor (MinRequests or the
// minimum hits, MinRatio, MinRatioDelta for ratios) and the tail
// probability is below PValue. Expectations are first raised by the fleet
// factor (fleet.go), so what every client does at once is not anomalous.

// Winsorisation, in predictive standard deviations. Ordinary windows are
// clipped at clipNormal (generous: a clean baseline loses almost
// nothing). A window that is anomalous, or merely suspect (p below the
// square root of PValue), is clipped at clipGuarded and does not touch the
// spread, so an attack that stays just under the threshold cannot widen
// the baseline until it passes either. A new client flagged against the
// population is clipped at clipNew of the population's spread.
const (
	clipNormal  = 4
	clipGuarded = 0.5
	clipNew     = 3
	// suspectZ is a cheap normal-approximation prefilter: a window within
	// this many spreads of its expectation is not suspect, and its exact
	// tail probability need not be computed.
	suspectZ = 2.5
)

// judgeVolume judges x requests of client c in this window.
func (e *Engine) judgeVolume(c *client, x float64, f *fleet, season float64) verdict {
	o := &e.opts
	v := verdict{observed: x, requests: x, history: int(c.vol.n)}
	if c.vol.n >= uint32(o.MinHistory) {
		// The fleet's common mode and the client's own schedule scale
		// what its level predicts (season.go).
		scale := f.vol * math.Exp(season)
		mean, variance := c.vol.predict(e.a, e.pop.disp)
		mean *= scale
		variance = max(variance*scale*scale, mean)
		v.expected, v.spread = mean, math.Sqrt(variance)
		v.effect = x / max(mean, minExpected)
		floors := x >= float64(o.MinRequests) && x >= o.MinRatio*mean
		if floors || x > mean+suspectZ*v.spread {
			// Both tails must agree; the larger probability counts.
			lm, lsd, dof := c.vol.predictLog(e.a, e.pop.disp)
			logLog := tail.StudentUpper((math.Log1p(x)-lm-math.Log(scale))/lsd, dof)
			v.logP = max(tail.NegBinUpper(x, mean, variance), logLog)
			v.anomalous = floors && v.logP < e.logPValue
			v.suspect = v.logP < e.logSuspect
		}
		return v
	}
	// Until the population has been measured (popMinClients client
	// windows, however many windows that takes) nothing says what volume
	// is normal. After that every client without its own baseline is
	// compared with it, those present from the first line included.
	if !e.pop.volReady {
		v.expected = c.vol.mean
		return v
	}
	v.population = true
	shift := math.Log(f.vol)
	mid, sd := e.pop.volMid+shift, e.pop.volSD
	pv := e.volView.of(mid, sd, e.pop.volHigh)
	high := max(pv.exHigh, c.vol.mean) * f.vol
	v.expected, v.spread = pv.expected, pv.spread
	v.refHigh = high
	v.effect = x / max(high, minExpected)
	if x >= newClientFloor*float64(o.MinRequests) && x >= o.MinRatio*high {
		v.logP = tail.NormalUpper((math.Log1p(x) - mid) / sd)
		v.anomalous = v.logP < e.logPValue
	}
	return v
}

// newClientFloor multiplies MinRequests for a client judged against the
// population: on a small site every crawler is many times the typical
// visitor, and a new client's volume alone says little until it is
// extreme (100 requests a window by default). What a new client does
// besides volume — 404 sweeps, probes, failed logins — has detectors of
// its own.
const newClientFloor = 5

// minExpected keeps effect sizes finite.
const minExpected = 0.1

// absorbVolume folds x requests into c's volume baseline, winsorised as
// described above.
func (e *Engine) absorbVolume(c *client, x float64, v *verdict) {
	b := &c.vol
	lo, hi := math.Inf(-1), math.Inf(1)
	llo, lhi := lo, hi
	guarded := v.anomalous || v.suspect
	switch {
	case b.n >= uint32(e.opts.MinHistory):
		mean, variance := b.predict(e.a, e.pop.disp)
		lm, lsd, _ := b.predictLog(e.a, e.pop.disp)
		k := float64(clipNormal)
		if guarded {
			k = clipGuarded
		}
		sd := math.Sqrt(variance)
		lo, hi = mean-k*sd, mean+k*sd
		llo, lhi = lm-k*lsd, lm+k*lsd
	case v.anomalous:
		// Flagged against the population: learn at most an unusually
		// busy but plausible client.
		lhi = e.pop.volMid + clipNew*e.pop.volSD
		hi = math.Expm1(lhi)
	}
	b.update(x, lo, hi, llo, lhi, e.a, guarded)
}

// ratioJudge names what differs between the two ratio detectors.
type ratioJudge struct {
	det     detector
	minHits int
	model   ratioModel // population
	excess  float64    // fleet excess ratio
	// own is false while the client's history is mostly its open
	// incident (pastIsIncident): judged and clipped against the
	// population, whatever its windows.
	own bool
}

// judgeRatio judges k hits out of n requests against baseline b.
func (e *Engine) judgeRatio(b *ratioBaseline, k, n float64, j ratioJudge) verdict {
	o := &e.opts
	v := verdict{requests: n, hits: k, history: int(b.n)}
	var p, mult float64
	own := b.n >= uint32(o.MinHistory) && j.own
	if own {
		q, disp, reqs := b.expect(e.ra, j.model.p)
		p, mult = q, disp+n/reqs
	} else {
		p, mult = j.model.p, 1+(n-1)*j.model.rho
		v.population = true
	}
	p = max(p, minRatio)
	p = min(p+j.excess*(1-p), maxRatio)
	mult = max(mult, 1)
	n = max(n, 1)
	ratio := k / n
	v.effect = ratio / p
	sdHits := math.Sqrt(mult * n * p * (1 - p))
	if j.det == detErrors {
		v.observed, v.expected, v.spread = ratio, p, sdHits/n
	} else {
		v.observed, v.expected, v.spread = k, n*p, sdHits
	}
	floors := k >= float64(j.minHits) && ratio >= o.MinRatio*p && ratio-p >= o.MinRatioDelta
	if floors || (own && k > n*p+suspectZ*sdHits) {
		v.logP = logBinomTail(k/mult, n/mult, p)
		v.anomalous = floors && v.logP < e.logPValue
		v.suspect = own && v.logP < e.logSuspect
	}
	return v
}

// maxRatio keeps an expected ratio below certainty.
const maxRatio = 0.999

// absorbRatio folds k hits out of n requests into baseline b, winsorised
// as described above.
func (e *Engine) absorbRatio(b *ratioBaseline, k, n float64, j *ratioJudge, v *verdict) {
	model := j.model
	own, disp, reqs := b.expect(e.ra, model.p)
	own = min(max(own, minRatio), maxRatio)
	kHi := n
	guarded := v.anomalous || v.suspect
	switch {
	case b.n >= uint32(e.opts.MinHistory) && j.own:
		c := float64(clipNormal)
		if guarded {
			c = clipGuarded
		}
		kHi = n*own + c*math.Sqrt((disp+n/reqs)*n*own*(1-own))
	case v.anomalous:
		p := max(model.p, minRatio)
		kHi = n*p + clipNew*math.Sqrt((1+(n-1)*model.rho)*n*p*(1-p))
	}
	b.update(k, n, own, kHi, e.ra, guarded)
}

// pastIsIncident reports whether most of the n windows behind one of
// client idx's baselines are windows of its open incident. Such a client
// has no ordinary past to be judged against: a brute force answered 401
// from its first window, five attempts a minute, would otherwise become
// its own normal once min_history windows of it were absorbed (clipped,
// but from the population's expectation, five trials a window cannot
// tell 100% failures from the clipped baseline at the p-value), resolve,
// and come back as a second incident.
func (e *Engine) pastIsIncident(idx int32, n uint32) bool {
	i := *e.incs.at(idx)
	return i != 0 && 2*e.inc.list[i-1].windows >= int(n)
}
