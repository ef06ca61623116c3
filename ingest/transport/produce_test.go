package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/produce"
	"github.com/segmentio/kafka-go/protocol/rawproduce"
)

// fakeCluster answers metadata (parts partitions of one topic, or
// metaErr) and produce requests, recording each request's values and
// failing a partition's requests with fail's error code.
type fakeCluster struct {
	topic   string
	parts   int
	metaErr kafka.Error

	mu        sync.Mutex
	fail      map[int]kafka.Error
	transient map[int]int      // requests failed with NotLeaderForPartition before a partition's succeed
	metaFails int              // metadata requests answered LeaderNotAvailable before the right answer
	requests  map[int]int      // produce requests per partition
	got       map[int][]string // values per partition, in the order they landed
}

func (c *fakeCluster) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	switch r := req.(type) {
	case *metadata.Request:
		t := metadata.ResponseTopic{Name: c.topic, ErrorCode: int16(c.metaErr)}
		c.mu.Lock()
		if c.metaFails > 0 {
			c.metaFails--
			t.ErrorCode = int16(kafka.LeaderNotAvailable)
		}
		c.mu.Unlock()
		for p := range c.parts {
			t.Partitions = append(t.Partitions, metadata.ResponsePartition{PartitionIndex: int32(p)})
		}
		return &metadata.Response{Topics: []metadata.ResponseTopic{t}}, nil
	case *rawproduce.Request:
		return c.produce(r)
	}
	return nil, errors.New("unexpected request")
}

func (c *fakeCluster) produce(r *rawproduce.Request) (kafka.Response, error) {
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return nil, errors.New("want one partition per request")
	}
	rp := r.Topics[0].Partitions[0]
	p := int(rp.Partition)
	var rs protocol.RecordSet
	if _, err := rs.ReadFrom(rp.RecordSet.Reader); err != nil {
		return nil, err
	}
	var values []string
	for {
		rec, err := rs.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		v, _ := io.ReadAll(rec.Value)
		values = append(values, string(v))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests[p]++
	code := c.fail[p]
	if c.transient[p] > 0 {
		c.transient[p]--
		code = kafka.NotLeaderForPartition
	}
	if code == 0 {
		c.got[p] = append(c.got[p], values...)
	}
	return &produce.Response{Topics: []produce.ResponseTopic{{Topic: c.topic,
		Partitions: []produce.ResponsePartition{{Partition: rp.Partition, ErrorCode: int16(code)}}}}}, nil
}

func newFakeCluster(parts int) *fakeCluster {
	return &fakeCluster{topic: "events", parts: parts, fail: map[int]kafka.Error{}, requests: map[int]int{}, got: map[int][]string{}}
}

func testProduceWriter(c *fakeCluster, bal *partitionCounter) *produceWriter {
	return &produceWriter{produceSettings: produceSettings{
		client: &kafka.Client{Addr: kafka.TCP("127.0.0.1:1"), Transport: c}, topic: c.topic, bal: bal,
		timeout: time.Second, attempts: 3, backoffMin: time.Millisecond, backoffMax: 2 * time.Millisecond,
	}}
}

// keyed returns n messages for clients c0..c(clients-1), values "0".."n-1".
func keyed(n, clients int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte("c" + strconv.Itoa(i%clients)), Value: []byte(strconv.Itoa(i))}
	}
	return msgs
}

// TestProduceWriterOneRequestPerPartition: a write reaches each partition
// as one request holding that partition's messages (Murmur2 of the key,
// as Java clients place them) in the order given.
func TestProduceWriterOneRequestPerPartition(t *testing.T) {
	t.Parallel()
	c := newFakeCluster(4)
	bal := &partitionCounter{}
	w := testProduceWriter(c, bal)
	msgs := keyed(300, 23)
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	want := map[int][]string{}
	for _, m := range msgs {
		p := bal.partitionOf(m.Key, 4, []int{0, 1, 2, 3})
		want[p] = append(want[p], string(m.Value))
	}
	for p := range 4 {
		if c.requests[p] != 1 && len(want[p]) > 0 {
			t.Errorf("partition %d: %d requests, want 1", p, c.requests[p])
		}
		if got := c.got[p]; !slices.Equal(got, want[p]) {
			t.Errorf("partition %d got %v, want %v", p, got, want[p])
		}
	}
}

// TestProduceWriterReusesOnlyAnsweredBatches: a batch whose first
// attempt failed (a timeout leaves the transport's connection reading
// it) is not handed to the next write; one taken at once is.
func TestProduceWriterReusesOnlyAnsweredBatches(t *testing.T) {
	t.Parallel()
	c := newFakeCluster(1)
	c.transient = map[int]int{0: 1}
	w := testProduceWriter(c, &partitionCounter{})
	if err := w.WriteMessages(context.Background(), keyed(10, 3)...); err != nil {
		t.Fatal(err)
	}
	if c.requests[0] != 2 || len(c.got[0]) != 10 {
		t.Fatalf("requests %v, got %d messages, want 2 requests and 10 messages", c.requests, len(c.got[0]))
	}
	if r := w.enc.Get(); r != nil {
		t.Fatal("a batch sent twice was kept for reuse")
	}
}

// TestProduceWriterErrors: a partition that keeps failing with a
// retriable error is tried MaxAttempts times and its messages, and only
// they, come back failed; a permanent error is tried once; the topic's
// metadata failing fails the whole call.
func TestProduceWriterErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		code         kafka.Error
		wantRequests int
	}{
		{"retriable", kafka.NotLeaderForPartition, 3},
		{"permanent", kafka.MessageSizeTooLarge, 1},
	}
	for _, tt := range tests {
		c := newFakeCluster(3)
		c.fail[1] = tt.code
		bal := &partitionCounter{}
		w := testProduceWriter(c, bal)
		msgs := keyed(90, 17)
		err := w.WriteMessages(context.Background(), msgs...)
		var werrs kafka.WriteErrors
		if !errors.As(err, &werrs) || len(werrs) != len(msgs) {
			t.Fatalf("%s: err %v, want one error per message", tt.name, err)
		}
		for i, m := range msgs {
			p := bal.partitionOf(m.Key, 3, []int{0, 1, 2})
			if failed := werrs[i] != nil; failed != (p == 1) || failed && !errors.Is(werrs[i], tt.code) {
				t.Errorf("%s: message %d (partition %d): %v", tt.name, i, p, werrs[i])
			}
		}
		if c.requests[1] != tt.wantRequests || c.requests[0] != 1 || c.requests[2] != 1 {
			t.Errorf("%s: requests %v, want %d to the failing partition and 1 to the others", tt.name, c.requests, tt.wantRequests)
		}
	}
	c := newFakeCluster(3)
	c.metaErr = kafka.UnknownTopicOrPartition
	err := testProduceWriter(c, &partitionCounter{}).WriteMessages(context.Background(), keyed(5, 5)...)
	var werrs kafka.WriteErrors
	if err == nil || errors.As(err, &werrs) || !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Errorf("metadata failing: err %v, want the topic's error for the whole call", err)
	}
}
