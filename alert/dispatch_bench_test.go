package alert

import (
	"context"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// signalSink reports every notification it takes on a channel.
type signalSink struct {
	batch int
	got   chan int
}

func (s *signalSink) Name() string  { return "bench" }
func (s *signalSink) MaxBatch() int { return s.batch }
func (s *signalSink) Notify(_ context.Context, ns ...Notification) (bool, error) {
	s.got <- len(ns)
	return false, nil
}

// benchFinding is the i-th distinct emission (its own delivery id).
func benchFinding(i int) detect.Finding {
	f := finding(i%60, detect.SeverityHigh, detect.StatusUpdate)
	f.Windows = i + 1
	return f
}

func benchDispatcher(b *testing.B, batch int, linger time.Duration) (*Outbox, *signalSink, func()) {
	o, err := OpenOutbox(b.TempDir(), OutboxOptions{})
	if err != nil {
		b.Fatal(err)
	}
	sink := &signalSink{batch: batch, got: make(chan int, 1024)}
	d := New(Options{})
	feed, _ := o.Feed("bench")
	d.Add(sink, feed, SinkOptions{Linger: linger})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	return o, sink, func() { cancel(); <-done; o.Close() }
}

// BenchmarkDeliveryLatency: a finding written to the outbox (fsynced)
// until the sink has it, one at a time; p50 and p99 reported.
func BenchmarkDeliveryLatency(b *testing.B) {
	o, sink, stop := benchDispatcher(b, 1, time.Millisecond)
	defer stop()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := o.Write(benchFinding(i)); err != nil {
			b.Fatal(err)
		}
		<-sink.got
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkSustainedDelivery: findings written as fast as the outbox
// takes them (one fsync each) and delivered in batches of up to 100.
func BenchmarkSustainedDelivery(b *testing.B) {
	o, sink, stop := benchDispatcher(b, 100, 10*time.Millisecond)
	defer stop()
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			o.Write(benchFinding(i))
		}
	}()
	for n := 0; n < b.N; {
		n += <-sink.got
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "findings/s")
}

// downSink refuses everything, retryably: a receiver that is down.
type downSink struct{}

func (downSink) Name() string  { return "down" }
func (downSink) MaxBatch() int { return 100 }
func (downSink) Notify(context.Context, ...Notification) (bool, error) {
	return true, errDown
}

var errDown = &RetryAfterError{After: time.Hour, Err: context.DeadlineExceeded}

// BenchmarkBacklogWhileDown: findings keep coming while the only sink is
// down; the backlog waits in the outbox on disk, so the heap stays flat
// (reported: heap growth per 1,000 queued findings).
func BenchmarkBacklogWhileDown(b *testing.B) {
	o, err := OpenOutbox(b.TempDir(), OutboxOptions{})
	if err != nil {
		b.Fatal(err)
	}
	d := New(Options{})
	feed, _ := o.Feed("down")
	d.Add(downSink{}, feed, SinkOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; o.Close() }()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o.Write(benchFinding(i))
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	grow := float64(int64(after.HeapInuse) - int64(before.HeapInuse))
	b.ReportMetric(grow/float64(b.N)*1000, "heap-B/1k-queued")
	b.ReportMetric(float64(feed.Lag()), "queued")
}
