package group

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
)

// Backfill seeds the detectors' state from history, so that a new
// deployment does not spend its first hours learning: past events (a
// replay of stored access logs) go to the partition the producer would
// put them on (murmur2 of the client key), each partition's engine learns
// from them, and Commit writes every partition's state to the state topic
// with the events topic's current end as the offset it covers. Detector
// replicas started afterwards restore it and carry on at the live
// position with trained baselines.
//
// Findings about the history are counted, not produced. Run a backfill
// while no replica of the group runs: a running replica's next checkpoint
// replaces the seeded state of its partitions.
type Backfill struct {
	r       *Runner
	ids     []int
	end     map[int]int64 // partition -> high watermark when the backfill began
	engines map[int]*detect.Engine
	newest  map[int]int64
	bal     kafka.Murmur2Balancer
	stats   BackfillStats
	vs      []contract.Violation
}

// BackfillStats say what a backfill learnt.
type BackfillStats struct {
	Events     int64 // events folded into engines
	Unkeyed    int64 // events without a client key (no partition to learn them), skipped
	Findings   int64 // findings the history raised (not produced)
	Partitions int   // state records written
	Clients    int   // clients held across the partitions' engines
	// ContractLearned is how many events the API contract learnt from
	// (Options.Contract; saved to ContractModelFile), and ContractFrozen
	// whether its learning period is over.
	ContractLearned int64
	ContractFrozen  bool
}

// NewBackfill prepares a backfill of the group opts describes: it reads
// the events topic's partitions and their current ends, and creates the
// state topic if needed.
func NewBackfill(ctx context.Context, opts Options) (*Backfill, error) {
	r, err := New(opts)
	if err != nil {
		return nil, err
	}
	if err := r.ensureTopics(ctx); err != nil {
		r.close()
		return nil, fmt.Errorf("backfill: %w (the events topic must exist: start a collector, or create it)", err)
	}
	md, err := r.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{r.opts.EventsTopic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		r.close()
		return nil, fmt.Errorf("backfill: metadata of %s: %v", r.opts.EventsTopic, err)
	}
	b := &Backfill{r: r, end: map[int]int64{}, engines: map[int]*detect.Engine{}, newest: map[int]int64{}}
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		b.ids = append(b.ids, p.ID)
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	res, err := r.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{r.opts.EventsTopic: reqs}})
	if err != nil {
		r.close()
		return nil, fmt.Errorf("backfill: end offsets of %s: %w", r.opts.EventsTopic, err)
	}
	for _, po := range res.Topics[r.opts.EventsTopic] {
		if po.Error != nil {
			r.close()
			return nil, fmt.Errorf("backfill: end offset of %s/%d: %w", r.opts.EventsTopic, po.Partition, po.Error)
		}
		b.end[po.Partition] = po.LastOffset
	}
	if len(b.end) != len(b.ids) {
		r.close()
		return nil, fmt.Errorf("backfill: end offsets for %d of %d partitions", len(b.end), len(b.ids))
	}
	for _, id := range b.ids {
		dopts := r.opts.Detect
		dopts.Emit = func(detect.Finding) { b.stats.Findings++ }
		dopts.OnLate, dopts.OnWindow = nil, nil
		b.engines[id] = detect.New(dopts)
	}
	return b, nil
}

// Observe folds one past event into its partition's engine. Events should
// come in roughly increasing time, as for detect.Engine.Observe.
func (b *Backfill) Observe(ev *ingest.Event) {
	if ev.ClientKey == "" {
		b.stats.Unkeyed++
		return
	}
	p := b.bal.Balance(kafka.Message{Key: []byte(ev.ClientKey)}, b.ids...)
	b.engines[p].Observe(ev)
	if c := b.r.contract; c != nil {
		b.vs = c.observe(ev, b.vs[:0]) // the history's violations are not produced
	}
	b.stats.Events++
	if t := ev.Time.UnixNano(); t > b.newest[p] {
		b.newest[p] = t
	}
}

// Commit closes the history's windows and writes every partition's state
// record, and saves the contract learnt from the history to
// Options.ContractModelFile. It closes the Backfill's connections whatever happens.
func (b *Backfill) Commit(ctx context.Context) (BackfillStats, error) {
	defer b.r.close()
	var msgs []kafka.Message
	for _, id := range b.ids {
		eng := b.engines[id]
		eng.Flush()
		b.stats.Clients += eng.Stats().ActiveClients
		// The partition resumes at its end as of NewBackfill: history is
		// in the engine, what arrives from now on is live.
		rec := appendState(nil, stateHeader{Offset: b.end[id] - 1, Newest: b.newest[id]})
		rec, err := eng.AppendBinary(rec)
		if err != nil {
			return b.stats, fmt.Errorf("backfill: partition %d: %w", id, err)
		}
		if len(rec) > b.r.opts.StateMaxBytes {
			return b.stats, fmt.Errorf("backfill: partition %d: state of %d bytes exceeds StateMaxBytes %d", id, len(rec), b.r.opts.StateMaxBytes)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(stateKey(b.r.opts.EventsTopic, id)), Value: rec, Time: time.Now()})
	}
	if c := b.r.contract; c != nil {
		if err := c.save(); err != nil {
			return b.stats, fmt.Errorf("backfill: %w", err)
		}
		b.stats.ContractLearned, b.stats.ContractFrozen = c.c.Learned(), !c.c.Learning()
	}
	for _, m := range msgs {
		// One at a time: a state record can be tens of MB.
		if err := b.r.state.WriteMessages(ctx, m); err != nil {
			return b.stats, fmt.Errorf("backfill: write state %s: %w", m.Key, err)
		}
		b.stats.Partitions++
	}
	return b.stats, nil
}
