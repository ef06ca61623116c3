package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// WriterOptions tune a Writer. The zero value works but for Topic.
type WriterOptions struct {
	// Topic to write to (required).
	Topic string
	// Compression is "lz4" (default), "zstd", "snappy", "gzip" or "none".
	Compression string
	// MaxMessageBytes caps one partition's record batch, uncompressed
	// (DefaultMaxMessageBytes, the broker's default message.max.bytes):
	// a write bigger than that is sent as several, in order.
	MaxMessageBytes int64
	// MaxAttempts is how many times a partition's produce request is
	// tried (10), with a backoff between WriteBackoffMin (100 ms) and
	// WriteBackoffMax (1 s), as kafka-go's Writer does by default.
	MaxAttempts     int
	WriteBackoffMin time.Duration
	WriteBackoffMax time.Duration
	// WriteTimeout bounds one produce request (DefaultWriteTimeout).
	WriteTimeout time.Duration
	// Logger receives failed produce requests (Warn); none when nil.
	Logger *slog.Logger
}

// Writer writes messages to one topic synchronously: WriteMessages
// returns once every in-sync replica has every message (acks=all), or an
// error. Messages are partitioned by key with Murmur2, as Java clients
// and kafka-go's Murmur2Balancer place them; a partition's messages land
// in the order given. It is safe for concurrent use: each call takes an
// encoder of its own (produceWriter, the Producer's), so concurrent
// writes are encoded and sent in parallel.
//
// It is detect's writer of window records, findings and contract
// reports, which replaced kafka-go's Writer: that one encoded each
// record through its buffered encoder and the frame writer, and handed
// each partition's messages to a goroutine of its own through a batch,
// about a sixth of a detect replica's CPU with the windows topic on.
type Writer struct {
	cfg      produceSettings // each produceWriter's
	maxBytes int64           // of one write's messages, all partitions together

	mu   sync.Mutex
	free []*produceWriter
}

// NewWriter returns a Writer on the cluster at addr, whose requests go
// through tr (a *kafka.Transport from Config.Transport, shared with the
// caller's other clients). It does not contact the brokers.
func NewWriter(addr net.Addr, tr kafka.RoundTripper, opts WriterOptions) (*Writer, error) {
	if opts.Topic == "" {
		return nil, fmt.Errorf("kafka writer: no topic")
	}
	if opts.Compression == "" {
		opts.Compression = "lz4"
	}
	codec, err := compressionCodec(opts.Compression)
	if err != nil {
		return nil, fmt.Errorf("kafka writer: %w", err)
	}
	log := opts.Logger
	if log != nil {
		log = log.With("component", "kafka writer")
	}
	w := &Writer{cfg: produceSettings{
		client: &kafka.Client{Addr: addr, Transport: &metadataCache{next: tr}},
		topic:  opts.Topic, codec: codec, bal: &partitionCounter{},
		log: log, timeout: positive(opts.WriteTimeout, DefaultWriteTimeout),
		attempts:   int(positive(int64(opts.MaxAttempts), 10)),
		backoffMin: positive(opts.WriteBackoffMin, 100*time.Millisecond),
		backoffMax: positive(opts.WriteBackoffMax, time.Second),
	}}
	w.cfg.backoffMax = max(w.cfg.backoffMax, w.cfg.backoffMin)
	// A tenth below the limit, as the Producer cuts: a record's framing
	// is a little more than messageOverhead for some.
	w.maxBytes = (positive(opts.MaxMessageBytes, DefaultMaxMessageBytes) + messageOverhead) * 9 / 10
	return w, nil
}

func positive[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// WriteMessages writes msgs and returns once the brokers have them all.
// Messages beyond one request's MaxMessageBytes go in several writes, in
// order; an error says how many of msgs the writes before the failed one
// wrote (and of the failed write, the partitions whose requests
// succeeded have theirs): those stay written, and a caller that writes
// them again duplicates them, as with kafka-go's Writer.
func (w *Writer) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	pw := w.get()
	defer w.put(pw)
	for done := 0; done < len(msgs); {
		n := w.cut(msgs[done:])
		if err := w.write(ctx, pw, msgs[done:done+n]); err != nil {
			return fmt.Errorf("kafka writer: %s: %d of %d messages written: %w", w.cfg.topic, done, len(msgs), err)
		}
		done += n
	}
	return nil
}

// write writes msgs with pw. A failure of the whole call (the topic's
// metadata: a topic just created may have no leader yet) is tried again
// up to MaxAttempts times, with the backoff between; a failure of
// partitions' requests was retried by pw already.
func (w *Writer) write(ctx context.Context, pw *produceWriter, msgs []kafka.Message) error {
	backoff := w.cfg.backoffMin
	for attempt := 1; ; attempt++ {
		err := pw.WriteMessages(ctx, msgs...)
		var werrs kafka.WriteErrors
		if err == nil || errors.As(err, &werrs) || attempt >= w.cfg.attempts {
			return err
		}
		if !sleepCtx(ctx, backoff) {
			return err
		}
		backoff = min(2*backoff, w.cfg.backoffMax)
	}
}

// cut is how many of msgs (at least one) one write takes: at most
// maxBytes in all, so no partition's request can exceed it.
func (w *Writer) cut(msgs []kafka.Message) int {
	var size int64
	for i := range msgs {
		size += int64(len(msgs[i].Key)+len(msgs[i].Value)) + messageOverhead
		for _, h := range msgs[i].Headers {
			size += int64(len(h.Key) + len(h.Value))
		}
		if size > w.maxBytes && i > 0 {
			return i
		}
	}
	return len(msgs)
}

// get takes an idle produceWriter, or makes one with the Writer's
// settings.
func (w *Writer) get() *produceWriter {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.free); n > 0 {
		pw := w.free[n-1]
		w.free = w.free[:n-1]
		return pw
	}
	return &produceWriter{produceSettings: w.cfg}
}

func (w *Writer) put(pw *produceWriter) {
	w.mu.Lock()
	w.free = append(w.free, pw)
	w.mu.Unlock()
}

// Close releases nothing: the Transport's connections belong to its
// owner. It exists so a Writer stands where a *kafka.Writer did.
func (w *Writer) Close() error { return nil }
