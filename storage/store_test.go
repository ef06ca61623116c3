package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

func TestStoreOptionsDefaults(t *testing.T) {
	t.Parallel()
	health := func(time.Time) ([]HealthSample, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		in   StoreOptions
		want StoreOptions // Logger and Health are checked apart
	}{
		{"zero", StoreOptions{}, StoreOptions{Group: DefaultStoreGroup, EventsTopic: DefaultEventsTopic,
			FindingsTopic: DefaultFindingsTopic, RetentionEvery: DefaultRetentionEvery, HealthEvery: DefaultHealthEvery}},
		{"set", StoreOptions{Group: "g", EventsTopic: "e", FindingsTopic: "f", WindowsTopic: "w", ContractTopic: "c", RetentionEvery: time.Minute, HealthEvery: time.Second, Health: health},
			StoreOptions{Group: "g", EventsTopic: "e", FindingsTopic: "f", WindowsTopic: "w", ContractTopic: "c", RetentionEvery: time.Minute, HealthEvery: time.Second}},
		{"retention off", StoreOptions{RetentionEvery: -1}, StoreOptions{Group: DefaultStoreGroup, EventsTopic: DefaultEventsTopic,
			FindingsTopic: DefaultFindingsTopic, RetentionEvery: -1, HealthEvery: DefaultHealthEvery}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in
			got.setDefaults()
			if got.Logger == nil {
				t.Error("no default logger")
			}
			if (got.Health == nil) != (tc.in.Health == nil) {
				t.Error("Health changed")
			}
			got.Logger, got.Health = nil, nil
			if got.Group != tc.want.Group || got.EventsTopic != tc.want.EventsTopic || got.FindingsTopic != tc.want.FindingsTopic ||
				got.WindowsTopic != tc.want.WindowsTopic || got.ContractTopic != tc.want.ContractTopic || got.RetentionEvery != tc.want.RetentionEvery || got.HealthEvery != tc.want.HealthEvery {
				t.Errorf("setDefaults = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestNewStoreChecksKafkaConfig: a configuration that cannot work is an
// error from NewStore, before Run contacts anything.
func TestNewStoreChecksKafkaConfig(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		name string
		cfg  transport.Config
		want string // in the error; "" for none
	}{
		{"zero", transport.Config{}, ""},
		{"bad broker", transport.Config{Brokers: []string{"no-port"}}, "broker"},
		{"missing ca file", transport.Config{TLS: transport.TLSConfig{Enabled: true, CAFile: missing}}, "ca file"},
		{"sasl without password", transport.Config{SASL: transport.SASLConfig{Mechanism: "plain", Username: "u"}}, "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewStore(&DB{}, StoreOptions{Kafka: tc.cfg})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("NewStore: %v", err)
			case tc.want == "" && s == nil:
				t.Fatal("NewStore returned no Store")
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("NewStore error = %v, want one about %q", err, tc.want)
			}
		})
	}
}

// storeTopics creates a topic of 3 partitions for each name, unique to
// this run, and returns the names given them.
func storeTopics(t testing.TB, ctx context.Context, cfg transport.Config, names ...string) map[string]string {
	t.Helper()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tr, err := cfg.Transport()
	if err != nil {
		t.Fatal(err)
	}
	topics := map[string]string{}
	var req kafka.CreateTopicsRequest
	for _, n := range names {
		topics[n] = "gatewatch-test-store-" + n + "-" + hex.EncodeToString(rnd[:])
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: topics[n], NumPartitions: 3, ReplicationFactor: 1})
	}
	res, err := (&kafka.Client{Addr: cfg.Addr(), Transport: tr}).CreateTopics(ctx, &req)
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	for topic, err := range res.Errors {
		if err != nil {
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
	return topics
}

// publishRaw writes values to topic, keyed by their index.
func publishRaw(t *testing.T, ctx context.Context, cfg transport.Config, topic string, values ...[]byte) {
	t.Helper()
	p, err := transport.NewProducer(cfg, transport.ProducerOptions{Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		if err := p.PublishRaw(ctx, []byte(itoa(i)), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// committed returns how many messages of topic the group has committed
// (fresh topics: offsets start at 0, so a partition's committed offset is
// its count).
func committed(t *testing.T, ctx context.Context, cfg transport.Config, group, topic string) int64 {
	t.Helper()
	tr, err := cfg.Transport()
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&kafka.Client{Addr: cfg.Addr(), Transport: tr}).OffsetFetch(ctx,
		&kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2}}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	var n int64
	for _, p := range res.Topics[topic] {
		n += max(p.CommittedOffset, 0)
	}
	return n
}

// storeTestMessages are what TestStoreRunRealKafka publishes: good rows
// of every kind, each topic ending with a message that does not decode.
func storeTestMessages(t *testing.T, now time.Time) (events, findings, windows [][]byte) {
	t.Helper()
	events = append(wireMessages(sampleEvents(3000, now.Add(-time.Hour))), []byte("{not json"))
	for i := range 5 {
		f := detect.Finding{IncidentID: "inc-" + itoa(i), Status: detect.StatusOpen, Client: "10.0.0." + itoa(i), ClientKind: "ip",
			Detector: detect.DetectorAuthFailures, WindowStart: now.Add(-time.Minute), WindowEnd: now, Windows: 1,
			Observed: 40, Expected: 1, Unit: "auth failures/min", Severity: detect.SeverityHigh, Baseline: detect.BaselineOwn, Summary: "s"}
		findings = append(findings, mustJSON(t, f))
	}
	findings = append(findings, []byte(`{"status":"open"}`)) // no incident id
	for i := range 4 {
		w := detect.WindowStats{Client: "10.0.0." + itoa(i), ClientKind: "ip", Start: now.Add(-time.Minute), End: now, Requests: uint64(10 + i)}
		windows = append(windows, mustJSON(t, w))
	}
	windows = append(windows, []byte(`{"client":""}`)) // no client
	return events, findings, windows
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// storeCounts are what a Store's callbacks saw.
type storeCounts struct {
	mu    sync.Mutex
	rows  map[string]int // table -> rows stored and committed
	bad   map[string]int // topic -> messages skipped
	total atomic.Int64   // rows, for the health samples
}

func (c *storeCounts) hook(o *StoreOptions) {
	c.rows, c.bad = map[string]int{}, map[string]int{}
	o.OnBatch = func(table string, rows int) {
		c.mu.Lock()
		c.rows[table] += rows
		c.mu.Unlock()
		c.total.Add(int64(rows))
	}
	o.OnBadMessage = func(m kafka.Message, err error) {
		c.mu.Lock()
		c.bad[m.Topic]++
		c.mu.Unlock()
	}
	o.Health = func(now time.Time) ([]HealthSample, error) {
		return []HealthSample{{Time: now, Component: "store-test", Instance: "test", Metric: "rows", Value: float64(c.total.Load())}}, nil
	}
}

// TestStoreRunRealKafka runs a Store against the real broker and server:
// events, findings and windows published to their topics (each ending
// with a message that does not decode) are stored; the bad ones are
// reported, skipped and committed; retention drops an expired day; health
// samples are written. Run returns nil on ctx's end having committed
// everything it stored, so a second Store in the same group stores
// exactly what was published after.
func TestStoreRunRealKafka(t *testing.T) {
	t.Parallel()
	broker := testenv.Getenv(t, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
	db := migrated(t, testClickHouse(t, func(o *Options) { o.Retention = Retention{Events: 30} }))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg := transport.Config{Brokers: []string{broker}, ClientID: "gatewatch-storage-test"}
	topics := storeTopics(t, ctx, cfg, "events", "findings", "windows")
	now := time.Now().UTC().Truncate(time.Second)
	insertBatch(t, db, sampleEvents(10, time.Date(2020, 1, 2, 3, 0, 0, 0, time.UTC)), "old", 1) // expired
	events, findings, windows := storeTestMessages(t, now)
	publishRaw(t, ctx, cfg, topics["events"], events...)
	publishRaw(t, ctx, cfg, topics["findings"], findings...)
	publishRaw(t, ctx, cfg, topics["windows"], windows...)

	group := "gatewatch-store-test-" + topics["events"][len(topics["events"])-12:]
	opts := StoreOptions{Kafka: cfg, Group: group, EventsTopic: topics["events"], FindingsTopic: topics["findings"],
		WindowsTopic: topics["windows"], BatchRows: 1000, FlushInterval: 200 * time.Millisecond, HealthEvery: 100 * time.Millisecond}
	var seen storeCounts
	seen.hook(&opts)
	// run stores until the callbacks saw rows (by table, since the first
	// run) and the group committed every message, then stops the Store.
	run := func(rows map[string]int, messages map[string]int64) {
		t.Helper()
		s, err := NewStore(db, opts)
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx) }()
		waitFor(t, 2*time.Minute, "every row stored and every bad message reported", func() bool {
			seen.mu.Lock()
			defer seen.mu.Unlock()
			return maps.Equal(seen.rows, rows) && len(seen.bad) == 3
		})
		// A batch of nothing but a bad message is committed after the
		// rows before it: wait for the commits too.
		waitFor(t, time.Minute, "every message committed", func() bool {
			for name, n := range messages {
				if committed(t, ctx, cfg, StoreGroupID(group, topics[name]), topics[name]) != n {
					return false
				}
			}
			return true
		})
		stop()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v, want nil after ctx's end", err)
		}
	}
	run(map[string]int{tableEvents: 3000, tableFindings: 5, tableWindows: 4},
		map[string]int64{"events": int64(len(events)), "findings": int64(len(findings)), "windows": int64(len(windows))})
	for _, name := range []string{"events", "findings", "windows"} {
		if seen.bad[topics[name]] != 1 {
			t.Errorf("%s: %d bad messages reported, want 1", name, seen.bad[topics[name]])
		}
	}
	for table, want := range map[string]uint64{tableFindings: 5, tableWindows: 4} {
		if n := count(t, db, "SELECT count() FROM "+db.table(table)); n != want {
			t.Errorf("%s: %d rows stored, want %d", table, n, want)
		}
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableEvents)+" WHERE toYear(time) > 2020"); n != 3000 {
		t.Errorf("%d events stored, want 3000", n)
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableEvents)+" WHERE toYear(time) = 2020"); n != 0 {
		t.Errorf("%d expired events left: retention did not run", n)
	}
	var last float64
	if err := db.conn.QueryRow(ctx, "SELECT max(value) FROM "+db.table(tableHealth)+" WHERE component = 'store-test'").Scan(&last); err != nil {
		t.Fatal(err)
	}
	if last != 3009 {
		t.Errorf("last health sample says %v rows, want 3009", last)
	}

	// A second Store in the group: only what is new is stored.
	publishRaw(t, ctx, cfg, topics["events"], wireMessages(sampleEvents(500, now.Add(-30*time.Minute)))...)
	run(map[string]int{tableEvents: 3500, tableFindings: 5, tableWindows: 4}, map[string]int64{"events": int64(len(events)) + 500})
	if n := count(t, db, "SELECT count() FROM "+db.table(tableEvents)+" WHERE toYear(time) > 2020"); n != 3500 {
		t.Errorf("%d events stored (raw) after the second run, want exactly 3500: commits lost or redelivered", n)
	}
}

// TestHealthLoop writes samples each interval and once more at ctx's
// end; a failed collect goes to report and the loop carries on.
func TestHealthLoop(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	var calls atomic.Int64
	var reported atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.HealthLoop(ctx, 20*time.Millisecond, func(now time.Time) ([]HealthSample, error) {
			if calls.Add(1) == 2 {
				return nil, errors.New("gather failed")
			}
			return []HealthSample{{Time: now, Component: "loop-test", Instance: "i", Metric: "m", Value: 1}}, nil
		}, func(error) { reported.Add(1) })
	}()
	waitFor(t, time.Minute, "4 samples collected", func() bool { return calls.Load() >= 4 })
	cancel()
	<-done
	n := calls.Load()
	if got := count(t, db, "SELECT count() FROM "+db.table(tableHealth)+" WHERE component = 'loop-test'"); got != uint64(n-1) {
		t.Errorf("%d samples stored, want %d (every collect but the failed one, the final one included)", got, n-1)
	}
	if reported.Load() != 1 {
		t.Errorf("%d failures reported, want 1", reported.Load())
	}
}
