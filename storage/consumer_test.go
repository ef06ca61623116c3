package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// fakeReader is an in-memory topic with a consumer group's committed
// offsets. Messages are appended with push; FetchMessage blocks when it
// has handed out everything, like a reader at the end of the log.
type fakeReader struct {
	mu        sync.Mutex
	cond      chan struct{} // closed and replaced on push
	msgs      []kafka.Message
	next      int
	committed map[int]int64 // partition -> offset of the last committed message
	commits   int
	onCommit  func(msgs []kafka.Message) error // checked before a commit is accepted
}

func newFakeReader() *fakeReader {
	return &fakeReader{cond: make(chan struct{}), committed: map[int]int64{}}
}

// push appends messages, spreading them over partitions round-robin with
// per-partition offsets, as a keyed producer would.
func (r *fakeReader) push(topic string, partitions int, values ...[]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range values {
		n := len(r.msgs)
		p := n % partitions
		r.msgs = append(r.msgs, kafka.Message{Topic: topic, Partition: p, Offset: int64(n / partitions), Value: v})
	}
	close(r.cond)
	r.cond = make(chan struct{})
}

func (r *fakeReader) FetchMessage(ctx context.Context) (kafka.Message, error) {
	for {
		r.mu.Lock()
		if r.next < len(r.msgs) {
			m := r.msgs[r.next]
			r.next++
			r.mu.Unlock()
			return m, nil
		}
		c := r.cond
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return kafka.Message{}, ctx.Err()
		case <-c:
		}
	}
}

func (r *fakeReader) CommitMessages(ctx context.Context, msgs ...kafka.Message) error {
	if r.onCommit != nil {
		if err := r.onCommit(msgs); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		if prev, ok := r.committed[m.Partition]; !ok || m.Offset > prev {
			r.committed[m.Partition] = m.Offset
		}
	}
	r.commits++
	return nil
}

// fetched returns how many messages were handed out and how many of them
// are covered by commits.
func (r *fakeReader) fetched() (fetched, committed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, off := range r.committed {
		committed += int(off) + 1
	}
	return r.next, committed
}

func wireMessages(evs []ingest.Event) [][]byte {
	out := make([][]byte, len(evs))
	for i := range evs {
		out[i] = ingest.AppendWire(nil, &evs[i])
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsumeEventsCommitsAfterInsert checks every commit covers only rows
// ClickHouse already holds, that bad messages are skipped but committed,
// and that a restarted consumer resumes from the commits without losing
// or (after FINAL) duplicating anything.
func TestConsumeEventsCommitsAfterInsert(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	r := newFakeReader()
	var violations []string
	var vmu sync.Mutex
	// Before each commit: every good message the commit covers must
	// already be in ClickHouse. The hook runs on the consumer's goroutine,
	// so it records problems instead of failing the test there.
	r.onCommit = func(msgs []kafka.Message) error {
		upto := map[int]int64{}
		for _, m := range msgs {
			upto[m.Partition] = max(upto[m.Partition], m.Offset)
		}
		r.mu.Lock()
		for p, off := range r.committed {
			upto[p] = max(upto[p], off)
		}
		want := 0
		for _, m := range r.msgs {
			if off, ok := upto[m.Partition]; ok && m.Offset <= off && bytes.HasPrefix(m.Value, []byte(`{"v":1,`)) {
				want++
			}
		}
		r.mu.Unlock()
		var stored uint64
		if err := db.conn.QueryRow(context.Background(), "SELECT count() FROM "+db.table(tableEvents)).Scan(&stored); err != nil {
			return err
		}
		if int(stored) < want {
			vmu.Lock()
			violations = append(violations, "commit covering "+itoa(want)+" events with "+itoa(int(stored))+" stored")
			vmu.Unlock()
		}
		return nil
	}
	evs := sampleEvents(20_000, time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC))
	vals := wireMessages(evs)
	vals[100] = []byte("{not json")
	vals[5000] = []byte(`{"v":99,"time":"nope"}`)
	r.push("events", 3, vals...)

	var bad []int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	opts := ConsumerOptions{
		BatchOptions: BatchOptions{BatchRows: 3000, FlushInterval: 200 * time.Millisecond},
		OnBadMessage: func(m kafka.Message, err error) { bad = append(bad, m.Offset) },
	}
	go func() { done <- db.ConsumeEvents(ctx, r, opts) }()
	waitFor(t, time.Minute, "all 20000 messages committed", func() bool {
		_, c := r.fetched()
		return c == 20_000
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ConsumeEvents: %v", err)
	}
	if len(violations) > 0 {
		t.Fatalf("%d commits ran ahead of ClickHouse, first: %s", len(violations), violations[0])
	}
	if len(bad) != 2 {
		t.Errorf("%d bad messages reported, want 2", len(bad))
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableEvents)); n != 19_998 {
		t.Errorf("%d events stored, want 19998", n)
	}

	// A consumer that crashed after inserting but before committing: the
	// next one gets the same messages again; FINAL shows each once.
	r2 := newFakeReader()
	r2.push("events", 3, vals[:4000]...)
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { done <- db.ConsumeEvents(ctx2, r2, opts) }()
	waitFor(t, time.Minute, "replay committed", func() bool { _, c := r2.fetched(); return c == 4000 })
	cancel2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableEvents)+" FINAL"); n != 19_998 {
		t.Errorf("count FINAL after replay = %d, want 19998", n)
	}
	if n := count(t, db, "SELECT uniqExact(event_id) FROM "+db.table(tableEvents)); n != 19_998 {
		t.Errorf("distinct event ids after replay = %d, want 19998", n)
	}
}

func TestConsumeFindings(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	r := newFakeReader()
	t0 := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	var vals [][]byte
	for i, st := range []detect.Status{detect.StatusOpen, detect.StatusUpdate, detect.StatusResolved} {
		f := detect.Finding{IncidentID: "inc-9", Status: st, Client: "10.1.2.3", ClientKind: "ip", Detector: detect.DetectorAuthFailures,
			WindowStart: t0, WindowEnd: t0.Add(time.Duration(i+1) * time.Minute), Windows: i + 1, Observed: 40, Expected: 1,
			Unit: "auth failures/min", Severity: detect.SeverityHigh, Baseline: detect.BaselinePopulation, Summary: "s"}
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, b)
	}
	vals = append(vals, []byte(`{"status":"open"}`)) // no incident id: bad
	r.push("findings", 2, vals...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- db.ConsumeFindings(ctx, r, ConsumerOptions{BatchOptions: BatchOptions{FlushInterval: 50 * time.Millisecond}})
	}()
	waitFor(t, time.Minute, "findings committed", func() bool { _, c := r.fetched(); return c == 4 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableFindings)+" WHERE incident_id = 'inc-9'"); n != 3 {
		t.Errorf("%d lifecycle rows stored, want 3", n)
	}
	open, err := db.OpenFindings(context.Background(), FindingsQuery{})
	if err != nil || len(open) != 0 {
		t.Errorf("resolved incident listed as open: %v, %v", open, err)
	}
}

// TestConsumeFetchError returns the reader's error (not ctx's end).
func TestConsumeFetchError(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	err := db.ConsumeEvents(context.Background(), errReader{}, ConsumerOptions{})
	if err == nil || !errors.Is(err, errBroker) {
		t.Errorf("ConsumeEvents = %v, want the fetch error", err)
	}
}

var errBroker = errors.New("broker gone")

type errReader struct{}

func (errReader) FetchMessage(context.Context) (kafka.Message, error) {
	return kafka.Message{}, errBroker
}
func (errReader) CommitMessages(context.Context, ...kafka.Message) error { return nil }

// clickhouseScript runs deploy/clickhouse/clickhouse.sh cmd dir with the
// extra environment env.
func clickhouseScript(t *testing.T, cmd, dir string, env ...string) {
	t.Helper()
	c := exec.Command("bash", "../deploy/clickhouse/clickhouse.sh", cmd, dir)
	c.Env = append(os.Environ(), env...)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("clickhouse.sh %s: %v\n%s", cmd, err, out)
	}
	t.Logf("clickhouse.sh %s: %s", cmd, strings.TrimSpace(string(out)))
}

// TestOutage stops a ClickHouse server for GATEWATCH_TEST_CLICKHOUSE_OUTAGE
// (default 30s) while a Kafka consumer and an embedded Writer keep being
// fed, restarts it, and checks the exact row counts. It starts a private
// server of its own with deploy/clickhouse/clickhouse.sh (on free ports, in
// a temp dir), so the shared test server never goes away under other tests
// or packages. It takes about 45 s: the outage, plus the up to 10 s the
// server waits for idle client connections when it stops. -short skips it.
func TestOutage(t *testing.T) {
	t.Parallel()
	base := testOptions(t) // skips without a test server: then the binary may be missing too
	if testing.Short() {
		t.Skip("-short: the outage test takes about 45s")
	}
	testenv.LookPath(t, "clickhouse-server", "clickhouse-server")
	outage := 30 * time.Second
	if s := os.Getenv("GATEWATCH_TEST_CLICKHOUSE_OUTAGE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("GATEWATCH_TEST_CLICKHOUSE_OUTAGE: %v", err)
		}
		outage = d
	}
	dir := t.TempDir()
	ports := testenv.FreePorts(t, 3)
	clickhouseScript(t, "start", dir, "CLICKHOUSE_PORT="+itoa(ports[0]), "CLICKHOUSE_TLS_PORT="+itoa(ports[1]), "CLICKHOUSE_HTTP_PORT="+itoa(ports[2]))
	t.Cleanup(func() { clickhouseScript(t, "stop", dir) })
	password, err := os.ReadFile(dir + "/password")
	if err != nil {
		t.Fatal(err)
	}
	db := migrated(t, testClickHouse(t, func(o *Options) {
		o.Addr = "127.0.0.1:" + itoa(ports[0])
		o.Password = string(password)
		o.Database = base.Database
	}))

	const batch = 2000
	start := time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC)
	r := newFakeReader()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	consumed := make(chan error, 1)
	var retries sync.Map
	go func() {
		consumed <- db.ConsumeEvents(ctx, r, ConsumerOptions{BatchOptions: BatchOptions{
			BatchRows: batch, FlushInterval: 100 * time.Millisecond,
			Backoff: Backoff{Min: 50 * time.Millisecond, Max: time.Second},
			OnError: func(err error) { retries.Store("consumer", true) },
		}})
	}()
	w := NewWriter(db, WriterOptions{
		BatchOptions: BatchOptions{BatchRows: batch, FlushInterval: 100 * time.Millisecond, Backoff: Backoff{Min: 50 * time.Millisecond, Max: time.Second}},
		MaxPending:   2,
	})

	// Before: 10k through each path.
	r.push("events", 3, wireMessages(sampleEvents(10_000, start, "kafka"))...)
	if err := w.Write(ctx, sampleEvents(10_000, start, "embedded")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "first 10000 committed", func() bool { _, c := r.fetched(); return c == 10_000 })

	clickhouseScript(t, "stop", dir)
	down := time.Now()

	// During: 30k more into Kafka, and embedded writes until they block.
	r.push("events", 3, wireMessages(sampleEvents(30_000, start.Add(time.Hour), "kafka"))...)
	embedded := 10_000
	wctx, wcancel := context.WithTimeout(ctx, outage/2)
	for _, more := range [][]ingest.Event{sampleEvents(30_000, start.Add(time.Hour), "embedded")} {
		for i := 0; i < len(more); i += 500 {
			if err := w.Write(wctx, more[i:i+500]); err != nil {
				break // blocked: MaxPending batches wait for the server
			}
			embedded += 500
		}
	}
	wcancel()
	time.Sleep(time.Until(down.Add(outage)))
	fetched, committed := r.fetched()
	t.Logf("after %v down: consumer fetched %d, committed %d; embedded writer accepted %d", time.Since(down).Round(time.Second), fetched, committed, embedded)
	if committed != 10_000 {
		t.Errorf("committed %d while ClickHouse was down, want 10000", committed)
	}
	// Paused, not buffering: MaxInFlight (2) batches, plus the message in
	// hand, the one being fetched and the fetchAhead messages the fetch
	// channel holds.
	if limit := 2*batch + 2 + fetchAhead; fetched-committed > limit {
		t.Errorf("consumer fetched %d messages beyond the commits while down, want at most %d", fetched-committed, limit)
	}
	// Embedded: Inserters (2) batches in retry, MaxPending (2) queued and
	// the one being filled (which may run over by one Write of 500).
	if embedded-10_000 > (2+2+1)*batch+500 {
		t.Errorf("embedded writer accepted %d rows while down: memory not bounded", embedded-10_000)
	}
	if _, ok := retries.Load("consumer"); !ok {
		t.Error("consumer saw no insert error while ClickHouse was down")
	}

	clickhouseScript(t, "start", dir)
	up := time.Now()
	waitFor(t, 2*time.Minute, "all 40000 Kafka messages committed", func() bool { _, c := r.fetched(); return c == 40_000 })
	t.Logf("consumer caught up %v after the restart", time.Since(up).Round(10*time.Millisecond))
	cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer ccancel()
	if err := w.Close(cctx); err != nil {
		t.Fatalf("writer Close after the outage: %v", err)
	}
	t.Logf("writer flushed %v after the restart", time.Since(up).Round(10*time.Millisecond))
	cancel()
	if err := <-consumed; err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"kafka": 40_000, "embedded": uint64(embedded)}
	for client, n := range want {
		got := count(t, db, "SELECT count() FROM "+db.table(tableEvents)+" FINAL WHERE client = ?", client)
		raw := count(t, db, "SELECT count() FROM "+db.table(tableEvents)+" WHERE client = ?", client)
		t.Logf("%s: %d rows (FINAL), %d raw", client, got, raw)
		if got != n {
			t.Errorf("%s: %d rows after the outage, want exactly %d", client, got, n)
		}
	}
}
