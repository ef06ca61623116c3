// Package pipeline is gatewatch's embedded pipeline as a library: inputs
// (any ingest.Source) through the decode step into a bounded in-process
// queue — the transport Kafka replaces in a deployment — and one detector
// goroutine whose findings, events and windows go to the writers given.
// "gatewatch run" reads its configuration and calls New(...).Run(ctx).
//
// Writers are interfaces defined here, so the stages after detection
// (storage, alert) plug in without this package importing them.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/detect/feedback"
	"github.com/gatewatch/gatewatch/detect/inventory"
	"github.com/gatewatch/gatewatch/ingest"
)

// FindingWriter takes each finding emission, in order; alert.Writer and
// alert.Dir are ones.
type FindingWriter interface {
	Write(f detect.Finding) error
}

// Store keeps events, findings and window records in batches (ClickHouse
// through storage.Writer). Each call may block while the store is slow:
// the detector, and then the inputs, wait rather than grow memory.
type Store interface {
	Write(ctx context.Context, evs []ingest.Event) error
	WriteFindings(ctx context.Context, fs []detect.Finding) error
	WriteWindows(ctx context.Context, ws []detect.WindowStats) error
}

// Recorder sees what the detectors see and find, for a report.
type Recorder interface {
	Event(ev *ingest.Event)
	Window(ws detect.WindowStats)
	Finding(f detect.Finding)
}

// Options configure a Pipeline.
type Options struct {
	// Inputs are read in parallel. Required.
	Inputs []ingest.Input
	// Normalizer is how every input's events are normalised.
	Normalizer ingest.NormalizerOptions
	// Detect configures the detectors; the pipeline sets Emit, OnWindow
	// and OnLate (OnLate and OnFinding below hear them).
	Detect detect.Options
	// Findings receive every finding emission.
	Findings []FindingWriter
	// Store, when set, keeps every event, finding and window record.
	Store Store
	// DeadLetterDir is where rejected lines are kept, one JSON-lines file
	// per input (name.jsonl). Required: a rejected line is never dropped.
	DeadLetterDir string
	// QueueSize bounds the events between the inputs and the detectors
	// (default 65,536).
	QueueSize int
	// Grace is how long, once ctx ends, the detectors wait for inputs to
	// hand over what they read (default 5s): standard input may never
	// return.
	Grace time.Duration
	// Counters, when set, returns the lines and rejects counters of the
	// input named name.
	Counters func(name string) (lines, rejects ingest.Counter)
	// OnReject, when set, hears each rejected line's input and text.
	OnReject func(input string, text []byte)
	// OnFinding, when set, hears each finding emission.
	OnFinding func(f detect.Finding)
	// OnLate, when set, hears the source of each event the detectors
	// found too late, or set aside for being dated far ahead.
	OnLate func(source string)
	// OnTick, when set, is called about once a second from the detector
	// goroutine with the detectors' counters and the queue's length, and
	// once more at the end.
	OnTick func(now time.Time, st detect.Stats, queued int)
	// Contract, when set, learns the API's contract during its learning
	// period and then checks every event against it (detect/contract):
	// each request outside it is written to the Store, when the Store
	// also has WriteViolations (ViolationStore), and each client's run of
	// them is an incident, a finding of detector "contract" (opened at
	// contract.OpenAfter requests, resolved after ContractGap of quiet).
	Contract    *contract.CheckerOptions
	ContractGap time.Duration
	// ContractModelFile, when set with Contract, is where the learnt
	// contract lives across runs: New loads it when it exists (a file
	// that does not load is an error), and the pipeline saves it every
	// ContractSaveEvery and at the end, so a restarted run goes on
	// learning, or checking, where it stopped.
	ContractModelFile string
	// Inventory, when set, keeps the endpoint inventory of the traffic
	// (detect/inventory): saved to InventoryFile, when set, and handed to
	// the Store, when it is an EndpointStore, every InventoryEvery and at
	// the end. New loads InventoryFile when it exists, so the inventory
	// grows across runs; one that does not load is an error.
	Inventory     *inventory.Options
	InventoryFile string
	// FalsePositivesFile, when set, is the alert stage's feedback file
	// (alert-feedback.jsonl): client/detector pairs people marked as false
	// positives there are absorbed into their baselines instead of being
	// reported (detect.Options.FalsePositives). The file is followed while
	// the pipeline runs; a missing one is empty.
	FalsePositivesFile string
	// Recorder, when set, sees every event, client window and finding
	// emission, from the detectors' goroutine: the live report of `gatewatch
	// run` (dashboards/report's Collector) is one. It must not block.
	Recorder Recorder
	// Logger gets progress and problems, and a warning when much of an
	// input fails to parse (naming the format its lines look like) or many
	// events arrive late (WarnParseShare, WarnLateShare); default discard.
	Logger *slog.Logger
}

// ViolationStore is a Store that also keeps the requests outside the
// contract (storage.Writer does).
type ViolationStore interface {
	WriteViolations(ctx context.Context, rs []contract.Report) error
}

// Pipeline runs inputs through the detectors. Run it once.
type Pipeline struct {
	opts    Options
	log     *slog.Logger
	events  chan ingest.Event
	healthy sync.Map // input name -> error text, "" when fine
	watch   *inputWatch
	fps     *feedback.Set        // nil without FalsePositivesFile
	checker *contract.Checker    // loaded from ContractModelFile; nil for a new one
	inv     *inventory.Inventory // nil without Options.Inventory
}

// New returns a Pipeline, or an error for missing options.
func New(opts Options) (*Pipeline, error) {
	if len(opts.Inputs) == 0 || opts.DeadLetterDir == "" {
		return nil, errors.New("pipeline: inputs and a dead-letter directory are required")
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 64 << 10
	}
	if opts.Grace <= 0 {
		opts.Grace = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{opts: opts, log: log, events: make(chan ingest.Event, opts.QueueSize),
		watch: newInputWatch(log, Lateness(opts.Detect))}
	if err := p.loadContract(); err != nil {
		return nil, err
	}
	if err := p.loadInventory(); err != nil {
		return nil, err
	}
	if opts.FalsePositivesFile != "" {
		fps, err := feedback.Open(opts.FalsePositivesFile, 0)
		if err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		p.fps, p.opts.Detect.FalsePositives = fps, fps
	}
	for _, in := range opts.Inputs {
		p.healthy.Store(in.Source.Name(), "")
	}
	return p, nil
}

// Healthy returns an error naming the inputs that stopped with an error,
// nil while every input runs (or ended cleanly).
func (p *Pipeline) Healthy() error {
	var bad []string
	p.healthy.Range(func(k, v any) bool {
		if v.(string) != "" {
			bad = append(bad, k.(string))
		}
		return true
	})
	if len(bad) > 0 {
		return errors.New("unhealthy: " + strings.Join(bad, ", "))
	}
	return nil
}

// Run reads every input and detects until ctx ends, or until every input
// has ended and the detectors drained what they read. It closes the open
// windows and writes their findings before it returns the first writer
// error, or else the inputs' errors.
func (p *Pipeline) Run(ctx context.Context) error {
	srcCtx, stopSources := context.WithCancel(ctx)
	defer stopSources()
	sources, srcErrs, err := p.startInputs(srcCtx)
	if err != nil {
		return err
	}
	// Close the queue once every input has stopped, so the detectors
	// drain what was read and then end.
	go func() { sources.Wait(); close(p.events) }()
	if p.fps != nil {
		stopFollow := p.follow(srcCtx)
		defer stopFollow()
	}
	p.log.Info("gatewatch running", "inputs", len(p.opts.Inputs))
	detErr := p.detect(ctx)
	stopSources()
	sources.Wait()
	if detErr != nil {
		return detErr
	}
	return srcErrs()
}

// startInputs makes every input's decode step, then starts one goroutine
// per input; srcErrs returns their errors once they have ended.
func (p *Pipeline) startInputs(ctx context.Context) (wg *sync.WaitGroup, srcErrs func() error, err error) {
	intakes := make([]*ingest.Intake, len(p.opts.Inputs))
	dls := make([]*deadLetter, len(p.opts.Inputs))
	for i, in := range p.opts.Inputs {
		if intakes[i], dls[i], err = p.intake(in); err != nil {
			for _, dl := range dls[:i] {
				dl.close()
			}
			return nil, nil, err
		}
	}
	wg = new(sync.WaitGroup)
	var mu sync.Mutex
	var errs []error
	for i, in := range p.opts.Inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer dls[i].close()
			name := in.Source.Name()
			if err := in.Source.Run(ctx, intakes[i]); err != nil && !errors.Is(err, context.Canceled) {
				p.log.Error("input stopped", "input", name, "err", err)
				p.healthy.Store(name, err.Error())
				mu.Lock()
				errs = append(errs, fmt.Errorf("input %s: %w", name, err))
				mu.Unlock()
			}
		}()
	}
	return wg, func() error { mu.Lock(); defer mu.Unlock(); return errors.Join(errs...) }, nil
}

// intake makes an input's decode step: events to the queue, rejects to its
// dead-letter file.
func (p *Pipeline) intake(in ingest.Input) (*ingest.Intake, *deadLetter, error) {
	name := in.Source.Name()
	watch := p.watch.add(name, in.Format)
	dl, err := openDeadLetter(filepath.Join(p.opts.DeadLetterDir, name+".jsonl"), p.opts.Normalizer.SensitiveParams)
	if err != nil {
		return nil, nil, err
	}
	o := ingest.IntakeOptions{
		Name: name,
		Decoder: ingest.DecoderOptions{Format: in.Format, ParserOptions: ingest.ParserOptions{LogFormat: in.LogFormat},
			Normalizer: p.opts.Normalizer},
		Emit: func(ctx context.Context, ev *ingest.Event) error {
			select { // bounded: a slow detector slows the inputs, it never grows memory
			case p.events <- ev.Clone():
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		Reject: func(_ context.Context, label string, r ingest.Reject) error {
			watch.reject(r.Text)
			if p.opts.OnReject != nil {
				p.opts.OnReject(name, r.Text)
			}
			return dl.w.Write(label, r)
		},
	}
	var lines, rejects ingest.Counter
	if p.opts.Counters != nil {
		lines, rejects = p.opts.Counters(name)
	}
	o.Lines, o.Rejects = watch.counters(lines, rejects)
	it, err := ingest.NewIntake(o)
	if err != nil {
		dl.close()
		return nil, nil, fmt.Errorf("input %s: %w", name, err)
	}
	return it, dl, nil
}

// deadLetter is an input's dead-letter file.
type deadLetter struct {
	f *os.File
	w *ingest.DeadLetterWriter
}

func openDeadLetter(path string, sensitive []string) (*deadLetter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("dead letter dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("dead letter: %w", err)
	}
	w := ingest.NewDeadLetterWriter(f)
	w.SetSensitiveParams(sensitive)
	return &deadLetter{f: f, w: w}, nil
}

func (d *deadLetter) close() {
	d.w.Flush()
	d.f.Close()
}

// follow rereads the false positives file until the returned stop is
// called, which waits for it.
func (p *Pipeline) follow(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.fps.Follow(ctx, 0, func(err error) { p.log.Warn("false positives file", "err", err) })
	}()
	return func() { cancel(); <-done }
}
