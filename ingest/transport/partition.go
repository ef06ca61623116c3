package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// A PartitionReader reads one partition of a topic in order, from an
// offset its owner chose (a consumer that keeps its own offsets, or a
// member of a consumer group given a partition).
//
// It does what a partition-bound kafka.Reader does, for a fraction of its
// cost per message: kafka-go's Reader sets a read deadline, allocates the
// key and the value, and passes each message through a channel from a
// goroutine of its own, which together took about half of a detect
// replica's CPU. A PartitionReader sends its fetches on its connection to
// the partition's leader itself (fetch.go), in the caller's goroutine,
// reads each response whole into one buffer it reuses, and hands out
// values that point into it. It is not safe for concurrent use.
type PartitionReader struct {
	base    *kafka.Dialer
	dialer  *kafka.Dialer // base, keeping the connection it dials in raw
	brokers []string
	opts    PartitionReaderOptions
	conn    *kafka.Conn // for offsets and deadlines
	raw     net.Conn    // conn's connection (after TLS), for fetches
	next    int64       // offset of the next record to hand out
	fetched bool        // batches holds records of the last fetch
	hwm     int64       // the partition's end at the last fetch
	batches batchReader
	req     []byte // the fetch request, reused
	resp    []byte // the fetch response, reused
	corr    int32  // the last fetch's correlation id
}

// PartitionReaderOptions say what a PartitionReader reads and how.
type PartitionReaderOptions struct {
	Topic     string
	Partition int
	// Offset is the first offset to read: an offset, kafka.FirstOffset
	// or kafka.LastOffset. The zero value is offset 0.
	Offset int64
	// MaxBytes bounds one fetch (default 10 MiB).
	MaxBytes int
	// MaxWait is how long a fetch waits at the broker for new records
	// (default DefaultMaxWait).
	MaxWait time.Duration
	// OutOfRangeError makes Next return an error wrapping
	// kafka.OffsetOutOfRange when the offset is outside the partition
	// (retention deleted it, or the topic was created again). Without it,
	// an offset before the oldest record skips to that record, as
	// kafka.Reader does, and one past the end waits for records.
	OutOfRangeError bool
	// Logger receives the skips; nil discards them.
	Logger *slog.Logger
}

// Record is one message of the partition. Value is valid until the next
// call of Next.
type Record struct {
	Partition int
	Offset    int64
	// HighWaterMark is the partition's end at the fetch that read the
	// record: the offset the next written record will get.
	HighWaterMark int64
	Value         []byte
}

// NewPartitionReader returns a reader of opts.Topic's partition
// opts.Partition, connecting through dialer to the partition's leader,
// which it finds from the first of brokers that answers. It connects on
// the first Next.
func NewPartitionReader(dialer *kafka.Dialer, brokers []string, opts PartitionReaderOptions) *PartitionReader {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 10 << 20
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &PartitionReader{base: dialer, brokers: brokers, opts: opts, next: opts.Offset}
	r.dialer = r.capturing(dialer)
	return r
}

// Offset is the offset of the next record Next returns (or
// kafka.FirstOffset or kafka.LastOffset until the reader connected).
func (r *PartitionReader) Offset() int64 { return r.next }

// SetOffset makes Next continue at off (an offset, kafka.FirstOffset or
// kafka.LastOffset).
func (r *PartitionReader) SetOffset(off int64) {
	r.fetched = false
	r.next = off
}

// Next returns the next record, fetching when the last fetch is used
// up; it blocks until one is written or ctx ends (at its deadline, a
// fetch under way may take up to MaxWait to return). Errors (a broker
// away, a leader moving) close the connection and are returned; the next
// call connects again, and the caller decides when.
func (r *PartitionReader) Next(ctx context.Context) (Record, error) {
	for {
		if r.fetched {
			rec, ok, err := r.read()
			if ok || err != nil {
				return rec, err
			}
		}
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
		if err := r.fetch(ctx); err != nil {
			return Record{}, err
		}
	}
}

// read returns the fetch's next record at or after r.next (a compressed
// batch may begin before the offset asked for); ok is false when the fetch
// is used up.
func (r *PartitionReader) read() (Record, bool, error) {
	for {
		off, value, ok, err := r.batches.next()
		if err != nil {
			r.disconnect()
			return Record{}, false, fmt.Errorf("kafka %s[%d] at offset %d: %w", r.opts.Topic, r.opts.Partition, r.next, err)
		}
		if !ok {
			// Past the last whole batch, records deleted by compaction and
			// transaction markers included.
			r.next = max(r.next, r.batches.end)
			r.fetched = false
			return Record{}, false, nil
		}
		if off < r.next {
			continue
		}
		r.next = off + 1
		return Record{Partition: r.opts.Partition, Offset: off, HighWaterMark: r.hwm, Value: value}, true, nil
	}
}

// maxRecord bounds a response's size and a batch's records decompressed:
// far beyond any broker's message size limit, short of what a corrupt
// length could ask for.
const maxRecord = 1 << 30

// fetch asks the partition's leader for the records from r.next,
// connecting first when needed. A fetch waiting at the broker when ctx
// is cancelled is cut short, and its connection closed; one under way
// when ctx's deadline passes is let finish (within MaxWait), so that a
// caller that polls with deadlines (detect's checkpoints, every few
// seconds) keeps its connection, and its TLS and SASL handshakes.
func (r *PartitionReader) fetch(ctx context.Context) error {
	if err := r.connect(ctx); err != nil {
		return err
	}
	// The fetch goes on the connection itself, past kafka.Conn, whose
	// deadlines apply to its own requests only.
	raw := r.raw
	_ = raw.SetDeadline(time.Now().Add(r.opts.MaxWait + ioTimeout))
	var cut atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			cut.Store(true)
			_ = raw.SetReadDeadline(time.Unix(1, 0))
		}
	})
	res, err := r.roundTrip()
	if !stop() && cut.Load() {
		r.disconnect()
		return ctx.Err()
	}
	if err != nil {
		r.disconnect()
		return fmt.Errorf("kafka %s[%d] at offset %d: %w", r.opts.Topic, r.opts.Partition, r.next, err)
	}
	if res.errCode != 0 {
		return r.partitionError(ctx, kafka.Error(res.errCode))
	}
	r.hwm, r.fetched = res.highWaterMark, true
	r.batches.reset(res.records)
	return nil
}

// roundTrip sends a fetch from r.next and reads its response.
func (r *PartitionReader) roundTrip() (fetchResult, error) {
	r.corr++
	q := fetchRequest{correlationID: r.corr, clientID: r.base.ClientID, topic: r.opts.Topic,
		partition: int32(r.opts.Partition), offset: r.next, maxWait: r.opts.MaxWait, maxBytes: r.opts.MaxBytes}
	r.req = q.appendTo(r.req[:0])
	if _, err := r.raw.Write(r.req); err != nil {
		return fetchResult{}, err
	}
	var body []byte
	var err error
	if r.resp, body, err = readResponse(r.raw, r.resp, r.corr); err != nil {
		return fetchResult{}, err
	}
	return parseFetch(body, r.opts.Topic, int32(r.opts.Partition))
}

// partitionError handles an error the leader answered a fetch with: the
// connection is closed (the leader may have moved), and an offset out of
// range is moved into it unless the owner asked to be told.
func (r *PartitionReader) partitionError(ctx context.Context, err error) error {
	r.disconnect()
	if errors.Is(err, kafka.OffsetOutOfRange) && !r.opts.OutOfRangeError {
		return r.outOfRange(ctx)
	}
	return fmt.Errorf("kafka %s[%d] at offset %d: %w", r.opts.Topic, r.opts.Partition, r.next, err)
}

// connect dials the partition's leader unless connected, and turns
// kafka.FirstOffset and kafka.LastOffset into offsets.
func (r *PartitionReader) connect(ctx context.Context) error {
	if r.conn != nil {
		return nil
	}
	var errs []error
	for _, b := range r.brokers {
		c, err := r.dialLeader(ctx, b)
		if err == nil {
			r.conn = c
			break
		}
		errs = append(errs, err)
	}
	if r.conn == nil {
		return fmt.Errorf("kafka %s[%d]: connect to the leader: %w", r.opts.Topic, r.opts.Partition, errors.Join(errs...))
	}
	r.setDeadline()
	if err := r.checkFetchVersion(); err != nil {
		r.disconnect()
		return fmt.Errorf("kafka %s[%d]: %w", r.opts.Topic, r.opts.Partition, err)
	}
	var err error
	switch r.next {
	case kafka.FirstOffset:
		r.next, err = r.conn.ReadFirstOffset()
	case kafka.LastOffset:
		r.next, err = r.conn.ReadLastOffset()
	default:
		return nil
	}
	if err != nil {
		r.disconnect()
		return fmt.Errorf("kafka %s[%d]: offsets: %w", r.opts.Topic, r.opts.Partition, err)
	}
	return nil
}

// ioTimeout bounds one request on the connection beyond the broker's
// MaxWait: reading a full fetch, or asking for offsets.
const ioTimeout = 30 * time.Second

// setDeadline gives the connection's next request its time.
func (r *PartitionReader) setDeadline() {
	_ = r.conn.SetDeadline(time.Now().Add(r.opts.MaxWait + ioTimeout))
}

// disconnect closes the connection (after an error, or to stop).
func (r *PartitionReader) disconnect() {
	r.fetched = false
	if r.conn != nil {
		r.conn.Close()
		r.conn, r.raw = nil, nil
	}
}

// outOfRange moves an offset before the partition's oldest record to
// that record; past the end it lets the next fetch wait for records.
func (r *PartitionReader) outOfRange(ctx context.Context) error {
	if err := r.connect(ctx); err != nil {
		return err
	}
	r.setDeadline()
	first, last, err := r.conn.ReadOffsets()
	if err != nil {
		r.disconnect()
		return fmt.Errorf("kafka %s[%d]: offsets: %w", r.opts.Topic, r.opts.Partition, err)
	}
	switch {
	case r.next < first:
		r.opts.Logger.Warn("kafka offset before the oldest record (deleted by retention): skipping to it",
			"topic", r.opts.Topic, "partition", r.opts.Partition, "offset", r.next, "oldest", first, "skipped", first-r.next)
		r.next = first
	case r.next > last:
		// Past the end: wait as a fetch would, then ask again.
		if !sleepCtx(ctx, r.opts.MaxWait) {
			return ctx.Err()
		}
	}
	return nil
}

// Lag returns how many records the partition holds past the reader's
// position, asking the leader.
func (r *PartitionReader) Lag(ctx context.Context) (int64, error) {
	if err := r.connect(ctx); err != nil {
		return 0, err
	}
	if r.fetched {
		return max(r.hwm-r.next, 0), nil
	}
	r.setDeadline()
	end, err := r.conn.ReadLastOffset()
	if err != nil {
		r.disconnect()
		return 0, fmt.Errorf("kafka %s[%d]: offsets: %w", r.opts.Topic, r.opts.Partition, err)
	}
	return max(end-r.next, 0), nil
}

// Close closes the connection.
func (r *PartitionReader) Close() error {
	r.disconnect()
	return nil
}
