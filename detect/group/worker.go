package group

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/segmentio/kafka-go"
)

// SeqHeader names the header of a finding record that identifies it for
// deduplication: "<partition>/<offset>/<index>", see the package doc.
const SeqHeader = "gatewatch-seq"

// retryBackoff is how long a partition waits after a failed restore or
// fetch, and how soon it retries a failed checkpoint.
const retryBackoff = time.Second

// errFatal marks errors a retry cannot fix (a state record that does not
// restore): they stop Run.
var errFatal = errors.New("detect group")

// worker runs one partition's engine for one generation.
type worker struct {
	r     *Runner
	gen   *kafka.Generation
	part  int
	start int64 // the group's committed offset, or a kafka.FirstOffset-like constant
	key   []byte

	eng     *detect.Engine
	pending []kafka.Message // findings emitted, not yet produced
	windows []kafka.Message // chunks of window records (Options.WindowsTopic), not yet produced
	winBuf  []byte          // window records not yet in a chunk, newline-separated
	buf     []byte          // state record scratch

	// batch holds decoded events not yet observed, for ObserveBatch: only
	// events the engine is Quiet for, so no finding is emitted while they
	// are counted and each finding is still credited to the offset of the
	// one event that caused it. batchTop is the newest time among them.
	batch    []ingest.Event
	batchTop time.Time

	restored bool  // the engine came from a state record
	last     int64 // offset of the last message folded in; -1 for none
	dirty    bool  // folded or advanced since the last state record
	findings uint64
	newest   int64 // engine's newest event time, Unix ns; 0 before any
	seqOff   int64 // offset findings are attributed to now
	seqIdx   uint64
	sinceCP  int
	lag      int64
	activity time.Time // wall time of the last event or idle advance

	// The contract check (Options.Contract): the partition's incidents,
	// the requests outside the contract not yet produced, the offset its
	// findings are attributed to and their own seq numbering.
	incidents   *contract.Incidents
	contractGap time.Duration
	vs          []contract.Violation
	reports     []kafka.Message
	contractOff int64
	cSeqOff     int64
	cSeqIdx     uint64
	// arena holds the values of the batched events (keep).
	arena []byte
}

func (w *worker) run(gctx context.Context) error {
	r := w.r
	w.key = []byte(stateKey(r.opts.EventsTopic, w.part))
	log := r.opts.Logger.With("topic", r.opts.EventsTopic, "partition", w.part)
	r.setLag(w.part, 0)
	defer r.dropLag(w.part)

	start, err := w.restore(gctx)
	if err != nil {
		if errors.Is(err, errFatal) {
			return err
		}
		return nil // the generation ended
	}
	log.Info("detect group: partition assigned", "offset", start, "restored", w.restored)

	reader := transport.NewPartitionReader(r.dialer, r.brokers(), transport.PartitionReaderOptions{
		Topic: r.opts.EventsTopic, Partition: w.part, Offset: start,
		MaxWait: 250 * time.Millisecond, Logger: log,
	})
	defer reader.Close()

	w.activity = time.Now()
	nextCP := w.activity.Add(r.opts.CheckpointEvery)
	for {
		deadline := nextCP
		if idle := r.opts.IdleAfter; idle > 0 && w.newest != 0 {
			if t := w.activity.Add(idle); t.Before(deadline) {
				deadline = t
			}
		}
		fctx, cancel := context.WithDeadline(gctx, deadline)
		err := w.fetch(fctx, reader)
		cancel()
		r.setLag(w.part, w.lag)
		if gctx.Err() != nil {
			w.finalCheckpoint(log)
			return nil
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			r.failures.Add(1)
			log.Warn("detect group: fetch", "err", err)
			if !sleep(gctx, retryBackoff) {
				w.finalCheckpoint(log)
				return nil
			}
		}
		now := time.Now()
		force := w.idleAdvance(gctx, reader, now)
		if force || len(w.pending) > 0 || !now.Before(nextCP) || w.sinceCP >= r.opts.CheckpointEvents {
			if err := w.checkpointNow(gctx); err != nil {
				r.failures.Add(1)
				log.Warn("detect group: checkpoint", "err", err)
				// Back off before trying again: with findings pending,
				// fetch returns at once.
				if !sleep(gctx, min(retryBackoff, r.opts.CheckpointEvery)) {
					w.finalCheckpoint(log)
					return nil
				}
				nextCP = time.Now()
				continue
			}
			nextCP = time.Now().Add(r.opts.CheckpointEvery)
		}
	}
}

// fetch folds messages into the engine until ctx is done or a checkpoint
// is due: by count, or because findings are waiting — a finding is news,
// so it does not wait for the next periodic checkpoint.
func (w *worker) fetch(ctx context.Context, reader *transport.PartitionReader) error {
	// Whatever ends the loop (a checkpoint due, findings, ctx), the state
	// must cover every message folded in.
	defer w.flush()
	for w.sinceCP < w.r.opts.CheckpointEvents && len(w.pending) == 0 {
		m, err := reader.Next(ctx)
		if err != nil {
			return err
		}
		w.fold(&m)
	}
	return nil
}

// fold feeds one message to the engine.
func (w *worker) fold(m *transport.Record) {
	w.last, w.dirty = m.Offset, true
	w.sinceCP++
	w.lag = max(m.HighWaterMark-m.Offset-1, 0)
	// activity only feeds the idle logic, which does nothing while there
	// is lag: catching up on a backlog need not read the clock per event.
	if w.lag == 0 || w.sinceCP&255 == 0 {
		w.activity = time.Now()
	}
	if w.batch == nil {
		w.batch = make([]ingest.Event, 0, batchMax)
	}
	if len(w.batch) == cap(w.batch) {
		w.flush()
	}
	w.batch = w.batch[:len(w.batch)+1]
	ev := &w.batch[len(w.batch)-1]
	ev.Reset()
	if err := ingest.DecodeWire(w.keep(m.Value), ev); err != nil {
		w.batch = w.batch[:len(w.batch)-1]
		w.r.malformed.Add(1)
		w.r.opts.Logger.Debug("detect group: malformed event", "partition", w.part, "offset", m.Offset, "err", err)
		w.flushIfCaughtUp()
		return
	}
	if !w.eng.Admit(ev) {
		// A line the collector sent again after a crash: counted once,
		// by no detector and no contract check twice.
		w.batch = w.batch[:len(w.batch)-1]
		w.r.replayed.Add(1)
		w.flushIfCaughtUp()
		return
	}
	w.r.events.Add(1)
	// The engine ignores times outside its range (Stats.Untimed); so does
	// the idle clock.
	t := ev.Time
	timed := t.Year() >= 1700 && t.Year() < 2200
	top := w.batchTop
	if timed && t.After(top) {
		top = t
	}
	if n := len(w.batch); w.eng.Quiet(n, top) {
		w.batchTop = top
	} else {
		// This event may close a window: the events before it are
		// counted first, then it alone, its findings credited to its
		// offset.
		w.eng.ObserveBatch(w.batch[:n-1])
		w.seqOff, w.seqIdx = m.Offset, 0
		w.eng.Observe(ev)
		w.batch, w.batchTop = w.batch[:0], time.Time{}
		w.release()
	}
	if timed && t.UnixNano() > w.newest {
		w.newest = t.UnixNano()
	}
	w.checkContract(ev, m.Offset)
	w.flushIfCaughtUp()
}

// batchMax bounds the events a worker holds for ObserveBatch: enough to
// overlap their memory waits, few enough to keep latency out of it.
const batchMax = 64

// flushIfCaughtUp counts the batch now when no message is waiting: the
// next fetch may block, and what was read must not wait for it.
func (w *worker) flushIfCaughtUp() {
	if w.lag == 0 {
		w.flush()
	}
}

// flush counts the batched events.
func (w *worker) flush() {
	if len(w.batch) > 0 {
		w.eng.ObserveBatch(w.batch)
		w.batch, w.batchTop = w.batch[:0], time.Time{}
	}
	w.release()
}

// keep copies a message's value, which the reader reuses, to memory that
// lasts as long as the batch: a decoded event's strings alias it, and
// the engine reads them when the batch is counted (it retains none).
func (w *worker) keep(value []byte) []byte {
	n := len(w.arena)
	w.arena = append(w.arena, value...)
	return w.arena[n:len(w.arena):len(w.arena)]
}

// arenaMax bounds the memory kept between batches for their values: a
// batch that needed more (a few huge events) gives its memory back.
const arenaMax = 1 << 20

// release makes the values' memory reusable once the batch is counted.
// Memory that append outgrew stays with the events that point into it
// until the collector frees it; only the current array is reused.
func (w *worker) release() {
	if cap(w.arena) > arenaMax {
		w.arena = nil
	}
	w.arena = w.arena[:0]
}

// idleAdvance moves the engine's clock by the wall time since the last
// event when the partition is caught up and has been silent for
// IdleAfter. It reports whether findings are waiting, which calls for a
// checkpoint now (see the package doc).
func (w *worker) idleAdvance(ctx context.Context, reader *transport.PartitionReader, now time.Time) bool {
	idle := w.r.opts.IdleAfter
	if idle <= 0 || w.newest == 0 || now.Sub(w.activity) < idle {
		return false
	}
	lag, err := reader.Lag(ctx)
	if err != nil || lag > 0 {
		return false
	}
	w.newest += int64(now.Sub(w.activity))
	w.activity = now
	w.dirty = true
	w.r.idleAdvances.Add(1)
	w.eng.AdvanceTo(time.Unix(0, w.newest))
	return len(w.pending) > 0
}

// windowChunk is the size past which a chunk of window records becomes
// a message: well under the broker's default 1 MB limit.
const windowChunk = 128 << 10

// window is the engine's Options.OnWindow: records wait for the next
// checkpoint, like findings, so a replay after a crash reproduces them
// (storage keeps one row per client and window). They travel as chunks,
// many newline-separated records a message: a message each (a third of
// the events' count on a long-tailed API) cost the replica a third more
// CPU than detection itself, in the producer.
func (w *worker) window(ws detect.WindowStats) {
	if len(w.winBuf) > 0 {
		w.winBuf = append(w.winBuf, '\n')
	}
	w.winBuf = ws.AppendJSON(w.winBuf)
	if len(w.winBuf) >= windowChunk {
		w.cutWindows()
	}
}

// cutWindows makes the records in winBuf a message, keyed by the
// partition they were counted on.
func (w *worker) cutWindows() {
	if len(w.winBuf) == 0 {
		return
	}
	w.windows = append(w.windows, kafka.Message{Key: w.key, Value: w.winBuf})
	w.winBuf = make([]byte, 0, windowChunk+4<<10)
}

// emit is the engine's Options.Emit: findings wait for the next checkpoint.
func (w *worker) emit(f detect.Finding) {
	seq := strconv.AppendInt(nil, int64(w.part), 10)
	seq = append(seq, '/')
	seq = strconv.AppendInt(seq, w.seqOff, 10)
	seq = append(seq, '/')
	seq = strconv.AppendUint(seq, w.seqIdx, 10)
	w.seqIdx++
	w.queueFinding(f, seq)
}

// queueFinding encodes f for the findings topic, with its seq header.
func (w *worker) queueFinding(f detect.Finding, seq []byte) {
	v, err := json.Marshal(f)
	if err != nil {
		// Finding holds finite numbers and strings; this cannot happen,
		// but must not pass silently.
		w.r.failures.Add(1)
		w.r.opts.Logger.Error("detect group: encode finding", "partition", w.part, "incident", f.IncidentID, "err", err)
		return
	}
	w.pending = append(w.pending, kafka.Message{
		Key:     []byte(f.Client),
		Value:   v,
		Headers: []kafka.Header{{Key: SeqHeader, Value: seq}},
	})
}

// checkpoint produces the pending findings, then the state record, then
// commits the offset; see the package doc for why in that order.
func (w *worker) checkpoint(ctx context.Context) error {
	r := w.r
	w.sinceCP = 0
	w.sweepContract()
	if n := len(w.reports); n > 0 {
		if err := r.contractW.WriteMessages(ctx, w.reports...); err != nil {
			return fmt.Errorf("partition %d: produce %d contract reports: %w", w.part, n, err)
		}
		clear(w.reports)
		w.reports = w.reports[:0]
	}
	w.cutWindows()
	if n := len(w.windows); n > 0 {
		if err := r.windows.WriteMessages(ctx, w.windows...); err != nil {
			return fmt.Errorf("partition %d: produce %d window records: %w", w.part, n, err)
		}
		clear(w.windows)
		w.windows = w.windows[:0]
	}
	if n := len(w.pending); n > 0 {
		if err := r.findings.WriteMessages(ctx, w.pending...); err != nil {
			return fmt.Errorf("partition %d: produce %d findings: %w", w.part, n, err)
		}
		clear(w.pending)
		w.pending = w.pending[:0]
		w.findings += uint64(n)
		r.produced.Add(int64(n))
	}
	if !w.dirty {
		return nil
	}
	w.buf = appendState(w.buf[:0], stateHeader{
		Offset: w.last, Findings: w.findings, Newest: w.newest, NextIndex: w.nextIndex(),
	})
	var err error
	if w.buf, err = w.eng.AppendBinary(w.buf); err != nil {
		return fmt.Errorf("partition %d: snapshot: %w", w.part, err)
	}
	if len(w.buf) > r.opts.StateMaxBytes {
		return fmt.Errorf("partition %d: state record of %d bytes exceeds StateMaxBytes %d", w.part, len(w.buf), r.opts.StateMaxBytes)
	}
	if err := r.state.WriteMessages(ctx, kafka.Message{Key: w.key, Value: w.buf}); err != nil {
		// A write given up on (timeout, cancellation) may still be
		// encoding the record: the buffer is not ours to reuse.
		w.buf = nil
		return fmt.Errorf("partition %d: produce state: %w", w.part, err)
	}
	w.dirty = false
	r.checkpoints.Add(1)
	// The state record is what a new owner resumes from; the committed
	// offset only shows lag and serves when the state is gone, so a failed
	// commit (one racing a rebalance, say) is not worth a retry.
	if err := w.gen.CommitOffsets(map[string]map[int]int64{r.opts.EventsTopic: {w.part: w.last + 1}}); err != nil {
		r.opts.Logger.Info("detect group: commit offset", "partition", w.part, "offset", w.last+1, "err", err)
	}
	return nil
}

// nextIndex is the seq index the next finding attributed to w.last would
// get: findings of an idle advance after the last event continue its
// numbering.
func (w *worker) nextIndex() uint64 {
	if w.seqOff == w.last {
		return w.seqIdx
	}
	return 0
}

// checkpointNow checkpoints within WriteTimeout. The generation ending
// does not interrupt it: an abandoned write of findings would be written
// again by the final checkpoint, and whatever of it had landed would be
// produced twice.
func (w *worker) checkpointNow(gctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), w.r.opts.WriteTimeout)
	defer cancel()
	return w.checkpoint(ctx)
}

// finalCheckpoint checkpoints a partition being given up.
func (w *worker) finalCheckpoint(log interface {
	Warn(string, ...any)
}) {
	if err := w.checkpointNow(context.Background()); err != nil {
		w.r.failures.Add(1)
		// The next owner resumes from the previous state record and
		// re-emits what was not saved: nothing is lost.
		log.Warn("detect group: final checkpoint", "err", err)
	}
}

// restore sets up the engine from the partition's newest state record, or
// a fresh one, and returns the offset to resume at. It retries until the
// generation ends, except on a state record that cannot be restored.
func (w *worker) restore(gctx context.Context) (int64, error) {
	r := w.r
	opts := r.opts.Detect
	opts.Emit = w.emit
	onLate := opts.OnLate
	opts.OnLate = func(ev *ingest.Event) {
		r.late.Add(1)
		if onLate != nil {
			onLate(ev)
		}
	}
	if r.windows != nil {
		opts.OnWindow = w.window
	}
	w.startContract()
	// Right after Run creates the state topic its partitions may not have
	// a leader yet: retry soon, then back off.
	backoff := retryBackoff / 8
	for {
		rec, err := w.readState(gctx)
		if err == nil {
			if rec == nil {
				w.eng = detect.New(opts)
				w.last = -1
				if w.start >= 0 {
					w.last = w.start - 1
				}
				return w.start, nil
			}
			h, snap, err := decodeState(rec)
			if err != nil {
				return 0, fmt.Errorf("%w: partition %d: %v", errFatal, w.part, err)
			}
			eng, err := detect.Restore(opts, snap)
			if err != nil {
				return 0, fmt.Errorf("%w: partition %d: restore: %v", errFatal, w.part, err)
			}
			if wm := eng.Stats().Watermark; !saneClock(wm, time.Now()) {
				r.opts.Logger.Error("detect group: the checkpoint's clock is in the future; this partition's detectors start afresh",
					"partition", w.part, "watermark", wm.UTC().Format(time.RFC3339))
				eng = detect.New(opts)
			}
			w.eng, w.restored = eng, true
			w.last, w.findings, w.newest = h.Offset, h.Findings, h.Newest
			w.seqOff, w.seqIdx = h.Offset, h.NextIndex
			r.restores.Add(1)
			return h.Offset + 1, nil
		}
		r.failures.Add(1)
		r.opts.Logger.Warn("detect group: read state", "partition", w.part, "err", err)
		if !sleep(gctx, backoff) {
			return 0, gctx.Err()
		}
		backoff = min(2*backoff, retryBackoff)
	}
}

// saneClock reports whether a restored watermark is plausible at wall
// time now: not further ahead than any input may move it
// (ingest.DefaultMaxSkew). A checkpoint written by a build that let one
// garbled time drag the clock would make every event late; its partition
// starts afresh from the checkpoint's offset instead, its baselines
// relearnt, rather than with detection off.
func saneClock(watermark, now time.Time) bool {
	return watermark.Before(now.Add(ingest.DefaultMaxSkew))
}

// readState returns the newest state record of the partition, nil when
// there is none, by reading the state topic partition that holds its key
// to its end.
func (w *worker) readState(ctx context.Context) ([]byte, error) {
	r := w.r
	topic := r.opts.StateTopic
	md, err := r.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	n := 0
	for _, t := range md.Topics {
		if t.Name == topic {
			if t.Error != nil {
				return nil, fmt.Errorf("metadata %s: %w", topic, t.Error)
			}
			n = len(t.Partitions)
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("state topic %s has no partitions", topic)
	}
	// The writer balances over partitions 0..n-1 with murmur2.
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	sp := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: w.key}, ids...)
	lo, err := r.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(sp), kafka.LastOffsetOf(sp)},
	}})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	var first, end int64
	for _, po := range lo.Topics[topic] {
		if po.Partition == sp {
			if po.Error != nil {
				return nil, fmt.Errorf("list offsets %s/%d: %w", topic, sp, po.Error)
			}
			first, end = po.FirstOffset, po.LastOffset
		}
	}
	if first >= end {
		return nil, nil
	}
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   r.brokers(),
		Topic:     topic,
		Partition: sp,
		Dialer:    r.dialer,
		MinBytes:  1,
		MaxBytes:  r.opts.StateMaxBytes + 1<<20,
		MaxWait:   250 * time.Millisecond,
		// Lag comes from the fetched messages' high watermarks.
		ReadLagInterval: -1,
		ErrorLogger:     kafka.LoggerFunc(r.warnf),
	})
	defer reader.Close()
	if err := reader.SetOffset(first); err != nil {
		return nil, err
	}
	var rec []byte
	for {
		m, err := reader.ReadMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read %s/%d: %w", topic, sp, err)
		}
		if string(m.Key) == string(w.key) {
			rec = m.Value // nil for a tombstone: start afresh
		}
		if m.Offset+1 >= end {
			return rec, nil
		}
	}
}

// sleep waits for d or ctx, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
