package series

import (
	"math"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// Synthetic labelled series for the tests: a level with a daily shape
// (smooth or an abrupt business-hours block), a weekday effect, a linear
// trend and noise (Poisson counts or Gaussian values), with anomalies
// injected at known places.

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday

type anomaly struct {
	at, length int     // first index and number of observations
	factor     float64 // multiplies the clean mean (counts) or adds factor*noise sd
}

type synth struct {
	n        int
	step     time.Duration
	base     float64 // mean level
	daily    float64 // relative amplitude of the daily cycle
	block    bool    // daily shape is a 09:00-18:00 block instead of a sine
	weekend  float64 // relative drop on Saturday and Sunday
	trend    float64 // relative growth per day
	counts   bool
	sd       float64 // noise sd for continuous series
	seed     uint64
	injected []anomaly
	loc      *time.Location // where the daily shape is local; nil: UTC
	start    time.Time      // first observation; zero: t0
}

type labelled struct {
	times  []time.Time
	values []float64
	label  []bool // inside an injected anomaly
}

func (g synth) mean(t time.Time, i int) float64 {
	if g.loc != nil {
		t = t.In(g.loc)
	}
	h := float64(t.Hour()) + float64(t.Minute())/60
	shape := 1.0
	if g.block {
		if h >= 9 && h < 18 {
			shape += g.daily
		}
	} else {
		shape += g.daily * math.Sin(2*math.Pi*(h-9)/24)
	}
	// The weekend effect is multiplicative for counts and additive for
	// continuous values, the scales the scorer models them on.
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		if g.counts {
			shape *= 1 - g.weekend
		} else {
			shape -= g.weekend
		}
	}
	days := float64(i) * g.step.Hours() / 24
	return g.base * shape * (1 + g.trend*days)
}

func (g synth) generate() labelled {
	rng := rand.New(rand.NewPCG(g.seed, 0x5e7e5))
	out := labelled{
		times:  make([]time.Time, g.n),
		values: make([]float64, g.n),
		label:  make([]bool, g.n),
	}
	for _, a := range g.injected {
		for i := a.at; i < a.at+a.length && i < g.n; i++ {
			out.label[i] = true
		}
	}
	factor := make([]float64, g.n)
	for _, a := range g.injected {
		for i := a.at; i < a.at+a.length && i < g.n; i++ {
			factor[i] = a.factor
		}
	}
	start := g.start
	if start.IsZero() {
		start = t0
	}
	for i := range g.n {
		t := start.Add(time.Duration(i) * g.step)
		m := g.mean(t, i)
		var v float64
		if g.counts {
			if factor[i] != 0 {
				m *= factor[i]
			}
			v = distuv.Poisson{Lambda: math.Max(m, 1e-9), Src: rng}.Rand()
		} else {
			v = m + g.sd*rng.NormFloat64() + factor[i]*g.sd
		}
		out.times[i], out.values[i] = t, v
	}
	return out
}

// run scores a whole series with a fresh Scorer.
func run(opt Options, l labelled) []Score {
	s := New(opt)
	out := make([]Score, len(l.values))
	for i := range l.values {
		out[i] = s.Observe(l.times[i], l.values[i])
	}
	return out
}
