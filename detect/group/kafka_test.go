package group

// Integration tests against a real broker. Start one with
//
//	d=$(mktemp -d); bash deploy/kafka/kafka.sh start $d; eval "$(bash deploy/kafka/kafka.sh env $d)"
//
// Without GATEWATCH_TEST_KAFKA they skip, except under CI=true where a
// missing broker is a failure.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/testenv"
	"github.com/segmentio/kafka-go"
)

const testPartitions = 6

// brokerConfig returns the test broker's configuration, skipping the test
// without one (failing it under CI=true).
func brokerConfig(tb testing.TB) transport.Config {
	tb.Helper()
	addr := testenv.Getenv(tb, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
	return transport.Config{Brokers: []string{addr}, ClientID: "gatewatch-detect-group-test"}
}

// topics are one test's topic and group names, unique to the run.
type topics struct {
	events, findings, state, group string
}

func newTopics(tb testing.TB, cfg transport.Config) topics {
	tb.Helper()
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		tb.Fatal(err)
	}
	base := "gatewatch-test-" + strings.ToLower(strings.ReplaceAll(tb.Name(), "/", "-")) + "-" + hex.EncodeToString(rnd[:])
	tp := topics{events: base + "-events", findings: base + "-findings", state: base + "-state", group: base}
	tr, err := cfg.Transport()
	if err != nil {
		tb.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: cfg.Addr(), Transport: tr}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: tp.events, NumPartitions: testPartitions, ReplicationFactor: 1},
	}})
	if err != nil {
		tb.Fatalf("create topic %s: %v", tp.events, err)
	}
	if err := res.Errors[tp.events]; err != nil {
		tb.Fatalf("create topic %s: %v", tp.events, err)
	}
	return tp
}

// wireEvent is one encoded event.
type wireEvent struct{ key, value []byte }

// scenario is the labelled traffic of the tests, encoded once.
type scenario struct {
	sc     *simulate.Scenario
	events []wireEvent
}

var (
	scenarioOnce sync.Once
	scenarioData scenario
	scenarioErr  error
)

// testScenario returns 150 normal clients over 100 minutes, attacks at 70
// (185,160 events).
func testScenario(tb testing.TB) scenario {
	tb.Helper()
	scenarioOnce.Do(func() {
		// Every attack and the cheap traps: the steady-heavy trap alone
		// would triple the events, and the test's time under -race.
		sc, err := simulate.New(simulate.Config{
			Seed: 7, Duration: 100 * time.Minute, Clients: 150, AttackAt: 70 * time.Minute,
			Attacks: append(simulate.AttackKinds(), simulate.TrapOrganicGrowth, simulate.TrapTokenRefresh),
		})
		if err != nil {
			scenarioErr = err
			return
		}
		var evs []wireEvent
		err = sc.Run(context.Background(), func(ev *ingest.Event) error {
			var key []byte
			if ev.ClientKey != "" {
				key = []byte(ev.ClientKey)
			}
			evs = append(evs, wireEvent{key: key, value: ingest.AppendWire(nil, ev)})
			return nil
		})
		scenarioData, scenarioErr = scenario{sc: sc, events: evs}, err
	})
	if scenarioErr != nil {
		tb.Fatal(scenarioErr)
	}
	return scenarioData
}

// publish produces evs to topic and waits for their acknowledgement.
func publish(tb testing.TB, cfg transport.Config, topic string, evs []wireEvent) {
	tb.Helper()
	p, err := transport.NewProducer(cfg, transport.ProducerOptions{Topic: topic})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i, ev := range evs {
		if err := p.PublishRaw(ctx, ev.key, ev.value); err != nil {
			tb.Fatalf("publish %d: %v", i, err)
		}
	}
	if err := p.Close(ctx); err != nil {
		tb.Fatalf("producer close: %v", err)
	}
}

// readAll returns every message of topic, by partition.
func readAll(tb testing.TB, cfg transport.Config, topic string) [][]kafka.Message {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tr, err := cfg.Transport()
	if err != nil {
		tb.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	dialer, err := cfg.Dialer()
	if err != nil {
		tb.Fatal(err)
	}
	client := &kafka.Client{Addr: cfg.Addr(), Transport: tr}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		tb.Fatalf("metadata %s: %v %+v", topic, err, md)
	}
	n := len(md.Topics[0].Partitions)
	reqs := make([]kafka.OffsetRequest, n)
	for p := range reqs {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	lo, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		tb.Fatalf("list offsets %s: %v", topic, err)
	}
	out := make([][]kafka.Message, n)
	for _, po := range lo.Topics[topic] {
		if po.Error != nil {
			tb.Fatalf("list offsets %s/%d: %v", topic, po.Partition, po.Error)
		}
		if po.LastOffset == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: cfg.Brokers, Topic: topic, Partition: po.Partition, Dialer: dialer,
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 100 * time.Millisecond,
		})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				tb.Fatalf("read %s/%d: %v", topic, po.Partition, err)
			}
			out[po.Partition] = append(out[po.Partition], m)
			if m.Offset+1 >= po.LastOffset {
				break
			}
		}
		r.Close()
	}
	return out
}

// expectedFindings runs one in-process Engine per partition of the events
// topic, as the Runner does, and returns the JSON of their findings.
func expectedFindings(tb testing.TB, parts [][]kafka.Message) []string {
	tb.Helper()
	var out []string
	var ev ingest.Event
	for _, msgs := range parts {
		eng := detect.New(detect.Options{Emit: func(f detect.Finding) {
			b, err := json.Marshal(f)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, string(b))
		}})
		for _, m := range msgs {
			ev.Reset()
			if err := ingest.DecodeWire(m.Value, &ev); err != nil {
				tb.Fatalf("offset %d: %v", m.Offset, err)
			}
			eng.Observe(&ev)
		}
	}
	slices.Sort(out)
	return out
}

// producedFindings reads the findings topic, checks every record's seq
// header is unique, and returns the JSON values sorted.
func producedFindings(tb testing.TB, cfg transport.Config, topic string) ([]string, []detect.Finding) {
	tb.Helper()
	var out []string
	var fs []detect.Finding
	seqs := map[string]bool{}
	for _, msgs := range readAll(tb, cfg, topic) {
		for _, m := range msgs {
			var seq string
			for _, h := range m.Headers {
				if h.Key == SeqHeader {
					seq = string(h.Value)
				}
			}
			if seq == "" {
				tb.Errorf("finding without %s header: %s", SeqHeader, m.Value)
			} else if seqs[seq] {
				tb.Errorf("seq %s repeated: %s", seq, m.Value)
			}
			seqs[seq] = true
			var f detect.Finding
			if err := json.Unmarshal(m.Value, &f); err != nil {
				tb.Fatalf("finding %s: %v", m.Value, err)
			}
			if string(m.Key) != f.Client {
				tb.Errorf("finding keyed %q, client %q", m.Key, f.Client)
			}
			fs = append(fs, f)
			out = append(out, string(m.Value))
		}
	}
	slices.Sort(out)
	return out, fs
}

// compareFindings checks got against want (both sorted JSON) and that no
// (incident, status, window end) repeats.
func compareFindings(t *testing.T, got, want []string, fs []detect.Finding) {
	t.Helper()
	type id struct {
		incident string
		status   detect.Status
		end      time.Time
	}
	seen := map[id]bool{}
	for _, f := range fs {
		k := id{f.IncidentID, f.Status, f.WindowEnd}
		if seen[k] {
			t.Errorf("duplicate finding %+v", k)
		}
		seen[k] = true
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings differ from per-partition in-process engines: got %d, want %d", len(got), len(want))
		for _, g := range got {
			if _, ok := slices.BinarySearch(want, g); !ok {
				t.Logf("extra:   %s", g)
			}
		}
		for _, w := range want {
			if _, ok := slices.BinarySearch(got, w); !ok {
				t.Logf("missing: %s", w)
			}
		}
	}
	if len(want) == 0 {
		t.Error("no findings expected: the scenario tests nothing")
	}
}

// checkLabels checks every attack has a finding and no trap client has.
func checkLabels(t *testing.T, sc *simulate.Scenario, fs []detect.Finding) {
	t.Helper()
	byClient := map[string]int{}
	for _, f := range fs {
		byClient[f.Client]++
	}
	for _, l := range sc.Labels() {
		switch {
		case l.Client == "":
		case l.Kind.IsTrap() && byClient[l.Client] > 0:
			t.Errorf("trap %s client %s flagged", l.Kind, l.Client)
		case !l.Kind.IsTrap() && byClient[l.Client] == 0:
			t.Errorf("attack %s by %s not found", l.Kind, l.Client)
		}
	}
}

// runner is a Runner running in the background.
type runner struct {
	*Runner
	cancel context.CancelFunc
	done   chan error
	log    *syncBuffer
}

// syncBuffer collects a runner's warnings for the test log; kafka-go may
// log from goroutines that outlive the test, where t.Log would panic.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startRunner(t *testing.T, cfg transport.Config, tp topics) *runner {
	t.Helper()
	return runOptions(t, Options{
		Kafka: cfg, GroupID: tp.group,
		EventsTopic: tp.events, FindingsTopic: tp.findings, StateTopic: tp.state,
		CheckpointEvery: 500 * time.Millisecond,
		IdleAfter:       -1, // replayed history: wall time means nothing
		SessionTimeout:  10 * time.Second,
	})
}

// runOptions starts a Runner with opts (warnings logged to a buffer),
// stopped at the end of the test.
func runOptions(t *testing.T, opts Options) *runner {
	t.Helper()
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &runner{Runner: r, cancel: cancel, done: make(chan error, 1), log: logs}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(func() { rr.stop(t) })
	return rr
}

// stop cancels the runner and waits for Run (and its final checkpoints).
func (r *runner) stop(t *testing.T) {
	t.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Error("Run did not return within 90s of cancellation")
	}
	r.done = nil
	if l := r.log.String(); l != "" {
		t.Logf("runner log:\n%s", l)
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// consumed reports whether runners folded n events in all.
func consumed(n int, rs ...*runner) func() bool {
	return func() bool {
		var got int64
		for _, r := range rs {
			st := r.Stats()
			got += st.Events + st.Malformed
		}
		return got >= int64(n)
	}
}

func TestRunnerSingle(t *testing.T) {
	t.Parallel()
	cfg := brokerConfig(t)
	sc := testScenario(t)
	tp := newTopics(t, cfg)
	publish(t, cfg, tp.events, sc.events)

	start := time.Now()
	r := startRunner(t, cfg, tp)
	waitFor(t, 2*time.Minute, "all events consumed", consumed(len(sc.events), r))
	r.stop(t)
	st := r.Stats()
	t.Logf("%d events in %v; stats %+v", len(sc.events), time.Since(start), st)
	if st.Events != int64(len(sc.events)) || st.Malformed != 0 || st.Restores != 0 {
		t.Errorf("stats %+v: want %d events, none malformed, no restores", st, len(sc.events))
	}

	want := expectedFindings(t, readAll(t, cfg, tp.events))
	got, fs := producedFindings(t, cfg, tp.findings)
	if st.Findings != int64(len(got)) {
		t.Errorf("Stats.Findings %d, topic holds %d", st.Findings, len(got))
	}
	compareFindings(t, got, want, fs)
	checkLabels(t, sc.sc, fs)
}

func TestRunnerRestart(t *testing.T) {
	t.Parallel()
	cfg := brokerConfig(t)
	sc := testScenario(t)
	tp := newTopics(t, cfg)
	half := len(sc.events) / 2

	publish(t, cfg, tp.events, sc.events[:half])
	a := startRunner(t, cfg, tp)
	waitFor(t, 2*time.Minute, "first half consumed", consumed(half, a))
	a.stop(t)

	publish(t, cfg, tp.events, sc.events[half:])
	b := startRunner(t, cfg, tp)
	waitFor(t, 2*time.Minute, "second half consumed", consumed(len(sc.events)-half, b))
	b.stop(t)

	sa, sb := a.Stats(), b.Stats()
	t.Logf("first runner %+v; second %+v", sa, sb)
	if sa.Events+sb.Events != int64(len(sc.events)) {
		t.Errorf("events folded %d + %d, want %d: some were lost or replayed", sa.Events, sb.Events, len(sc.events))
	}
	if sb.Restores != testPartitions {
		t.Errorf("second runner restored %d partitions, want %d", sb.Restores, testPartitions)
	}
	want := expectedFindings(t, readAll(t, cfg, tp.events))
	got, fs := producedFindings(t, cfg, tp.findings)
	compareFindings(t, got, want, fs)
	checkLabels(t, sc.sc, fs)
}

func TestRunnerHandover(t *testing.T) {
	if os.Getenv("GATEWATCH_TEST_KAFKA_GROUP") == "" && testing.Short() {
		t.Skip("rebalances take seconds; skipped with -short")
	}
	t.Parallel()
	cfg := brokerConfig(t)
	sc := testScenario(t)
	tp := newTopics(t, cfg)
	third := len(sc.events) / 3

	// a alone, then a and b sharing the partitions, then b alone.
	publish(t, cfg, tp.events, sc.events[:third])
	a := startRunner(t, cfg, tp)
	waitFor(t, 2*time.Minute, "first third consumed", consumed(third, a))

	b := startRunner(t, cfg, tp)
	waitFor(t, 2*time.Minute, "partitions shared", func() bool {
		pa, pb := a.Stats().Partitions, b.Stats().Partitions
		return pa > 0 && pb > 0 && pa+pb == testPartitions
	})
	publish(t, cfg, tp.events, sc.events[third:2*third])
	waitFor(t, 2*time.Minute, "second third consumed", consumed(2*third, a, b))

	a.stop(t)
	waitFor(t, 2*time.Minute, "b owning every partition", func() bool { return b.Stats().Partitions == testPartitions })
	publish(t, cfg, tp.events, sc.events[2*third:])
	waitFor(t, 2*time.Minute, "all consumed", consumed(len(sc.events), a, b))
	b.stop(t)

	sa, sb := a.Stats(), b.Stats()
	t.Logf("a %+v; b %+v", sa, sb)
	if sa.Events+sb.Events != int64(len(sc.events)) {
		t.Errorf("events folded %d + %d, want %d: some were lost or replayed", sa.Events, sb.Events, len(sc.events))
	}
	want := expectedFindings(t, readAll(t, cfg, tp.events))
	got, fs := producedFindings(t, cfg, tp.findings)
	compareFindings(t, got, want, fs)
	checkLabels(t, sc.sc, fs)
}

// TestRunnerIdleAdvance checks that a silent, caught-up partition's clock
// moves with wall time and that the state record says so.
func TestRunnerIdleAdvance(t *testing.T) {
	t.Parallel()
	cfg := brokerConfig(t)
	tp := newTopics(t, cfg)
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	var evs []wireEvent
	for i := range 50 {
		ev := &ingest.Event{Time: at.Add(time.Duration(i) * time.Millisecond), ClientKey: "10.0.0.1", Method: "GET", Path: "/", Status: 200}
		evs = append(evs, wireEvent{key: []byte(ev.ClientKey), value: ingest.AppendWire(nil, ev)})
	}
	publish(t, cfg, tp.events, evs)

	rr := runOptions(t, Options{
		Kafka: cfg, GroupID: tp.group,
		EventsTopic: tp.events, FindingsTopic: tp.findings, StateTopic: tp.state,
		CheckpointEvery: 200 * time.Millisecond,
		IdleAfter:       300 * time.Millisecond,
	})
	r := rr.Runner
	waitFor(t, time.Minute, "two idle advances", func() bool { return r.Stats().IdleAdvances >= 2 })
	rr.stop(t)

	newest := map[string][]byte{} // the newest record per key, as compaction keeps
	for _, msgs := range readAll(t, cfg, tp.state) {
		for _, m := range msgs {
			newest[string(m.Key)] = m.Value
		}
	}
	if len(newest) != 1 {
		t.Errorf("state records for %d partitions, want 1", len(newest))
	}
	for key, value := range newest {
		{
			m := kafka.Message{Key: []byte(key), Value: value}
			h, snap, err := decodeState(m.Value)
			if err != nil {
				t.Fatalf("state %s: %v", m.Key, err)
			}
			clock := time.Unix(0, h.Newest)
			if h.Offset != int64(len(evs)-1) || !clock.After(at.Add(500*time.Millisecond)) {
				t.Errorf("state %s: offset %d newest %v; want offset %d, newest > %v", m.Key, h.Offset, clock, len(evs)-1, at.Add(500*time.Millisecond))
			}
			if _, err := detect.Restore(detect.Options{}, snap); err != nil {
				t.Errorf("state %s: %v", m.Key, err)
			}
		}
	}
}
