package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/ingest/transport"
)

// errGenerationEnded: a batch was fetched in a consumer-group generation
// that has ended (a rebalance, or this member left the group). Its offsets
// are not committed: the partition may belong to another member now,
// which reads the batch again from the group's last commit, stores it
// (the replay collapses by the dedup key) and commits and counts it.
var errGenerationEnded = errors.New("consumer group generation ended")

// errReaderClosed: FetchMessage on a closed groupReader.
var errReaderClosed = errors.New("group reader closed")

// groupReaderConfig configures newGroupReader.
type groupReaderConfig struct {
	Brokers []string
	Dialer  *kafka.Dialer
	Group   string
	Topic   string
	MaxWait time.Duration // a fetch waits at most this for new messages
	Logger  *slog.Logger  // kafka-go's own messages, at debug level
	// OnJoinError is called for each failed attempt to join the group
	// (kafka-go retries after its JoinGroupBackoff); OnAssigned with the
	// number of partitions of each new generation. Both run on the
	// reader's goroutine and must not block.
	OnJoinError func(error)
	OnAssigned  func(partitions int)
}

// groupReader is the MessageReader of one topic as a member of a consumer
// group: kafka-go's ConsumerGroup joins and rebalances, and a partition
// reader fetches each partition of the current generation from its
// committed offset (the oldest message when none).
//
// Unlike a kafka.Reader with a GroupID, it commits a message's offset in
// the generation that delivered it, and refuses to (errGenerationEnded)
// once that generation has ended: after a rebalance each offset is
// committed, and its rows counted, by one member only. Each message
// carries its generation in WriterData, so consume can keep a batch to
// one generation. Join failures are retried, never returned: FetchMessage
// fails only when ctx ends or the reader is closed.
type groupReader struct {
	cfg  groupReaderConfig
	cg   *kafka.ConsumerGroup
	msgs chan fetched    // fetchAhead messages in handoff-sized slices: consume reads it directly (fetchSource)
	next []kafka.Message // FetchMessage's rest of the slice it took last
	stop context.CancelFunc
	done chan struct{} // run returned
}

// generation is one generation of the group, as messages carry it. Its
// commits run on a goroutine of the generation (commitLoop), so kafka-go
// keeps the generation's connection open until a commit in flight has its
// answer: a commit the broker accepted is never mistaken for a failure.
type generation struct {
	g       *kafka.Generation
	commits chan commitRequest
	ended   chan struct{} // closed when the generation ended and commitLoop returned
}

// commitRequest is one CommitOffsets call for commitLoop.
type commitRequest struct {
	offsets map[string]map[int]int64
	done    chan error // buffered: commitLoop never blocks on it
}

// commitLoop commits what CommitMessages hands it until the generation
// ends; a request received after that is refused.
func (g *generation) commitLoop(ctx context.Context) {
	defer close(g.ended)
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-g.commits:
			if ctx.Err() != nil {
				req.done <- errGenerationEnded
				return
			}
			req.done <- g.g.CommitOffsets(req.offsets)
		}
	}
}

// newGroupReader joins the group in the background; the caller owns the
// reader and must Close it.
func newGroupReader(cfg groupReaderConfig) (*groupReader, error) {
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = transport.DefaultMaxWait
	}
	debug := kafka.LoggerFunc(func(msg string, args ...any) {
		cfg.Logger.Debug(fmt.Sprintf(msg, args...), "component", "kafka-go", "topic", cfg.Topic)
	})
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: cfg.Group, Brokers: cfg.Brokers, Dialer: cfg.Dialer, Topics: []string{cfg.Topic},
		StartOffset: kafka.FirstOffset, WatchPartitionChanges: true, ErrorLogger: debug,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer group %s: %w", cfg.Group, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &groupReader{cfg: cfg, cg: cg, msgs: make(chan fetched, fetchAhead/handoff), stop: stop, done: make(chan struct{})}
	go r.run(ctx)
	return r, nil
}

// run takes each generation the group hands out until the reader is
// closed.
func (r *groupReader) run(ctx context.Context) {
	defer close(r.done)
	for {
		gen, err := r.cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			if r.cfg.OnJoinError != nil {
				r.cfg.OnJoinError(err)
			}
			continue // kafka-go waits JoinGroupBackoff before the next attempt
		}
		r.serve(gen)
	}
}

// serve starts the generation's partition readers. They stop when it
// ends, which kafka-go waits for before the next generation starts.
func (r *groupReader) serve(gen *kafka.Generation) {
	g := &generation{g: gen, commits: make(chan commitRequest), ended: make(chan struct{})}
	parts := gen.Assignments[r.cfg.Topic]
	gen.Start(g.commitLoop)
	for _, p := range parts {
		gen.Start(func(ctx context.Context) { r.readPartition(ctx, g, p) })
	}
	if r.cfg.OnAssigned != nil {
		r.cfg.OnAssigned(len(parts))
	}
}

// readPartition hands over the partition's messages, each tagged with g,
// until the generation ends. A committed offset out of the partition's
// range (retention deleted those messages, or the topic was created
// again) restarts from the oldest message, as a group without offsets
// does, where kafka-go would retry it forever. A failing partition reader
// returns, which ends the generation: the member joins again.
func (r *groupReader) readPartition(ctx context.Context, g *generation, p kafka.PartitionAssignment) {
	log := r.cfg.Logger.With("topic", r.cfg.Topic, "partition", p.ID)
	pr := transport.NewPartitionReader(r.cfg.Dialer, r.cfg.Brokers, transport.PartitionReaderOptions{
		Topic: r.cfg.Topic, Partition: p.ID, Offset: p.Offset, MaxWait: r.cfg.MaxWait, OutOfRangeError: true,
	})
	defer pr.Close()
	var slab valueSlab
	var out []kafka.Message
	for {
		rec, err := pr.Next(ctx)
		if errors.Is(err, kafka.OffsetOutOfRange) && ctx.Err() == nil {
			log.Warn("committed offset out of range (deleted by retention, or the topic was created again): reading from the oldest message", "offset", p.Offset)
			pr.SetOffset(kafka.FirstOffset)
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("kafka fetch failed; joining the group again", "err", err)
			}
			return
		}
		if out == nil {
			out = make([]kafka.Message, 0, handoff)
		}
		out = append(out, kafka.Message{Topic: r.cfg.Topic, Partition: rec.Partition, Offset: rec.Offset,
			HighWaterMark: rec.HighWaterMark, Value: slab.keep(rec.Value), WriterData: g})
		if len(out) < handoff && rec.Offset+1 < rec.HighWaterMark {
			continue // more is waiting in the partition: hand over a fuller slice
		}
		select {
		case r.msgs <- fetched{ms: out}:
			out = nil
		case <-ctx.Done():
			return
		}
	}
}

// handoff is how many messages a partition reader hands the store loop
// at once while it is behind (a caught-up reader hands each over as it
// comes): one channel operation on each side per message cost a fifth of
// store's CPU.
const handoff = 64

// valueSlab gives fetched values memory of their own, which they need
// once the reader reuses its buffer, in slabs rather than one allocation
// each. A slab is never written again once full: the collector frees it
// when the last message in it is stored.
type valueSlab []byte

// slabSize is the memory one slab holds: about 1,600 events.
const slabSize = 256 << 10

// keep returns a copy of v.
func (s *valueSlab) keep(v []byte) []byte {
	if v == nil {
		return nil
	}
	if cap(*s)-len(*s) < len(v) {
		*s = make([]byte, 0, max(slabSize, len(v)))
	}
	n := len(*s)
	*s = append(*s, v...)
	return (*s)[n:len(*s):len(*s)]
}

// FetchMessage returns the next message of any partition assigned to
// this member.
func (r *groupReader) FetchMessage(ctx context.Context) (kafka.Message, error) {
	if len(r.next) > 0 {
		m := r.next[0]
		r.next = r.next[1:]
		return m, nil
	}
	select {
	case f := <-r.msgs:
		r.next = f.ms[1:]
		return f.ms[0], nil
	case <-ctx.Done():
		return kafka.Message{}, ctx.Err()
	case <-r.done:
		return kafka.Message{}, errReaderClosed
	}
}

// fetched implements fetchSource: consume takes the partition readers'
// messages straight from their channel.
func (r *groupReader) fetched() (msgs <-chan fetched, closed <-chan struct{}) { return r.msgs, r.done }

// CommitMessages commits, for each partition, the offset after the newest
// of msgs, in the generation that fetched them (all of msgs must come
// from one: consume never mixes generations in a batch). It returns
// errGenerationEnded, committing nothing, when that generation is over.
// Once handed to the generation, a commit is waited for whatever ctx
// does: its outcome decides whether its rows count.
func (r *groupReader) CommitMessages(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	g, ok := msgs[0].WriterData.(*generation)
	if !ok {
		return errors.New("commit: message not fetched by this reader")
	}
	offsets := map[string]map[int]int64{}
	for _, m := range msgs {
		if m.WriterData != msgs[0].WriterData {
			return errors.New("commit: messages of two generations")
		}
		if offsets[m.Topic] == nil {
			offsets[m.Topic] = map[int]int64{}
		}
		offsets[m.Topic][m.Partition] = max(offsets[m.Topic][m.Partition], m.Offset+1)
	}
	req := commitRequest{offsets: offsets, done: make(chan error, 1)}
	select {
	case g.commits <- req:
	case <-g.ended:
		return errGenerationEnded
	case <-ctx.Done():
		return ctx.Err()
	}
	err := <-req.done
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errGenerationEnded), errors.Is(err, kafka.IllegalGeneration),
		errors.Is(err, kafka.RebalanceInProgress), errors.Is(err, kafka.UnknownMemberId):
		return fmt.Errorf("%w: %w", errGenerationEnded, err)
	}
	return fmt.Errorf("commit offsets: %w", err)
}

// Close leaves the group and waits for the reader's goroutines. Call it
// once.
func (r *groupReader) Close() error {
	r.stop()
	err := r.cg.Close()
	<-r.done
	return err
}
