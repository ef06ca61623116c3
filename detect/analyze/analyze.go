// Package analyze is "gatewatch analyze" as a library: it replays finite
// access logs (files, standard input) through the detectors in event time
// and writes one finding per incident when the incident ends (or, with
// Stream, every emission as it happens).
//
// Input need not be in time order. The first reading parses the inputs in
// the order given and holds the findings back (in memory, then in a
// temporary file). When no event came later than the detectors allow, the
// held findings are written and the analysis is done. Otherwise they are
// dropped: every input is parsed again, its events sorted by time in
// bounded memory (ingest/timesort, runs spilled to temporary files;
// standard input is copied to one while it is first read), and a fresh
// engine sees them in that order, so the findings are those of the sorted
// log.
//
// Findings are written through a FindingWriter the caller makes
// (alert.Writer in "gatewatch analyze"), so this package imports no stage
// after detection. Run returns a Summary of what was read — lines, parse
// errors per input with a sample of the failed lines, late events,
// incidents — for the caller to report and judge. "gatewatch analyze"
// reads its flags and configuration, calls New(...).Run(ctx) and prints
// the Summary.
package analyze

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

// FindingWriter writes each finding; alert.Writer is one.
type FindingWriter interface {
	Write(f detect.Finding) error
}

// Recorder sees what an analysis reads and finds, for a report
// (*report.Collector in dashboards/report is one). Its methods are called
// from the goroutine feeding the detectors.
type Recorder interface {
	// Reset forgets everything: the input is being read again, sorted.
	Reset()
	// Event sees every event, in the order the detectors see it.
	Event(ev *ingest.Event)
	// Window sees every client window as the detectors close it.
	Window(ws detect.WindowStats)
	// Finding sees every emission: open, update and resolved.
	Finding(f detect.Finding)
}

// DeadLetter keeps rejected lines; *ingest.DeadLetterWriter is one.
type DeadLetter interface {
	Write(input string, r ingest.Reject) error
}

// Options configure an Analysis.
type Options struct {
	// Inputs are the files to read, in this order (rotated logs oldest
	// first); "-" is Stdin, and names ending in .gz are decompressed.
	// Required.
	Inputs []string
	// Stdin is read for the input "-" (default os.Stdin).
	Stdin io.Reader
	// Format names the log format (see ingest.Formats); empty or "auto"
	// detects it per input.
	Format string
	// LogFormat is the nginx log_format string, with Format "nginx".
	LogFormat string
	// Normalizer is how events are normalised. Without an HMACKey, New
	// makes one for both readings, so one API key stays one client.
	Normalizer ingest.NormalizerOptions
	// Workers is how many goroutines parse (default GOMAXPROCS).
	Workers int
	// Detect configures the detectors; Run sets Emit, and CampaignGap
	// from CampaignGap below.
	Detect detect.Options
	// CampaignGap is how long a campaign may go quiet and stay one
	// incident; 0: the whole input, one finding per campaign.
	CampaignGap time.Duration
	// Stream writes every finding emission (open, update, resolve) as it
	// happens; by default only each incident's resolved finding.
	Stream bool
	// Output receives the findings (default io.Discard).
	Output io.Writer
	// NewWriter returns what writes findings to w (default: one JSON
	// object per line). It must write to w only: the first reading's
	// findings are held back and reach Output only once the input proved
	// to be in time order.
	NewWriter func(w io.Writer) FindingWriter
	// DeadLetter, when set, keeps every rejected line; flushing it is the
	// caller's.
	DeadLetter DeadLetter
	// TmpDir holds the temporary files: sorted runs, held findings, the
	// copy of standard input (default os.TempDir()).
	TmpDir string
	// SortRunBytes bounds one sorted run (default
	// timesort.DefaultRunBytes).
	SortRunBytes int
	// HoldBytes is how much of the first reading's findings is held in
	// memory before they move to a temporary file (default 64 MiB).
	HoldBytes int
	// Progress, when set, is called every ProgressEvery (default 2s)
	// while inputs are read, from a goroutine Run starts and stops.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// OnUnsorted, when set, is called once the first reading found events
	// later than the detectors allow, with the detectors' counters, before
	// the input is sorted and read again.
	OnUnsorted func(first detect.Stats)
	// Recorder, when set, sees every event, window and finding emission
	// of the reading that makes the findings, for a report.
	Recorder Recorder
}

// defaultHoldBytes is how much of the first reading's findings is kept
// in memory before they move to a temporary file.
const defaultHoldBytes = 64 << 20

// sampleRejects is how many failed lines of an input are kept to guess
// what format they are in.
const sampleRejects = 64

// Summary is what an analysis read and found.
type Summary struct {
	// Inputs are what each input gave, in the order given.
	Inputs []InputSummary
	// Lines counts the lines read, Events the events they gave, Rejects
	// the lines that did not parse.
	Lines, Events, Rejects int64
	// Future counts the lines skipped because their time is more than
	// ingest.DefaultMaxSkew in the future (in the dead letter too).
	Future int64
	// Incidents counts the incidents the findings report.
	Incidents int64
	// Late counts the first reading's late events. When above 0, the
	// input was sorted by time, in Runs sorted runs, and read again.
	Late uint64
	Runs int
	// Detect are the counters of the detectors that made the findings.
	Detect detect.Stats
	// Elapsed is how long Run took.
	Elapsed time.Duration
}

// InputSummary is what one input gave.
type InputSummary struct {
	Name string
	// Format is the format it was read as ("" when it was empty).
	Format string
	// Events counts the lines that parsed, Rejects those that did not.
	Events, Rejects int64
	// Sample holds the first 64 lines that did not parse, to guess their
	// format (ingest.Detect).
	Sample [][]byte
}

// Progress is how far a reading got, for a status line.
type Progress struct {
	// Sorting is set on the second reading, which sorts the input.
	Sorting bool
	// File is the input being read.
	File string
	// Read is how many bytes of File were read, of Size; Size is 0 or
	// less when unknown (standard input, compressed files).
	Read, Size int64
	// Lines, Rejects and Incidents are the reading's counts so far.
	Lines, Rejects, Incidents int64
	// Elapsed is the time since the reading began.
	Elapsed time.Duration
}

// Analysis replays inputs through the detectors. Run it once.
type Analysis struct {
	opts    Options
	inputs  []input
	st      counters
	start   time.Time
	cleanup []func()
}

// input is one input and what reading it found.
type input struct {
	InputSummary
	copy *stdinCopy // standard input's copy, for a second reading
}

// counters are what a reading counted, for progress and the summary.
type counters struct {
	lines, events, rejects, bytes atomic.Int64
	incidents, future             atomic.Int64
}

// New returns an Analysis, or an error for missing or bad options.
func New(opts Options) (*Analysis, error) {
	if len(opts.Inputs) == 0 {
		return nil, errors.New("analyze: no input")
	}
	if opts.Stdin == nil {
		opts.Stdin = os.Stdin
	}
	if opts.Output == nil {
		opts.Output = io.Discard
	}
	if opts.NewWriter == nil {
		opts.NewWriter = newJSONWriter
	}
	if opts.TmpDir == "" {
		opts.TmpDir = os.TempDir()
	}
	if opts.HoldBytes <= 0 {
		opts.HoldBytes = defaultHoldBytes
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 2 * time.Second
	}
	if len(opts.Normalizer.HMACKey) == 0 {
		n, err := ingest.NewNormalizer(opts.Normalizer)
		if err != nil {
			return nil, fmt.Errorf("analyze: %w", err)
		}
		opts.Normalizer.HMACKey = n.Key()
	}
	a := &Analysis{opts: opts}
	for _, name := range opts.Inputs {
		a.inputs = append(a.inputs, input{InputSummary: InputSummary{Name: name}})
	}
	return a, nil
}

// Run reads the inputs once, holding the findings back; when the input
// was in time order it writes them, else it sorts the input by time and
// analyses it again, writing that reading's findings. It removes every
// temporary file before it returns.
func (a *Analysis) Run(ctx context.Context) (Summary, error) {
	a.start = time.Now()
	defer a.removeTemp()
	held := newHeldOutput(a.opts.TmpDir, a.opts.HoldBytes)
	defer held.Close()
	engine, err := a.readAll(ctx, held)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Late: engine.Stats().LateEvents}
	if sum.Late == 0 {
		if err := held.CopyTo(a.opts.Output); err != nil {
			return Summary{}, fmt.Errorf("write findings: %w", err)
		}
		return a.summary(sum, engine), nil
	}
	if a.opts.OnUnsorted != nil {
		a.opts.OnUnsorted(engine.Stats())
	}
	held.Close() // those findings missed the late events
	if engine, sum.Runs, err = a.sortAll(ctx); err != nil {
		return Summary{}, err
	}
	return a.summary(sum, engine), nil
}

// summary completes sum with the first reading's counts and the counters
// of engine, which made the findings.
func (a *Analysis) summary(sum Summary, engine *detect.Engine) Summary {
	sum.Lines, sum.Events, sum.Rejects = a.st.lines.Load(), a.st.events.Load(), a.st.rejects.Load()
	sum.Future, sum.Incidents = a.st.future.Load(), a.st.incidents.Load()
	sum.Detect = engine.Stats()
	for _, in := range a.inputs {
		sum.Inputs = append(sum.Inputs, in.InputSummary)
	}
	sum.Elapsed = time.Since(a.start)
	return sum
}

// removeTemp removes the temporary files the readings left.
func (a *Analysis) removeTemp() {
	for i := len(a.cleanup) - 1; i >= 0; i-- {
		a.cleanup[i]()
	}
	a.cleanup = nil
}

// newEngine returns a fresh engine that writes findings to w, and where
// the first error writing one is kept. It counts incidents anew.
func (a *Analysis) newEngine(w io.Writer) (*detect.Engine, *error) {
	out := a.opts.NewWriter(w)
	var emitErr error
	a.st.incidents.Store(0)
	opts := a.opts.Detect
	opts.CampaignGap = -1 // the input is finite: a campaign is reported once, at its end
	if a.opts.CampaignGap > 0 {
		opts.CampaignGap = a.opts.CampaignGap
	}
	stream := a.opts.Stream
	rec := a.opts.Recorder
	if rec != nil {
		rec.Reset()
		opts.OnWindow = recordWindows(rec, opts.OnWindow)
	}
	opts.Emit = func(f detect.Finding) {
		if rec != nil {
			rec.Finding(f)
		}
		if f.Status == detect.StatusOpen {
			a.st.incidents.Add(1)
		}
		if !stream && f.Status != detect.StatusResolved {
			return
		}
		if err := out.Write(f); err != nil && emitErr == nil {
			emitErr = err
		}
	}
	return detect.New(opts), &emitErr
}

// recordWindows returns an OnWindow that hands every window to rec, then
// to next when set.
func recordWindows(rec Recorder, next func(detect.WindowStats)) func(detect.WindowStats) {
	return func(ws detect.WindowStats) {
		rec.Window(ws)
		if next != nil {
			next(ws)
		}
	}
}

// observe hands evs to the recorder, if any, then to engine.
func (a *Analysis) observe(engine *detect.Engine, evs []ingest.Event) {
	switch rec := a.opts.Recorder.(type) {
	case nil:
	case batchRecorder:
		rec.Events(evs)
	default:
		for i := range evs {
			rec.Event(&evs[i])
		}
	}
	engine.ObserveBatch(evs)
}

// batchRecorder is a Recorder that also takes a batch at once (one lock
// a batch instead of one an event); *report.Collector is one.
type batchRecorder interface {
	Events(evs []ingest.Event)
}

// readAll is the first reading: every input in the order given, findings
// to held.
func (a *Analysis) readAll(ctx context.Context, held io.Writer) (*detect.Engine, error) {
	engine, emitErr := a.newEngine(held)
	progress := a.startProgress(ctx, false, &a.st, a.start)
	defer progress.stop()
	for i := range a.inputs {
		if err := a.readInput(ctx, &a.inputs[i], engine, progress, emitErr); err != nil {
			return nil, err
		}
	}
	engine.Flush()
	return engine, *emitErr
}

// streamOptions are the parser settings for reading an input as format.
func (a *Analysis) streamOptions(format string) ingest.StreamOptions {
	return ingest.StreamOptions{
		Format:        format,
		ParserOptions: ingest.ParserOptions{LogFormat: a.opts.LogFormat},
		Normalizer:    a.opts.Normalizer,
		Workers:       a.opts.Workers,
	}
}

// readInput parses one input and feeds its events to engine in file
// order, counting what it finds.
func (a *Analysis) readInput(ctx context.Context, in *input, engine *detect.Engine, progress *progress, emitErr *error) error {
	r, size, err := a.open(in)
	if err != nil {
		return err
	}
	defer r.Close()
	progress.setFile(in.Name, size)
	counted := &countingReader{r: r, n: &a.st.bytes}
	in.Format, err = ingest.ParseStream(ctx, counted, a.streamOptions(a.opts.Format), func(b *ingest.Batch) error {
		a.observe(engine, b.Events)
		if err := a.rejected(in, b.Rejects); err != nil {
			return err
		}
		a.st.lines.Add(int64(b.Lines))
		a.st.events.Add(int64(len(b.Events)))
		in.Events += int64(len(b.Events))
		return *emitErr
	})
	if err != nil {
		return fmt.Errorf("%s: %w", in.Name, err)
	}
	return nil
}

// open opens an input for the first reading; standard input is copied to
// a temporary file as it is read, in case it must be read again.
func (a *Analysis) open(in *input) (io.ReadCloser, int64, error) {
	if in.Name != "-" {
		return ingest.OpenInput(in.Name)
	}
	cp, err := newStdinCopy(a.opts.Stdin, a.opts.TmpDir)
	if err != nil {
		return nil, -1, err
	}
	in.copy = cp
	a.cleanup = append(a.cleanup, cp.remove)
	return cp, -1, nil
}

// rejected keeps the lines of an input that were rejected: in the dead
// letter, and the first few that did not parse for guessing their format.
// Lines timed in the future (ingest.ReasonFuture) are counted apart: they
// parsed, so they say nothing about the format.
func (a *Analysis) rejected(in *input, rejects []ingest.Reject) error {
	for _, rej := range rejects {
		if rej.Reason == ingest.ReasonFuture {
			a.st.future.Add(1)
		} else {
			in.Rejects++
			a.st.rejects.Add(1)
			if len(in.Sample) < sampleRejects {
				in.Sample = append(in.Sample, bytes.Clone(rej.Text))
			}
		}
		if a.opts.DeadLetter != nil {
			if err := a.opts.DeadLetter.Write(in.Name, rej); err != nil {
				return fmt.Errorf("dead letter: %w", err)
			}
		}
	}
	return nil
}

// jsonWriter writes findings as one JSON object per line, as alert.Writer
// does with format json.
type jsonWriter struct{ enc *json.Encoder }

// newJSONWriter is the default Options.NewWriter.
func newJSONWriter(w io.Writer) FindingWriter { return jsonWriter{enc: json.NewEncoder(w)} }

// Write writes one finding.
func (w jsonWriter) Write(f detect.Finding) error {
	if err := w.enc.Encode(f); err != nil {
		return fmt.Errorf("write finding: %w", err)
	}
	return nil
}
