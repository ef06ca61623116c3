package storage

import (
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

// ConsumerOptions configure ConsumeEvents and ConsumeFindings.
type ConsumerOptions struct {
	BatchOptions
	// OnBadMessage is called for a message that does not decode (it is
	// skipped, and its offset committed with the batch, so one poison
	// message cannot stall the topic). Nil ignores them.
	OnBadMessage func(kafka.Message, error)
	// OnBatch is called after each batch is stored and committed, with
	// the rows it held; for metrics.
	OnBatch func(rows int)
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
		return &eventSink{db: db, b: newEventBatch(rows.BatchRows), in: make(interner)}
	})
}

// ConsumeFindings reads findings (JSON, docs/findings.md) from r and
// stores them, like ConsumeEvents.
func (db *DB) ConsumeFindings(ctx context.Context, r MessageReader, opts ConsumerOptions) error {
	return consume(ctx, r, opts, func() sink { return &findingSink{db: db} })
}

// ConsumeWindows reads per-client window records (detect.WindowStats as
// JSON, produced by "gatewatch detect" to its windows topic) from r and
// stores them in client_windows, like ConsumeEvents. A replayed window
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
	in interner
	ev ingest.Event
}

func (s *eventSink) add(m *kafka.Message) error {
	s.ev.Reset()
	if err := ingest.DecodeWire(m.Value, &s.ev); err != nil {
		return err
	}
	s.b.add(&s.ev, EventID(m.Topic, m.Partition, m.Offset), s.in)
	return nil
}
func (s *eventSink) len() int                         { return s.b.Len() }
func (s *eventSink) bytes() int                       { return s.b.Bytes() }
func (s *eventSink) insert(ctx context.Context) error { return s.db.insertEvents(ctx, s.b) }
func (s *eventSink) reset() {
	s.b.reset()
	if len(s.in) > 1<<15 {
		s.in = make(interner)
	}
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

func (s *windowSink) add(m *kafka.Message) error {
	var w detect.WindowStats
	if err := json.Unmarshal(m.Value, &w); err != nil {
		return err
	}
	if w.Client == "" || w.Start.IsZero() {
		return errors.New("window record without client or window_start")
	}
	s.ws = append(s.ws, ClientWindowOf(w))
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
// the only buffer, so memory is bounded by MaxInFlight + 1 batches, and
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
	type fetched struct {
		m   kafka.Message
		err error
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan fetched)
	fetchDone := make(chan struct{})
	go func() {
		defer close(fetchDone)
		for {
			m, err := r.FetchMessage(fctx)
			select {
			case msgs <- fetched{m, err}:
			case <-fctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		cancel()
		<-fetchDone
	}()

	// A flight is a batch handed to an inserter, with the offsets to
	// commit once it is stored: the newest message of each partition in
	// it (kafka-go commits, per partition, the offset after the message).
	type flight struct {
		s      sink
		commit []kafka.Message
		err    error         // the insert's outcome, set before done closes
		done   chan struct{} // closed when the insert returned
	}
	var (
		inflight []*flight // oldest first
		free     []sink
		cur      = newSink()
		last     = make(map[topicPartition]kafka.Message)
		timer    *time.Timer
		timerC   <-chan time.Time
	)
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
			timer, timerC = nil, nil
		}
	}
	defer stopTimer()

	commit := func(ctx context.Context, f *flight) error {
		return retry(ctx, opts.Backoff, opts.OnError, func(ctx context.Context) error {
			return r.CommitMessages(ctx, f.commit...)
		})
	}
	// settle finishes the oldest flight, whose insert has returned.
	settle := func() error {
		f := inflight[0]
		if f.err != nil {
			return f.err // only ctx's end stops an insert's retries
		}
		if err := commit(ctx, f); err != nil {
			return err
		}
		if opts.OnBatch != nil {
			opts.OnBatch(f.s.len())
		}
		inflight = inflight[1:]
		f.s.reset()
		free = append(free, f.s)
		return nil
	}
	launch := func() error {
		stopTimer()
		if len(last) == 0 {
			return nil
		}
		f := &flight{s: cur, done: make(chan struct{})}
		for _, m := range last {
			f.commit = append(f.commit, m)
		}
		clear(last)
		if f.s.len() > 0 {
			go func() {
				f.err = retry(ctx, opts.Backoff, opts.OnError, f.s.insert)
				close(f.done)
			}()
		} else {
			close(f.done) // only bad messages: nothing to insert, still commit
		}
		inflight = append(inflight, f)
		if n := len(free); n > 0 {
			cur, free = free[n-1], free[:n-1]
		} else {
			cur = newSink()
		}
		// Full pipeline: wait for the oldest before fetching more.
		for len(inflight) >= opts.MaxInFlight {
			<-inflight[0].done
			if err := settle(); err != nil {
				return err
			}
		}
		return nil
	}
	// shutdown commits, in order, the flights that were stored, on a
	// context of its own: ctx has ended.
	shutdown := func() error {
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer scancel()
		for _, f := range inflight {
			<-f.done
			if f.err != nil {
				break // not stored: it (and everything after it) is fetched again
			}
			if err := r.CommitMessages(sctx, f.commit...); err != nil {
				break
			}
		}
		inflight = nil
		return nil
	}

	for {
		var oldest <-chan struct{}
		if len(inflight) > 0 {
			oldest = inflight[0].done
		}
		select {
		case <-ctx.Done():
			return shutdown()
		case <-oldest:
			if err := settle(); err != nil {
				if ctx.Err() != nil {
					return shutdown()
				}
				return err
			}
		case <-timerC:
			timer, timerC = nil, nil
			if err := launch(); err != nil {
				if ctx.Err() != nil {
					return shutdown()
				}
				return err
			}
		case f := <-msgs:
			if f.err != nil {
				if ctx.Err() != nil {
					return shutdown()
				}
				// Wait for the batches already handed over, commit them, then
				// report the fetch error.
				for len(inflight) > 0 {
					<-inflight[0].done
					if err := settle(); err != nil {
						break
					}
				}
				return fmt.Errorf("storage: fetch: %w", f.err)
			}
			m := f.m
			if err := cur.add(&m); err != nil && opts.OnBadMessage != nil {
				opts.OnBadMessage(m, err)
			}
			tp := topicPartition{m.Topic, m.Partition}
			if prev, ok := last[tp]; !ok || m.Offset > prev.Offset {
				last[tp] = kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
			}
			if timer == nil {
				timer = time.NewTimer(opts.FlushInterval)
				timerC = timer.C
			}
			if cur.len() >= opts.BatchRows || cur.bytes() >= opts.BatchBytes {
				if err := launch(); err != nil {
					if ctx.Err() != nil {
						return shutdown()
					}
					return err
				}
			}
		}
	}
}

type topicPartition struct {
	topic     string
	partition int
}
