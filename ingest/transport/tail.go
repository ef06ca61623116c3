package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/ingest"
)

// TailOptions say where TailEvents starts and when it stops.
type TailOptions struct {
	// Since starts each partition at the first message written at most
	// this long ago; zero starts at the oldest message kept.
	Since time.Duration
	// Follow keeps reading new messages until ctx ends; otherwise
	// TailEvents returns once every partition is read up to where it
	// ended when TailEvents started.
	Follow bool
}

// Tailed is one message TailEvents read: its place in the topic and the
// event it holds (Err set instead when it did not decode).
type Tailed struct {
	Partition int
	Offset    int64
	Event     *ingest.Event // valid only during the callback
	Err       error
}

// TailEvents reads topic without a consumer group (nothing is committed,
// so any number of tails can watch a topic) and calls fn with each
// message, in either wire encoding, from one goroutine: each partition in
// order, partitions interleaved. It returns fn's first error, or nil when
// done (see TailOptions.Follow) or ctx ends.
func (c Config) TailEvents(ctx context.Context, topic string, opts TailOptions, fn func(Tailed) error) error {
	d, err := c.Dialer()
	if err != nil {
		return fmt.Errorf("tail %s: %w", topic, err)
	}
	parts, err := d.LookupPartitions(ctx, "tcp", c.brokers()[0], topic)
	if err != nil {
		return fmt.Errorf("tail %s: %w", topic, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan kafka.Message, 256)
	errs := make(chan error, len(parts))
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Go(func() { errs <- c.tailPartition(ctx, d, topic, p.ID, opts, msgs) })
	}
	go func() { wg.Wait(); close(msgs) }()
	err = deliverTailed(msgs, fn)
	cancel()
	for range msgs { // let the partition readers return
	}
	close(errs)
	for e := range errs {
		if err == nil && e != nil && !errors.Is(e, context.Canceled) {
			err = e
		}
	}
	return err
}

// deliverTailed decodes each message and calls fn, until msgs is closed
// or fn fails.
func deliverTailed(msgs <-chan kafka.Message, fn func(Tailed) error) error {
	var ev ingest.Event
	for m := range msgs {
		ev.Reset()
		t := Tailed{Partition: m.Partition, Offset: m.Offset, Event: &ev}
		t.Err = ingest.DecodeWire(m.Value, &ev)
		if err := fn(t); err != nil {
			return err
		}
	}
	return nil
}

// tailPartition sends partition p's messages from opts.Since on to msgs,
// stopping at the partition's end as of now unless opts.Follow.
func (c Config) tailPartition(ctx context.Context, d *kafka.Dialer, topic string, p int, opts TailOptions, msgs chan<- kafka.Message) error {
	first, end, err := tailRange(ctx, d, c.brokers()[0], topic, p, opts.Since)
	if err != nil || (!opts.Follow && first >= end) {
		return err
	}
	r := NewPartitionReader(d, c.brokers(), PartitionReaderOptions{Topic: topic, Partition: p, Offset: first})
	defer r.Close()
	for {
		rec, err := r.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A broker away or a leader moving: try again, as a tail
			// waiting for events would.
			if !sleepCtx(ctx, time.Second) {
				return ctx.Err()
			}
			continue
		}
		m := kafka.Message{Topic: topic, Partition: p, Offset: rec.Offset, Value: bytes.Clone(rec.Value)}
		select {
		case msgs <- m:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !opts.Follow && m.Offset+1 >= end {
			return nil
		}
	}
}

// sleepCtx waits for d or ctx, reporting whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// tailRange returns the offset partition p starts at for a tail since
// that long ago (0: its oldest message) and its end now.
func tailRange(ctx context.Context, d *kafka.Dialer, broker, topic string, p int, since time.Duration) (first, end int64, err error) {
	conn, err := d.DialLeader(ctx, "tcp", broker, topic, p)
	if err != nil {
		return 0, 0, fmt.Errorf("tail %s[%d]: %w", topic, p, err)
	}
	defer conn.Close()
	if first, end, err = conn.ReadOffsets(); err != nil {
		return 0, 0, fmt.Errorf("tail %s[%d]: %w", topic, p, err)
	}
	if since > 0 {
		at, err := conn.ReadOffset(time.Now().Add(-since))
		if err != nil {
			return 0, 0, fmt.Errorf("tail %s[%d]: %w", topic, p, err)
		}
		if at < 0 { // nothing written since then
			at = end
		}
		first = max(first, at)
	}
	return first, end, nil
}
