package series

import (
	"testing"
	"time"
)

// The evaluation: labelled synthetic series of six weeks (daily and weekly
// seasonality, trend, noise, injected spikes, dips and short level
// shifts; fixed seeds), scored at the default threshold and measured with
// Evaluate after two weeks of learning (NAB's probation, stretched to the
// time weekly seasonality needs). The floors are below what the scorer
// reaches (logged) and above what it reaches without seasonality
// (TestEvaluationNeedsSeasonality).

// anomalies places spikes, dips and short level shifts, one every four
// days or so, from the third week on: weekly seasonality takes two weeks
// to learn (each weekday must have been seen once before it is used).
func anomalies(n, perDay int, counts bool) []anomaly {
	var out []anomaly
	kinds := []anomaly{{length: 1, factor: 7}, {length: 1, factor: -8}, {length: 12, factor: 6}, {length: 1, factor: 12}}
	if counts {
		kinds = []anomaly{{length: 1, factor: 4}, {length: 1, factor: 0.1}, {length: 12, factor: 3}, {length: 1, factor: 8}}
	}
	k := 0
	for at := 14*perDay + perDay/3; at < n-perDay/4; at += perDay*4 + perDay/5 {
		a := kinds[k%len(kinds)]
		a.at = at
		out = append(out, a)
		k++
	}
	return out
}

func windowsOf(l labelled, as []anomaly, step time.Duration) []Window {
	out := make([]Window, len(as))
	for i, a := range as {
		out[i] = Window{Start: l.times[a.at], End: l.times[a.at].Add(time.Duration(a.length+5) * step)}
	}
	return out
}

func TestEvaluationSynthetic(t *testing.T) {
	t.Parallel()
	type floors struct{ recall, precision, nab float64 }
	tests := []struct {
		name string
		opt  Options
		gen  synth
		min  floors
	}{
		{"counts-5min-block", Options{Kind: Counts},
			synth{n: 42 * 288, step: 5 * time.Minute, base: 30, daily: 4, block: true, weekend: 0.6, trend: 0.01, counts: true},
			floors{0.9, 0.9, 85}},
		{"counts-hourly-sine", Options{Kind: Counts},
			synth{n: 42 * 24, step: time.Hour, base: 200, daily: 0.8, weekend: 0.3, trend: 0.01, counts: true},
			floors{0.9, 0.9, 85}},
		{"gaussian-10min-block", Options{},
			synth{n: 42 * 144, step: 10 * time.Minute, base: 100, daily: 1, block: true, weekend: 0.2, trend: 0.005, sd: 4},
			floors{0.75, 0.9, 75}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			total := evaluate(t, tc.opt, tc.gen)
			shifts := tc.opt
			shifts.Shifts = true
			if e := evaluate(t, shifts, tc.gen); e.Recall() < tc.min.recall || e.Precision() < tc.min.precision || e.NAB() < tc.min.nab {
				t.Errorf("with Shifts: recall %.3f precision %.3f NAB %.1f", e.Recall(), e.Precision(), e.NAB())
			} else {
				t.Logf("%s with Shifts: windows %d, detected %d, false positives %d: NAB %.1f",
					tc.name, e.Windows, e.Detected, e.FalsePositives, e.NAB())
			}
			t.Logf("%s: windows %d, detected %d, false positives %d: recall %.3f precision %.3f NAB %.1f",
				tc.name, total.Windows, total.Detected, total.FalsePositives, total.Recall(), total.Precision(), total.NAB())
			if total.Recall() < tc.min.recall || total.Precision() < tc.min.precision || total.NAB() < tc.min.nab {
				t.Errorf("recall %.3f precision %.3f NAB %.1f, want at least %.2f, %.2f, %.0f",
					total.Recall(), total.Precision(), total.NAB(), tc.min.recall, tc.min.precision, tc.min.nab)
			}
		})
	}
}

// evaluate scores four seeds of a synthetic series and sums the
// evaluations.
func evaluate(t *testing.T, opt Options, gen synth) Evaluation {
	t.Helper()
	var total Evaluation
	for seed := range uint64(4) {
		g := gen
		g.seed = seed
		perDay := int(24 * time.Hour / g.step)
		g.injected = anomalies(g.n, perDay, g.counts)
		l := g.generate()
		points := make([]Point, len(l.values))
		for i := range points {
			points[i] = Point{l.times[i], l.values[i]}
		}
		e, err := Evaluate(points, ScoreAll(opt, points), windowsOf(l, g.injected, g.step), EvalOptions{Probation: 14.0 / 42})
		if err != nil {
			t.Fatal(err)
		}
		total = total.Add(e)
	}
	return total
}

// Without the seasonal profile the daily business-hours block is a
// fresh anomaly every morning: the floors above are out of its reach.
func TestEvaluationNeedsSeasonality(t *testing.T) {
	t.Parallel()
	gen := synth{n: 42 * 288, step: 5 * time.Minute, base: 30, daily: 4, block: true, weekend: 0.6, trend: 0.01, counts: true}
	e := evaluate(t, Options{Kind: Counts, Seasonality: SeasonOff}, gen)
	t.Logf("without seasonality: windows %d, detected %d, false positives %d: recall %.3f precision %.3f NAB %.1f",
		e.Windows, e.Detected, e.FalsePositives, e.Recall(), e.Precision(), e.NAB())
	if e.Precision() >= 0.9 || e.NAB() >= 85 {
		t.Errorf("without seasonality precision %.3f NAB %.1f: the seasonal floors test nothing", e.Precision(), e.NAB())
	}
}
