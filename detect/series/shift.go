package series

import (
	"math"

	"github.com/gatewatch/gatewatch/detect/internal/tail"
)

// shiftChart is the optional test for sustained shifts (Options.Shifts):
// an exponentially weighted mean of the model's standardised residuals,
// judged against its own measured spread.
//
// The per-observation test misses a level that moves by three or four
// spreads and stays there: no single value is surprising enough. A mean
// of recent residuals is: four observations three spreads up are about
// as unlikely as one value at twelve. The chart's variance is not assumed
// to be that of independent residuals (λ/(2-λ)) but measured, with that
// as its floor, because real residuals are autocorrelated wherever the
// model lags the series, and an assumed variance would turn every lag
// into an alarm. Residuals enter clipped at Options.Clip, so a lone spike
// (already found by the point test) does not echo through the chart.
type shiftChart struct {
	z    float64 // EWMA of clipped standardised residuals
	v, w float64 // EWMA of z² and the weight behind it
}

const (
	shiftHalfLives = 10 // the chart's memory is the recent half-life over this
	shiftVarMemory = 10 // its variance's memory is this many recent half-lives
)

// test returns the chart after absorbing a residual zc with weight a, and
// the log tail probability of that chart value in direction dir (0 while
// the chart's variance rests on fewer than minW observations' worth).
func (c *shiftChart) test(zc, a, minW float64, dir Direction) (zt, logP float64) {
	zt = (1-a)*c.z + a*zc
	if !(c.w >= minW) || !(a > 0) {
		return zt, 0
	}
	u := zt / math.Sqrt(math.Max(c.v, a/(2-a)))
	// Successive chart values share most of their residuals: about
	// 2/a of them make one independent value.
	dof := math.Max(1, c.w*a/2)
	switch dir {
	case Up:
		return zt, tail.StudentUpper(u, dof)
	case Down:
		return zt, tail.StudentUpper(-u, dof)
	}
	return zt, math.Min(0, math.Ln2+tail.StudentUpper(math.Abs(u), dof))
}

// update stores the chart value zt; unless keep, its square enters the
// variance with old weights decayed by d.
func (c *shiftChart) update(zt, d float64, keep bool) {
	c.z = zt
	if keep || math.IsNaN(zt) {
		return
	}
	c.w = d*c.w + 1
	c.v += (zt*zt - c.v) / c.w
}
