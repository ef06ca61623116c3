package transport

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestTailEventsReadsBothEncodings publishes events in the binary and
// the JSON encoding and one message that is neither to a 6-partition
// topic on the real broker, and tails it: every event comes back once,
// each partition in order, the bad message as an error in its place,
// and a tail that does not follow stops at the end.
func TestTailEventsReadsBothEncodings(t *testing.T) {
	t.Parallel()
	cfg := plaintextConfig(t)
	topic := createTopic(t, cfg)
	const n = 300
	for _, w := range []ingest.WireEncoding{ingest.WireBinary, ingest.WireJSON} {
		p, err := NewProducer(cfg, ProducerOptions{Topic: topic, Wire: w})
		if err != nil {
			t.Fatal(err)
		}
		publishEvents(t, p, 7, n/2)
	}
	bad, err := NewProducer(cfg, ProducerOptions{Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := bad.PublishRaw(ctx, []byte("client-0"), []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	if err := bad.Close(ctx); err != nil {
		t.Fatal(err)
	}
	seen, errs := map[string]int{}, 0
	last := map[int]int64{}
	err = cfg.TailEvents(ctx, topic, TailOptions{}, func(m Tailed) error {
		if off, ok := last[m.Partition]; ok && m.Offset <= off {
			return fmt.Errorf("partition %d: offset %d after %d", m.Partition, m.Offset, off)
		}
		last[m.Partition] = m.Offset
		if m.Err != nil {
			errs++
			return nil
		}
		seen[m.Event.RequestID+"|"+m.Event.Format]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n/2 || errs != 1 {
		t.Fatalf("%d distinct events, %d undecodable; want %d and 1", len(seen), errs, n/2)
	}
	for k, c := range seen {
		if c != 2 { // once per encoding
			t.Fatalf("%s read %d times, want 2", k, c)
		}
	}
}

// TestTailEventsSinceAndFollow: a tail since a minute ago of a topic
// written earlier reads nothing old, follows, and returns the callback's
// error once the new event arrives.
func TestTailEventsSinceAndFollow(t *testing.T) {
	t.Parallel()
	cfg := plaintextConfig(t)
	topic := createTopic(t, cfg)
	p, err := NewProducer(cfg, ProducerOptions{Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	old := clientEvent(1, 0)
	if err := p.Publish(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Kafka's timestamps have millisecond resolution: a tail since 1 ms
	// ago, started a moment later, must skip the old event.
	time.Sleep(50 * time.Millisecond)
	errDone := errors.New("got it")
	go func() {
		time.Sleep(2 * time.Second)
		p.Publish(ctx, clientEvent(2, 0))
		p.Close(ctx)
	}()
	var got []string
	err = cfg.TailEvents(ctx, topic, TailOptions{Since: time.Millisecond, Follow: true}, func(m Tailed) error {
		if m.Err != nil {
			return m.Err
		}
		got = append(got, m.Event.ClientKey)
		return errDone
	})
	if !errors.Is(err, errDone) || len(got) != 1 || got[0] != "client-2" {
		t.Fatalf("TailEvents = %v after %v, want the new event only", err, got)
	}
}
