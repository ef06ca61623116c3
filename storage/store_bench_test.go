package storage

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// BenchmarkStoreFromKafka measures "gatewatch store" end to end on the
// real broker and server: b.N*100,000 events (5,000 clients over an hour,
// as benchEvents makes them) are produced to a 3-partition topic first,
// untimed; then a Store with production settings (its default batch of
// DefaultBatchRows, findings and windows topics idle) reads them as its
// consumer group and inserts them, and the timer stops once every row is
// committed. rows/s is the figure the README's performance table quotes.
//
// GATEWATCH_BENCH_WIRE=json publishes the events in the JSON encoding
// instead of the default binary one, to compare the two;
// GATEWATCH_BENCH_BATCH_ROWS sets store's batch size.
func BenchmarkStoreFromKafka(b *testing.B) {
	broker := testenv.Getenv(b, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
	db := migrated(b, testClickHouse(b))
	n := b.N * 100_000
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cfg := transport.Config{Brokers: []string{broker}, ClientID: "gatewatch-storage-bench"}
	topics := storeTopics(b, ctx, cfg, "events", "findings", "windows")
	p, err := transport.NewProducer(cfg, transport.ProducerOptions{Topic: topics["events"], Wire: benchWire(b)})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 100_000 {
		evs := benchEvents(min(100_000, n-i), time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), time.Hour, uint64(i))
		for j := range evs {
			if err := p.Publish(ctx, &evs[j]); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	var rows atomic.Int64
	opts := StoreOptions{Kafka: cfg, Group: "gatewatch-store-bench-" + topics["events"][len(topics["events"])-12:],
		EventsTopic: topics["events"], FindingsTopic: topics["findings"], WindowsTopic: topics["windows"],
		OnBatch: func(table string, n int) { rows.Add(int64(n)) }, BatchRows: benchBatchRows()}
	s, err := NewStore(db, opts)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC() // the producer's garbage is not store's
	cpu0, server0 := testenv.ProcessCPUTime(), clickHouseCPUTime()
	b.ResetTimer()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	for rows.Load() < int64(n) {
		if ctx.Err() != nil {
			b.Fatalf("%d of %d rows stored when the deadline passed", rows.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	cpu, server := testenv.ProcessCPUTime()-cpu0, clickHouseCPUTime()-server0
	stop()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/row")
	if server0 >= 0 {
		b.ReportMetric(float64(server.Nanoseconds())/float64(n), "server-cpu-ns/row")
	}
}

// benchWire is the wire encoding GATEWATCH_BENCH_WIRE names (binary, the
// default, or json).
func benchWire(b *testing.B) ingest.WireEncoding {
	w, err := ingest.ParseWireEncoding(os.Getenv("GATEWATCH_BENCH_WIRE"))
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// clickHouseCPUTime is the CPU time of the ClickHouse server
// deploy/clickhouse/clickhouse.sh started, -1 if unknown: its CPU per
// stored row is the other half of what storing costs.
func clickHouseCPUTime() time.Duration {
	return testenv.ServerCPUTime("GATEWATCH_TEST_CLICKHOUSE_DIR", "clickhouse.pid")
}

// benchBatchRows is the batch size GATEWATCH_BENCH_BATCH_ROWS names, to
// compare; 0 (unset) is store's default.
func benchBatchRows() int {
	n, _ := strconv.Atoi(os.Getenv("GATEWATCH_BENCH_BATCH_ROWS"))
	return n
}
