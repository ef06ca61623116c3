package series

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect/internal/binenc"
)

// FuzzScorer feeds arbitrary (gap, value) pairs under arbitrary options:
// no panic, every score finite and in [0,1], every checkpoint loads and
// continues identically.
func FuzzScorer(f *testing.F) {
	seed := func(kind, season byte, pairs ...float64) []byte {
		b := []byte{kind, season}
		for i := 0; i+1 < len(pairs); i += 2 {
			b = binary.LittleEndian.AppendUint64(b, uint64(int64(pairs[i])))
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(pairs[i+1]))
		}
		return b
	}
	f.Add(seed(0, 0, 60e9, 1, 60e9, 2, 60e9, 3, 60e9, 1e6))
	f.Add(seed(1, 2, 3600e9, 10, 3600e9, 0, 0, 5, -3600e9, 7, 1, math.NaN(), 86400e9, math.Inf(1)))
	f.Add(seed(1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1e99))
	f.Add(seed(0, 1, 1e18, -1e99, 1e18, 1e99, 1, 5e-324, 1, -5e-324))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		opt := Options{
			Kind:        Kind(data[0] & 3),
			Direction:   Direction(data[0] >> 2 & 3),
			Seasonality: Seasonality(data[1] & 3),
			Shifts:      data[0]&16 != 0,
			MinHistory:  int(data[1]>>2) % 12,
			SeasonDays:  int(data[1]>>6) + 1,
		}
		data = data[2:]
		s := New(opt)
		tm := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		check := func(r Score) {
			if math.IsNaN(r.Score) || r.Score < 0 || r.Score > 1 || math.IsNaN(r.LogP) || r.LogP > 0 {
				t.Fatalf("score %+v", r)
			}
		}
		var mid []byte
		type obs struct {
			t time.Time
			v float64
		}
		var rest []obs
		for i := 0; i+16 <= len(data); i += 16 {
			gap := time.Duration(int64(binary.LittleEndian.Uint64(data[i:])))
			v := math.Float64frombits(binary.LittleEndian.Uint64(data[i+8:]))
			tm = tm.Add(gap)
			if mid != nil {
				rest = append(rest, obs{tm, v})
			}
			check(s.Observe(tm, v))
			if i == len(data)/32*16 {
				var err error
				if mid, err = s.MarshalBinary(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if mid == nil {
			return
		}
		// Replay the second half on a restored copy of the first and
		// compare with the state the uninterrupted scorer reached.
		var r Scorer
		if err := r.UnmarshalBinary(mid); err != nil {
			t.Fatalf("checkpoint does not load: %v", err)
		}
		for _, p := range rest {
			check(r.Observe(p.t, p.v))
		}
		a, _ := s.MarshalBinary()
		b, _ := r.MarshalBinary()
		if string(a) != string(b) {
			t.Fatal("restored scorer diverged")
		}
	})
}

// FuzzUnmarshal: arbitrary checkpoints are rejected or load into a scorer
// that works.
func FuzzUnmarshal(f *testing.F) {
	s := New(Options{Kind: Counts})
	for i := range 50 {
		s.Observe(t0.Add(time.Duration(i)*time.Hour), float64(i%9))
	}
	good, _ := s.MarshalBinary()
	f.Add(good, false)
	f.Add(good[:len(good)-4], true)
	f.Add([]byte("GWSS"), false)
	f.Fuzz(func(t *testing.T, data []byte, fixSum bool) {
		if fixSum {
			// Let mutations past the checksum, to reach the decoder.
			data = binenc.Seal(data, 0)
		}
		var r Scorer
		if r.UnmarshalBinary(data) != nil {
			return
		}
		for i := range 30 {
			got := r.Observe(t0.Add(time.Duration(i)*time.Minute), float64(i))
			if math.IsNaN(got.Score) || got.Score < 0 || got.Score > 1 {
				t.Fatalf("score %+v", got)
			}
		}
	})
}
