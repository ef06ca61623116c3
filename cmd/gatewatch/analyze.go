package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

const analyzeHelp = `
Replay access logs through the detectors, in event time, and print one finding
per incident when it ends (with --stream, every open/update/resolve as it
happens). FILE may be - for standard input; names ending in .gz are
decompressed. Files are read in the order given: pass rotated logs oldest
first (access.log.2.gz access.log.1 access.log).

Input need not be in time order (logs merged from several servers, exports
sorted by client): when events arrive more than the allowed lateness behind
newer ones, analyze says so, sorts the events by time in bounded memory
(temporary files in --tmp-dir; standard input is kept there too while it is
read) and analyses them again, so the findings are those of the sorted log.

Output (--output json, the default) is one JSON object per line with the keys
client, client_kind, detector, status, incident_id, window_start, window_end,
windows, observed, expected, spread, unit, score, p_value, severity, baseline,
history and summary, and when they apply why, routes, samples, detectors, campaign,
clients, client_count and totals (docs/findings.md). Progress and a closing summary go to
standard error.

Lines that cannot be parsed are counted and, with --dead-letter FILE, kept
there as JSON lines with the reason (the input file keeps them anyway). When
more than 5% of an input's lines fail, analyze warns "wrong format?" and
names the format the failed lines look like.

Exit status: 0 when done; 3 when more lines failed to parse than
--max-parse-errors allows, or no line at all gave an event (the findings and
the summary are printed first); 1 on other errors; 2 on usage errors.

Examples:
  gatewatch analyze /var/log/nginx/access.log
  gatewatch analyze --output text access.log.1 access.log
  zcat old.log.gz | gatewatch analyze --format nginx_combined -
  gatewatch analyze --format nginx --log-format '$remote_addr [$time_local] "$request" $status $body_bytes_sent' api.log
  gatewatch analyze --format aws_alb --dead-letter rejects.jsonl alb/*.log.gz
  gatewatch analyze --max-parse-errors 0.2 mixed.log  # tolerate up to 20% bad lines`

// analyzeStats are the counters behind progress and the closing summary.
type analyzeStats struct {
	lines, events, rejects, bytes atomic.Int64
	incidents                     atomic.Int64
	future                        atomic.Int64
}

// Shares of bad input above which analyze and run warn.
const (
	warnParseShare = 0.05 // lines that fail to parse
	warnLateShare  = 0.01 // events that arrive late
)

// exitParseErrors is analyze's exit status when too much of the input
// could not be parsed.
const exitParseErrors = 3

// analysis is one "gatewatch analyze": its settings, its inputs and what
// it counted.
type analysis struct {
	c                 *cli
	format, logFormat string
	outFormat         string
	stream, quiet     bool
	tmpDir            string
	maxParseErrors    float64
	campaignGap       time.Duration // --campaign-gap; 0: the whole input
	cfg               Config
	norm              ingest.NormalizerOptions
	dl                *ingest.DeadLetterWriter
	cleanup           []func()
	inputs            []analyzeInput
	st                analyzeStats
	start             time.Time
}

// analyzeInput is one FILE argument and what reading it found.
type analyzeInput struct {
	name    string
	format  string     // the format it was read as ("" when empty)
	copy    *stdinCopy // standard input's copy, for a second reading
	events  int64      // lines parsed
	rejects int64      // lines that did not parse
	sample  [][]byte   // the first lines that did not parse
}

func (c *cli) analyze(ctx context.Context, args []string) error {
	a, err := c.newAnalysis(args)
	defer a.close()
	if err != nil {
		return err
	}
	return a.run(ctx)
}

// newAnalysis parses the command line and the config. The analysis it
// returns must be closed, also with an error.
func (c *cli) newAnalysis(args []string) (*analysis, error) {
	a := &analysis{c: c}
	fs := c.newFlags("analyze", "[flags] FILE...", analyzeHelp)
	fs.StringVar(&a.format, "format", "auto", "log format (see \"gatewatch formats\"); auto detects it per file")
	fs.StringVar(&a.logFormat, "log-format", "", "nginx log_format string, with --format nginx")
	output := fs.String("output", "", "findings as json or text (default from config: json)")
	fs.BoolVar(&a.stream, "stream", false, "print every finding update as it happens, not one line per incident")
	deadLetter := fs.String("dead-letter", "", "keep unparsable lines in this file (JSON lines with the reason)")
	configPath := fs.String("config", "", "config file (default $GATEWATCH_CONFIG; none is fine)")
	fs.BoolVar(&a.quiet, "quiet", false, "no progress or summary on standard error (warnings still)")
	fs.StringVar(&a.tmpDir, "tmp-dir", os.TempDir(), "directory for temporary files: sorted runs, a copy of standard input")
	fs.Float64Var(&a.maxParseErrors, "max-parse-errors", warnParseShare, "largest share of lines (0 to 1) that may fail to parse before analyze exits with status 3")
	fs.DurationVar(&a.campaignGap, "campaign-gap", 0, "how long a campaign may go quiet and stay one incident (default: the whole input, one line per campaign)")
	files, err := parseArgs(fs, args)
	if err != nil {
		return a, err
	}
	if len(files) == 0 {
		fmt.Fprintln(c.stderr, "gatewatch analyze: no input: name log files, or - for standard input")
		fs.Usage()
		return a, errUsage
	}
	if a.maxParseErrors < 0 || a.maxParseErrors > 1 {
		fmt.Fprintln(c.stderr, "gatewatch analyze: --max-parse-errors is a share of lines, from 0 to 1")
		return a, errUsage
	}
	for _, f := range files {
		a.inputs = append(a.inputs, analyzeInput{name: f})
	}
	if a.cfg, err = c.loadConfig(*configPath); err != nil {
		return a, err
	}
	a.outFormat = cmp.Or(*output, a.cfg.Output.Format)
	if _, err := alert.NewWriter(io.Discard, a.outFormat); err != nil {
		return a, err
	}
	if a.norm, err = a.normalizer(); err != nil {
		return a, err
	}
	return a, a.openDeadLetter(*deadLetter)
}

// normalizer returns the normaliser settings, with one HMAC key for every
// input and both readings of it: without a configured key, each reading
// would make its own and key one API key as different clients.
func (a *analysis) normalizer() (ingest.NormalizerOptions, error) {
	key, err := a.c.hmacKey(a.cfg, false)
	if err != nil {
		return ingest.NormalizerOptions{}, err
	}
	if key == nil {
		n, err := ingest.NewNormalizer(ingest.NormalizerOptions{})
		if err != nil {
			return ingest.NormalizerOptions{}, err
		}
		key = n.Key()
	}
	return a.cfg.normalizerOptions(key)
}

func (a *analysis) openDeadLetter(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	a.dl = ingest.NewDeadLetterWriter(f)
	a.cleanup = append(a.cleanup, func() { a.dl.Flush(); f.Close() })
	return nil
}

// close releases what the analysis holds: the dead-letter file and any
// temporary file.
func (a *analysis) close() {
	for i := len(a.cleanup) - 1; i >= 0; i-- {
		a.cleanup[i]()
	}
}

// run reads the inputs once, keeping the findings back; when the input
// was in time order it prints them, else it sorts the input by time and
// analyses it again. The summary and warnings follow either way.
func (a *analysis) run(ctx context.Context) error {
	a.start = time.Now()
	held := newHeldOutput(a.tmpDir, a.c.holdBytes)
	defer held.Close()
	engine, err := a.readAll(ctx, held)
	if err != nil {
		return err
	}
	if late := engine.Stats().LateEvents; late == 0 {
		if err := held.CopyTo(a.c.stdout); err != nil {
			return fmt.Errorf("write findings: %w", err)
		}
	} else {
		a.warnLate(engine.Stats())
		held.Close() // those findings missed the late events
		runs := 0
		if engine, runs, err = a.sortAll(ctx); err != nil {
			return err
		}
		if !a.quiet {
			fmt.Fprintf(a.c.stderr, "analyze: input not in time order (%s events more than %v behind newer ones): sorted it by time in %s and analysed again\n",
				human(float64(late)), lateness(a.cfg.detectOptions()), plural(runs, "run"))
		}
	}
	if !a.quiet {
		a.summary(engine)
	}
	a.warnParse()
	return a.verdict()
}

// newEngine returns a fresh engine that prints findings to w, and where
// the first error writing one is kept.
func (a *analysis) newEngine(w io.Writer) (*detect.Engine, *error) {
	out, _ := alert.NewWriter(w, a.outFormat) // the format was checked
	var emitErr error
	a.st.incidents.Store(0)
	opts := a.cfg.detectOptions()
	opts.CampaignGap = -1 // the input is finite: a campaign is reported once, at its end
	if a.campaignGap > 0 {
		opts.CampaignGap = a.campaignGap
	}
	opts.Emit = func(f detect.Finding) {
		if f.Status == detect.StatusOpen {
			a.st.incidents.Add(1)
		}
		if !a.stream && f.Status != detect.StatusResolved {
			return
		}
		if err := out.Write(f); err != nil && emitErr == nil {
			emitErr = err
		}
	}
	return detect.New(opts), &emitErr
}

// readAll is the first reading: every input in the order given, findings
// to held.
func (a *analysis) readAll(ctx context.Context, held io.Writer) (*detect.Engine, error) {
	engine, emitErr := a.newEngine(held)
	progress := a.c.startProgress(ctx, !a.quiet, "", &a.st, a.start)
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
func (a *analysis) streamOptions(format string) ingest.StreamOptions {
	return ingest.StreamOptions{
		Format:        format,
		ParserOptions: ingest.ParserOptions{LogFormat: a.logFormat},
		Normalizer:    a.norm,
		Workers:       a.cfg.Ingest.Workers,
	}
}

// readInput parses one input and feeds its events to engine in file
// order, counting what it finds.
func (a *analysis) readInput(ctx context.Context, in *analyzeInput, engine *detect.Engine, progress *progress, emitErr *error) error {
	r, size, err := a.open(in)
	if err != nil {
		return err
	}
	defer r.Close()
	progress.setFile(in.name, size)
	counted := &countingReader{r: r, n: &a.st.bytes}
	in.format, err = ingest.ParseStream(ctx, counted, a.streamOptions(a.format), func(b *ingest.Batch) error {
		engine.ObserveBatch(b.Events)
		if err := a.rejected(in, b.Rejects); err != nil {
			return err
		}
		a.st.lines.Add(int64(b.Lines))
		a.st.events.Add(int64(len(b.Events)))
		in.events += int64(len(b.Events))
		return *emitErr
	})
	if err != nil {
		return fmt.Errorf("%s: %w", in.name, err)
	}
	return nil
}

// open opens an input for the first reading; standard input is copied to
// a temporary file as it is read, in case it must be read again.
func (a *analysis) open(in *analyzeInput) (io.ReadCloser, int64, error) {
	if in.name != "-" {
		return ingest.OpenInput(in.name)
	}
	cp, err := newStdinCopy(a.c.stdin, a.tmpDir)
	if err != nil {
		return nil, -1, err
	}
	in.copy = cp
	a.cleanup = append(a.cleanup, cp.remove)
	return cp, -1, nil
}

// rejected keeps the lines of an input that were rejected: in the
// dead-letter file, and the first few that did not parse for guessing
// their format. Lines timed in the future (ingest.ReasonFuture) are
// counted apart: they parsed, so they say nothing about the format.
func (a *analysis) rejected(in *analyzeInput, rejects []ingest.Reject) error {
	for _, rej := range rejects {
		if rej.Reason == ingest.ReasonFuture {
			a.st.future.Add(1)
		} else {
			in.rejects++
			a.st.rejects.Add(1)
		}
		if rej.Reason != ingest.ReasonFuture && len(in.sample) < sampleRejects {
			in.sample = append(in.sample, bytes.Clone(rej.Text))
		}
		if a.dl != nil {
			if err := a.dl.Write(in.name, rej); err != nil {
				return err
			}
		}
	}
	return nil
}

// countingReader counts bytes read, for progress on compressed or piped
// input where the parser cannot tell how far it got.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// summary prints the closing counts: lines and events of the reading,
// late events and incidents of the engine that made the findings.
func (a *analysis) summary(engine *detect.Engine) {
	st, es := &a.st, engine.Stats()
	elapsed := time.Since(a.start)
	lines := st.lines.Load()
	rate := float64(lines) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(a.c.stderr, "analyze: %s lines in %s (%s lines/s): %s events, %s parse errors, %s late, %s clients, %s incidents\n",
		human(float64(lines)), elapsed.Round(time.Millisecond), human(rate), human(float64(st.events.Load())),
		human(float64(st.rejects.Load())), human(float64(es.LateEvents)), human(float64(es.ActiveClients)), human(float64(st.incidents.Load())))
	if formats := a.formatList(); formats != "" {
		fmt.Fprintf(a.c.stderr, "analyze: format %s\n", formats)
	}
	if n := st.future.Load(); n > 0 {
		fmt.Fprintf(a.c.stderr, "analyze: %s events skipped: their time is more than %v in the future\n", human(float64(n)), ingest.DefaultMaxSkew)
	}
}

// formatList names the format each input was read as: one name when they
// all agree, else "file: format" pairs.
func (a *analysis) formatList() string {
	var names, formats []string
	for _, in := range a.inputs {
		if in.format != "" {
			names, formats = append(names, in.name), append(formats, in.format)
		}
	}
	if len(formats) == 0 {
		return ""
	}
	if len(slices.Compact(slices.Clone(formats))) == 1 {
		return formats[0]
	}
	parts := make([]string, len(formats))
	for i := range formats {
		parts[i] = names[i] + ": " + formats[i]
	}
	return strings.Join(parts, ", ")
}

// plural counts things: 1 run, 2 runs.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// human formats a count for people: 1234 -> 1,234; 12345678 -> 12.35M.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1000:
		n := int64(v)
		return fmt.Sprintf("%d,%03d", n/1000, n%1000)
	}
	return fmt.Sprintf("%.0f", v)
}

// progress prints a status line on standard error every two seconds while
// a long analysis runs. Its goroutine is owned by the analyze command and
// ends at stop (or when ctx ends).
type progress struct {
	mu      sync.Mutex
	file    string
	size    int64
	base    int64 // bytes read before this file
	st      *analyzeStats
	stopped chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

// startProgress starts the status line; label goes before the file name
// ("sorting " on the second reading).
func (c *cli) startProgress(ctx context.Context, enabled bool, label string, st *analyzeStats, start time.Time) *progress {
	p := &progress{st: st, stopped: make(chan struct{})}
	if !enabled {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.stopped:
				return
			case <-t.C:
			}
			p.mu.Lock()
			file, size, base := p.file, p.size, p.base
			p.mu.Unlock()
			lines := st.lines.Load()
			rate := float64(lines) / time.Since(start).Seconds()
			pct := ""
			if size > 0 {
				pct = fmt.Sprintf(" %3.0f%%", 100*float64(st.bytes.Load()-base)/float64(size))
			}
			fmt.Fprintf(c.stderr, "analyze: %s%s%s, %s lines (%s lines/s), %s parse errors, %s incidents\n",
				label, file, pct, human(float64(lines)), human(rate), human(float64(st.rejects.Load())), human(float64(st.incidents.Load())))
		}
	}()
	return p
}

func (p *progress) setFile(name string, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.file, p.base = name, p.st.bytes.Load()
	p.size = size
	if size > 0 && len(name) > 3 && name[len(name)-3:] == ".gz" {
		p.size = -1 // compressed size says nothing about decompressed progress
	}
}

func (p *progress) stop() {
	p.once.Do(func() { close(p.stopped) })
	p.wg.Wait()
}
