package transport

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/metadata"
)

// produceWriter is the Producer's messageWriter on a real cluster: a write
// is one produce request per partition, sent at once, each carrying all of
// that partition's messages as one record batch (batchWriter), so they
// land or fail together; the batch is encoded once and sent as is on every
// attempt (kafka-go's RawProduce). A request that
// fails is tried again up to attempts times (not for a message too large
// or malformed); then its partition's messages come back to the Producer
// as their errors (kafka.WriteErrors), which queues them again, ahead of
// anything newer. Only the Producer's sender calls WriteMessages.
//
// It replaced kafka-go's Writer, which asked its Transport for the topic's
// metadata (a request object allocated and answered) and filled a map for
// every message, and handed each partition's messages to a goroutine of
// its own through a batch: 0.3-0.4 µs of collect's CPU per line.
type produceWriter struct {
	produceSettings

	ids    []int     // 0..n-1 for the balancer
	groups [][]int32 // message indexes per partition, reused
	errs   []error   // each partition's outcome, reused
	// enc holds *batchWriter: one per partition being written at once,
	// each holding buffers the size of its last batch, given back to the
	// garbage collector when idle (a slot per partition would keep two
	// request-sized buffers for every partition a topic has).
	enc sync.Pool
}

// produceSettings are a produceWriter's client and settings: what
// writers to one topic share (the balancer and the client's metadata
// cache are safe to share).
type produceSettings struct {
	client     *kafka.Client // Addr is the cluster, Transport answers metadata from a cache
	topic      string
	codec      kafka.Compression
	autoCreate bool
	bal        *partitionCounter
	log        *slog.Logger // nil: none
	timeout    time.Duration
	attempts   int
	backoffMin time.Duration
	backoffMax time.Duration
}

// WriteMessages produces msgs, each to the partition bal picks, and
// returns nil, an error for the whole call (the topic's metadata), or
// kafka.WriteErrors with one entry per message.
func (w *produceWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	n, err := w.partitions(ctx)
	if err != nil {
		return err
	}
	w.group(msgs, n)
	now := time.Now()
	var wg sync.WaitGroup
	for p, idx := range w.groups {
		w.errs[p] = nil
		if len(idx) == 0 {
			continue
		}
		wg.Go(func() {
			r, _ := w.enc.Get().(*batchWriter)
			if r == nil {
				r = new(batchWriter)
			}
			r.codec = w.codec
			batch, err := r.encode(msgs, idx, now)
			attempts := 0
			if err == nil {
				attempts, err = w.produce(ctx, p, batch)
			}
			if err == nil && attempts == 1 {
				// After a failed attempt (a timeout) the transport's
				// connection may still be reading the batch: only a
				// batch the broker took at once is given back for reuse.
				w.enc.Put(r)
			}
			w.errs[p] = err
		})
	}
	wg.Wait()
	return w.outcome(len(msgs))
}

// group assigns msgs to the n partitions.
func (w *produceWriter) group(msgs []kafka.Message, n int) {
	for len(w.ids) < n {
		w.ids = append(w.ids, len(w.ids))
	}
	if len(w.groups) < n {
		w.groups = append(w.groups, make([][]int32, n-len(w.groups))...)
		w.errs = make([]error, n)
	}
	w.groups = w.groups[:n]
	for p := range w.groups {
		w.groups[p] = w.groups[p][:0]
	}
	for i := range msgs {
		p := w.bal.Balance(msgs[i], w.ids[:n]...)
		w.groups[p] = append(w.groups[p], int32(i))
	}
}

// outcome is the write's error: nil when every partition succeeded, else
// each message's partition's error.
func (w *produceWriter) outcome(count int) error {
	failed := false
	for p := range w.groups {
		failed = failed || w.errs[p] != nil
	}
	if !failed {
		return nil
	}
	werrs := make(kafka.WriteErrors, count)
	for p, idx := range w.groups {
		for _, i := range idx {
			werrs[i] = w.errs[p]
		}
	}
	return werrs
}

// partitions is the topic's partition count, from the Transport's
// metadata (metadataCache answers most calls).
func (w *produceWriter) partitions(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	res, err := w.client.Transport.RoundTrip(ctx, w.client.Addr, &metadata.Request{
		TopicNames: []string{w.topic}, AllowAutoTopicCreation: w.autoCreate,
	})
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %w", w.topic, err)
	}
	for _, t := range res.(*metadata.Response).Topics {
		if t.Name != w.topic {
			continue
		}
		if t.ErrorCode != 0 {
			return 0, fmt.Errorf("metadata of %s: %w", w.topic, kafka.Error(t.ErrorCode))
		}
		if len(t.Partitions) == 0 {
			return 0, fmt.Errorf("metadata of %s: no partitions", w.topic)
		}
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("metadata of %s: %w", w.topic, kafka.UnknownTopicOrPartition)
}

// produce sends one partition's record batch, trying up to w.attempts
// times with a backoff between, until every replica has it, and returns
// how many attempts it made.
func (w *produceWriter) produce(ctx context.Context, p int, batch []byte) (int, error) {
	backoff := w.backoffMin
	for attempt := 1; ; attempt++ {
		err := w.produceOnce(ctx, p, batch)
		if err == nil || attempt >= w.attempts || permanent(err) || ctx.Err() != nil {
			if err != nil && w.log != nil {
				w.log.Warn("kafka produce failed", "topic", w.topic, "partition", p, "attempts", attempt, "err", err)
			}
			return attempt, err
		}
		if w.log != nil {
			w.log.Debug("kafka produce failed; retrying", "topic", w.topic, "partition", p, "attempt", attempt, "err", err)
		}
		if !sleepCtx(ctx, backoff) {
			return attempt, err
		}
		backoff = min(2*backoff, w.backoffMax)
	}
}

// produceOnce sends one partition's record batch once.
func (w *produceWriter) produceOnce(ctx context.Context, p int, batch []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	res, err := w.client.RawProduce(ctx, &kafka.RawProduceRequest{
		Topic: w.topic, Partition: p, RequiredAcks: kafka.RequireAll,
		RawRecords: protocol.RawRecordSet{Reader: bytes.NewReader(batch)},
	})
	switch {
	case err != nil:
		return err
	case res.Error != nil:
		return res.Error
	}
	for _, e := range res.RecordErrors {
		return e
	}
	return nil
}

// Close releases nothing: the Transport's connections belong to it.
func (w *produceWriter) Close() error { return nil }
