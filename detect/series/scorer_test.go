package series

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

func maxScore(s []Score, from, to int) (float64, int) {
	best, at := 0.0, -1
	for i := from; i < to && i < len(s); i++ {
		if s[i].Score > best {
			best, at = s[i].Score, i
		}
	}
	return best, at
}

// Noise alone scores low, and the p-values are calibrated: about one
// observation in a thousand has p < 1e-3.
func TestNoiseScoresLow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  Options
		gen  synth
	}{
		{"poisson-20", Options{Kind: Counts}, synth{n: 5000, step: time.Minute, base: 20, counts: true}},
		{"poisson-0.3", Options{Kind: Counts}, synth{n: 5000, step: time.Minute, base: 0.3, counts: true}},
		{"poisson-3000", Options{Kind: Counts}, synth{n: 5000, step: time.Minute, base: 3000, counts: true}},
		{"gaussian", Options{}, synth{n: 5000, step: 5 * time.Minute, base: 100, sd: 5}},
		{"gaussian-up", Options{Direction: Up}, synth{n: 5000, step: 5 * time.Minute, base: -3, sd: 0.01}},
		{"poisson-smooth-daily", Options{Kind: Counts}, synth{n: 5000, step: 5 * time.Minute, base: 50, daily: 0.5, counts: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			scored, small := 0, 0
			for seed := range uint64(5) {
				g := tc.gen
				g.seed = seed
				sc := run(tc.opt, g.generate())
				if best, at := maxScore(sc, 0, len(sc)); best >= 0.5 {
					t.Errorf("seed %d: score %.3f at %d (%+v)", seed, best, at, sc[at])
				}
				for _, s := range sc {
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

func TestWarmUp(t *testing.T) {
	t.Parallel()
	s := New(Options{MinHistory: 5})
	for i := range 5 {
		got := s.Observe(t0.Add(time.Duration(i)*time.Minute), float64(i*1000))
		if got.Scored || got.Score != 0 {
			t.Fatalf("observation %d scored during warm-up: %+v", i, got)
		}
	}
	if got := s.Observe(t0.Add(5*time.Minute), 1e6); !got.Scored || got.Score < 0.5 {
		t.Fatalf("first observation after warm-up: %+v", got)
	}
}

func TestChangeScoresHigh(t *testing.T) {
	t.Parallel()
	const at = 3000
	tests := []struct {
		name   string
		opt    Options
		gen    synth
		minMax float64 // floor for the highest score in the change's first 3 observations
	}{
		{"spike-counts", Options{Kind: Counts}, synth{n: 3001, step: time.Minute, base: 20, counts: true,
			injected: []anomaly{{at: at, length: 1, factor: 4}}}, 0.5},
		{"quiet-client-burst", Options{Kind: Counts}, synth{n: 3001, step: time.Minute, base: 2, counts: true,
			injected: []anomaly{{at: at, length: 1, factor: 25}}}, 0.5},
		{"step-counts", Options{Kind: Counts}, synth{n: 3100, step: time.Minute, base: 100, counts: true,
			injected: []anomaly{{at: at, length: 100, factor: 2}}}, 0.5},
		{"drop-counts", Options{Kind: Counts}, synth{n: 3001, step: time.Minute, base: 100, counts: true,
			injected: []anomaly{{at: at, length: 1, factor: 0.3}}}, 0.5},
		{"spike-gaussian", Options{}, synth{n: 3001, step: time.Minute, base: 10, sd: 1,
			injected: []anomaly{{at: at, length: 1, factor: 8}}}, 0.5},
		{"dip-gaussian", Options{}, synth{n: 3001, step: time.Minute, base: 10, sd: 1,
			injected: []anomaly{{at: at, length: 1, factor: -8}}}, 0.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for seed := range uint64(5) {
				g := tc.gen
				g.seed = seed
				sc := run(tc.opt, g.generate())
				if best, i := maxScore(sc, at, at+3); best < tc.minMax {
					t.Errorf("seed %d: score at change %.3f < %.2f (%+v)", seed, best, tc.minMax, sc[max(i, at)])
				}
				if best, i := maxScore(sc, 0, at); best >= 0.5 {
					t.Errorf("seed %d: score %.3f before the change, at %d", seed, best, i)
				}
			}
		})
	}
}

func TestDirection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dir      Direction
		v        float64
		flagged  bool
		scenario string
	}{
		{Both, 200, true, "rise"}, {Both, 0, true, "fall"},
		{Up, 200, true, "rise"}, {Up, 0, false, "fall"},
		{Down, 200, false, "rise"}, {Down, 0, true, "fall"},
	} {
		g := synth{n: 500, step: time.Minute, base: 50, counts: true, seed: 1}
		l := g.generate()
		s := New(Options{Kind: Counts, Direction: tc.dir})
		for i := range l.values {
			s.Observe(l.times[i], l.values[i])
		}
		got := s.Observe(l.times[len(l.times)-1].Add(time.Minute), tc.v)
		if (got.Score >= 0.5) != tc.flagged {
			t.Errorf("direction %d, %s: score %.3f, want flagged=%v", tc.dir, tc.scenario, got.Score, tc.flagged)
		}
	}
}

// A daily peak that the seasonal profile knows is not anomalous; the same
// peak at night is.
func TestSeasonalPeak(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  Options
		gen  synth
	}{
		{"counts-hourly", Options{Kind: Counts}, synth{step: time.Hour, base: 20, daily: 9, block: true, counts: true}},
		{"counts-5min", Options{Kind: Counts}, synth{step: 5 * time.Minute, base: 20, daily: 9, block: true, counts: true}},
		{"gaussian-hourly", Options{}, synth{step: time.Hour, base: 20, daily: 5, block: true, sd: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for seed := range uint64(3) {
				g := tc.gen
				g.seed = seed
				// Eight days of history, ending at 02:00 on day 9.
				g.n = int((8*24 + 2) * time.Hour / g.step)
				l := g.generate()
				s := New(tc.opt)
				for i := range l.values {
					s.Observe(l.times[i], l.values[i])
				}
				end := l.times[len(l.times)-1]
				peak := g.mean(t0.Add(12*time.Hour), 0)

				night := *s // a Scorer is a value: copying forks it
				got := night.Observe(end.Add(g.step), peak)
				if got.Score < 0.5 {
					t.Errorf("seed %d: peak at night scored %.3f (%+v)", seed, got.Score, got)
				}
				// Continue the normal series to 12:00 and observe the peak.
				// Every observation, the 09:00 onset included, is normal.
				day := *s
				var last Score
				for tm := end.Add(g.step); tm.Before(end.Add(10 * time.Hour)); tm = tm.Add(g.step) {
					last = day.Observe(tm, g.mean(tm, 0))
					if last.Score >= 0.5 {
						t.Errorf("seed %d: %s scored %.3f (%+v)", seed, tm.Format("15:04"), last.Score, last)
					}
				}
				if !last.Seasonal {
					t.Errorf("seed %d: daily peak not judged by the seasonal profile (%+v)", seed, last)
				}
			}
		})
	}
}

// Without seasonality the onset of the same daily block is an anomaly
// every day: the seasonal test above does not pass because the peak is
// unremarkable anyway.
func TestSeasonOffFlagsDailyPeak(t *testing.T) {
	t.Parallel()
	g := synth{n: 8 * 288, step: 5 * time.Minute, base: 20, daily: 9, block: true, counts: true, seed: 1}
	sc := run(Options{Kind: Counts, Seasonality: SeasonOff}, g.generate())
	at := 7*288 + 9*12 // 09:00 on day 8
	if sc[at].Score < 0.5 || sc[at].Seasonal {
		t.Fatalf("peak onset without seasonality scored %.3f seasonal=%v", sc[at].Score, sc[at].Seasonal)
	}
}

func TestGaps(t *testing.T) {
	t.Parallel()
	g := synth{n: 2000, step: time.Minute, base: 30, counts: true, seed: 7}
	l := g.generate()
	s := New(Options{Kind: Counts})
	for i := range l.values {
		s.Observe(l.times[i], l.values[i])
	}
	end := l.times[len(l.times)-1]
	for _, tc := range []struct {
		name    string
		gap     time.Duration
		v       float64
		flagged bool
	}{
		{"short gap, normal", 10 * time.Minute, 30, false},
		{"short gap, spike", 10 * time.Minute, 150, true},
		{"week gap, normal", 7 * 24 * time.Hour, 33, false},
		{"week gap, level moved", 7 * 24 * time.Hour, 60, false},
		{"same time", 0, 30, false},
		{"back in time", -time.Hour, 30, false},
	} {
		c := *s
		got := c.Observe(end.Add(tc.gap), tc.v)
		if (got.Score >= 0.5) != tc.flagged {
			t.Errorf("%s: score %.3f, want flagged=%v (%+v)", tc.name, got.Score, tc.flagged, got)
		}
	}
	// Irregular sampling: the same process observed at random intervals
	// is not anomalous.
	r := New(Options{Kind: Counts})
	tm := t0
	for i := range 3000 {
		tm = tm.Add(time.Duration(1+(i*7919)%13) * time.Minute)
		if got := r.Observe(tm, l.values[i%len(l.values)]); got.Score >= 0.5 {
			t.Fatalf("irregular sampling: observation %d scored %.3f", i, got.Score)
		}
	}
}

func TestNonFiniteInputs(t *testing.T) {
	t.Parallel()
	for _, opt := range []Options{{}, {Kind: Counts}} {
		s := New(opt)
		for i := range 100 {
			s.Observe(t0.Add(time.Duration(i)*time.Minute), 10+float64(i%3))
		}
		before, _ := s.MarshalBinary()
		for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e300, -1e300} {
			got := s.Observe(t0.Add(200*time.Minute), v)
			if !got.Skipped || got.Score != 0 {
				t.Errorf("kind %d, value %v: %+v, want skipped", opt.Kind, v, got)
			}
		}
		if opt.Kind == Counts {
			if got := s.Observe(t0.Add(200*time.Minute), -1); !got.Skipped {
				t.Errorf("negative count not skipped: %+v", got)
			}
		}
		after, _ := s.MarshalBinary()
		if string(before) != string(after) {
			t.Errorf("kind %d: skipped values changed the state", opt.Kind)
		}
		if got := s.Observe(t0.Add(201*time.Minute), 11); got.Score >= 0.5 {
			t.Errorf("kind %d: normal value after skipped ones scored %.3f", opt.Kind, got.Score)
		}
	}
}

func TestZeroValueUsable(t *testing.T) {
	t.Parallel()
	var s Scorer
	for i := range 50 {
		s.Observe(t0.Add(time.Duration(i)*time.Minute), 5+float64(i%2))
	}
	if got := s.Observe(t0.Add(50*time.Minute), 50); got.Score < 0.5 {
		t.Fatalf("zero-value scorer missed a spike: %+v", got)
	}
	if o := s.Options(); o.MinHistory != defaultMinHistory || o.PValue != defaultPValue || o.Location != time.UTC {
		t.Fatalf("defaults not applied: %+v", o)
	}
}

// A lasting change is flagged at its start and then becomes the new
// normal instead of alarming for ever.
func TestRegimeChangeIsAbsorbed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  Options
		gen  synth
	}{
		{"counts-double", Options{Kind: Counts}, synth{n: 4000, step: time.Minute, base: 50, counts: true,
			injected: []anomaly{{at: 2000, length: 2000, factor: 2}}}},
		{"gaussian-up-10sd", Options{}, synth{n: 4000, step: time.Minute, base: 10, sd: 1,
			injected: []anomaly{{at: 2000, length: 2000, factor: 10}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := tc.gen
			g.seed = 2
			sc := run(tc.opt, g.generate())
			if best, _ := maxScore(sc, 2000, 2003); best < 0.5 {
				t.Errorf("change scored %.3f at its start", best)
			}
			last := 0
			for i := 2000; i < len(sc); i++ {
				if sc[i].Score >= 0.5 {
					last = i
				}
			}
			t.Logf("last flagged %d observations after the change", last-2000)
			if last-2000 > 60 {
				t.Errorf("still flagged %d observations after the change", last-2000)
			}
		})
	}
}

// SeasonAuto uses the profile only where it predicts clearly better: not
// on a series without seasonality, but on one with an abrupt daily step.
// (On a smooth daily curve either model may win; both predict it.)
func TestSeasonalityDetection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		gen      synth
		seasonal bool
	}{
		{"flat noise", synth{n: 10 * 288, step: 5 * time.Minute, base: 40, counts: true}, false},
		{"business hours", synth{n: 10 * 288, step: 5 * time.Minute, base: 40, daily: 4, block: true, counts: true}, true},
	} {
		g := tc.gen
		g.seed = 4
		sc := run(Options{Kind: Counts}, g.generate())
		used := 0
		for _, s := range sc[7*288:] {
			if s.Seasonal {
				used++
			}
		}
		share := float64(used) / float64(len(sc)-7*288)
		if (share > 0.5) != tc.seasonal {
			t.Errorf("%s: seasonal profile used for %.0f%% of the last three days", tc.name, 100*share)
		}
	}
}

// Once the profile is established (four days), seasonal series without
// anomalies raise nothing, sparse counts included.
func TestSeasonalNoiseScoresLow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  Options
		gen  synth
	}{
		{"sparse-counts-block", Options{Kind: Counts}, synth{step: 5 * time.Minute, base: 0.5, daily: 9, block: true, counts: true}},
		{"counts-hourly-sine", Options{Kind: Counts}, synth{step: time.Hour, base: 30, daily: 0.9, counts: true}},
		{"gaussian-hourly-sine", Options{}, synth{step: time.Hour, base: 10, daily: 0.5, sd: 0.5}},
		{"gaussian-15min-block-trend", Options{}, synth{step: 15 * time.Minute, base: 10, daily: 2, block: true, trend: 0.02, sd: 0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			perDay := int(24 * time.Hour / tc.gen.step)
			for seed := range uint64(4) {
				g := tc.gen
				g.seed = seed
				g.n = 12 * perDay
				sc := run(tc.opt, g.generate())
				if best, at := maxScore(sc, 4*perDay, len(sc)); best >= 0.5 {
					t.Errorf("seed %d: score %.3f at day %d %s (%+v)", seed, best, at/perDay,
						t0.Add(time.Duration(at)*g.step).Format("15:04"), sc[at])
				}
			}
		})
	}
}

// Hours are local to Options.Location: business hours in New York stay
// business hours across the switch to daylight saving time, which a
// UTC profile sees move by an hour.
func TestLocationFollowsDaylightSaving(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	g := synth{step: 5 * time.Minute, base: 20, daily: 9, block: true, counts: true, seed: 5, loc: ny,
		start: time.Date(2026, 3, 1, 0, 0, 0, 0, ny), n: 14 * 288} // DST starts 8 March
	l := g.generate()
	from := 5 * 288
	local := run(Options{Kind: Counts, Location: ny}, l)
	if best, at := maxScore(local, from, len(local)); best >= 0.5 {
		t.Errorf("with the local zone: %.3f at %s", best, l.times[at].In(ny))
	}
	utc := run(Options{Kind: Counts}, l)
	if best, _ := maxScore(utc, from, len(utc)); best < 0.5 {
		t.Errorf("in UTC the shifted block was not flagged (%.3f): the test shows nothing", best)
	}
}

// Nonsense options fall back to defaults rather than breaking scoring.
func TestOptionsNormalized(t *testing.T) {
	t.Parallel()
	o := Options{HalfLife: -time.Hour, MinHistory: -3, PValue: math.NaN(), Clip: math.Inf(1),
		MinSpread: math.NaN(), SeasonDays: -1, Kind: 9, Direction: 9, Seasonality: 9}.normalized()
	want := Options{MinHistory: defaultMinHistory, PValue: defaultPValue, Clip: defaultClip,
		SeasonDays: defaultSeasonDays, Location: time.UTC}
	if o != want {
		t.Fatalf("normalized %+v, want %+v", o, want)
	}
	for _, p := range []float64{0, -1, 1, 2} {
		if got := (Options{PValue: p}).normalized().PValue; got != defaultPValue {
			t.Errorf("PValue %v normalized to %v", p, got)
		}
	}
}

// A sparse, spiky series scored as continuous values (as NAB's tweet
// counts are): mostly 0 to 2, now and then a spike of ~15. Its spread
// must not collapse onto the quiet values, which would flag most of the
// series (the spike-free stretches teach a spread near zero, the spikes
// are then all "impossible", and, as suspect values, teach nothing);
// a sustained burst well above the spikes is still found.
func TestSparseSpikySeries(t *testing.T) {
	t.Parallel()
	const n, at, length = 8000, 6000, 20
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 7))
		s := New(Options{})
		high, incident := 0, 0.0
		for i := range n {
			lambda := 0.4
			switch {
			case i >= at && i < at+length:
				lambda = 80
			case rng.Float64() < 0.01:
				lambda = 15
			}
			r := s.Observe(t0.Add(time.Duration(i)*5*time.Minute), distuv.Poisson{Lambda: lambda, Src: rng}.Rand())
			switch {
			case i >= at && i < at+length:
				incident = math.Max(incident, r.Score)
			case r.Score >= 0.5:
				high++
			}
		}
		share := float64(high) / (n - length)
		t.Logf("seed %d: %.2g of ordinary observations score >= 0.5, the burst %.3f", seed, share, incident)
		if share > 0.01 {
			t.Errorf("seed %d: %.2g of ordinary observations score >= 0.5", seed, share)
		}
		if incident < 0.5 {
			t.Errorf("seed %d: burst scored %.3f", seed, incident)
		}
	}
}
