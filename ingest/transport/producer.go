package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/segmentio/kafka-go"
)

// DefaultTopic is the topic events are published to when none is set.
const DefaultTopic = "gatewatch.events"

// Producer defaults, used for zero ProducerOptions fields.
const (
	DefaultBatchSize        = 10_000
	DefaultBatchBytes       = 8 << 20
	DefaultMaxMessageBytes  = 1 << 20 // the broker's default message.max.bytes
	DefaultBatchTimeout     = 50 * time.Millisecond
	DefaultMaxAttempts      = 3
	DefaultWriteBackoffMin  = 100 * time.Millisecond
	DefaultWriteBackoffMax  = 5 * time.Second
	DefaultMaxBuffered      = 100_000
	DefaultMaxBufferedBytes = 64 << 20
	DefaultWriteTimeout     = 10 * time.Second
)

// ProducerOptions tune a Producer. The zero value works.
type ProducerOptions struct {
	// Topic to publish to; DefaultTopic when empty.
	Topic string
	// BatchSize and BatchBytes cap one write: the messages sent at once,
	// one produce request per partition, in parallel. BatchTimeout is how
	// long the first message of a write waits for more.
	BatchSize    int
	BatchBytes   int64
	BatchTimeout time.Duration
	// MaxMessageBytes caps one partition's record batch (uncompressed) and
	// so one message; keep it at or below the broker's message.max.bytes.
	// Publish refuses a larger message with ErrMessageTooLarge, which
	// wraps an *ingest.TooLargeError with the sizes (an ingest.Intake
	// dead-letters the line of such an event and carries on).
	MaxMessageBytes int64
	// Compression is "lz4" (default), "zstd", "snappy", "gzip" or "none".
	// lz4 costs collect 12-17% less CPU than zstd and detect and store
	// less to read (BenchmarkCollectRealBroker); zstd keeps events in 40%
	// fewer bytes on the brokers' disks.
	Compression string
	// Wire is the encoding Publish writes events in: binary (the zero
	// value, docs/event.proto) or JSON (docs/wire-format.md). Readers
	// take both, so it can change while a topic holds the other.
	Wire ingest.WireEncoding
	// MaxAttempts is how many times a partition's produce request is
	// tried before the failure comes back to the Producer, with a backoff
	// between WriteBackoffMin and WriteBackoffMax (a message too large or
	// malformed is not tried again). The Producer then keeps the failed
	// messages and tries again (same backoff) for as long as it runs: a
	// broker outage blocks Publish once the buffer is full but loses
	// nothing.
	MaxAttempts     int
	WriteBackoffMin time.Duration
	WriteBackoffMax time.Duration
	// MaxBuffered and MaxBufferedBytes bound what the Producer holds,
	// queued or in flight; Publish blocks beyond them.
	MaxBuffered      int
	MaxBufferedBytes int64
	// WriteTimeout bounds one produce request.
	WriteTimeout time.Duration
	// AllowAutoTopicCreation lets a missing topic be created by the broker
	// (when the broker allows it) instead of failing until it exists.
	AllowAutoTopicCreation bool
	// OnReject, when set, receives messages the brokers refused for good
	// (too large, invalid record) before they are released; key and value
	// are only valid during the call. Such messages are counted in
	// Stats.Rejected; without OnReject, the first such error is also
	// returned by Close (nothing else kept them).
	OnReject func(key, value []byte, err error)
	// Logger receives failed produce requests (Warn) and the retries of
	// their partitions; nothing is logged when nil.
	Logger *slog.Logger
}

func (o *ProducerOptions) setDefaults() {
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = DefaultBatchBytes
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.BatchBytes < o.MaxMessageBytes {
		o.BatchBytes = o.MaxMessageBytes
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = DefaultBatchTimeout
	}
	if o.Compression == "" {
		o.Compression = "lz4"
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.WriteBackoffMin <= 0 {
		o.WriteBackoffMin = DefaultWriteBackoffMin
	}
	if o.WriteBackoffMax <= 0 {
		o.WriteBackoffMax = DefaultWriteBackoffMax
	}
	if o.WriteBackoffMax < o.WriteBackoffMin {
		o.WriteBackoffMax = o.WriteBackoffMin
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = DefaultMaxBuffered
	}
	if o.MaxBufferedBytes <= 0 {
		o.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if o.MaxBufferedBytes < o.BatchBytes {
		// One full batch must fit, or a maximal message could never be
		// accepted.
		o.MaxBufferedBytes = o.BatchBytes
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
}

func compressionCodec(name string) (kafka.Compression, error) {
	switch strings.ToLower(name) {
	case "zstd":
		return kafka.Zstd, nil
	case "lz4":
		return kafka.Lz4, nil
	case "snappy":
		return kafka.Snappy, nil
	case "gzip":
		return kafka.Gzip, nil
	case "none":
		return 0, nil
	}
	return 0, fmt.Errorf("unknown compression %q (want zstd, lz4, snappy, gzip or none)", name)
}

// messageWriter is the part of *kafka.Writer the Producer uses; tests
// substitute a fake.
type messageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
	Close() error
}

// Errors returned by Publish.
var (
	ErrClosed          = errors.New("kafka producer: closed")
	ErrMessageTooLarge = errors.New("kafka producer: message larger than MaxMessageBytes")
)

// Stats are a Producer's counters since it started.
type Stats struct {
	Published      int64 // messages accepted by Publish/PublishRaw
	Delivered      int64 // messages acknowledged by the brokers
	Rejected       int64 // messages the brokers refused for good (see OnReject)
	FailedAttempts int64 // writes that failed (each after MaxAttempts tries of the partitions that failed)
	Buffered       int64 // messages held now: queued or in flight
	BufferedBytes  int64 // their size
	LastError      error // the most recent write error, nil if none yet
}

// Producer publishes events to one Kafka topic. Publish and PublishRaw are
// safe for concurrent use; the writes happen on a goroutine the Producer
// owns, started by NewProducer and stopped by Close.
//
// Partitioning: messages are keyed by client and partitioned with kafka-go's
// Murmur2Balancer, which computes the same partition as the Java client's
// default partitioner (and librdkafka's "murmur2_random") for keyed
// messages, so any producer of the topic agrees on where a client lives.
// kafka-go's Hash balancer would not: it is FNV-1a (Sarama's default).
// Events without a client key get a nil key and a random partition.
//
// Delivery is at least once. A write that times out may have landed and is
// written again (there is no idempotent producer in kafka-go). A partition's
// messages in a write are one request, and a failed write goes back to the
// head of the queue, so a partition's messages land in the order they
// were published. Duplicates happen only around broker failures; detect
// and store skip a line they have seen by its source and position.
type Producer struct {
	opts   ProducerOptions
	w      messageWriter
	bufMax int // buffers grown past this are not pooled

	// bal is the writer's balancer (nil for writers that do not split
	// per partition); load is the sender's scratch for cutting writes
	// at one request per partition (partbatch.go) of partBytes and
	// partCount.
	bal       *partitionCounter
	load      partitionLoad
	partBytes int64
	partCount int

	pool sync.Pool // *[]byte holding key then value

	mu       sync.Mutex
	queue    []pending // accepted, not yet being written
	queueB   int64     // bytes in queue
	count    int       // messages held: queue plus in flight
	bytes    int64     // their size
	firstAt  time.Time // when the oldest queued message arrived
	closed   bool
	space    chan struct{} // closed (and replaced) when room frees up
	wake     chan struct{} // cap 1: new data for the sender
	closing  chan struct{} // closed by Close: flush everything, then stop
	done     chan struct{} // closed when the sender has stopped
	abort    context.CancelFunc
	writeCtx context.Context
	firstErr error // first error that cost messages (rejected)
	lastErr  error

	// Sequence numbers let Flush wait for exactly the messages accepted
	// before it was called. The queue is in sequence order (retries go
	// back to its head, and they are older than anything queued), so the
	// oldest unsettled message is the head of the batch in flight, else of
	// the queue.
	nextSeq  uint64        // sequence number of the next accepted message
	inFlight uint64        // lowest sequence number in the batch being written; 0 when none
	settled  chan struct{} // closed (and replaced) whenever messages settle

	published, delivered, rejected, failedAttempts atomic.Int64
}

type pending struct {
	buf  *[]byte
	key  int // len of the key prefix in *buf; -1 for a nil key
	size int64
	seq  uint64
	part int // the partition cut found for the key (partitionCounter.hint); -1 for none
}

func (p pending) message() kafka.Message {
	b := *p.buf
	m := kafka.Message{Value: b[max(p.key, 0):]}
	if p.key >= 0 {
		m.Key = b[:p.key]
	}
	if p.part >= 0 {
		m.WriterData = p.part
	}
	return m
}

// messageOverhead approximates a record's framing (kafka-go's
// Message.totalSize), so that a partition's request stays within
// MaxMessageBytes.
const messageOverhead = 48

// NewProducer returns a Producer publishing to opts.Topic on the cluster cfg
// describes. It does not contact the brokers: connection and authentication
// errors surface as write errors (Stats.LastError, Close).
func NewProducer(cfg Config, opts ProducerOptions) (*Producer, error) {
	opts.setDefaults()
	codec, err := compressionCodec(opts.Compression)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	tr, err := cfg.Transport()
	if err != nil {
		return nil, err
	}
	bal := &partitionCounter{}
	w := &produceWriter{produceSettings: produceSettings{
		client: &kafka.Client{Addr: cfg.Addr(), Transport: &metadataCache{next: tr}},
		topic:  opts.Topic, codec: codec, autoCreate: opts.AllowAutoTopicCreation, bal: bal,
		log: opts.Logger, timeout: opts.WriteTimeout, attempts: opts.MaxAttempts,
		backoffMin: opts.WriteBackoffMin, backoffMax: opts.WriteBackoffMax,
	}}
	if w.log != nil {
		w.log = w.log.With("component", "kafka producer")
	}
	return newProducer(opts, w, bal), nil
}

// newProducer starts a Producer on w, whose balancer is bal (nil: w
// does not split writes per partition); opts must have its defaults set.
func newProducer(opts ProducerOptions, w messageWriter, bal *partitionCounter) *Producer {
	ctx, cancel := context.WithCancel(context.Background())
	p := &Producer{
		opts: opts,
		w:    w,
		bal:  bal,
		// A tenth below the byte limit: a record's framing is a little
		// more than messageOverhead for some.
		partBytes: (opts.MaxMessageBytes + messageOverhead) * 9 / 10,
		partCount: opts.BatchSize,
		bufMax:    64 << 10,
		space:     make(chan struct{}),
		settled:   make(chan struct{}),
		nextSeq:   1,
		wake:      make(chan struct{}, 1),
		closing:   make(chan struct{}),
		done:      make(chan struct{}),
		abort:     cancel,
		writeCtx:  ctx,
	}
	go p.run()
	return p
}

// Publish encodes ev (ProducerOptions.Wire) keyed by its client and queues it.
// It blocks while the buffer is full, until there is room, ctx is done or
// the Producer is closed. ev is not retained.
func (p *Producer) Publish(ctx context.Context, ev *ingest.Event) error {
	if ev == nil {
		return errors.New("kafka producer: nil event")
	}
	bp := p.getBuf()
	b := append((*bp)[:0], ev.ClientKey...)
	key := len(b)
	if key == 0 {
		key = -1
	}
	b = p.opts.Wire.Append(b, ev)
	*bp = b
	return p.enqueue(ctx, pending{buf: bp, key: key, part: -1})
}

// PublishRaw queues one message with the given key (nil for none) and
// value, both copied. It is for topics that carry something other than
// events, such as raw lines or dead letters: give each its own Producer.
func (p *Producer) PublishRaw(ctx context.Context, key, value []byte) error {
	bp := p.getBuf()
	b := append((*bp)[:0], key...)
	k := len(b)
	if key == nil {
		k = -1
	}
	*bp = append(b, value...)
	return p.enqueue(ctx, pending{buf: bp, key: k, part: -1})
}

func (p *Producer) getBuf() *[]byte {
	if bp, ok := p.pool.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 0, 1024)
	return &b
}

func (p *Producer) putBuf(bp *[]byte) {
	if cap(*bp) > p.bufMax {
		return
	}
	*bp = (*bp)[:0]
	p.pool.Put(bp)
}

func (p *Producer) enqueue(ctx context.Context, m pending) error {
	m.size = int64(len(*m.buf)) + messageOverhead
	if m.size > p.opts.MaxMessageBytes+messageOverhead {
		p.putBuf(m.buf)
		return fmt.Errorf("%w: %w", ErrMessageTooLarge, &ingest.TooLargeError{Size: m.size - messageOverhead, Limit: p.opts.MaxMessageBytes})
	}
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			p.putBuf(m.buf)
			return ErrClosed
		}
		if p.count < p.opts.MaxBuffered && p.bytes+m.size <= p.opts.MaxBufferedBytes {
			break
		}
		space := p.space
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			p.putBuf(m.buf)
			return fmt.Errorf("kafka producer: waiting for buffer space: %w", context.Cause(ctx))
		case <-space:
		}
		p.mu.Lock()
	}
	if len(p.queue) == 0 {
		p.firstAt = time.Now()
	}
	m.seq = p.nextSeq
	p.nextSeq++
	p.queue = append(p.queue, m)
	p.queueB += m.size
	p.count++
	p.bytes += m.size
	p.mu.Unlock()
	p.published.Add(1)
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// Flush waits until every message accepted before the call has been
// settled: acknowledged by the brokers, or rejected for good (and handed to
// OnReject). Messages accepted meanwhile are not waited for, so a caller can
// flush periodically while its inputs keep publishing — for instance to
// persist a read position only once everything read before it is durable.
// It returns ctx's error if ctx ends first, and ErrClosed if the Producer
// stopped with the messages still unsettled.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	target := p.nextSeq
	for {
		if p.oldestUnsettled() >= target {
			p.mu.Unlock()
			return nil
		}
		settled := p.settled
		p.mu.Unlock()
		select {
		case <-settled:
		case <-p.done:
			p.mu.Lock()
			if p.oldestUnsettled() >= target {
				p.mu.Unlock()
				return nil
			}
			p.mu.Unlock()
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("kafka producer: flush: %w", context.Cause(ctx))
		}
		p.mu.Lock()
	}
}

// oldestUnsettled is the sequence number of the oldest message not yet
// settled (nextSeq when there is none). p.mu must be held.
func (p *Producer) oldestUnsettled() uint64 {
	if p.inFlight != 0 {
		return p.inFlight
	}
	if len(p.queue) > 0 {
		return p.queue[0].seq
	}
	return p.nextSeq
}

// Stats returns the Producer's counters.
func (p *Producer) Stats() Stats {
	p.mu.Lock()
	s := Stats{Buffered: int64(p.count), BufferedBytes: p.bytes, LastError: p.lastErr}
	p.mu.Unlock()
	s.Published = p.published.Load()
	s.Delivered = p.delivered.Load()
	s.Rejected = p.rejected.Load()
	s.FailedAttempts = p.failedAttempts.Load()
	return s
}

// Close stops accepting messages, delivers everything buffered and stops
// the Producer. If ctx ends first, undelivered messages are abandoned and
// Close says how many, with the last write error. It returns nil only when
// every accepted message was delivered; otherwise the first error that cost
// messages. Close is safe to call more than once.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closing)
		close(p.space) // wake blocked Publish calls: they return ErrClosed
	}
	p.mu.Unlock()

	var errs []error
	select {
	case <-p.done:
	case <-ctx.Done():
		p.abort()
		<-p.done // WriteMessages returns promptly once its ctx is cancelled
		p.mu.Lock()
		n, last := p.count, p.lastErr
		p.mu.Unlock()
		err := fmt.Errorf("kafka producer: close: %d messages undelivered: %w", n, context.Cause(ctx))
		if last != nil {
			err = fmt.Errorf("%w (last write error: %w)", err, last)
		}
		errs = append(errs, err)
	}
	p.abort()
	p.mu.Lock()
	if p.firstErr != nil {
		errs = append(errs, p.firstErr)
	}
	p.mu.Unlock()
	if len(errs) > 0 && ctx.Err() != nil {
		// A writer's Close may wait for requests in flight (up to a
		// write timeout); the caller's deadline has passed, so let that
		// finish in the background.
		go p.w.Close() //nolint:errcheck // nobody is left to tell
		return errors.Join(errs...)
	}
	if err := p.w.Close(); err != nil {
		errs = append(errs, fmt.Errorf("kafka producer: close writer: %w", err))
	}
	return errors.Join(errs...)
}

// run is the sender: it takes batches off the queue and writes them until
// Close has been called and the queue is empty, or Close gives up.
func (p *Producer) run() {
	defer close(p.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var batch []pending
	var msgs []kafka.Message
	backoff := time.Duration(0)
	for {
		batch = p.nextBatch(batch[:0], timer)
		if batch == nil {
			return
		}
		msgs = msgs[:0]
		for _, m := range batch {
			msgs = append(msgs, m.message())
		}
		err := p.w.WriteMessages(p.writeCtx, msgs...)
		if p.writeCtx.Err() != nil {
			// Close gave up; a request may still read the buffers of
			// this batch, so leave them to the garbage collector.
			return
		}
		if p.settle(batch, err) {
			backoff = 0
			continue
		}
		backoff = min(max(2*backoff, p.opts.WriteBackoffMin), p.opts.WriteBackoffMax)
		timer.Reset(backoff)
		select {
		case <-timer.C:
		case <-p.writeCtx.Done():
			timer.Stop()
			return
		}
	}
}

// nextBatch waits until a batch is due (full, timed out, or closing) and
// takes it off the queue. It returns nil when the Producer should stop.
func (p *Producer) nextBatch(batch []pending, timer *time.Timer) []pending {
	for {
		p.mu.Lock()
		n := len(p.queue)
		closing := p.closed
		due := n >= p.opts.BatchSize || p.queueB >= p.opts.BatchBytes ||
			(n > 0 && (closing || time.Since(p.firstAt) >= p.opts.BatchTimeout))
		if due {
			i, bytes := p.cut(n)
			batch = append(batch, p.queue[:i]...)
			p.inFlight = batch[0].seq
			// Slide the rest down rather than reslicing, so the queue's
			// backing array is reused instead of regrown for every batch.
			rest := copy(p.queue, p.queue[i:])
			clear(p.queue[rest:])
			p.queue = p.queue[:rest]
			p.queueB -= bytes
			p.firstAt = time.Now()
			p.mu.Unlock()
			return batch
		}
		wait := time.Duration(-1)
		if n > 0 {
			wait = p.opts.BatchTimeout - time.Since(p.firstAt)
		}
		p.mu.Unlock()
		if n == 0 && closing {
			return nil
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-p.wake:
		case <-timer.C:
		case <-p.closing:
		case <-p.writeCtx.Done():
			timer.Stop()
			return nil
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if wait < 0 {
			// Wait for data without the timer; closing is noticed above.
			continue
		}
	}
}

// cut returns how many of the n queued messages the next write takes, and
// their bytes: at most BatchSize and BatchBytes in all, and no more for
// any partition than one produce request holds (partbatch.go). At least
// one message. p.mu must be held.
func (p *Producer) cut(n int) (i int, bytes int64) {
	parts := 0
	if p.bal != nil {
		// Before the first write the count is unknown: cut as if
		// everything went to one partition.
		parts = max(int(p.bal.n.Load()), 1)
		p.bal.hintN.Store(int32(parts))
		p.load.reset(parts)
	}
	for ; i < n && i < p.opts.BatchSize; i++ {
		m := p.queue[i]
		if i > 0 && bytes+m.size > p.opts.BatchBytes {
			break
		}
		if parts > 0 {
			var key []byte
			if m.key >= 0 {
				key = (*m.buf)[:m.key]
			}
			k := p.bal.partitionOf(key, parts, p.load.ids)
			p.queue[i].part = k
			if !p.load.fits(k, m.size, p.partBytes, p.partCount) && i > 0 {
				break
			}
		}
		bytes += m.size
	}
	return i, bytes
}

// settle accounts for a written batch: delivered and rejected messages are
// released, retriable failures go back to the head of the queue in their
// original order. It reports whether the whole batch was delivered.
func (p *Producer) settle(batch []pending, err error) bool {
	var werrs kafka.WriteErrors
	perMessage := errors.As(err, &werrs) && len(werrs) == len(batch)
	var retry []pending
	var freed, delivered, rejected int64
	var firstReject error
	for i, m := range batch {
		var merr error
		if perMessage {
			merr = werrs[i]
		} else {
			merr = err
		}
		switch {
		case merr == nil:
			delivered++
		case perMessage && permanent(merr):
			// Only a per-message verdict rejects: an error for the whole
			// call (metadata, connection) says nothing about the messages.
			// A whole-call MessageTooLargeError cannot happen: enqueue's
			// limit (messageOverhead) bounds every message.
			rejected++
			if firstReject == nil {
				firstReject = merr
			}
			if p.opts.OnReject != nil {
				msg := m.message()
				p.opts.OnReject(msg.Key, msg.Value, merr)
			}
		default:
			retry = append(retry, m)
			continue
		}
		freed += m.size
		p.putBuf(m.buf)
	}
	p.delivered.Add(delivered)
	p.rejected.Add(rejected)
	if err != nil {
		p.failedAttempts.Add(1)
	}

	p.mu.Lock()
	p.count -= int(delivered + rejected)
	p.bytes -= freed
	if err != nil {
		p.lastErr = fmt.Errorf("kafka producer: write to %s: %w", p.opts.Topic, err)
	}
	if firstReject != nil && p.firstErr == nil && p.opts.OnReject == nil {
		p.firstErr = fmt.Errorf("kafka producer: %d messages rejected by %s: %w", rejected, p.opts.Topic, firstReject)
	}
	if len(retry) > 0 {
		var rb int64
		for _, m := range retry {
			rb += m.size
		}
		q := make([]pending, 0, len(retry)+len(p.queue))
		p.queue = append(append(q, retry...), p.queue...)
		p.queueB += rb
		p.firstAt = time.Time{} // due at once after the backoff
	}
	p.inFlight = 0
	if delivered+rejected > 0 && !p.closed {
		close(p.space)
		p.space = make(chan struct{})
	}
	close(p.settled)
	p.settled = make(chan struct{})
	p.mu.Unlock()
	return len(retry) == 0
}

// permanent reports whether retrying a message cannot help: the broker
// refused the message itself rather than failing to take it.
func permanent(err error) bool {
	var tooLarge kafka.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return true
	}
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		switch kerr {
		case kafka.MessageSizeTooLarge, kafka.InvalidRecord, kafka.RecordListTooLarge, kafka.InvalidMessageSize:
			return true
		}
	}
	return false
}
