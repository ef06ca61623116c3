package poisson

import (
	"math"
	"testing"
)

// TestLogVar checks the delta-method variance against known values and
// against the sampled variance of log1p(X) for a large mean, where the
// approximation is good.
func TestLogVar(t *testing.T) {
	for _, c := range []struct{ m, want float64 }{
		{0, 0},
		{1, 0.25},
		{3, 3.0 / 16},
		{99, 99.0 / 10000},
	} {
		if got := LogVar(c.m); got != c.want {
			t.Errorf("LogVar(%v) = %v, want %v", c.m, got, c.want)
		}
	}
	// Exact variance of log1p(X), X ~ Poisson(m), summed over the pmf.
	const m = 400.0
	var mean, sq float64
	p := math.Exp(-m)
	for k := 0.0; k < 2*m; k++ {
		if k > 0 {
			p *= m / k
		}
		y := math.Log1p(k)
		mean += p * y
		sq += p * y * y
	}
	exact := sq - mean*mean
	if got := LogVar(m); math.Abs(got-exact) > 0.02*exact {
		t.Errorf("LogVar(%v) = %v, exact variance %v", m, got, exact)
	}
}
