package detect

import (
	"math"

	"gonum.org/v1/gonum/mathext"

	"github.com/gatewatch/gatewatch/detect/internal/tail"
)

// Upper-tail probabilities, in log space (the Poisson, negative binomial,
// normal and Student-t tails are in detect/internal/tail, shared with
// detect/series; the binomial one only the ratio detectors need).
//
// Each function returns ln P(X >= k). The regularised incomplete gamma and
// beta functions from gonum give the tails directly, without the
// cancellation of 1-CDF (distuv's Survival) that loses everything below
// ~1e-16. When even they underflow, the tail is bounded by the probability
// of k itself times a geometric series: past the mode successive
// probabilities fall at least as fast as the ratio at k, so
// P(X >= k) <= P(k) / (1 - P(k+1)/P(k)). That keeps extreme windows
// ranked instead of all collapsing to p = 0.

// tinyTail is where the direct computations are abandoned for the bound:
// well above the smallest normal float64, so their relative accuracy has
// not yet degraded.
const tinyTail = 1e-280

// logBinomTail is ln P(X >= k) for X ~ Binomial(n, p). n and k may be
// fractional: the ratio detectors divide both by an overdispersion factor
// to get an effective sample size. P(X >= k) = I_p(k, n-k+1).
func logBinomTail(k, n, p float64) float64 {
	switch {
	case math.IsNaN(n) || math.IsNaN(p) || math.IsInf(n, 1) || !(k > 0) || p >= 1:
		return 0
	case !(n > 0) || k > n || !(p > 0):
		return math.Inf(-1)
	}
	if v := mathext.RegIncBeta(k, n-k+1, p); v > tinyTail {
		return math.Min(0, math.Log(v))
	}
	lgn, _ := math.Lgamma(n + 1)
	lgk, _ := math.Lgamma(k + 1)
	lgnk, _ := math.Lgamma(n - k + 1)
	logPk := lgn - lgk - lgnk + k*math.Log(p) + (n-k)*math.Log1p(-p)
	return logPk - tail.GeometricLog((n-k)/(k+1)*p/(1-p))
}

// score maps a p-value, as evidence e = -log10 p, into [0,1):
//
//	score = e / (e + e0),  e0 = -log10(threshold)
//
// so a finding exactly at the threshold scores 0.5, p = threshold² scores
// 0.67, and more evidence always scores higher.
func score(logP, threshold float64) float64 { return tail.Score(logP, threshold) }

// severityFor grades a finding by its effect size (observed/expected) and
// evidence. Size drives the grade: a ratio at the MinRatio floor is low;
// the highest grades also need overwhelming evidence, so a single noisy
// window of a tiny client cannot be critical.
func severityFor(effect, logP, threshold float64) Severity {
	e, e0 := tail.Evidence(logP), -math.Log10(threshold)
	switch {
	case effect >= 20 && e >= 3*e0:
		return SeverityCritical
	case effect >= 8 && e >= 2*e0:
		return SeverityHigh
	case effect >= 4:
		return SeverityMedium
	default:
		return SeverityLow
	}
}
