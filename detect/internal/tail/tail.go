// Package tail computes the tail probabilities gatewatch's detectors
// judge by, in natural-log space.
package tail

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// Tail probabilities, in log space.
//
// They serve the per-client detectors (detect) and the single-series
// scorer (detect/series). Lower tails exist because a single series can be
// anomalous by falling as well as by rising.
//
// Everything stays in natural-log space and uses gonum's regularised
// incomplete gamma and beta functions rather than 1-CDF, so p-values far
// below 1e-16 keep their order instead of collapsing to zero. When even
// those underflow, the tail is bounded by the probability of the observed
// value times a geometric series (upper) or by that probability alone
// (lower, a slight overstatement of surprise that keeps ranking).

// tinyTail is where direct computations are abandoned for the bounds.
const tinyTail = 1e-280

// PoissonUpper is ln P(X >= k) for X ~ Poisson(lambda).
func PoissonUpper(k, lambda float64) float64 {
	switch {
	case math.IsNaN(lambda) || math.IsNaN(k) || !(k > 0):
		return 0
	case !(lambda > 0) || math.IsInf(k, 1):
		return math.Inf(-1)
	case math.IsInf(lambda, 1):
		return 0
	}
	if p := mathext.GammaIncReg(k, lambda); p > tinyTail {
		return math.Min(0, math.Log(p))
	}
	return PoissonLogPMF(k, lambda) - GeometricLog(lambda/(k+1))
}

// PoissonLower is ln P(X <= k) for X ~ Poisson(lambda).
func PoissonLower(k, lambda float64) float64 {
	switch {
	case math.IsNaN(lambda) || math.IsNaN(k) || !(lambda > 0) || math.IsInf(k, 1):
		return 0
	case k < 0:
		return math.Inf(-1)
	case math.IsInf(lambda, 1):
		return math.Inf(-1)
	}
	if p := mathext.GammaIncRegComp(k+1, lambda); p > tinyTail {
		return math.Min(0, math.Log(p))
	}
	return math.Min(0, PoissonLogPMF(k, lambda))
}

func PoissonLogPMF(k, lambda float64) float64 {
	lg, _ := math.Lgamma(k + 1)
	return k*math.Log(lambda) - lambda - lg
}

// NegBinParams returns the negative binomial's success probability q and size r
// for a mean and variance, and false when the variance does not exceed the
// mean (Poisson) or the shape is degenerate.
func NegBinParams(mean, variance float64) (q, r float64, ok bool) {
	if !(variance > mean*(1+1e-9)) {
		return 0, 0, false
	}
	q = mean / variance
	r = mean * mean / (variance - mean)
	if !(r > 0) || !(q > 0) || !(q < 1) || math.IsInf(r, 1) {
		return 0, 0, false
	}
	return q, r, true
}

// NegBinUpper is ln P(X >= k) for a negative binomial X with the given
// mean and variance; a variance not above the mean means Poisson.
// P(X >= k) = I_{1-q}(k, r).
func NegBinUpper(k, mean, variance float64) float64 {
	switch {
	case math.IsNaN(mean) || math.IsNaN(variance) || math.IsNaN(k) || !(k > 0):
		return 0
	case !(mean > 0) || math.IsInf(k, 1):
		return math.Inf(-1)
	case math.IsInf(mean, 1) || math.IsInf(variance, 1):
		return 0
	}
	q, r, ok := NegBinParams(mean, variance)
	if !ok {
		return PoissonUpper(k, mean)
	}
	if p := mathext.RegIncBeta(k, r, 1-q); p > tinyTail {
		return math.Min(0, math.Log(p))
	}
	// P(k+1)/P(k) = (k+r)/(k+1) * (1-q) falls with k when r >= 1 and
	// rises towards 1-q when r < 1.
	ratio := (1 - q) * math.Max(1, (k+r)/(k+1))
	return NegBinLogPMF(k, q, r) - GeometricLog(ratio)
}

// NegBinLower is ln P(X <= k) for a negative binomial X with the given
// mean and variance. P(X <= k) = I_q(r, k+1).
func NegBinLower(k, mean, variance float64) float64 {
	switch {
	case math.IsNaN(mean) || math.IsNaN(variance) || math.IsNaN(k) || !(mean > 0) || math.IsInf(k, 1):
		return 0
	case k < 0:
		return math.Inf(-1)
	case math.IsInf(mean, 1) || math.IsInf(variance, 1):
		return 0
	}
	q, r, ok := NegBinParams(mean, variance)
	if !ok {
		return PoissonLower(k, mean)
	}
	if p := mathext.RegIncBeta(r, k+1, q); p > tinyTail {
		return math.Min(0, math.Log(p))
	}
	return math.Min(0, NegBinLogPMF(k, q, r))
}

func NegBinLogPMF(k, q, r float64) float64 {
	lgkr, _ := math.Lgamma(k + r)
	lgr, _ := math.Lgamma(r)
	lgk, _ := math.Lgamma(k + 1)
	return lgkr - lgr - lgk + r*math.Log(q) + k*math.Log1p(-q)
}

// NormalUpper is ln P(Z >= z) for a standard normal Z.
func NormalUpper(z float64) float64 {
	switch {
	case math.IsNaN(z):
		return 0
	case z < 30:
		return math.Min(0, math.Log(0.5*math.Erfc(z/math.Sqrt2)))
	}
	// Mills ratio: erfc underflows near z = 38.
	return -z*z/2 - math.Log(z) - 0.5*math.Log(2*math.Pi) + math.Log1p(-1/(z*z))
}

// StudentUpper is ln P(T >= t) for Student's t with nu degrees of
// freedom: the predictive tail of a value whose spread was estimated from
// about nu+1 observations. With little history its tails are far heavier
// than the normal's, which keeps a young baseline from alarming on its own
// uncertainty. P(T >= t) = I_x(nu/2, 1/2)/2 with x = nu/(nu+t²).
func StudentUpper(t, nu float64) float64 {
	switch {
	case math.IsNaN(t) || math.IsNaN(nu) || !(nu > 0):
		return 0
	case math.IsInf(nu, 1):
		return NormalUpper(t)
	case t <= 0:
		if math.IsInf(t, -1) {
			return 0
		}
		return math.Log1p(-0.5 * mathext.RegIncBeta(nu/2, 0.5, nu/(nu+t*t)))
	case math.IsInf(t, 1):
		return math.Inf(-1)
	}
	a, x := nu/2, nu/(nu+t*t)
	if !(x > 0) {
		return math.Inf(-1) // t*t overflowed
	}
	if p := 0.5 * mathext.RegIncBeta(a, 0.5, x); p > tinyTail {
		return math.Min(0, math.Log(p))
	}
	// Leading term of I_x(a, b) for small x: x^a (1-x)^b / (a B(a,b)).
	return math.Log(0.5) + a*math.Log(x) + 0.5*math.Log1p(-x) - math.Log(a) - mathext.Lbeta(a, 0.5)
}

// GeometricLog is ln(1 - ratio); ratios at or above 1 (before the mode,
// where the bound is not valid) count as no reduction.
func GeometricLog(ratio float64) float64 {
	if !(ratio < 1) {
		return 0
	}
	return math.Log1p(-math.Max(ratio, 0))
}

// MaxEvidence caps -log10 p at 10000 (~1e-10000): beyond any float64
// p-value, and it keeps a zero probability finite.
const MaxEvidence = 10000

// Evidence is -log10 of a probability given in natural log.
func Evidence(logP float64) float64 {
	if !(logP < 0) {
		return 0
	}
	return math.Min(-logP/math.Ln10, MaxEvidence)
}

// Score maps ln p into [0,1): e/(e+e0) with e = -log10 p and
// e0 = -log10 threshold, as detect does, so p = threshold scores 0.5 and
// more Evidence always scores higher.
func Score(logP, threshold float64) float64 {
	e := Evidence(logP)
	e0 := -math.Log10(threshold)
	return e / (e + e0)
}
