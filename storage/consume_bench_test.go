package storage

import (
	"context"
	"testing"
	"time"
)

// discardEventSink decodes and batches events like the store does but
// inserts nowhere: it isolates the consume loop (fetch, decode, batch,
// hand-over, ordered commits) from ClickHouse.
type discardEventSink struct{ *eventSink }

func (discardEventSink) insert(context.Context) error { return nil }

// BenchmarkConsumeLoop runs consume over 100,000 wire events from an
// in-memory reader (3 partitions), in batches of 10,000, until the last
// batch is committed. No server is needed.
func BenchmarkConsumeLoop(b *testing.B) {
	const n = 100_000
	vals := wireMessages(benchEvents(n, time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), time.Hour, 3))
	newSink := func() sink {
		return discardEventSink{&eventSink{b: newEventBatch(10_000)}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := newFakeReader()
		r.push("events", 3, vals...)
		ctx, cancel := context.WithCancel(context.Background())
		stored, all := 0, make(chan struct{})
		opts := ConsumerOptions{
			BatchOptions: BatchOptions{BatchRows: 10_000, FlushInterval: time.Millisecond},
			OnBatch: func(rows int) {
				if stored += rows; stored == n {
					close(all)
				}
			},
		}
		done := make(chan error, 1)
		b.StartTimer()
		go func() { done <- consume(ctx, r, opts, newSink) }()
		<-all
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "msgs/s")
}
