package transport

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/produce"
)

// countingTripper answers metadata requests with res (or err) and counts
// the requests it saw.
type countingTripper struct {
	calls int
	res   *metadata.Response
	err   error
}

func (c *countingTripper) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	c.calls++
	if _, ok := req.(*metadata.Request); !ok {
		return &produce.Response{}, nil
	}
	return c.res, c.err
}

func topicMeta(name string, partitions int, code int16) *metadata.Response {
	t := metadata.ResponseTopic{Name: name, ErrorCode: code, Partitions: make([]metadata.ResponsePartition, partitions)}
	return &metadata.Response{Topics: []metadata.ResponseTopic{t}}
}

// TestMetadataCache: a good answer for one topic is repeated without
// asking again; other topics, other requests, errors and answers without
// partitions go through every time.
func TestMetadataCache(t *testing.T) {
	ctx := context.Background()
	ask := func(c *metadataCache, topic string) (kafka.Response, error) {
		return c.RoundTrip(ctx, nil, &metadata.Request{TopicNames: []string{topic}})
	}
	for _, tc := range []struct {
		name      string
		res       *metadata.Response
		err       error
		wantCalls int
	}{
		{"good answer", topicMeta("events", 6, 0), nil, 1},
		{"error", nil, errors.New("broker away"), 3},
		{"topic error", topicMeta("events", 0, int16(kafka.UnknownTopicOrPartition)), nil, 3},
		{"no partitions", topicMeta("events", 0, 0), nil, 3},
		{"another topic", topicMeta("other", 6, 0), nil, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := &countingTripper{res: tc.res, err: tc.err}
			c := &metadataCache{next: next}
			for range 3 {
				res, err := ask(c, "events")
				if !errors.Is(err, tc.err) || (tc.err == nil && res != tc.res) {
					t.Fatalf("RoundTrip = %v, %v; want the next tripper's %v, %v", res, err, tc.res, tc.err)
				}
			}
			if next.calls != tc.wantCalls {
				t.Fatalf("next asked %d times for 3 requests, want %d", next.calls, tc.wantCalls)
			}
		})
	}
	next := &countingTripper{res: topicMeta("events", 6, 0)}
	c := &metadataCache{next: next}
	ask(c, "events")
	c.RoundTrip(ctx, nil, &produce.Request{})
	c.RoundTrip(ctx, nil, &metadata.Request{TopicNames: []string{"events", "other"}})
	if next.calls != 3 {
		t.Fatalf("next asked %d times, want 3: a produce and a two-topic request are not cached", next.calls)
	}
}

// TestPartitionHint: the balancer takes the partition the Producer found
// for a key when the topic still has as many partitions, and hashes the
// key itself otherwise, or when there is no hint.
func TestPartitionHint(t *testing.T) {
	b := &partitionCounter{}
	ids := []int{0, 1, 2, 3, 4, 5}
	key := []byte("client-42")
	want := b.partitionOf(key, 6, ids)
	other := (want + 1) % 6
	b.hintN.Store(6)
	if got := b.Balance(kafka.Message{Key: key, WriterData: other}, ids...); got != other {
		t.Fatalf("with a hint for 6 partitions: %d, want the hint %d", got, other)
	}
	if got := b.Balance(kafka.Message{Key: key}, ids...); got != want {
		t.Fatalf("without a hint: %d, want murmur2's %d", got, want)
	}
	b.hintN.Store(3)
	if got := b.Balance(kafka.Message{Key: key, WriterData: other}, ids...); got != want {
		t.Fatalf("hint for 3 partitions on a topic of 6: %d, want murmur2's %d", got, want)
	}
	if b.n.Load() != 6 {
		t.Fatalf("partition count %d, want 6", b.n.Load())
	}
}
