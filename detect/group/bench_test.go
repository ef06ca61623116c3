//go:build unix

package group

// Throughput of one replica on a real broker (see kafka_test.go for how to
// start one). Without GATEWATCH_TEST_KAFKA the benchmarks skip, except
// under CI=true where a missing broker is a failure.
//
//	go test ./detect/group -run '^$' -bench RunnerCatchUp -benchtime 20x -count 3
//
// An op is a block of benchEventsPerOp events, so -benchtime 20x replays
// two million; the events/s, allocs/event and B/event metrics do not depend
// on the block size. The timer runs from Run until every event has been
// folded, so it includes joining the group, restoring (no state yet),
// fetching, decoding, the engines and the checkpoints due by count
// (findings, state, commit); the final checkpoint of shutdown is not
// timed. Events are produced before the timer, by a transport.Producer, on
// a topic of the test's own.
//
// To profile only the replica (not the producing, which runs in the same
// process), filter on the label the benchmark puts on Run's goroutines:
//
//	go test ./detect/group -run '^$' -bench RunnerCatchUp -benchtime 20x -cpuprofile cpu.out
//	go tool pprof -tagfocus phase=consume detect/group/group.test cpu.out

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/testenv"
	"github.com/segmentio/kafka-go"
)

const (
	// benchEventsPerOp is one op's events: small enough that the CI's
	// -benchtime 1x (producing, joining and replaying) takes about a
	// second.
	benchEventsPerOp = 100_000
	// benchMaxEvents bounds one run (-benchtime 50x): the events are
	// produced to the shared test broker and take ~2 s per million (and
	// its disk) to write.
	benchMaxEvents = 5_000_000
	// benchClients is the simulated fleet; the simulator adds one client
	// per attack and trap.
	benchClients = 2000
	// benchEventsPerMinute is about what benchClients send per simulated
	// minute (they follow a diurnal curve from midnight), to size a
	// scenario whose attacks fall within the events replayed.
	benchEventsPerMinute = 10_000
)

// errBenchEnough stops the simulation once enough events were produced.
var errBenchEnough = errors.New("enough events")

// produceScenario produces n events of simulated nginx traffic (2,000
// clients and every attack and trap, keyed by client) to topic, and waits
// for their acknowledgement. It returns the mean encoded size of an event.
func produceScenario(b *testing.B, cfg transport.Config, topic string, n int) float64 {
	b.Helper()
	minutes := n/benchEventsPerMinute + 1
	sc, err := simulate.New(simulate.Config{
		Seed: 3, Clients: benchClients,
		Duration: time.Duration(minutes+minutes/4) * time.Minute,
		AttackAt: time.Duration(minutes*2/3) * time.Minute,
	})
	if err != nil {
		b.Fatal(err)
	}
	p, err := transport.NewProducer(cfg, transport.ProducerOptions{Topic: topic})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	produced, size := 0, 0
	var key, value []byte
	wire, err := ingest.ParseWireEncoding(os.Getenv("GATEWATCH_BENCH_WIRE")) // json, to compare
	if err != nil {
		b.Fatal(err)
	}
	err = sc.Run(ctx, func(ev *ingest.Event) error {
		if produced == n {
			return errBenchEnough
		}
		produced++
		value = wire.Append(value[:0], ev)
		size += len(value)
		if ev.ClientKey == "" {
			return p.PublishRaw(ctx, nil, value) // a random partition, as Publish does
		}
		key = append(key[:0], ev.ClientKey...)
		return p.PublishRaw(ctx, key, value)
	})
	if cerr := p.Close(ctx); cerr != nil {
		b.Fatalf("producer close: %v", cerr)
	}
	if err != nil && !errors.Is(err, errBenchEnough) {
		b.Fatalf("produce: %v", err)
	}
	if produced != n {
		b.Fatalf("the scenario yielded %d events, want %d: raise its duration", produced, n)
	}
	if st := p.Stats(); st.Delivered != int64(n) {
		b.Fatalf("producer stats %+v: want %d delivered", st, n)
	}
	return float64(size) / float64(n)
}

// deleteTopics removes a benchmark's topics from the shared broker, so
// repeated runs do not fill its disk.
func deleteTopics(tb testing.TB, cfg transport.Config, topics ...string) {
	tr, err := cfg.Transport()
	if err != nil {
		tb.Error(err)
		return
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: cfg.Addr(), Transport: tr}
	res, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err != nil {
		tb.Logf("delete topics: %v", err)
		return
	}
	for name, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			tb.Logf("delete topic %s: %v", name, err)
		}
	}
}

// BenchmarkRunnerCatchUp measures one replica (one Runner owning all six
// partitions) catching up on a backlog of b.N*100,000 events on a real
// broker, with production settings: default fetch sizes, checkpoints every
// 100,000 events per partition or 10 s; without the API contract, and
// with it (learnt from the first 10,000 events and the first minute, so
// that nearly every event is checked against it).
//
// windows-on adds what `gatewatch detect` does by default: every
// client's window aggregates produced to the windows topic (for store).
func BenchmarkRunnerCatchUp(b *testing.B) {
	b.Run("contract-off", func(b *testing.B) { benchCatchUp(b, nil, false) })
	b.Run("contract-on", func(b *testing.B) {
		benchCatchUp(b, &contract.CheckerOptions{LearnFor: time.Minute, MinLearned: 10_000}, false)
	})
	b.Run("windows-on", func(b *testing.B) { benchCatchUp(b, nil, true) })
}

func benchCatchUp(b *testing.B, co *contract.CheckerOptions, windows bool) {
	cfg := brokerConfig(b)
	n := b.N * benchEventsPerOp
	if n > benchMaxEvents {
		b.Fatalf("%d events exceed the benchmark's cap of %d: lower -benchtime", n, benchMaxEvents)
	}
	b.StopTimer()
	tp := newTopics(b, cfg)
	windowsTopic, topics := "", []string{tp.events, tp.findings, tp.state}
	if windows {
		windowsTopic = tp.group + "-windows"
		topics = append(topics, windowsTopic)
	}
	b.Cleanup(func() { deleteTopics(b, cfg, topics...) })
	wireSize := produceScenario(b, cfg, tp.events, n)

	logs := &syncBuffer{}
	r, err := New(Options{
		Kafka: cfg, GroupID: tp.group,
		EventsTopic: tp.events, FindingsTopic: tp.findings, StateTopic: tp.state, WindowsTopic: windowsTopic,
		IdleAfter:      -1, // a replay: wall time means nothing
		SessionTimeout: 10 * time.Second,
		Contract:       co,
		Logger:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := testenv.ProcessCPUTime()
	b.ReportAllocs()
	b.ResetTimer()
	b.StartTimer()
	start := time.Now()
	go pprof.Do(ctx, pprof.Labels("phase", "consume"), func(ctx context.Context) { done <- r.Run(ctx) })

	// A fine poll: Stats is a few atomic loads and a short lock, and the
	// timer must stop close to the last event.
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(time.Duration(n/10_000+60) * time.Second) // 10k events/s would be a bug
	var firstEvent time.Duration
	for caughtUp := false; !caughtUp; {
		select {
		case err := <-done:
			b.Fatalf("Run returned before catching up: %v; stats %+v\n%s", err, r.Stats(), logs)
		case <-timeout:
			b.Fatalf("not caught up after %v: stats %+v\n%s", time.Since(start), r.Stats(), logs)
		case <-tick.C:
		}
		st := r.Stats()
		if firstEvent == 0 && st.Events > 0 {
			firstEvent = time.Since(start)
		}
		caughtUp = st.Events+st.Malformed >= int64(n)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	cpu := testenv.ProcessCPUTime() - cpu0
	runtime.ReadMemStats(&after)
	timed := r.Stats()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			b.Errorf("Run: %v", err)
		}
	case <-time.After(90 * time.Second):
		b.Fatal("Run did not return within 90s of cancellation")
	}
	st := r.Stats()
	if st.Events != int64(n) || st.Malformed != 0 || st.Restores != 0 || st.Checkpoints < testPartitions {
		b.Errorf("stats %+v: want %d events, none malformed, no restores, a checkpoint per partition", st, n)
	}
	// Right after Run creates the state topic, its partitions may have no
	// leader yet and reading the state is retried with a warning: only
	// show the log when something went wrong.
	if l := logs.String(); l != "" && (b.Failed() || st.Failures > testPartitions) {
		b.Logf("runner log:\n%s", l)
	}

	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n), "allocs/event")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(n), "B/event")
	// CPU the replica's process used per second of the run: 2 means both
	// cores of the box (which the broker shares) were busy with it.
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cpu-s/s")
	// The replica's CPU per event: steadier than events/s on a shared box.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/event")
	b.ReportMetric(firstEvent.Seconds(), "s-to-first-event")
	b.ReportMetric(float64(st.Findings), "findings")
	b.ReportMetric(float64(st.Violations), "violations")
	b.Logf("%d events (%.0f bytes each on the wire) in %v (first after %v); %d checkpoints while timed; stats after shutdown %+v",
		n, wireSize, elapsed.Round(time.Millisecond), firstEvent.Round(time.Millisecond), timed.Checkpoints, st)
}
