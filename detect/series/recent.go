package series

import "math"

// recent is the recent-history model: an exponentially weighted
// least-squares line through the series, weights decaying with time.
//
// A plain weighted mean lags any slope by about a half-life's worth of
// it and then mistakes that lag for noise: on a smooth daily curve
// sampled every five minutes the prediction trails by a large part of
// the amplitude and the spread balloons, so a spike rising above the
// curve goes unseen. A local line follows such curves. Its spread is
// measured where it matters, on its own one-step prediction errors, so
// whatever the line cannot follow shows up as spread rather than as
// false alarms. How far it extrapolates is capped at one half-life past
// the last observation, so a gap does not send the prediction along the
// slope indefinitely.
type recent struct {
	m        moments // weights, mean of the values and their dispersion
	age      float64 // seconds from the weighted mean time to the last observation
	ctt, cty float64 // weighted co-moments of time, and of time and value
	ew, ev   float64 // weight and mean of squared one-step errors
}

// minSlopeWeight is how many effective observations the line needs before
// its slope is used.
const minSlopeWeight = 5

// predict returns the expected value dt seconds after the last
// observation, given decay d over dt and the half-life hl, its predictive
// variance and the effective number of observations behind it.
func (r *recent) predict(dt, d, hl float64) (mean, variance, neff float64) {
	mean, variance, neff = r.m.predict(d)
	if neff < 1 {
		return mean, 0, 0
	}
	if neff >= minSlopeWeight && r.ctt > 0 {
		h := dt
		if hl > 0 {
			h = math.Min(dt, hl)
		}
		mean += r.cty / r.ctt * (r.age + h)
	}
	if r.ew >= minSlopeWeight {
		variance = r.ev
	}
	return mean, variance, neff
}

// add absorbs y, observed dt seconds after the last observation; e is its
// one-step error against the prediction, which enters the spread with
// weight vw: 1 for an ordinary value, less (down to 0, leaving the spread
// alone) for a flagged or suspect one.
func (r *recent) add(y, e, dt, d, vw float64) {
	if vw > 0 && r.m.w > 0 {
		r.ew = d*r.ew + vw
		r.ev += vw * (e*e - r.ev) / r.ew
	}
	age := r.age + dt
	w := d*r.m.w + 1
	a := 1 / w
	dy := y - r.m.mean
	r.ctt = d*r.ctt + (1-a)*age*age
	r.cty = d*r.cty + (1-a)*age*dy
	r.age = age * (1 - a)
	r.m.add(y, d, vw < 1)
	if r.ctt < 0 || math.IsInf(r.ctt, 0) || math.IsNaN(r.ctt) || math.IsInf(r.cty, 0) || math.IsNaN(r.cty) {
		r.ctt, r.cty = 0, 0 // a degenerate time spread: no slope
	}
}
