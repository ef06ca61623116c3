package pipeline

import (
	"context"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
)

// storeBatch is how many events wait for the Store before a write (the
// store batches again into large inserts).
const storeBatch = 4096

// detector is the single goroutine that owns the detectors, and what it
// holds for the writers.
type detector struct {
	p       *Pipeline
	engine  *detect.Engine
	err     error // the first writer error: it ends the run
	events  []ingest.Event
	finds   []detect.Finding
	windows []detect.WindowStats
	// The contract check, when on: its checker, the incidents it groups
	// and the requests outside it waiting for the store.
	contract   *contract.Checker
	incidents  *contract.Incidents
	vs         []contract.Violation
	violations []contract.Report
	// savedContract and savedInventory are when the contract and the
	// inventory were last saved (wall time).
	savedContract, savedInventory time.Time
	// newest event time and when it arrived, to advance event time while
	// the inputs are idle.
	newest, lastArrival time.Time
}

// detect runs the detectors until the queue is closed and drained, or
// Grace after ctx ends.
func (p *Pipeline) detect(ctx context.Context) error {
	d := &detector{p: p}
	d.engine = detect.New(d.options())
	d.startContract()
	d.savedInventory = time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var grace <-chan time.Time
	done := ctx.Done()
	for d.err == nil {
		select {
		case <-done:
			// Shutting down: inputs are stopping; give them a moment to
			// hand over what they read, then end.
			done, grace = nil, time.After(p.opts.Grace)
		case <-grace:
			return d.finish(ctx)
		case ev, ok := <-p.events:
			if !ok {
				return d.finish(ctx)
			}
			d.observe(ctx, &ev)
		case now := <-tick.C:
			d.tick(ctx, now)
		}
	}
	return d.err
}

// options are the detectors' options with the pipeline's hooks.
func (d *detector) options() detect.Options {
	opts := d.p.opts.Detect
	store, rec := d.p.opts.Store, d.p.opts.Recorder
	if store != nil || rec != nil {
		opts.OnWindow = func(ws detect.WindowStats) {
			if rec != nil {
				rec.Window(ws)
			}
			if store != nil {
				d.windows = append(d.windows, ws)
			}
		}
	}
	opts.Emit = d.emit
	opts.OnLate = func(ev *ingest.Event) {
		if d.p.opts.OnLate != nil {
			d.p.opts.OnLate(ev.Source)
		}
	}
	return opts
}

// emit passes a finding to the writers, and keeps it for the store.
func (d *detector) emit(f detect.Finding) {
	if d.p.opts.Store != nil {
		d.finds = append(d.finds, f)
	}
	if d.p.opts.Recorder != nil {
		d.p.opts.Recorder.Finding(f)
	}
	if d.p.opts.OnFinding != nil {
		d.p.opts.OnFinding(f)
	}
	for _, w := range d.p.opts.Findings {
		if err := w.Write(f); err != nil && d.err == nil {
			d.err = err
		}
	}
}

// observe hands one event to the detectors, and keeps it for the store.
func (d *detector) observe(ctx context.Context, ev *ingest.Event) {
	if d.p.opts.Recorder != nil {
		d.p.opts.Recorder.Event(ev)
	}
	d.engine.Observe(ev)
	if d.contract != nil {
		d.checkContract(ev)
	}
	d.observeInventory(ev)
	if d.p.opts.Store != nil {
		d.events = append(d.events, *ev)
		if len(d.events) >= storeBatch {
			d.flush(ctx)
		}
	}
	if ev.Time.After(d.newest) {
		d.newest = ev.Time
	}
	d.lastArrival = time.Now()
}

// tick writes what waits for the store and, while the inputs are idle,
// advances event time: idle inputs must not hold windows open forever.
// Event time is not wall time (a replayed or delayed log), so it moves by
// the wall time since the last event arrived.
func (d *detector) tick(ctx context.Context, now time.Time) {
	d.flush(ctx)
	if idle := now.Sub(d.lastArrival); !d.newest.IsZero() && idle >= time.Second {
		d.engine.AdvanceTo(d.newest.Add(idle))
		if d.incidents != nil {
			d.keep(d.incidents.Sweep(d.newest.Add(idle - d.contractGap())))
		}
	}
	d.saveContract(now, false)
	d.snapshotInventory(ctx, now, false)
	d.report(now)
}

// report warns about bad input and hands the counters to OnTick.
func (d *detector) report(now time.Time) {
	st := d.engine.Stats()
	d.p.watch.check(now, st)
	if d.p.opts.OnTick != nil {
		d.p.opts.OnTick(now, st, len(d.p.events))
	}
}

// finish closes the open windows and hands what is left to the store,
// whether or not ctx has ended (bounded, so a store that stays down
// cannot hold shutdown).
func (d *detector) finish(ctx context.Context) error {
	d.report(time.Now())
	d.engine.Flush()
	if d.incidents != nil {
		d.keep(d.incidents.Flush())
	}
	d.saveContract(time.Now(), true)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	d.snapshotInventory(fctx, time.Now(), true)
	d.flush(fctx)
	return d.err
}

// finishTimeout bounds the last writes to the store.
const finishTimeout = 30 * time.Second

// flush writes the events, findings and windows waiting for the store.
// A write that fails because ctx ended is not an error: the run is over.
func (d *detector) flush(ctx context.Context) {
	s := d.p.opts.Store
	if s == nil {
		return
	}
	keep := func(err error) {
		if err != nil && d.err == nil && ctx.Err() == nil {
			d.err = err
		}
	}
	if len(d.events) > 0 {
		keep(s.Write(ctx, d.events))
		d.events = d.events[:0]
	}
	if len(d.finds) > 0 {
		keep(s.WriteFindings(ctx, d.finds))
		d.finds = d.finds[:0]
	}
	if len(d.windows) > 0 {
		keep(s.WriteWindows(ctx, d.windows))
		d.windows = d.windows[:0]
	}
	if vs, ok := s.(ViolationStore); ok && len(d.violations) > 0 {
		keep(vs.WriteViolations(ctx, d.violations))
		d.violations = d.violations[:0]
	}
}

// keep records the first error of the run.
func (d *detector) keep(err error) {
	if err != nil && d.err == nil {
		d.err = err
	}
}
