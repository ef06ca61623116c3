package detect

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gatewatch/gatewatch/detect/internal/tail"

	"gonum.org/v1/gonum/stat/distuv"
)

// logSumTail sums a log-pmf from k to where it no longer matters, in log
// space: the brute-force reference for the tail functions.
func logSumTail(k int, logPmf func(int) float64) float64 {
	acc := math.Inf(-1)
	for x := k; x < k+200000; x++ {
		l := logPmf(x)
		if math.IsInf(l, -1) {
			break
		}
		hi, lo := math.Max(acc, l), math.Min(acc, l)
		acc = hi + math.Log1p(math.Exp(lo-hi))
		if l < acc-40 && x > k+10 {
			break
		}
	}
	return acc
}

func TestLogPoissonTail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		k      int
		lambda float64
	}{
		{1, 2}, {5, 2}, {50, 2}, {400, 2}, {3000, 3000}, {4000, 3000}, {1, 0.01}, {300, 0.5},
	} {
		want := logSumTail(tc.k, func(x int) float64 { return distuv.Poisson{Lambda: tc.lambda}.LogProb(float64(x)) })
		got := tail.PoissonUpper(float64(tc.k), tc.lambda)
		// Exact to rounding while representable; the geometric bound
		// beyond is within a factor of 2.
		if tol := tolerance(want); math.Abs(got-want) > tol {
			t.Errorf("ln P(Poisson(%v) >= %d) = %v, want %v", tc.lambda, tc.k, got, want)
		}
	}
	// distuv's Survival(k-1) agrees where it has precision.
	if got, want := math.Exp(tail.PoissonUpper(8, 2)), (distuv.Poisson{Lambda: 2}).Survival(7); math.Abs(got-want) > 1e-12 {
		t.Errorf("P(X >= 8) = %v, distuv says %v", got, want)
	}
}

func TestLogNegBinTail(t *testing.T) {
	t.Parallel()
	nbLogPmf := func(mean, variance float64) func(int) float64 {
		q := mean / variance
		r := mean * mean / (variance - mean)
		return func(x int) float64 {
			k := float64(x)
			a, _ := math.Lgamma(k + r)
			b, _ := math.Lgamma(r)
			c, _ := math.Lgamma(k + 1)
			return a - b - c + r*math.Log(q) + k*math.Log1p(-q)
		}
	}
	for _, tc := range []struct {
		k              int
		mean, variance float64
	}{
		{10, 3, 9}, {50, 2, 3}, {9000, 3000, 90000}, {4800, 3000, 90000}, {2000, 5, 50}, {100, 1, 1.5}, {30, 4, 40},
	} {
		want := logSumTail(tc.k, nbLogPmf(tc.mean, tc.variance))
		got := tail.NegBinUpper(float64(tc.k), tc.mean, tc.variance)
		if tol := tolerance(want); math.Abs(got-want) > tol {
			t.Errorf("ln P(NB(%v, %v) >= %d) = %v, want %v", tc.mean, tc.variance, tc.k, got, want)
		}
	}
	// Overdispersion is what lets a noisy heavy client through: 4,800 is
	// unremarkable (4σ) at 3000±300 but impossible for a Poisson client.
	if nb, po := tail.NegBinUpper(4200, 3000, 90000), tail.PoissonUpper(4200, 3000); nb < math.Log(1e-6) || po > math.Log(1e-50) {
		t.Errorf("NB tail %v, Poisson tail %v", nb, po)
	}
	// A variance at or below the mean is Poisson.
	if got, want := tail.NegBinUpper(10, 3, 2), tail.PoissonUpper(10, 3); got != want {
		t.Errorf("underdispersed NB %v, Poisson %v", got, want)
	}
}

func TestLogBinomTail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		k, n int
		p    float64
	}{
		{1, 10, 0.1}, {5, 20, 0.01}, {285, 300, 0.01}, {300, 300, 0.01}, {12, 38, 0.008}, {50, 3000, 0.005}, {900, 1000, 0.5},
	} {
		want := logSumTail(tc.k, func(x int) float64 {
			if x > tc.n {
				return math.Inf(-1)
			}
			return distuv.Binomial{N: float64(tc.n), P: tc.p}.LogProb(float64(x))
		})
		got := logBinomTail(float64(tc.k), float64(tc.n), tc.p)
		if tol := tolerance(want); math.Abs(got-want) > tol {
			t.Errorf("ln P(Bin(%d, %v) >= %d) = %v, want %v", tc.n, tc.p, tc.k, got, want)
		}
	}
}

// tolerance is the allowed error of a log tail: rounding while the tail is
// representable, ln 2 where the geometric bound takes over.
func tolerance(logP float64) float64 {
	if logP > math.Log(tinyTail) {
		return 1e-6 * math.Max(1, math.Abs(logP))
	}
	return math.Ln2
}

func TestLogNormalTail(t *testing.T) {
	t.Parallel()
	for _, z := range []float64{-3, 0, 1, 4.75, 10, 29.9} {
		want := math.Log(distuv.UnitNormal.Survival(z))
		if z > 8 {
			want = math.Log(0.5 * math.Erfc(z/math.Sqrt2))
		}
		if got := tail.NormalUpper(z); math.Abs(got-want) > 1e-9*math.Max(1, -want) {
			t.Errorf("ln P(Z >= %v) = %v, want %v", z, got, want)
		}
	}
	// The asymptotic branch continues the exact one.
	if a, b := tail.NormalUpper(29.999), tail.NormalUpper(30.001); math.Abs(a-b) > 0.1 || !(b < a) {
		t.Errorf("discontinuity at 30: %v %v", a, b)
	}
	if got := tail.NormalUpper(1e6); math.IsInf(got, 0) || math.IsNaN(got) {
		t.Errorf("extreme z: %v", got)
	}
}

// TestTailsNeverPanic feeds the tail functions degenerate inputs: they
// back a hot path fed by arbitrary traffic and must answer, not panic.
func TestTailsNeverPanic(t *testing.T) {
	t.Parallel()
	vals := []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1, 0, 1e-300, 0.5, 1, 2, 1e300}
	for _, a := range vals {
		for _, b := range vals {
			for _, c := range vals {
				for _, got := range []float64{tail.PoissonUpper(a, b), tail.NegBinUpper(a, b, c), logBinomTail(a, b, c), tail.NormalUpper(a)} {
					if math.IsNaN(got) || got > 0 {
						t.Errorf("tail(%v, %v, %v) = %v", a, b, c, got)
					}
				}
			}
		}
	}
}

func TestScore(t *testing.T) {
	t.Parallel()
	const threshold = 1e-6
	prev := -1.0
	for _, p := range []float64{1, 0.5, 1e-3, 1e-6, 1e-12, 1e-100, 1e-300, 0} {
		s := score(math.Log(p), threshold)
		if s < 0 || s >= 1 || s <= prev && p < 1 {
			t.Errorf("score(%v) = %v after %v: want increasing in [0,1)", p, s, prev)
		}
		prev = s
	}
	if s := score(math.Log(threshold), threshold); math.Abs(s-0.5) > 1e-12 {
		t.Errorf("score at the threshold = %v, want 0.5", s)
	}
}

func TestSeverity(t *testing.T) {
	t.Parallel()
	const threshold = 1e-6
	for _, tc := range []struct {
		effect, p float64
		want      Severity
	}{
		{3, 1e-7, SeverityLow},
		{5, 1e-7, SeverityMedium},
		{10, 1e-7, SeverityMedium}, // big but weakly supported
		{10, 1e-13, SeverityHigh},
		{25, 1e-13, SeverityHigh},
		{25, 1e-19, SeverityCritical},
	} {
		if got := severityFor(tc.effect, math.Log(tc.p), threshold); got != tc.want {
			t.Errorf("severity(effect %v, p %v) = %s, want %s", tc.effect, tc.p, got, tc.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	inputs := map[string][]float64{
		"random":   nil,
		"sorted":   nil,
		"reversed": nil,
		"equal":    slices.Repeat([]float64{7}, 101),
		"two":      nil,
		"single":   {42},
	}
	for range 1000 {
		x := r.NormFloat64()
		inputs["random"] = append(inputs["random"], x)
		inputs["two"] = append(inputs["two"], float64(r.IntN(2)))
	}
	for i := range 500 {
		inputs["sorted"] = append(inputs["sorted"], float64(i))
		inputs["reversed"] = append(inputs["reversed"], float64(500-i))
	}
	for name, xs := range inputs {
		sorted := slices.Clone(xs)
		slices.Sort(sorted)
		for _, q := range []float64{0, 0.01, 0.5, 0.98, 0.99, 1} {
			want := sorted[int(math.Round(q*float64(len(xs)-1)))]
			if got := quantile(slices.Clone(xs), q); got != want {
				t.Errorf("%s: quantile %v = %v, want %v", name, q, got, want)
			}
		}
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("quantile of nothing should be NaN")
	}
}

func TestLogStudentTail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ t, nu float64 }{
		{-2, 3}, {0, 5}, {1.5, 2}, {4, 9}, {6, 30}, {5, 1000},
	} {
		want := math.Log(distuv.StudentsT{Mu: 0, Sigma: 1, Nu: tc.nu}.Survival(tc.t))
		if got := tail.StudentUpper(tc.t, tc.nu); math.Abs(got-want) > 1e-8*math.Max(1, -want) {
			t.Errorf("ln P(T_%v >= %v) = %v, want %v", tc.nu, tc.t, got, want)
		}
	}
	// Beyond float64: the leading term keeps the ranking.
	a, b := tail.StudentUpper(1e80, 30), tail.StudentUpper(1e90, 30)
	if math.IsInf(a, 0) || math.IsNaN(a) || !(b < a) {
		t.Errorf("extreme tails %v, %v", a, b)
	}
	// Few windows, heavy tails: what is 1e-6 for a normal is not for t_9.
	if tail.StudentUpper(4.75, 9) < math.Log(1e-4) {
		t.Error("t with 9 degrees of freedom is not heavier-tailed than the normal")
	}
	if got, want := tail.StudentUpper(3, math.Inf(1)), tail.NormalUpper(3); got != want {
		t.Errorf("infinite degrees of freedom: %v, want the normal's %v", got, want)
	}
}
