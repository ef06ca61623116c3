package transport

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func testWriter(t *testing.T, c *fakeCluster, opts WriterOptions) *Writer {
	t.Helper()
	opts.Topic = c.topic
	opts.WriteBackoffMin, opts.WriteBackoffMax = time.Millisecond, 2*time.Millisecond
	w, err := NewWriter(kafka.TCP("127.0.0.1:1"), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// wantByPartition is what each partition of n should hold after msgs
// were written in order: their values, in order.
func wantByPartition(msgs []kafka.Message, n int) map[int][]string {
	var bal partitionCounter
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	want := map[int][]string{}
	for _, m := range msgs {
		p := bal.partitionOf(m.Key, n, ids)
		want[p] = append(want[p], string(m.Value))
	}
	return want
}

// A write bigger than one request's MaxMessageBytes goes as several
// requests per partition, each within the limit, in order.
func TestWriterCutsAtMaxMessageBytes(t *testing.T) {
	t.Parallel()
	c := newFakeCluster(4)
	w := testWriter(t, c, WriterOptions{MaxMessageBytes: 4000})
	msgs := keyed(400, 31)
	for i := range msgs {
		msgs[i].Value = fmt.Appendf(nil, "%04d %s", i, strings.Repeat("v", 60))
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	want := wantByPartition(msgs, 4)
	for p := range 4 {
		if got := c.got[p]; !slices.Equal(got, want[p]) {
			t.Errorf("partition %d: %d values, want %d in order", p, len(got), len(want[p]))
		}
		// 400 messages of about 115 bytes framed, 4000*0.9 a write.
		if c.requests[p] < 10 {
			t.Errorf("partition %d: %d requests, want the write cut in 10 or more", p, c.requests[p])
		}
	}
	one := testWriter(t, newFakeCluster(4), WriterOptions{})
	if n := one.cut(msgs); n != len(msgs) {
		t.Errorf("default limit: cut at %d of %d small messages", n, len(msgs))
	}
	big := []kafka.Message{{Value: make([]byte, 2<<20)}, {Value: []byte("x")}}
	if n := one.cut(big); n != 1 {
		t.Errorf("a message over the limit: cut at %d, want it alone", n)
	}
}

// Concurrent writes all land, each one's messages in order on their
// partitions (run with -race).
func TestWriterConcurrentWrites(t *testing.T) {
	t.Parallel()
	c := newFakeCluster(3)
	w := testWriter(t, c, WriterOptions{Compression: "none"})
	const writers, each = 8, 200
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for g := range writers {
		wg.Go(func() {
			msgs := make([]kafka.Message, each)
			for i := range msgs {
				msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "w%d-c%d", g, i%5), Value: fmt.Appendf(nil, "%d/%04d", g, i)}
			}
			for i := 0; i < each; i += 50 {
				if err := w.WriteMessages(context.Background(), msgs[i:i+50]...); err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for p, vals := range c.got {
		total += len(vals)
		last := map[string]string{}
		for _, v := range vals {
			g := v[:strings.IndexByte(v, '/')]
			if v <= last[g] {
				t.Fatalf("partition %d: %s after %s", p, v, last[g])
			}
			last[g] = v
		}
	}
	if err := errorsJoin(errs); err != nil || total != writers*each {
		t.Fatalf("err %v, %d messages landed, want %d", err, total, writers*each)
	}
}

func errorsJoin(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// A failed write says how many messages were written before it; the
// writes after it are not attempted.
func TestWriterErrorSaysWhatWasWritten(t *testing.T) {
	t.Parallel()
	c := newFakeCluster(2)
	w := testWriter(t, c, WriterOptions{MaxMessageBytes: 1000, MaxAttempts: 2})
	msgs := keyed(100, 7)
	for i := range msgs {
		msgs[i].Value = fmt.Appendf(nil, "%04d %s", i, strings.Repeat("v", 40))
	}
	c.fail[1] = kafka.NotLeaderForPartition
	err := w.WriteMessages(context.Background(), msgs...)
	if err == nil || !strings.Contains(err.Error(), "0 of 100 messages written") {
		t.Fatalf("err %v, want one saying 0 of 100 were written", err)
	}
	if c.requests[1] != 2 || c.requests[0] != 1 {
		t.Fatalf("requests %v, want 2 attempts to partition 1, 1 to partition 0, none after", c.requests)
	}
	// A topic without a leader yet (just created) is waited for.
	c = newFakeCluster(2)
	c.metaFails = 3
	if err := testWriter(t, c, WriterOptions{}).WriteMessages(context.Background(), msgs...); err != nil || len(c.got[0])+len(c.got[1]) != len(msgs) {
		t.Fatalf("after 3 metadata answers without a leader: %v, %d messages landed", err, len(c.got[0])+len(c.got[1]))
	}
	c = newFakeCluster(2)
	c.metaFails = 100
	if err := testWriter(t, c, WriterOptions{MaxAttempts: 3}).WriteMessages(context.Background(), msgs...); err == nil || c.metaFails != 97 {
		t.Fatalf("a topic that never gets a leader: err %v after %d metadata requests, want an error after 3", err, 100-c.metaFails)
	}
	if _, err := NewWriter(kafka.TCP("x:1"), c, WriterOptions{}); err == nil {
		t.Fatal("a writer without a topic")
	}
	if _, err := NewWriter(kafka.TCP("x:1"), c, WriterOptions{Topic: "t", Compression: "brotli"}); err == nil {
		t.Fatal("a writer with an unknown codec")
	}
}

// On the real broker: concurrent writers with keys, headers and a write
// cut in several, read back whole and in order per partition.
func TestWriterRealBroker(t *testing.T) {
	t.Parallel()
	cfg := plaintextConfig(t)
	topic := createTopic(t, cfg)
	tr, err := cfg.Transport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	w, err := NewWriter(cfg.Addr(), tr, WriterOptions{Topic: topic, MaxMessageBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 3, 1000
	all := make([][]kafka.Message, writers)
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for g := range writers {
		msgs := make([]kafka.Message, each)
		for i := range msgs {
			msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "w%d-c%d", g, i%9), Value: fmt.Appendf(nil, "%d/%04d %s", g, i, strings.Repeat("x", i%200)),
				Headers: []kafka.Header{{Key: "seq", Value: fmt.Appendf(nil, "%d", i)}}}
		}
		all[g] = msgs
		wg.Go(func() { errs[g] = w.WriteMessages(context.Background(), msgs...) })
	}
	wg.Wait()
	if err := errorsJoin(errs); err != nil {
		t.Fatal(err)
	}
	checkWrittenInOrder(t, cfg, topic, all)
}

// checkWrittenInOrder reads every partition of topic and checks it holds
// exactly the messages each writer wrote there, in the writer's order.
func checkWrittenInOrder(t *testing.T, cfg Config, topic string, all [][]kafka.Message) {
	t.Helper()
	var flat []kafka.Message
	for _, msgs := range all {
		flat = append(flat, msgs...)
	}
	want := wantByPartition(flat, testPartitions)
	for p := range testPartitions {
		got := map[string][]string{} // by writer
		for _, rec := range readAll(t, cfg, topic, p, 0, len(want[p])) {
			v := string(rec.Value)
			g := v[:strings.IndexByte(v, '/')]
			got[g] = append(got[g], v)
		}
		wantG := map[string][]string{}
		for _, v := range want[p] {
			g := v[:strings.IndexByte(v, '/')]
			wantG[g] = append(wantG[g], v)
		}
		for g, vals := range wantG {
			if !slices.Equal(got[g], vals) {
				t.Fatalf("partition %d, writer %s: %d values, want %d in order", p, g, len(got[g]), len(vals))
			}
		}
	}
}
