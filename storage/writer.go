package storage

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

// BatchOptions bound a batch in rows, bytes and time: a batch is inserted
// when it reaches BatchRows or BatchBytes, or FlushInterval after its
// first row, whichever comes first. ClickHouse wants few large inserts
// (each insert makes a part that merges later); the time bound keeps the
// dashboards at most about one interval behind.
type BatchOptions struct {
	BatchRows     int           // default DefaultBatchRows
	BatchBytes    int           // approximate; default 64 MiB, at most maxBatchBytes (1 GiB)
	FlushInterval time.Duration // default 1s
	Backoff       Backoff
	// OnError is called for every failed insert attempt (the writer
	// retries); for logs and metrics. It must not block.
	OnError func(error)
}

// DefaultBatchRows is the default BatchOptions.BatchRows: large enough that
// ClickHouse 18.16 spends little on merging the parts (docs/storage.md),
// small enough to keep store's memory under half a gigabyte.
const DefaultBatchRows = 200_000

func (o *BatchOptions) setDefaults() {
	if o.BatchRows <= 0 {
		o.BatchRows = DefaultBatchRows
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 64 << 20
	}
	o.BatchBytes = min(o.BatchBytes, maxBatchBytes)
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	o.Backoff.setDefaults()
}

// WriterOptions configure a Writer.
type WriterOptions struct {
	BatchOptions
	// MaxPending is how many full batches may wait for an inserter beside
	// the one being filled; Write blocks beyond it. Default 2.
	MaxPending int
	// Inserters is how many INSERTs run at once; default 2. 18.16 writes
	// one INSERT's part on one thread, so two keep both the client's
	// encoding and the server's writing busy (up to about 1.5 times the
	// rows/s of one on this project's shared 2-core test box).
	//
	// Memory is bounded by about (Inserters + MaxPending + 1) * BatchBytes.
	Inserters int
}

// WriterStats are a Writer's counters since it was made.
type WriterStats struct {
	Events   uint64 // events acknowledged by ClickHouse
	Windows  uint64
	Findings uint64
	// Violations are requests outside the API's contract (WriteViolations).
	Violations uint64
	// Endpoints are endpoint inventory rows, one per endpoint per snapshot
	// (WriteEndpoints).
	Endpoints uint64
	Inserts   uint64 // successful INSERTs
	Retries   uint64 // failed attempts that were retried
}

// Writer stores events, windows, findings, contract violations and
// endpoint inventory snapshots without Kafka (the embedded mode of `gatewatch run`): callers hand it
// rows, it batches them and inserts in the background with retries.
// While ClickHouse is down, Write blocks once MaxPending batches wait, so
// memory stays bounded and the caller's own input (a tailed file, an HTTP
// source) is the buffer.
//
// A Writer is safe for concurrent use. Close flushes it.
type Writer struct {
	db   *DB
	opts WriterOptions

	mu       sync.Mutex
	cur      *eventBatch
	windows  []ClientWindow
	findings []detect.Finding
	// violations are WriteViolations' rows, already copied.
	violations []violationRow
	// endpoints are WriteEndpoints' rows, already copied.
	endpoints []endpointRow
	first     time.Time // when cur got its first row
	closed    bool
	seed      uint64
	seq       uint64
	vseq      atomic.Uint64 // violation ids: seed plus this sequence

	queue  chan *job
	free   chan *eventBatch
	stop   context.CancelFunc
	runCtx context.Context
	done   chan struct{}
	ticker *time.Ticker

	// inflight lists the jobs cut and not yet finished, for Flush. It has
	// its own lock: inserters take it while a Write may hold mu blocked on
	// a full queue.
	imu      sync.Mutex
	inflight []*job

	stats struct {
		events, windows, findings, violations, endpoints, inserts, retries atomic.Uint64
	}
	lost atomic.Uint64 // rows abandoned when Close timed out
}

// job is one insert unit: a batch of events plus whatever windows,
// findings, violations and endpoints were pending when it was cut. flushed is closed
// once the job is stored (or abandoned, with err set).
type job struct {
	events     *eventBatch
	windows    []ClientWindow
	findings   []detect.Finding
	violations []violationRow
	endpoints  []endpointRow
	flushed    chan struct{}
	err        error
}

// rows is how many rows of every table j holds.
func (j *job) rows() int {
	return j.events.Len() + len(j.windows) + len(j.findings) + len(j.violations) + len(j.endpoints)
}

// NewWriter starts a Writer on db.
func NewWriter(db *DB, opts WriterOptions) *Writer {
	opts.setDefaults()
	if opts.MaxPending <= 0 {
		opts.MaxPending = 2
	}
	if opts.Inserters <= 0 {
		opts.Inserters = 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		db:     db,
		opts:   opts,
		cur:    newEventBatch(opts.BatchRows),
		seed:   randomSeed(),
		queue:  make(chan *job, opts.MaxPending),
		free:   make(chan *eventBatch, opts.MaxPending+opts.Inserters),
		stop:   cancel,
		runCtx: ctx,
		done:   make(chan struct{}),
		ticker: time.NewTicker(max(opts.FlushInterval/4, 10*time.Millisecond)),
	}
	go w.run()
	go w.tick()
	return w
}

// Write queues events for storage. It copies what it keeps, so the caller
// may reuse evs at once. When the batch being filled is full and
// MaxPending batches already wait for ClickHouse, it blocks until one is
// stored or ctx ends; an error means none of evs was accepted.
func (w *Writer) Write(ctx context.Context, evs []ingest.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.full() {
		if err := w.cutLocked(ctx); err != nil {
			return err
		}
	}
	for i := range evs {
		if w.cur.Len() == 0 {
			w.first = time.Now()
		}
		// Embedded events have no Kafka coordinates: a random per-writer
		// seed and a sequence number make ids unique, which is all dedup
		// needs here (nothing replays them).
		w.seq++
		w.cur.add(&evs[i], mix64(w.seed+w.seq))
	}
	// Hand a full batch over now if that does not block; otherwise the
	// next Write (or the ticker) does. The batch may so exceed BatchRows by
	// one Write's worth of events.
	if w.full() && len(w.queue) < cap(w.queue) {
		return w.cutLocked(ctx)
	}
	return nil
}

func (w *Writer) full() bool {
	return w.cur.Len() >= w.opts.BatchRows || w.cur.Bytes() >= w.opts.BatchBytes
}

// WriteWindows queues client windows; they go out with the next batch.
func (w *Writer) WriteWindows(ctx context.Context, ws []ClientWindow) error {
	return queueRows(ctx, w, &w.windows, ws)
}

// WriteFindings queues findings; they go out with the next batch.
func (w *Writer) WriteFindings(ctx context.Context, fs []detect.Finding) error {
	return queueRows(ctx, w, &w.findings, fs)
}

// queueRows appends rows to one of w's side queues (windows, findings,
// violations, endpoints), which ride along with the next event batch, and cuts a
// batch early when the queue alone is full.
func queueRows[T any](ctx context.Context, w *Writer, queue *[]T, rows []T) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.pendingLocked() == 0 {
		w.first = time.Now()
	}
	*queue = append(*queue, rows...)
	if len(*queue) >= w.opts.BatchRows {
		return w.cutLocked(ctx)
	}
	return nil
}

// Flush inserts everything queued so far and waits until ClickHouse
// acknowledged it, or ctx ends. It returns the first error of the jobs it
// waited for.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	_, err := w.cutJobLocked(ctx)
	w.mu.Unlock()
	if err != nil {
		return err
	}
	w.imu.Lock()
	wait := append([]*job(nil), w.inflight...)
	w.imu.Unlock()
	var first error
	for _, j := range wait {
		select {
		case <-j.flushed:
			if j.err != nil && first == nil {
				first = j.err
			}
		case <-ctx.Done():
			return fmt.Errorf("storage: flush: %w", ctx.Err())
		}
	}
	return first
}

// Close flushes what is queued and stops the writer. If ctx ends first
// (ClickHouse still down), the rows not yet stored are dropped and Close
// says how many.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	_, err := w.cutJobLocked(ctx)
	if err != nil {
		// The queue stayed full until ctx ended: what was being filled
		// never made it into a job.
		w.lost.Add(uint64(w.pendingLocked()))
	}
	w.closed = true
	close(w.queue)
	w.mu.Unlock()
	w.ticker.Stop()
	select {
	case <-w.done:
	case <-ctx.Done():
		w.stop()
		<-w.done
		lost := w.lost.Load()
		return fmt.Errorf("storage: close: %d rows not stored: %w", lost, ctx.Err())
	}
	w.stop()
	return err
}

// Stats returns the writer's counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{
		Events:     w.stats.events.Load(),
		Windows:    w.stats.windows.Load(),
		Findings:   w.stats.findings.Load(),
		Violations: w.stats.violations.Load(),
		Endpoints:  w.stats.endpoints.Load(),
		Inserts:    w.stats.inserts.Load(),
		Retries:    w.stats.retries.Load(),
	}
}

// pendingLocked is how many rows wait in the batch being filled and the
// side queues.
func (w *Writer) pendingLocked() int {
	return w.cur.Len() + len(w.windows) + len(w.findings) + len(w.violations) + len(w.endpoints)
}

func (w *Writer) cutLocked(ctx context.Context) error {
	_, err := w.cutJobLocked(ctx)
	return err
}

// cutJobLocked hands the rows gathered so far to the inserters, blocking
// while the queue is full; with nothing gathered it does nothing.
func (w *Writer) cutJobLocked(ctx context.Context) (*job, error) {
	if w.pendingLocked() == 0 {
		return nil, nil
	}
	j := &job{events: w.cur, windows: w.windows, findings: w.findings, violations: w.violations,
		endpoints: w.endpoints, flushed: make(chan struct{})}
	w.imu.Lock()
	w.inflight = append(w.inflight, j)
	w.imu.Unlock()
	select {
	case w.queue <- j:
	case <-ctx.Done():
		w.finish(j)
		return nil, fmt.Errorf("storage: write: ClickHouse is behind: %w", ctx.Err())
	}
	select {
	case b := <-w.free:
		w.cur = b
	default:
		w.cur = newEventBatch(w.opts.BatchRows)
	}
	w.windows, w.findings, w.violations, w.endpoints = nil, nil, nil, nil
	return j, nil
}

// tick cuts a batch that has waited FlushInterval.
func (w *Writer) tick() {
	for {
		select {
		case <-w.runCtx.Done():
			return
		case <-w.ticker.C:
		}
		w.mu.Lock()
		if !w.closed && time.Since(w.first) >= w.opts.FlushInterval {
			// Never block the ticker on a full queue: the next Write will
			// cut when the batch is full anyway.
			if len(w.queue) < cap(w.queue) {
				_ = w.cutLocked(w.runCtx)
			}
		}
		w.mu.Unlock()
	}
}

// run runs the inserters; each stores one job at a time, retrying it
// until it succeeds or the writer is stopped.
func (w *Writer) run() {
	defer close(w.done)
	var wg sync.WaitGroup
	for range w.opts.Inserters {
		wg.Go(func() {
			for j := range w.queue {
				j.err = w.store(j)
				if j.err != nil {
					w.lost.Add(uint64(j.rows()))
				}
				w.finish(j)
				j.events.reset()
				select {
				case w.free <- j.events:
				default:
				}
			}
		})
	}
	wg.Wait()
}

// finish marks j done for Flush.
func (w *Writer) finish(j *job) {
	w.imu.Lock()
	for i, x := range w.inflight {
		if x == j {
			w.inflight = append(w.inflight[:i], w.inflight[i+1:]...)
			break
		}
	}
	w.imu.Unlock()
	close(j.flushed)
}

// store inserts j's rows, one INSERT per table that has any, each
// retried until it succeeds or the writer is stopped.
func (w *Writer) store(j *job) error {
	onErr := func(err error) {
		w.stats.retries.Add(1)
		if w.opts.OnError != nil {
			w.opts.OnError(err)
		}
	}
	for _, t := range []struct {
		rows   int
		stored *atomic.Uint64
		insert func(context.Context) error
	}{
		{j.events.Len(), &w.stats.events, func(ctx context.Context) error { return w.db.insertEvents(ctx, j.events) }},
		{len(j.windows), &w.stats.windows, func(ctx context.Context) error { return w.db.InsertWindows(ctx, j.windows) }},
		{len(j.findings), &w.stats.findings, func(ctx context.Context) error { return w.db.InsertFindings(ctx, j.findings) }},
		{len(j.violations), &w.stats.violations, func(ctx context.Context) error { return w.db.insertViolations(ctx, j.violations) }},
		{len(j.endpoints), &w.stats.endpoints, func(ctx context.Context) error { return w.db.insertEndpoints(ctx, j.endpoints) }},
	} {
		if t.rows == 0 {
			continue
		}
		if err := retry(w.runCtx, w.opts.Backoff, onErr, t.insert); err != nil {
			return err
		}
		t.stored.Add(uint64(t.rows))
		w.stats.inserts.Add(1)
	}
	return nil
}

// randomSeed is 64 random bits, for dedup keys that must not repeat
// across processes.
func randomSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// mix64 is the splitmix64 finaliser: it spreads sequential ids over the
// whole 64-bit range.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
