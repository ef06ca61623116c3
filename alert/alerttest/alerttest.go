// Package alerttest holds what the tests and benchmarks of the alert
// sinks share: a backlog of findings waiting in an outbox, and a
// dispatcher delivering it to a sink while the caller measures.
package alerttest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// Backlog returns an outbox in a fresh directory holding n findings,
// made by f, that the sink named sink has not taken yet, and that sink's
// feed: what a dispatcher finds after its receiver was down, or behind a
// burst. The findings are written with one fsync (Outbox.WriteAll), so
// filling the backlog is not slower than the sink draining it.
func Backlog(tb testing.TB, sink string, n int, f func(i int) detect.Finding) (*alert.Outbox, *alert.OutboxFeed) {
	tb.Helper()
	o, err := alert.OpenOutbox(tb.TempDir(), alert.OutboxOptions{SegmentBytes: 1 << 40})
	if err != nil {
		tb.Fatal(err)
	}
	feed, err := o.Feed(sink) // the sink's cursor: the start of the empty outbox
	if err != nil {
		tb.Fatal(err)
	}
	fs := make([]detect.Finding, n)
	for i := range fs {
		fs[i] = f(i)
	}
	if err := o.WriteAll(fs...); err != nil {
		tb.Fatal(err)
	}
	if feed.Lag() != int64(n) {
		tb.Fatalf("backlog of %d findings, want %d", feed.Lag(), n)
	}
	return o, feed
}

// Deliver runs an alert.Dispatcher from feed to sink, with the linger of
// BenchmarkSustainedDelivery, until the sink has taken n notifications,
// and returns the function that stops it (closing the sink). It fails
// the benchmark when a notification is dropped (refused, undecodable,
// duplicate) or nothing is delivered for 30 s; retries are logged.
func Deliver(b testing.TB, sink alert.Sink, feed alert.Feed, n int) (stop func()) {
	d := alert.New(alert.Options{})
	if err := d.Add(sink, feed, alert.SinkOptions{Linger: 10 * time.Millisecond}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	b.Cleanup(stop)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	var last uint64
	for lastAt := time.Now(); ; <-tick.C {
		st := d.Stats()[0]
		for why, k := range st.Dropped {
			if k > 0 {
				b.Fatalf("%d notifications dropped (%s); last error: %s", k, why, st.LastError)
			}
		}
		if st.Delivered >= uint64(n) {
			if st.Retries > 0 {
				b.Logf("%d retries; last error: %s", st.Retries, st.LastError)
			}
			return stop
		}
		if st.Delivered != last {
			last, lastAt = st.Delivered, time.Now()
		} else if time.Since(lastAt) > 30*time.Second {
			b.Fatalf("%d of %d delivered, none for 30 s; last error: %s", st.Delivered, n, st.LastError)
		}
	}
}

// Finding is the i-th finding of a benchmark run named run: an open
// volume incident of one of 250 documentation-range clients, with routes
// and a sample, the size of a typical finding.
func Finding(run string, i int) detect.Finding {
	end := time.Date(2026, 12, 5, 10, 30, 0, 0, time.UTC)
	client := fmt.Sprintf("203.0.113.%d", i%250+1)
	return detect.Finding{
		IncidentID: fmt.Sprintf("%s-volume-%s-%d", run, client, i), Status: detect.StatusOpen,
		Client: client, ClientKind: "ip", Detector: detect.DetectorVolume,
		WindowStart: end.Add(-time.Minute), WindowEnd: end, Windows: 1, Observed: 52, Expected: 2, Spread: 1.5,
		Unit: "req/min", Score: 0.97, PValue: 1e-9, Severity: detect.SeverityHigh, Baseline: detect.BaselineOwn,
		Summary: "client " + client + " sent 52 req/min, baseline 2±1.5",
		Routes:  []string{"GET /api/items/{id}", "POST /api/cart"}, Samples: []string{"GET /api/items/17 200 ua=curl/8.5"},
	}
}
