package simulate

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// benchConfig yields about a million events: the full fleet and every
// attack and trap over 80 minutes.
var benchConfig = Config{Seed: 1, Duration: 80 * time.Minute, AttackAt: 60 * time.Minute}

func BenchmarkRun(b *testing.B) {
	s := mustNew(b, benchConfig)
	b.ReportAllocs()
	var events int64
	for b.Loop() {
		err := s.Run(context.Background(), func(*ingest.Event) error {
			events++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

func BenchmarkWriteNginx(b *testing.B) {
	s := mustNew(b, benchConfig)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WriteNginx(context.Background(), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(s.Stats().Events*int64(b.N))/b.Elapsed().Seconds(), "lines/s")
}
