package main

import (
	"context"
	"fmt"
	"io"
	"os"
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

Output (--output json, the default) is one JSON object per line with the keys
client, client_kind, detector, status, incident_id, window_start, window_end,
windows, observed, expected, spread, unit, score, p_value, severity, baseline,
history and summary (docs/findings.md). Progress and a closing summary go to
standard error.

Lines that cannot be parsed are counted and, with --dead-letter FILE, kept
there as JSON lines with the reason (the input file keeps them anyway).

Examples:
  gatewatch analyze /var/log/nginx/access.log
  gatewatch analyze --output text access.log.1 access.log
  zcat old.log.gz | gatewatch analyze --format nginx_combined -
  gatewatch analyze --format nginx --log-format '$remote_addr [$time_local] "$request" $status $body_bytes_sent' api.log
  gatewatch analyze --format aws_alb --dead-letter rejects.jsonl alb/*.log.gz`

// analyzeStats are the counters behind progress and the closing summary.
type analyzeStats struct {
	lines, events, rejects, bytes atomic.Int64
	incidents                     atomic.Int64
	future                        atomic.Int64
}

// maxClockSkew is how far in the future an event's time may be before it is
// taken as garbled rather than as a gateway with a fast clock.
const maxClockSkew = time.Hour

func (c *cli) analyze(ctx context.Context, args []string) error {
	fs := c.newFlags("analyze", "[flags] FILE...", analyzeHelp)
	format := fs.String("format", "auto", "log format (see \"gatewatch formats\"); auto detects it per file")
	logFormat := fs.String("log-format", "", "nginx log_format string, with --format nginx")
	output := fs.String("output", "", "findings as json or text (default from config: json)")
	stream := fs.Bool("stream", false, "print every finding update as it happens, not one line per incident")
	deadLetter := fs.String("dead-letter", "", "keep unparsable lines in this file (JSON lines with the reason)")
	configPath := fs.String("config", "", "config file (default $GATEWATCH_CONFIG; none is fine)")
	quiet := fs.Bool("quiet", false, "no progress or summary on standard error")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintln(c.stderr, "gatewatch analyze: no input: name log files, or - for standard input")
		fs.Usage()
		return errUsage
	}
	cfg, err := c.loadConfig(*configPath)
	if err != nil {
		return err
	}
	if *output != "" {
		cfg.Output.Format = *output
	}
	out, err := alert.NewWriter(c.stdout, cfg.Output.Format)
	if err != nil {
		return err
	}
	key, err := c.hmacKey(cfg, false)
	if err != nil {
		return err
	}
	normOpts, err := cfg.normalizerOptions(key)
	if err != nil {
		return err
	}
	var dl *ingest.DeadLetterWriter
	if *deadLetter != "" {
		f, err := os.Create(*deadLetter)
		if err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
		defer f.Close()
		dl = ingest.NewDeadLetterWriter(f)
		defer dl.Flush()
	}

	var st analyzeStats
	var emitErr error
	opts := cfg.detectOptions()
	opts.Emit = func(f detect.Finding) {
		if f.Status == detect.StatusOpen {
			st.incidents.Add(1)
		}
		if !*stream && f.Status != detect.StatusResolved {
			return
		}
		if err := out.Write(f); err != nil && emitErr == nil {
			emitErr = err
		}
	}
	engine := detect.New(opts)

	start := time.Now()
	progress := c.startProgress(ctx, !*quiet, &st, engine, start)
	defer progress.stop()

	for _, name := range files {
		if err := c.analyzeFile(ctx, name, *format, *logFormat, cfg, normOpts, engine, dl, &st, progress, &emitErr); err != nil {
			return err
		}
	}
	engine.Flush()
	progress.stop()
	if emitErr != nil {
		return emitErr
	}
	if !*quiet {
		c.summary(&st, engine, time.Since(start), progress.formatList())
	}
	return nil
}

func (c *cli) analyzeFile(ctx context.Context, name, format, logFormat string, cfg Config, norm ingest.NormalizerOptions,
	engine *detect.Engine, dl *ingest.DeadLetterWriter, st *analyzeStats, progress *progress, emitErr *error) error {
	var r io.ReadCloser
	var size int64
	if name == "-" {
		r, size = io.NopCloser(c.stdin), -1
	} else {
		var err error
		if r, size, err = ingest.OpenInput(name); err != nil {
			return err
		}
	}
	defer r.Close()
	progress.setFile(name, size)
	counted := &countingReader{r: r, n: &st.bytes}
	used, err := ingest.ParseStream(ctx, counted, ingest.StreamOptions{
		Format:        format,
		ParserOptions: ingest.ParserOptions{LogFormat: logFormat},
		Normalizer:    norm,
		Workers:       cfg.Ingest.Workers,
	}, func(b *ingest.Batch) error {
		horizon := time.Now().Add(maxClockSkew)
		// Runs of events go to the engine as batches (ObserveBatch
		// overlaps their memory waits), split around the events skipped.
		run := 0
		for i := range b.Events {
			if b.Events[i].Time.After(horizon) {
				// One garbled year would drag the watermark past every
				// real event and make them all late: logs are never from
				// the future, so such events are counted and skipped.
				engine.ObserveBatch(b.Events[run:i])
				run = i + 1
				st.future.Add(1)
			}
		}
		engine.ObserveBatch(b.Events[run:])
		for _, rej := range b.Rejects {
			if dl != nil {
				if err := dl.Write(name, rej); err != nil {
					return err
				}
			}
		}
		st.lines.Add(int64(b.Lines))
		st.events.Add(int64(len(b.Events)))
		st.rejects.Add(int64(len(b.Rejects)))
		return *emitErr
	})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	progress.setFormat(name, used)
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

func (c *cli) summary(st *analyzeStats, engine *detect.Engine, elapsed time.Duration, formats string) {
	es := engine.Stats()
	lines := st.lines.Load()
	rate := float64(lines) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(c.stderr, "analyze: %s lines in %s (%s lines/s): %s events, %s parse errors, %s late, %s clients, %s incidents\n",
		human(float64(lines)), elapsed.Round(time.Millisecond), human(rate), human(float64(st.events.Load())),
		human(float64(st.rejects.Load())), human(float64(es.LateEvents)), human(float64(es.ActiveClients)), human(float64(st.incidents.Load())))
	if formats != "" {
		fmt.Fprintf(c.stderr, "analyze: format %s\n", formats)
	}
	if n := st.future.Load(); n > 0 {
		fmt.Fprintf(c.stderr, "analyze: %s events skipped: their time is more than %v in the future\n", human(float64(n)), maxClockSkew)
	}
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
	names   []string
	formats []string
	st      *analyzeStats
	stopped chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func (c *cli) startProgress(ctx context.Context, enabled bool, st *analyzeStats, engine *detect.Engine, start time.Time) *progress {
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
			fmt.Fprintf(c.stderr, "analyze: %s%s, %s lines (%s lines/s), %s parse errors, %s incidents\n",
				file, pct, human(float64(lines)), human(rate), human(float64(st.rejects.Load())), human(float64(st.incidents.Load())))
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

func (p *progress) setFormat(name, format string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.names = append(p.names, name)
	p.formats = append(p.formats, format)
}

// formatList names the format each input was read as: one name when they
// all agree, else "file: format" pairs.
func (p *progress) formatList() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.names) == 0 {
		return ""
	}
	same := true
	for _, f := range p.formats {
		same = same && f == p.formats[0]
	}
	if same {
		return p.formats[0]
	}
	parts := make([]string, len(p.formats))
	for i := range p.formats {
		parts[i] = p.names[i] + ": " + p.formats[i]
	}
	return strings.Join(parts, ", ")
}

func (p *progress) stop() {
	p.once.Do(func() { close(p.stopped) })
	p.wg.Wait()
}
