package series

import (
	"bytes"
	"errors"
	"testing"
	"time"
	_ "time/tzdata" // the round trip through a named zone must not depend on the host
)

func TestCheckpointRoundTrip(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opt  Options
		gen  synth
	}{
		{"counts-seasonal", Options{Kind: Counts, Location: ny}, synth{n: 12 * 288, step: 5 * time.Minute, base: 40,
			daily: 3, block: true, weekend: 0.5, counts: true, injected: []anomaly{{at: 11 * 288, length: 5, factor: 4}}}},
		{"continuous-options", Options{HalfLife: time.Hour, MinHistory: 3, PValue: 1e-3, Clip: 3, Direction: Up,
			Seasonality: SeasonOn, SeasonDays: 2, MinSpread: 0.1, Shifts: true}, synth{n: 3000, step: 7 * time.Minute, base: 5, daily: 0.3, sd: 0.5,
			injected: []anomaly{{at: 2500, length: 50, factor: 3}}}},
		{"zero-value", Options{}, synth{n: 500, step: time.Second, base: 1, sd: 0.1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := tc.gen
			g.seed = 3
			l := g.generate()
			whole := run(tc.opt, l)
			for _, cut := range []int{0, 1, len(l.values) / 3, len(l.values) - 1} {
				a := New(tc.opt)
				for i := range cut {
					a.Observe(l.times[i], l.values[i])
				}
				data, err := a.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				var b Scorer
				if err := b.UnmarshalBinary(data); err != nil {
					t.Fatalf("cut %d: %v", cut, err)
				}
				if again, _ := b.MarshalBinary(); !bytes.Equal(again, data) {
					t.Fatalf("cut %d: re-encoding differs", cut)
				}
				ob, oa := b.Options(), a.Options()
				if ob.Location.String() != oa.Location.String() {
					t.Fatalf("cut %d: location %v, want %v", cut, ob.Location, oa.Location)
				}
				ob.Location, oa.Location = nil, nil // a zone loads as a new *Location
				if ob != oa {
					t.Fatalf("cut %d: options %+v, want %+v", cut, ob, oa)
				}
				for i := cut; i < len(l.values); i++ {
					if got := b.Observe(l.times[i], l.values[i]); got != whole[i] {
						t.Fatalf("cut %d, observation %d: %+v, want %+v", cut, i, got, whole[i])
					}
				}
			}
		})
	}
}

func TestCheckpointRejectsDamage(t *testing.T) {
	t.Parallel()
	s := New(Options{Kind: Counts})
	for i := range 100 {
		s.Observe(t0.Add(time.Duration(i)*time.Minute), float64(i%7))
	}
	good, _ := s.MarshalBinary()
	before, _ := s.MarshalBinary()
	flip := append([]byte(nil), good...)
	flip[len(flip)/2] ^= 1
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"magic", append([]byte("XXXX"), good[4:]...)},
		{"truncated", good[:len(good)-5]},
		{"bit flip", flip},
	} {
		err := s.UnmarshalBinary(tc.data)
		if !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s: error %v, want ErrCheckpoint", tc.name, err)
		}
	}
	if after, _ := s.MarshalBinary(); !bytes.Equal(before, after) {
		t.Error("a failed UnmarshalBinary changed the scorer")
	}
}
