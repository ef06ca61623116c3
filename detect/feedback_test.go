package detect

import (
	"testing"
	"time"
)

// marked is a FalsePositives of fixed pairs, each trusted until a time.
type marked map[[2]string]time.Time

func (m marked) FalsePositive(client, detector string, end time.Time) bool {
	until, ok := m[[2]string{client, detector}]
	return ok && !end.After(until)
}

// TestFalsePositivesTeachTheBaseline: a client whose volume steps from ~5
// to 60 req/min for good is reported; marked as a false positive for a
// while, it is not, its step is absorbed as ordinary windows, and once
// the mark has expired the new level is its own past, so it is still not
// reported. Without the mark, the same step stays anomalous, winsorised
// out of the baseline, for far longer than the mark lasted. Another
// client's jump is reported either way: the mark is per client/detector.
func TestFalsePositivesTeachTheBaseline(t *testing.T) {
	t.Parallel()
	const stepper, other = "203.0.113.7", "203.0.113.9"
	run := func(fp FalsePositives) (*synth, int) {
		s := newSynth(t, Options{FalsePositives: fp})
		last := -1
		for w := range 140 {
			ts := s.background(30)
			req := s.poisson(5)
			if w >= 40 {
				req = s.normal(60, 4)
			}
			jump := s.poisson(3)
			if w >= 110 && w < 113 {
				jump = 80
			}
			ts = append(ts, traffic{client: stepper, req: req}, traffic{client: other, req: jump})
			s.window(w, ts)
			if len(s.of(stepper, DetectorVolume)) > 0 && last < 0 {
				last = w
			}
		}
		s.eng.Flush()
		return s, last
	}
	plain, first := run(nil)
	if first < 40 || first > 41 {
		t.Fatalf("unmarked step first reported in window %d, want 40", first)
	}
	if n := plain.eng.Stats().Forgiven; n != 0 {
		t.Errorf("forgiven %d windows with no marks", n)
	}
	fs := plain.of(stepper, DetectorVolume)
	if last := fs[len(fs)-1]; last.WindowEnd.Before(t0.Add(70 * time.Minute)) {
		t.Errorf("unmarked step reported only until %s: the test needs it anomalous past the mark's end", last.WindowEnd)
	}
	until := t0.Add(70 * time.Minute)
	s, _ := run(marked{{stepper, DetectorVolume}: until})
	if fs := s.of(stepper, ""); len(fs) != 0 {
		t.Errorf("marked client reported: %v", summaries(fs))
	}
	if n := s.eng.Stats().Forgiven; n < 1 {
		t.Errorf("Stats.Forgiven = %d, want the marked windows", n)
	}
	if len(s.of(other, DetectorVolume)) == 0 {
		t.Error("another client's jump from ~3 to 80 req/min not reported")
	}
}
