package detect

import (
	"math"

	"github.com/gatewatch/gatewatch/detect/internal/poisson"
)

// Per-client baselines.
//
// A baseline is an exponentially weighted summary of a client's own past
// active windows; windows in which the client sent nothing are not part of
// it, so an intermittent client is described by what it does when it is
// active (the detectors look for increases only). The first windows are
// averaged with equal weight (weight 1/(n+1)) until that falls below the
// EWMA weight, so a young baseline is a plain mean rather than one biased
// to its first value.
//
// Updates are winsorised by the caller (detectors.go): a window's value is
// clipped to a few spreads around the expectation before it is absorbed,
// and a window a detector flagged, or found suspect, is clipped at half a
// spread and does not move the spread estimate at all. An attack therefore
// drags the mean up by a fraction of a spread per half-life and cannot
// widen the baseline until it looks normal, while a genuine level shift
// is still absorbed, slowly.

// maxWindows saturates window counters.
const maxWindows = math.MaxUint32

// weight is the weight of window n (counting from 0) in an EWMA of weight a.
func weight(n uint32, a float64) float64 {
	return max(a, 1/float64(n+1))
}

// effectiveWindows is how many windows' worth of information an EWMA of
// weight a holds after n updates: n while it is still a plain mean, then
// (2-a)/a, the variance-equivalent sample size of an EWMA.
func effectiveWindows(n uint32, a float64) float64 {
	return min(float64(n), (2-a)/a)
}

// volumeBaseline summarises a client's requests per active window, both
// as counts and as log(1+count): real traffic is bursty in a
// multiplicative way, and a variance of counts estimated from a few dozen
// windows understates how far such bursts reach, while the log scale
// tames them (see judgeVolume).
type volumeBaseline struct {
	n    uint32  // windows absorbed
	mean float64 // EWMA of requests per window
	vari float64 // EWMA variance of requests per window about mean
	lm   float64 // EWMA of log1p(requests)
	lv   float64 // EWMA variance of log1p(requests)
}

// dispersionPrior is the fleet's typical overdispersion, which a young
// baseline's own estimate is shrunk towards (population.go measures it):
// a client whose first few dozen windows happened to be calm has not shown
// that it is calmer than its peers.
type dispersionPrior struct {
	kappa  float64 // excess of the count variance over Poisson, relative to mean²
	excess float64 // excess of the log1p(count) variance over Poisson noise
}

// priorWindows is the weight, in windows, of the dispersion prior.
const priorWindows = 10

// dispersion returns the client's own overdispersion estimates, in the
// terms of dispersionPrior, and how many windows they rest on.
func (b *volumeBaseline) dispersion(a float64) (kappa, excess, neff float64) {
	neff = effectiveWindows(b.n, a)
	bessel := 1.0
	if neff > 1 {
		bessel = neff / (neff - 1)
	}
	if b.mean > 0 {
		kappa = max(0, b.vari*bessel-b.mean) / (b.mean * b.mean)
	}
	excess = max(0, b.lv*bessel-poisson.LogVar(b.mean))
	return kappa, excess, neff
}

// predict returns the expected requests of the next window and their
// predictive variance: the Poisson variance (the mean) plus the excess the
// client has shown, mean²·kappa, with kappa shrunk towards the fleet's;
// that excess is what lets a steady but overdispersed heavy client
// through. It is inflated by the uncertainty of the mean itself, which
// matters for a young baseline.
func (b *volumeBaseline) predict(a float64, prior dispersionPrior) (mean, variance float64) {
	kappa, _, neff := b.dispersion(a)
	kappa = (neff*kappa + priorWindows*prior.kappa) / (neff + priorWindows)
	v := b.mean + kappa*b.mean*b.mean
	if neff > 0 {
		v *= 1 + 1/neff
	}
	return b.mean, v
}

// predictLog returns the expected log1p(requests) of the next window, its
// predictive standard deviation and the degrees of freedom behind that.
//
// The variance is at least what Poisson noise alone gives at the mean
// count, so a perfectly regular client (a health check) is not held to
// zero spread. That part is known, not estimated; only the excess over it
// comes from the client's windows (shrunk towards the fleet's), so the
// degrees of freedom follow Welch–Satterthwaite: about the windows behind
// the estimate when the excess dominates, unbounded (a normal tail) when
// Poisson noise does.
func (b *volumeBaseline) predictLog(a float64, prior dispersionPrior) (mean, sd, dof float64) {
	_, excess, neff := b.dispersion(a)
	excess = (neff*excess + priorWindows*prior.excess) / (neff + priorWindows)
	v := poisson.LogVar(b.mean) + excess
	if neff > 0 {
		v *= 1 + 1/neff
	}
	dof = math.Inf(1)
	if excess > 0 {
		dof = (neff + priorWindows - 1) * (v / excess) * (v / excess)
	}
	return b.lm, max(math.Sqrt(v), poisson.MinLogSD), dof
}

// update absorbs a window of x requests, clipped to [lo, hi] and, on the
// log scale, to [llo, lhi]. keepSpread leaves the variances alone: the
// window was flagged as anomalous.
func (b *volumeBaseline) update(x, lo, hi, llo, lhi, a float64, keepSpread bool) {
	lx := min(max(math.Log1p(x), llo), lhi)
	x = min(max(x, lo), hi)
	w := weight(b.n, a)
	d := x - b.mean
	b.mean += w * d
	ld := lx - b.lm
	b.lm += w * ld
	if !keepSpread {
		b.vari = (1 - w) * (b.vari + w*d*d)
		b.lv = (1 - w) * (b.lv + w*ld*ld)
	}
	if b.n < maxWindows {
		b.n++
	}
}

// ratioBaseline summarises the share of a client's requests that hit
// something (5xx or an auth failure): EWMAs of hits and of requests per
// window, whose quotient is the request-weighted ratio, and EWMAs of the
// squared deviation of hits from their expectation and of the binomial
// variance, whose quotient is the client's overdispersion. Ratios of sums
// rather than averages of per-window ratios, because most windows hold
// only a handful of requests and fewer hits.
//
// Hits are rare, so ratio baselines average over ratioHalfLives times the
// volume half-life: with 25 requests a minute and a 1% ratio, thirty
// windows hold only about seven failures.
type ratioBaseline struct {
	n    uint32  // windows absorbed
	hits float64 // EWMA of hits per window
	reqs float64 // EWMA of requests per window
	dev  float64 // EWMA of (k-np)², clipped
	bin  float64 // EWMA of np(1-p)
}

// ratioHalfLives is how many volume half-lives a ratio baseline spans.
const ratioHalfLives = 4

// priorRequests is the weight, in requests, of the population ratio that a
// client's own ratio is shrunk towards: a client with a handful of
// requests and no errors has not shown that its error ratio is zero.
const priorRequests = 50

// priorDispersion is the weight, in binomial variance, of the prior
// dispersion of 1 (plain binomial): a client must show overdispersion
// over several expected hits before it is believed.
const priorDispersion = 2

// maxPearson clips one window's squared deviation at this many binomial
// variances, so a single burst cannot make the client look noisy for a
// half-life.
const maxPearson = 25

// expect returns the client's expected ratio, shrunk towards prior, its
// dispersion factor (>= 1) and the number of requests behind the estimate.
// A window of n requests then has a hit variance of
// n·p·(1-p)·(dispersion + n/requests): overdispersion plus the uncertainty
// of p itself. a is the ratio EWMA weight.
func (b *ratioBaseline) expect(a, prior float64) (p, dispersion, requests float64) {
	neff := effectiveWindows(b.n, a)
	reqs := b.reqs * neff
	p = (b.hits*neff + priorRequests*prior) / (reqs + priorRequests)
	dispersion = max(1, (b.dev*neff+priorDispersion)/(b.bin*neff+priorDispersion))
	return p, dispersion, reqs + priorRequests
}

// update absorbs a window of k hits out of n requests; p is the ratio the
// window was judged against, k is clipped at kHi, and keepDispersion
// leaves the dispersion alone: the window was flagged as anomalous or
// suspect.
func (b *ratioBaseline) update(k, n, p, kHi, a float64, keepDispersion bool) {
	k = min(k, kHi)
	w := weight(b.n, a)
	if !keepDispersion && n > 0 && p > 0 && p < 1 {
		v := n * p * (1 - p)
		d := k - n*p
		b.dev += w * (min(d*d, maxPearson*v) - b.dev)
		b.bin += w * (v - b.bin)
	}
	b.hits += w * (k - b.hits)
	b.reqs += w * (n - b.reqs)
	if b.n < maxWindows {
		b.n++
	}
}
