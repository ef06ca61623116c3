package detect

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// Upper-tail probabilities, in log space.
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

// logPoissonTail is ln P(X >= k) for X ~ Poisson(lambda).
func logPoissonTail(k, lambda float64) float64 {
	switch {
	case math.IsNaN(lambda) || !(k > 0):
		return 0
	case !(lambda > 0) || math.IsInf(k, 1):
		return math.Inf(-1)
	case math.IsInf(lambda, 1):
		return 0
	}
	if p := mathext.GammaIncReg(k, lambda); p > tinyTail {
		return math.Min(0, math.Log(p))
	}
	lg, _ := math.Lgamma(k + 1)
	logPk := k*math.Log(lambda) - lambda - lg
	return logPk - geometricLog(lambda/(k+1))
}

// logNegBinTail is ln P(X >= k) for a negative binomial X with the given
// mean and variance; a variance not above the mean means Poisson.
//
// With success probability q = mean/variance and r = mean²/(variance-mean)
// successes, P(X >= k) = I_{1-q}(k, r).
func logNegBinTail(k, mean, variance float64) float64 {
	switch {
	case math.IsNaN(mean) || math.IsNaN(variance) || !(k > 0):
		return 0
	case !(mean > 0) || math.IsInf(k, 1):
		return math.Inf(-1)
	case math.IsInf(mean, 1) || math.IsInf(variance, 1):
		return 0
	case !(variance > mean*(1+1e-9)):
		return logPoissonTail(k, mean)
	}
	q := mean / variance
	r := mean * mean / (variance - mean)
	if !(r > 0) || !(q > 0) || math.IsInf(r, 1) {
		return logPoissonTail(k, mean) // degenerate: no shape left to speak of
	}
	if p := mathext.RegIncBeta(k, r, 1-q); p > tinyTail {
		return math.Min(0, math.Log(p))
	}
	lgkr, _ := math.Lgamma(k + r)
	lgr, _ := math.Lgamma(r)
	lgk, _ := math.Lgamma(k + 1)
	logPk := lgkr - lgr - lgk + r*math.Log(q) + k*math.Log1p(-q)
	// P(k+1)/P(k) = (k+r)/(k+1) * (1-q) falls with k when r >= 1 and
	// rises towards 1-q when r < 1.
	ratio := (1 - q) * math.Max(1, (k+r)/(k+1))
	return logPk - geometricLog(ratio)
}

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
	return logPk - geometricLog((n-k)/(k+1)*p/(1-p))
}

// logNormalTail is ln P(Z >= z) for a standard normal Z.
func logNormalTail(z float64) float64 {
	switch {
	case math.IsNaN(z):
		return 0
	case z < 30:
		return math.Min(0, math.Log(0.5*math.Erfc(z/math.Sqrt2)))
	}
	// Mills ratio: erfc underflows near z = 38.
	return -z*z/2 - math.Log(z) - 0.5*math.Log(2*math.Pi) + math.Log1p(-1/(z*z))
}

// logStudentTail is ln P(T >= t) for Student's t with nu degrees of
// freedom: the predictive tail of a value whose spread was estimated from
// about nu+1 windows. With few windows its tails are far heavier than the
// normal's, which keeps young baselines from alarming on their own
// uncertainty. P(T >= t) = I_x(nu/2, 1/2)/2 with x = nu/(nu+t²).
func logStudentTail(t, nu float64) float64 {
	switch {
	case math.IsNaN(t) || math.IsNaN(nu) || !(nu > 0):
		return 0
	case math.IsInf(nu, 1):
		return logNormalTail(t)
	case t <= 0:
		return math.Log1p(-0.5 * mathext.RegIncBeta(nu/2, 0.5, nu/(nu+t*t)))
	case math.IsInf(t, 1):
		return math.Inf(-1)
	}
	a, x := nu/2, nu/(nu+t*t)
	if p := 0.5 * mathext.RegIncBeta(a, 0.5, x); p > tinyTail {
		return math.Min(0, math.Log(p))
	}
	// Leading term of I_x(a, b) for small x: x^a (1-x)^b / (a B(a,b)).
	return math.Log(0.5) + a*math.Log(x) + 0.5*math.Log1p(-x) - math.Log(a) - mathext.Lbeta(a, 0.5)
}

// geometricLog is ln(1 - ratio), the log of the geometric series factor
// 1/(1-ratio) negated; ratios at or above 1 (before the mode, where the
// bound is not valid) count as no reduction.
func geometricLog(ratio float64) float64 {
	if !(ratio < 1) {
		return 0
	}
	return math.Log1p(-math.Max(ratio, 0))
}

// evidence is -log10 of a probability given in natural log: how many
// orders of magnitude of surprise. It is 0 for p >= 1 and capped so a
// zero probability stays finite and JSON-encodable.
func evidence(logP float64) float64 {
	if !(logP < 0) {
		return 0
	}
	return math.Min(-logP/math.Ln10, maxEvidence)
}

// maxEvidence caps evidence, ~1e-10000: beyond any float64 p-value.
const maxEvidence = 10000

// score maps a p-value, as evidence e = -log10 p, into [0,1):
//
//	score = e / (e + e0),  e0 = -log10(threshold)
//
// so a finding exactly at the threshold scores 0.5, p = threshold² scores
// 0.67, and more evidence always scores higher.
func score(logP, threshold float64) float64 {
	e := evidence(logP)
	e0 := -math.Log10(threshold)
	return e / (e + e0)
}

// severityFor grades a finding by its effect size (observed/expected) and
// evidence. Size drives the grade: a ratio at the MinRatio floor is low;
// the highest grades also need overwhelming evidence, so a single noisy
// window of a tiny client cannot be critical.
func severityFor(effect, logP, threshold float64) Severity {
	e, e0 := evidence(logP), -math.Log10(threshold)
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
