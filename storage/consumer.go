package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

// MessageReader is the Kafka side of Consume: *kafka.Reader (with a
// GroupID) satisfies it. Consume commits a message's offset only after the
// batch holding it was acknowledged by ClickHouse.
type MessageReader interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// ConsumerOptions configure ConsumeEvents, ConsumeFindings,
// ConsumeWindows and ConsumeViolations.
type ConsumerOptions struct {
	BatchOptions
	// OnBadMessage is called for a message that does not decode (it is
	// skipped, and its offset committed with the batch, so one poison
	// message cannot stall the topic). Nil ignores them.
	OnBadMessage func(kafka.Message, error)
	// OnBatch is called after each batch is stored and its offsets
	// committed, with the rows it held; for metrics. Its sum is the rows
	// this consumer stored and committed: with a reader that commits in
	// the generation that fetched (the Store's), a batch re-read after a
	// rebalance is counted by one member only, so the sum over the group
	// never exceeds the rows stored.
	OnBatch func(rows int)
	// OnInsert is called after each batch is stored, before its commit,
	// with the rows it held: a batch stored again after a crash or a
	// rebalance counts again. Nil ignores it.
	OnInsert func(rows int)
	// OnRevoked is called instead of OnBatch for a batch that was stored
	// but not committed because the consumer-group generation that fetched
	// it ended first (a rebalance): the partition's new owner reads,
	// stores and commits it again. Nil ignores it.
	OnRevoked func(rows int)
	// MaxInFlight is how many batches may be inserting at once while the
	// next one fills; default 2 (see WriterOptions.Inserters for why).
	// Offsets are still committed in order, a batch's only after it and
	// every batch before it were stored. Memory is bounded by about
	// (MaxInFlight + 1) * BatchBytes.
	MaxInFlight int
}

// ConsumeEvents reads wire-format events (ingest.DecodeWire) from r and
// stores them until ctx ends or r fails; it returns nil on ctx's end. See
// consume for the guarantees.
func (db *DB) ConsumeEvents(ctx context.Context, r MessageReader, opts ConsumerOptions) error {
	rows := opts.BatchOptions
	rows.setDefaults()
	return consume(ctx, r, opts, func() sink {
		return &eventSink{db: db, b: newEventBatch(rows.BatchRows)}
	})
}

// ConsumeFindings reads findings (JSON, docs/findings.md) from r and
// stores them, like ConsumeEvents.
func (db *DB) ConsumeFindings(ctx context.Context, r MessageReader, opts ConsumerOptions) error {
	return consume(ctx, r, opts, func() sink { return &findingSink{db: db} })
}

// ConsumeWindows reads per-client window records (detect.WindowStats as
// JSON, one or more newline-separated records a message, produced by
// "gatewatch detect" to its windows topic) from r and stores them in
// client_windows, like ConsumeEvents. A replayed window
// (same client and window start) replaces the earlier row at merge time.
func (db *DB) ConsumeWindows(ctx context.Context, r MessageReader, opts ConsumerOptions) error {
	return consume(ctx, r, opts, func() sink { return &windowSink{db: db} })
}

// sink is what consume fills: one table's batch.
type sink interface {
	add(m *kafka.Message) error // decodes and buffers; an error marks the message bad
	len() int
	bytes() int
	insert(ctx context.Context) error
	reset()
}

type eventSink struct {
	db *DB
	b  *eventBatch
	ev ingest.Event
}

func (s *eventSink) add(m *kafka.Message) error {
	s.ev.Reset()
	if err := ingest.DecodeWire(m.Value, &s.ev); err != nil {
		return err
	}
	s.b.add(&s.ev, KeyOf(&s.ev, m.Topic, m.Partition, m.Offset))
	return nil
}
func (s *eventSink) len() int                         { return s.b.Len() }
func (s *eventSink) bytes() int                       { return s.b.Bytes() }
func (s *eventSink) insert(ctx context.Context) error { return s.db.insertEvents(ctx, s.b) }
func (s *eventSink) reset() {
	s.b.reset()
}

type findingSink struct {
	db   *DB
	fs   []detect.Finding
	size int
}

func (s *findingSink) add(m *kafka.Message) error {
	var f detect.Finding
	if err := json.Unmarshal(m.Value, &f); err != nil {
		return err
	}
	if f.IncidentID == "" {
		return errors.New("finding without incident_id")
	}
	s.fs = append(s.fs, f)
	s.size += len(m.Value)
	return nil
}
func (s *findingSink) len() int                         { return len(s.fs) }
func (s *findingSink) bytes() int                       { return s.size }
func (s *findingSink) insert(ctx context.Context) error { return s.db.InsertFindings(ctx, s.fs) }
func (s *findingSink) reset()                           { s.fs, s.size = s.fs[:0], 0 }

type windowSink struct {
	db   *DB
	ws   []ClientWindow
	size int
}

// add decodes every record of m, or none: a message with a bad record
// goes to the dead letter whole.
func (s *windowSink) add(m *kafka.Message) error {
	n := len(s.ws)
	for rest := m.Value; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		var w detect.WindowStats
		err := json.Unmarshal(line, &w)
		if err == nil && (w.Client == "" || w.Start.IsZero()) {
			err = errors.New("window record without client or window_start")
		}
		if err != nil {
			rec := len(s.ws) - n + 1
			s.ws = s.ws[:n]
			return fmt.Errorf("window record %d: %w", rec, err)
		}
		s.ws = append(s.ws, ClientWindowOf(w))
	}
	if len(s.ws) == n {
		return errors.New("empty window message")
	}
	s.size += len(m.Value)
	return nil
}
func (s *windowSink) len() int                         { return len(s.ws) }
func (s *windowSink) bytes() int                       { return s.size }
func (s *windowSink) insert(ctx context.Context) error { return s.db.InsertWindows(ctx, s.ws) }
func (s *windowSink) reset()                           { s.ws, s.size = s.ws[:0], 0 }

// consume is the store loop. It fetches into a batch, hands the batch to
// an inserter when it is full or FlushInterval old, and commits a batch's
// offsets once ClickHouse acknowledged it and every batch before it.
// Inserts are retried with backoff until they succeed.
//
// While ClickHouse is down it stops fetching: the batches in memory are
// the only buffer, so memory is bounded by MaxInFlight + 1 batches (and
// fetchAhead messages), and
// Kafka (which keeps the topic for its retention period anyway) holds the
// rest. A crash loses nothing: uncommitted messages are fetched again. A
// crash between an insert and its commit inserts that batch twice; the
// second copy carries the same event ids (topic/partition/offset) and
// collapses at merge time (ReplacingMergeTree), or is dropped at once on
// servers with insert deduplication. On ctx's end it commits the batches
// already stored, so a clean shutdown replays nothing.
func consume(ctx context.Context, r MessageReader, opts ConsumerOptions, newSink func() sink) error {
	opts.setDefaults()
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 2
	}
	msgs, closed, stopFetching := source(ctx, r)
	defer stopFetching()
	c := &consumer{r: r, opts: opts, newSink: newSink, cur: newSink(), last: make(map[topicPartition]*kafka.Message)}
	defer c.close()
	for {
		var oldest <-chan struct{}
		if len(c.inflight) > 0 {
			oldest = c.inflight[0].done
		}
		var err error
		select {
		case <-ctx.Done():
			return c.shutdown(ctx)
		case <-oldest:
			err = c.settle(ctx)
		case <-c.timerC:
			c.timer, c.timerC = nil, nil
			err = c.launch(ctx)
		case f := <-msgs:
			if f.err != nil {
				return c.fetchFailed(ctx, f.err)
			}
			for i := 0; i < len(f.ms) && err == nil; i++ {
				err = c.add(ctx, &f.ms[i])
			}
		case <-closed:
			return c.fetchFailed(ctx, errReaderClosed)
		}
		if err != nil {
			if ctx.Err() != nil {
				return c.shutdown(ctx)
			}
			return err
		}
	}
}

// fetchSource is a MessageReader that hands its messages over a channel
// of its own (groupReader): consume reads that channel directly rather
// than through fetch's goroutine, a channel hop and two selects less per
// message (a fifth of store's CPU went to selects). closed is closed when
// the reader is.
type fetchSource interface {
	fetched() (msgs <-chan fetched, closed <-chan struct{})
}

// source returns r's messages as a channel: its own when it is a
// fetchSource, else fetch's.
func source(ctx context.Context, r MessageReader) (msgs <-chan fetched, closed <-chan struct{}, stop func()) {
	if fs, ok := r.(fetchSource); ok {
		msgs, closed = fs.fetched()
		return msgs, closed, func() {}
	}
	msgs, stop = fetch(ctx, r)
	return msgs, nil, stop
}

// fetchAhead is how many fetched messages may wait for the store loop.
// Handing them over one at a time, unbuffered, put the two goroutines in
// lockstep: each message cost a park and a wake-up on both sides, and
// store from Kafka ran at 170k-178k rows/s against 240k-255k with the
// buffer (BenchmarkStoreFromKafka, three runs each, alternated; a buffer
// of 64 gave 215k-225k against 234k-237k for 256). It adds at most
// fetchAhead messages to the memory consume holds: tens of kilobytes of
// events, at most fetchAhead times the topic's max.message.bytes.
const fetchAhead = 256

// fetched is what a fetcher hands the store loop at once: messages in
// order (one, from fetch; up to handoff, from a groupReader's partition),
// or the error that ended it.
type fetched struct {
	ms  []kafka.Message
	err error
}

// fetch runs r.FetchMessage in a goroutine of its own, handing the
// outcomes over a channel of fetchAhead, so the store loop can wait for
// a message, a timer and an insert at once. It stops after the first
// error. stop ends the goroutine and waits for it; messages fetched but
// not yet taken are dropped uncommitted, and the group delivers them
// again (consume's reader is not used after it returns).
func fetch(ctx context.Context, r MessageReader) (msgs <-chan fetched, stop func()) {
	fctx, cancel := context.WithCancel(ctx)
	out := make(chan fetched, fetchAhead)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := r.FetchMessage(fctx)
			select {
			case out <- fetched{[]kafka.Message{m}, err}:
			case <-fctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return out, func() {
		cancel()
		<-done
	}
}

// A flight is a batch handed to an inserter, with the offsets to commit
// once it is stored: the newest message of each partition in it (kafka-go
// commits, per partition, the offset after the message).
type flight struct {
	s      sink
	commit []kafka.Message
	err    error         // the insert's outcome, set before done closes
	done   chan struct{} // closed when the insert returned
}

// consumer is the state of one consume call; only its goroutine touches
// it, except a flight's err and done, which the flight's inserter sets.
type consumer struct {
	r       MessageReader
	opts    ConsumerOptions
	newSink func() sink

	inflight []*flight // oldest first
	free     []sink    // emptied sinks to fill again
	cur      sink      // the batch being filled
	last     map[topicPartition]*kafka.Message
	hot      *kafka.Message // last's entry of the previous message's partition
	epoch    any            // the generation cur's messages came in (WriterData)
	timer    *time.Timer    // FlushInterval of cur, from its first message
	timerC   <-chan time.Time
}

// add puts m into the current batch (reporting it when it does not
// decode: it is skipped but still committed) and launches the batch when
// it is full. A message of another consumer-group generation than the
// batch's (kafka.Message.WriterData, set by groupReader) launches the
// batch first: a batch is committed in the generation that fetched it,
// or not at all.
func (c *consumer) add(ctx context.Context, m *kafka.Message) error {
	if len(c.last) > 0 && m.WriterData != c.epoch {
		if err := c.launch(ctx); err != nil {
			return err
		}
	}
	c.epoch = m.WriterData
	if err := c.cur.add(m); err != nil && c.opts.OnBadMessage != nil {
		c.opts.OnBadMessage(*m, err)
	}
	c.noteOffset(m)
	if c.timer == nil {
		c.timer = time.NewTimer(c.opts.FlushInterval)
		c.timerC = c.timer.C
	}
	if c.cur.len() >= c.opts.BatchRows || c.cur.bytes() >= c.opts.BatchBytes {
		return c.launch(ctx)
	}
	return nil
}

// noteOffset remembers m's offset if it is its partition's newest in the
// batch. Messages come in runs of one partition: the run's entry is kept
// at hand, which spares a map lookup per message.
func (c *consumer) noteOffset(m *kafka.Message) {
	last := c.hot
	if last == nil || last.Partition != m.Partition || last.Topic != m.Topic {
		tp := topicPartition{m.Topic, m.Partition}
		if last = c.last[tp]; last == nil {
			last = &kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: -1}
			c.last[tp] = last
		}
		c.hot = last
	}
	if m.Offset > last.Offset {
		last.Offset, last.WriterData = m.Offset, m.WriterData
	}
}

// launch hands the current batch to an inserter and starts a new one.
// With MaxInFlight batches in flight it waits for the oldest first.
func (c *consumer) launch(ctx context.Context) error {
	c.stopTimer()
	if len(c.last) == 0 {
		return nil
	}
	f := &flight{s: c.cur, done: make(chan struct{})}
	for _, m := range c.last {
		f.commit = append(f.commit, *m)
	}
	clear(c.last)
	c.hot = nil
	if f.s.len() > 0 {
		go func() {
			f.err = retry(ctx, c.opts.Backoff, c.opts.OnError, f.s.insert)
			close(f.done)
		}()
	} else {
		close(f.done) // only bad messages: nothing to insert, still commit
	}
	c.inflight = append(c.inflight, f)
	if n := len(c.free); n > 0 {
		c.cur, c.free = c.free[n-1], c.free[:n-1]
	} else {
		c.cur = c.newSink()
	}
	// Full pipeline: wait for the oldest before fetching more.
	for len(c.inflight) >= c.opts.MaxInFlight {
		<-c.inflight[0].done
		if err := c.settle(ctx); err != nil {
			return err
		}
	}
	return nil
}

// settle finishes the oldest flight, whose insert has returned: it
// commits the flight's offsets (retrying until Kafka takes them, or its
// generation ended) and recycles its sink.
func (c *consumer) settle(ctx context.Context) error {
	f := c.inflight[0]
	if f.err != nil {
		return f.err // only ctx's end stops an insert's retries
	}
	if c.opts.OnInsert != nil && f.s.len() > 0 {
		c.opts.OnInsert(f.s.len())
	}
	revoked := false
	err := retry(ctx, c.opts.Backoff, c.opts.OnError, func(ctx context.Context) error {
		err := c.r.CommitMessages(ctx, f.commit...)
		if errors.Is(err, errGenerationEnded) {
			revoked = true
			return nil // retrying cannot help: another member owns it now
		}
		return err
	})
	if err != nil {
		return err
	}
	c.committed(f, revoked)
	c.inflight = c.inflight[1:]
	f.s.reset()
	c.free = append(c.free, f.s)
	return nil
}

// committed reports a settled flight: committed (OnBatch) or, when its
// generation ended first, revoked (OnRevoked).
func (c *consumer) committed(f *flight, revoked bool) {
	switch {
	case revoked && c.opts.OnRevoked != nil:
		c.opts.OnRevoked(f.s.len())
	case !revoked && c.opts.OnBatch != nil:
		c.opts.OnBatch(f.s.len())
	}
}

// fetchFailed waits for the batches already handed over, commits them,
// then reports the fetch error.
func (c *consumer) fetchFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return c.shutdown(ctx)
	}
	for len(c.inflight) > 0 {
		<-c.inflight[0].done
		if c.settle(ctx) != nil {
			break
		}
	}
	return fmt.Errorf("storage: fetch: %w", err)
}

// shutdown commits, in order, the flights that were stored, on a context
// of its own: ctx has ended. It returns nil: what was not committed is
// fetched again by the next consumer. A flight whose generation ended is
// skipped: the flights after it belong to a newer one.
func (c *consumer) shutdown(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, f := range c.inflight {
		<-f.done
		if f.err != nil {
			break // not stored: it (and everything after it) is fetched again
		}
		if c.opts.OnInsert != nil && f.s.len() > 0 {
			c.opts.OnInsert(f.s.len())
		}
		err := c.r.CommitMessages(sctx, f.commit...)
		if err != nil && !errors.Is(err, errGenerationEnded) {
			break
		}
		c.committed(f, err != nil)
	}
	return nil
}

// close stops the flush timer and waits for the inserters still running.
// consume returns with flights in the air only once ctx has ended, which
// ends their retries.
func (c *consumer) close() {
	c.stopTimer()
	for _, f := range c.inflight {
		<-f.done
	}
}

func (c *consumer) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer, c.timerC = nil, nil
	}
}

type topicPartition struct {
	topic     string
	partition int
}
