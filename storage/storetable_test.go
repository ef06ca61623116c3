package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// lockedBuffer is a log sink safe for the Store's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the lines of the log holding every one of subs.
func (l *lockedBuffer) lines(subs ...string) []string {
	var out []string
	for line := range strings.Lines(l.String()) {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			out = append(out, line)
		}
	}
	return out
}

// TestStoreStateChanges: Health and the log follow the tables' states;
// the same state reported again (a retry) logs nothing more.
func TestStoreStateChanges(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	var seen []TableState
	s, err := NewStore(&DB{}, StoreOptions{WindowsTopic: "w", Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		OnState: func(st TableState) { seen = append(seen, st) }})
	if err != nil {
		t.Fatal(err)
	}
	tables := s.tables()
	events, findings, windows := tables[0], tables[1], tables[2]
	if err := s.Health(); err == nil || !strings.Contains(err.Error(), "starting") {
		t.Errorf("Health before Run = %v, want starting", err)
	}
	waiting := TableState{Reason: "waiting for topic w"}
	for _, step := range []struct {
		t      storeTable
		st     TableState
		err    error
		health string // "" healthy
	}{
		{events, TableState{Consuming: true, Partitions: 3}, nil, "not consuming: starting; starting"},
		{findings, TableState{Consuming: true}, nil, "not consuming: starting"},
		{windows, waiting, errNoTopic, "not consuming: waiting for topic w"},
		{windows, waiting, errNoTopic, "not consuming: waiting for topic w"}, // a retry
		{windows, waiting, nil, "not consuming: waiting for topic w"},
		{windows, TableState{Reason: "joining consumer group " + windows.group}, errors.New("Rebalance In Progress"), "not consuming: joining consumer group gatewatch-store.w"},
		{windows, TableState{Consuming: true, Partitions: 1}, nil, ""},
	} {
		s.setState(step.t, step.st, step.err)
		got := ""
		if err := s.Health(); err != nil {
			got = err.Error()
		}
		if got != step.health {
			t.Errorf("after %s %+v: Health = %q, want %q", step.t.table, step.st, got, step.health)
		}
	}
	if n := len(logs.lines("not consuming: waiting for topic w", "table=client_windows", "topic=w", "group=gatewatch-store.w")); n != 1 {
		t.Errorf("%d log lines about waiting for w, want 1:\n%s", n, logs.String())
	}
	if n := len(logs.lines("level=WARN", "joining consumer group", "Rebalance In Progress")); n != 1 {
		t.Errorf("%d log lines about the failed join, want 1:\n%s", n, logs.String())
	}
	if len(seen) != 5 || seen[4].Table != tableWindows || !seen[4].Consuming || seen[4].Since.IsZero() {
		t.Errorf("OnState saw %+v, want 5 changes ending with windows consuming", seen)
	}
}

// storeTestEnv is a broker and a fresh database for a Store test, with
// topic names unique to the test.
type storeTestEnv struct {
	cfg    transport.Config
	db     *DB
	admin  *kafkaAdmin
	prefix string
}

func newStoreTestEnv(t *testing.T) *storeTestEnv {
	t.Helper()
	broker := testenv.Getenv(t, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
	cfg := transport.Config{Brokers: []string{broker}, ClientID: "gatewatch-storage-test"}
	tr, err := cfg.Transport()
	if err != nil {
		t.Fatal(err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	return &storeTestEnv{cfg: cfg, db: migrated(t, testClickHouse(t)), admin: &kafkaAdmin{client: &kafka.Client{Addr: cfg.Addr(), Transport: tr}},
		prefix: "gatewatch-test-" + hex.EncodeToString(rnd[:]) + "-"}
}

func (e *storeTestEnv) createTopics(t *testing.T, ctx context.Context, partitions int, names ...string) {
	t.Helper()
	var req kafka.CreateTopicsRequest
	for _, n := range names {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: n, NumPartitions: partitions, ReplicationFactor: 1})
	}
	res, err := e.admin.client.CreateTopics(ctx, &req)
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	for topic, err := range res.Errors {
		if err != nil {
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
}

// runStore runs s in the background; the returned stop ends it and
// checks it returned nil.
func runStore(t *testing.T, ctx context.Context, s *Store) (stop func()) {
	t.Helper()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after ctx's end", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestStoreStartsBeforeTopicsExist starts a Store before any of its topics
// exists, as a fresh deployment does. (With one consumer group shared by
// every topic, a missing findings or windows topic made the group's
// leader assign no partition at all, of any topic, and nothing retried:
// half the fresh starts stored nothing.) Waiting, the Store says which
// topic it waits for in Health and once in its log, and a table whose
// topic exists stores while another still waits; creating them itself,
// it gives them TopicPartitions partitions. Either way every row arrives
// and Health turns nil.
func TestStoreStartsBeforeTopicsExist(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		create bool
	}{
		{"waits for them", false},
		{"creates them", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newStoreTestEnv(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			topics := map[string]string{"events": e.prefix + "events", "findings": e.prefix + "findings", "windows": e.prefix + "windows"}
			var logs lockedBuffer
			opts := StoreOptions{Kafka: e.cfg, Group: e.prefix + "store", EventsTopic: topics["events"], FindingsTopic: topics["findings"],
				WindowsTopic: topics["windows"], CreateTopics: tc.create, TopicPartitions: 4, WaitBackoff: Backoff{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond},
				BatchRows: 1000, FlushInterval: 200 * time.Millisecond, RetentionEvery: -1, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			var seen storeCounts
			seen.hook(&opts)
			s, err := NewStore(e.db, opts)
			if err != nil {
				t.Fatal(err)
			}
			stop := runStore(t, ctx, s)
			events, findings, windows := storeTestMessages(t, time.Now().UTC().Truncate(time.Second))
			if tc.create {
				waitFor(t, time.Minute, "the topics created", func() bool {
					for _, topic := range topics {
						if n, err := e.admin.topicPartitions(ctx, topic); err != nil || n != 4 {
							return false
						}
					}
					return true
				})
			} else {
				waitForTopicsMissing(t, ctx, e, s, &logs, topics)
			}
			publishRaw(t, ctx, e.cfg, topics["events"], events...)
			if !tc.create {
				// events flows while findings and windows still wait.
				waitFor(t, time.Minute, "events stored before the other topics exist", func() bool { return seen.rowsOf(tableEvents) == 3000 })
				if err := s.Health(); err == nil || !strings.Contains(err.Error(), "waiting for topic "+topics["windows"]) {
					t.Errorf("Health with windows missing = %v", err)
				}
				e.createTopics(t, ctx, 3, topics["findings"], topics["windows"])
			}
			publishRaw(t, ctx, e.cfg, topics["findings"], findings...)
			publishRaw(t, ctx, e.cfg, topics["windows"], windows...)
			want := map[string]int{tableEvents: 3000, tableFindings: 5, tableWindows: 4}
			waitFor(t, 2*time.Minute, "every row stored", func() bool { return seen.equal(want) })
			waitFor(t, time.Minute, "Health nil", func() bool { return s.Health() == nil })
			stop()
			if n := count(t, e.db, "SELECT count() FROM "+e.db.table(tableEvents)); n != 3000 {
				t.Errorf("%d events in ClickHouse, want 3000", n)
			}
			if n := len(logs.lines("level=INFO", "msg=consuming", "partitions=")); n < 3 {
				t.Errorf("%d 'consuming' log lines, want one per table at least:\n%s", n, logs.String())
			}
			if tc.create && len(logs.lines("created topic", topics["windows"])) != 1 {
				t.Errorf("creating the windows topic was not logged once:\n%s", logs.String())
			}
		})
	}
}

// waitForTopicsMissing checks what a Store without CreateTopics says
// while none of its topics exists: each table waits, in Health and in
// one log line however often it checked, until the events topic is
// created.
func waitForTopicsMissing(t *testing.T, ctx context.Context, e *storeTestEnv, s *Store, logs *lockedBuffer, topics map[string]string) {
	t.Helper()
	waitFor(t, time.Minute, "Health naming every missing topic", func() bool {
		err := s.Health()
		return err != nil && strings.Contains(err.Error(), "not consuming: waiting for topic "+topics["events"]) &&
			strings.Contains(err.Error(), "waiting for topic "+topics["findings"]) && strings.Contains(err.Error(), "waiting for topic "+topics["windows"])
	})
	time.Sleep(time.Second) // several checks of each topic at 50-200ms
	for _, topic := range topics {
		if n := len(logs.lines("level=WARN", "not consuming: waiting for topic", "topic="+topic)); n != 1 {
			t.Errorf("%d log lines about waiting for %s, want 1:\n%s", n, topic, logs.String())
		}
		if _, err := e.admin.topicPartitions(ctx, topic); !errors.Is(err, errNoTopic) {
			t.Fatalf("topic %s: %v, want it missing (the Store must not create it)", topic, err)
		}
	}
	e.createTopics(t, ctx, 3, topics["events"])
}

func (c *storeCounts) rowsOf(table string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows[table]
}

func (c *storeCounts) equal(want map[string]int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Equal(c.rows, want)
}

// genMessage is a finding message of partition 0 at offset, fetched in
// generation gen (WriterData, as groupReader tags it).
func genMessage(t *testing.T, gen any, offset int64) kafka.Message {
	f := detect.Finding{IncidentID: "inc-" + itoa(int(offset)), Status: detect.StatusOpen, Client: "10.0.0.1", ClientKind: "ip",
		Detector: detect.DetectorAuthFailures, WindowStart: time.Unix(1e9, 0), WindowEnd: time.Unix(1e9+60, 0), Windows: 1,
		Severity: detect.SeverityHigh, Baseline: detect.BaselineOwn, Summary: "s"}
	return kafka.Message{Topic: "findings", Offset: offset, Value: mustJSON(t, f), WriterData: gen}
}

// TestConsumerCommitsInFetchingGeneration: a batch holds the messages of
// one consumer-group generation and is committed in it. When that
// generation ended before the commit (errGenerationEnded) the batch is
// stored but neither committed nor counted by OnBatch, and not retried;
// the next generation, which fetches the same offsets again, counts
// them. So OnBatch counts each offset once; OnInsert counts every insert.
func TestConsumerCommitsInFetchingGeneration(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	gen1, gen2 := new(int), new(int)
	offsets := func(gen any, from, to int64) (ms []kafka.Message) {
		for o := from; o < to; o++ {
			ms = append(ms, genMessage(t, gen, o))
		}
		return ms
	}
	for _, tc := range []struct {
		name                        string
		msgs                        []kafka.Message
		commit                      func(gen any, attempt int) error
		batch, revoked, insert, err int
	}{
		{"one generation", offsets(gen1, 0, 20), func(any, int) error { return nil }, 20, 0, 20, 0},
		{"generation ended before the commit", append(offsets(gen1, 0, 10), offsets(gen2, 0, 20)...),
			func(gen any, _ int) error {
				if gen == gen1 {
					return errGenerationEnded
				}
				return nil
			}, 20, 10, 30, 0},
		{"a failed commit is retried", offsets(gen1, 0, 20), func(_ any, attempt int) error {
			if attempt == 0 {
				return errBroker
			}
			return nil
		}, 20, 0, 20, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newFakeReader()
			r.msgs = tc.msgs
			var mu sync.Mutex
			var batch, revoked, insert, errs, attempts int
			r.onCommit = func(msgs []kafka.Message) error {
				mu.Lock()
				defer mu.Unlock()
				for _, m := range msgs {
					if m.WriterData != msgs[0].WriterData {
						t.Errorf("one commit holds messages of two generations")
					}
				}
				attempts++
				return tc.commit(msgs[0].WriterData, attempts-1)
			}
			add := func(n *int) func(int) { return func(rows int) { mu.Lock(); *n += rows; mu.Unlock() } }
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- db.ConsumeFindings(ctx, r, ConsumerOptions{
					BatchOptions: BatchOptions{FlushInterval: 50 * time.Millisecond, Backoff: Backoff{Min: time.Millisecond},
						OnError: func(error) { mu.Lock(); errs++; mu.Unlock() }},
					OnBatch: add(&batch), OnRevoked: add(&revoked), OnInsert: add(&insert)})
			}()
			waitFor(t, time.Minute, "every batch settled", func() bool { mu.Lock(); defer mu.Unlock(); return batch+revoked == tc.batch+tc.revoked })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if batch != tc.batch || revoked != tc.revoked || insert != tc.insert || errs != tc.err {
				t.Errorf("OnBatch %d, OnRevoked %d, OnInsert %d, OnError %d; want %d, %d, %d, %d",
					batch, revoked, insert, errs, tc.batch, tc.revoked, tc.insert, tc.err)
			}
		})
	}
}

// TestStoreTakesOverLegacyGroupOffsets: a deployment whose one shared
// group (Group) committed offsets on the events topic keeps them when
// the topic gets a group of its own: only what came after is stored.
func TestStoreTakesOverLegacyGroupOffsets(t *testing.T) {
	t.Parallel()
	e := newStoreTestEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	events, findings := e.prefix+"events", e.prefix+"findings"
	e.createTopics(t, ctx, 1, events, findings)
	publishRaw(t, ctx, e.cfg, events, wireMessages(sampleEvents(300, time.Now().Add(-time.Hour)))...)
	legacy := e.prefix + "store"
	res, err := e.admin.client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: legacy, GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{events: {{Partition: 0, Offset: 200}}}})
	if err != nil || res.Topics[events][0].Error != nil {
		t.Fatalf("commit the legacy group's offset: %v %+v", err, res)
	}
	var logs lockedBuffer
	opts := StoreOptions{Kafka: e.cfg, Group: legacy, EventsTopic: events, FindingsTopic: findings, FlushInterval: 100 * time.Millisecond,
		RetentionEvery: -1, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	var seen storeCounts
	seen.hook(&opts)
	s, err := NewStore(e.db, opts)
	if err != nil {
		t.Fatal(err)
	}
	stop := runStore(t, ctx, s)
	waitFor(t, time.Minute, "the new events stored", func() bool { return seen.rowsOf(tableEvents) == 100 })
	waitFor(t, time.Minute, "the events group's commit", func() bool { return committed(t, ctx, e.cfg, StoreGroupID(legacy, events), events) == 300 })
	stop()
	if n := count(t, e.db, "SELECT count() FROM "+e.db.table(tableEvents)); n != 100 {
		t.Errorf("%d events stored, want the 100 after the legacy group's offset", n)
	}
	if len(logs.lines("took over the committed offsets", "topic="+events)) != 1 || len(logs.lines("took over", "topic="+findings)) != 0 {
		t.Errorf("the takeover was not logged once, for the events topic only:\n%s", logs.String())
	}
}

// TestStoreCountsCommittedRowsAcrossRebalance runs two Stores of one
// group over a topic while a third joins and leaves mid-load, moving
// partitions with batches in flight (OnInsert counts them again). The
// rows OnBatch counts, summed over the Stores, equal the messages
// published exactly: a batch fetched in a generation that ended before
// its commit is stored (the replay collapses) but counted by the
// partition's next owner only.
func TestStoreCountsCommittedRowsAcrossRebalance(t *testing.T) {
	t.Parallel()
	e := newStoreTestEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	events, findings := e.prefix+"events", e.prefix+"findings"
	e.createTopics(t, ctx, 6, events, findings)
	const total = 60_000
	publishRaw(t, ctx, e.cfg, events, wireMessages(sampleEvents(total, time.Now().Add(-time.Hour)))...)
	var mu sync.Mutex
	var batch, insert int
	var logs lockedBuffer
	defer func() {
		if t.Failed() {
			for _, l := range logs.lines("") {
				if !strings.Contains(l, "component=kafka-go") || strings.Contains(l, "rror") {
					t.Log(strings.TrimSpace(l))
				}
			}
		}
	}()
	newStore := func() *Store {
		opts := StoreOptions{Kafka: e.cfg, Group: e.prefix + "store", EventsTopic: events, FindingsTopic: findings,
			BatchRows: 500, FlushInterval: 50 * time.Millisecond, RetentionEvery: -1, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			OnBatch: func(_ string, rows int) { mu.Lock(); batch += rows; mu.Unlock() },
			// A slow insert keeps batches in flight while the group
			// rebalances (about 2.5 s of load for one Store).
			OnInsert: func(_ string, rows int) { mu.Lock(); insert += rows; mu.Unlock(); time.Sleep(20 * time.Millisecond) }}
		s, err := NewStore(e.db, opts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	progress := func() int { mu.Lock(); defer mu.Unlock(); return batch }
	stopA := runStore(t, ctx, newStore())
	waitFor(t, time.Minute, "the first rows", func() bool { return progress() > 0 })
	stopB := runStore(t, ctx, newStore())
	waitFor(t, time.Minute, "more rows", func() bool { return progress() > total/4 })
	stopC := runStore(t, ctx, newStore())
	waitFor(t, time.Minute, "more rows", func() bool { return progress() > total/2 })
	stopC()
	waitFor(t, 2*time.Minute, "every message committed", func() bool {
		return committedAll(t, ctx, e, StoreGroupID(e.prefix+"store", events), events, 6) == total
	})
	stopA()
	stopB()
	mu.Lock()
	defer mu.Unlock()
	if batch != total {
		t.Errorf("OnBatch counted %d rows over the Stores, want exactly the %d published (inserted %d)", batch, total, insert)
	}
	if insert <= batch {
		t.Errorf("%d rows inserted, %d committed: no batch was in flight at a rebalance, so the test proved nothing", insert, batch)
	}
	if n := count(t, e.db, "SELECT uniqExact(event_id) FROM "+e.db.table(tableEvents)); n != total {
		t.Errorf("%d distinct events stored, want %d", n, total)
	}
	t.Logf("%d rows committed, %d inserted (%d re-inserted after rebalances)", batch, insert, insert-batch)
}

// committedAll is the sum of group's committed offsets on topic's
// partitions.
func committedAll(t *testing.T, ctx context.Context, e *storeTestEnv, group, topic string, partitions int) int64 {
	t.Helper()
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	offs, err := e.admin.committed(ctx, group, topic, ids)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, o := range offs {
		n += o
	}
	return n
}

// TestStoreStandbyAndRecreatedTopic: two Stores on one-partition topics
// leave one of them without partitions, which is healthy (the group holds
// every partition) and stays so across the watchdog's checks. When the
// events topic is deleted and created again, what is written to the new
// topic is stored: a committed offset past its end is read from the
// oldest message instead of retried forever.
func TestStoreStandbyAndRecreatedTopic(t *testing.T) {
	t.Parallel()
	e := newStoreTestEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	events, findings := e.prefix+"events", e.prefix+"findings"
	e.createTopics(t, ctx, 1, events, findings)
	var logs lockedBuffer
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	var seen storeCounts
	stores := make([]*Store, 2)
	for i := range stores {
		opts := StoreOptions{Kafka: e.cfg, Group: e.prefix + "store", EventsTopic: events, FindingsTopic: findings,
			WaitBackoff: Backoff{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond}, FlushInterval: 100 * time.Millisecond,
			RetentionEvery: -1, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		seen.hook(&opts)
		s, err := NewStore(e.db, opts)
		if err != nil {
			t.Fatal(err)
		}
		s.watchEvery = 100 * time.Millisecond
		stores[i] = s
		runStore(t, ctx, s)
	}
	healthy := func() bool { return stores[0].Health() == nil && stores[1].Health() == nil }
	// Both are healthy from the first assignment on; the partition is held
	// by one of them once the second's join has been answered (for a few
	// milliseconds the new holder and the old may both report it).
	waitFor(t, time.Minute, "both Stores healthy, the events partition held by one", func() bool {
		return healthy() && stores[0].States()[0].Partitions+stores[1].States()[0].Partitions == 1
	})
	publishRaw(t, ctx, e.cfg, events, wireMessages(sampleEvents(100, time.Now().Add(-time.Hour)))...)
	waitFor(t, time.Minute, "100 events stored", func() bool { return seen.rowsOf(tableEvents) == 100 })
	time.Sleep(time.Second) // ten watchdog checks on the standby
	if !healthy() || len(logs.lines("no member of group")) > 0 {
		t.Errorf("the standby Store was not left alone: %v %v\n%s", stores[0].Health(), stores[1].Health(), logs.String())
	}
	res, err := e.admin.client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{events}})
	if err != nil || res.Errors[events] != nil {
		t.Fatalf("delete topic: %v %v", err, res)
	}
	// A broker with auto.create.topics.enable (the test broker) may create
	// it again at the next metadata request of an old-protocol client,
	// with its default partitions; else the test does.
	waitFor(t, time.Minute, "the topic back", func() bool {
		if n, err := e.admin.topicPartitions(ctx, events); err == nil && n > 0 {
			return true
		}
		_, _ = e.admin.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: events, NumPartitions: 1, ReplicationFactor: 1}}})
		return false
	})
	publishRaw(t, ctx, e.cfg, events, wireMessages(sampleEvents(50, time.Now().Add(-30*time.Minute)))...)
	waitFor(t, time.Minute, "the recreated topic's events stored", func() bool { return seen.rowsOf(tableEvents) == 150 })
	waitFor(t, time.Minute, "both Stores healthy again", healthy)
}
