package series

import (
	"math"
	"testing"
	"time"
)

// With Options.Shifts a sustained shift too small for any single value
// is found within a dozen observations; without, it mostly is not.
func TestShiftsFindSustainedShifts(t *testing.T) {
	t.Parallel()
	const at = 3000
	for _, tc := range []struct {
		name string
		opt  Options
		gen  synth
	}{
		{"gaussian-3.5sd", Options{}, synth{n: 3100, step: time.Minute, base: 10, sd: 1,
			injected: []anomaly{{at: at, length: 100, factor: 3.5}}}},
		{"gaussian-down-3.5sd", Options{}, synth{n: 3100, step: time.Minute, base: 10, sd: 1,
			injected: []anomaly{{at: at, length: 100, factor: -3.5}}}},
		{"counts-1.3x", Options{Kind: Counts}, synth{n: 3100, step: time.Minute, base: 150, counts: true,
			injected: []anomaly{{at: at, length: 100, factor: 1.3}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pointAlone := 0
			for seed := range uint64(4) {
				g := tc.gen
				g.seed = seed
				l := g.generate()
				without := run(tc.opt, l)
				opt := tc.opt
				opt.Shifts = true
				with := run(opt, l)
				if best, i := maxScore(with, at, at+12); best < 0.5 {
					t.Errorf("seed %d: with Shifts, best score in the first 12 observations %.3f (%+v)", seed, best, with[max(i, at)])
				}
				if best, i := maxScore(with, 0, at); best >= 0.5 {
					t.Errorf("seed %d: with Shifts, %.3f before the shift at %d", seed, best, i)
				}
				if best, _ := maxScore(without, at, at+12); best >= 0.5 {
					pointAlone++
				}
			}
			if pointAlone > 1 {
				t.Errorf("the point test alone found %d of 4: the case tests nothing", pointAlone)
			}
		})
	}
}

// The shift test keeps noise quiet and calibrated, seasonal series
// included.
func TestShiftsNoise(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  Options
		gen  synth
		from int // first day judged
	}{
		{"poisson-20", Options{Kind: Counts}, synth{n: 5000, step: time.Minute, base: 20, counts: true}, 0},
		{"gaussian", Options{}, synth{n: 5000, step: 5 * time.Minute, base: 100, sd: 5}, 0},
		{"poisson-smooth-daily", Options{Kind: Counts}, synth{n: 5000, step: 5 * time.Minute, base: 50, daily: 0.5, counts: true}, 0},
		{"counts-block", Options{Kind: Counts}, synth{n: 12 * 288, step: 5 * time.Minute, base: 20, daily: 4, block: true, counts: true}, 4},
		{"gaussian-hourly-sine", Options{}, synth{n: 12 * 24, step: time.Hour, base: 10, daily: 0.5, sd: 0.5}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opt := tc.opt
			opt.Shifts = true
			perDay := int(24 * time.Hour / tc.gen.step)
			scored, small := 0, 0
			for seed := range uint64(4) {
				g := tc.gen
				g.seed = seed
				sc := run(opt, g.generate())
				if best, at := maxScore(sc, tc.from*perDay, len(sc)); best >= 0.5 {
					t.Errorf("seed %d: score %.3f at %d (%+v)", seed, best, at, sc[at])
				}
				for _, s := range sc[tc.from*perDay:] {
					if s.Scored {
						scored++
						if s.LogP < math.Log(1e-3) {
							small++
						}
					}
				}
			}
			rate := float64(small) / float64(scored)
			t.Logf("p < 1e-3 in %d of %d (%.2g)", small, scored, rate)
			if rate > 3e-3 {
				t.Errorf("p < 1e-3 in %.2g of observations, want about 1e-3", rate)
			}
		})
	}
}
