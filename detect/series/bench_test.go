package series

import (
	"testing"
	"time"
	"unsafe"
)

// BenchmarkObserve measures one observation's cost (score and update) on
// a realistic seasonal series, after a week of warm-up, and reports the
// state a Scorer holds.
func BenchmarkObserve(b *testing.B) {
	for _, bc := range []struct {
		name string
		opt  Options
		gen  synth
	}{
		{"counts/seasonal", Options{Kind: Counts}, synth{step: 5 * time.Minute, base: 40, daily: 3, block: true, weekend: 0.4, counts: true}},
		{"counts/flat", Options{Kind: Counts, Seasonality: SeasonOff}, synth{step: time.Minute, base: 40, counts: true}},
		{"continuous/seasonal", Options{}, synth{step: 5 * time.Minute, base: 100, daily: 0.5, sd: 5}},
		{"continuous/flat", Options{Seasonality: SeasonOff}, synth{step: time.Minute, base: 100, sd: 5}},
		{"continuous/seasonal+shifts", Options{Shifts: true}, synth{step: 5 * time.Minute, base: 100, daily: 0.5, sd: 5}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := bc.gen
			g.n = 8 * int(24*time.Hour/g.step)
			g.seed = 1
			l := g.generate()
			warm := g.n / 2
			s := New(bc.opt)
			for i := range warm {
				s.Observe(l.times[i], l.values[i])
			}
			base := *s
			b.ReportAllocs()
			b.ResetTimer()
			j := warm
			for i := 0; i < b.N; i++ {
				if j == len(l.values) {
					b.StopTimer()
					*s, j = base, warm
					b.StartTimer()
				}
				s.Observe(l.times[j], l.values[j])
				j++
			}
			b.StopTimer()
			if el := b.Elapsed().Seconds(); el > 0 {
				b.ReportMetric(float64(b.N)/el, "obs/s")
			}
			data, _ := s.MarshalBinary()
			b.ReportMetric(float64(unsafe.Sizeof(*s)), "state-bytes")
			b.ReportMetric(float64(len(data)), "checkpoint-bytes")
		})
	}
}

func BenchmarkMarshalBinary(b *testing.B) {
	s := New(Options{Kind: Counts})
	for i := range 5000 {
		s.Observe(t0.Add(time.Duration(i)*5*time.Minute), float64(i%40))
	}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = s.AppendBinary(buf[:0])
	}
}
