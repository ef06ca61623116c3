package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/storage"
)

const runHelp = `
Run the embedded pipeline on live inputs: follow log files (rotation and
truncation handled, like tail -F) and standard input, detect in-process, and
write findings to standard output and to daily JSON-lines files in
DATA_DIR/findings. Lines that cannot be parsed go to DATA_DIR/deadletter.
/metrics (Prometheus) and /healthz are served on http.listen.

Inputs come from the config file's ingest.sources, or from the command line
as FILE arguments (- for standard input) with --format. SIGINT or SIGTERM
stops the inputs, drains what was read, closes the open windows and flushes
every file before exiting.

Examples:
  gatewatch run --config gatewatch.yaml
  gatewatch run --format nginx_combined /var/log/nginx/access.log
  tail -F /var/log/nginx/access.log | gatewatch run -
  gatewatch run --from-start --output text access.log`

// runMetrics are the Prometheus series of the embedded pipeline. Each run
// has its own registry: nothing global.
type runMetrics struct {
	reg       *prometheus.Registry
	lines     *prometheus.CounterVec
	rejects   *prometheus.CounterVec
	findings  *prometheus.CounterVec
	late      prometheus.Counter
	clients   prometheus.Gauge
	queue     prometheus.Gauge
	watermark prometheus.Gauge
}

func newRunMetrics() *runMetrics {
	m := &runMetrics{
		reg: prometheus.NewRegistry(),
		lines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewatch_ingest_lines_total", Help: "Log lines read, by source.",
		}, []string{"source"}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewatch_ingest_parse_errors_total", Help: "Lines that could not be parsed (kept in the dead-letter file), by source.",
		}, []string{"source"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewatch_detect_findings_total", Help: "Findings emitted, by detector, severity and status.",
		}, []string{"detector", "severity", "status"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewatch_detect_late_events_total", Help: "Events older than the watermark allows (counted, not scored).",
		}),
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewatch_detect_clients", Help: "Clients with state in the detectors.",
		}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewatch_pipeline_queue_events", Help: "Events waiting between the inputs and the detectors.",
		}),
		watermark: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewatch_detect_watermark_seconds", Help: "Event-time watermark of the detectors (Unix seconds).",
		}),
	}
	m.reg.MustRegister(m.lines, m.rejects, m.findings, m.late, m.clients, m.queue, m.watermark,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (c *cli) run(ctx context.Context, args []string) error {
	fs := c.newFlags("run", "[flags] [FILE...]", runHelp)
	var sf sourceFlags
	sf.register(fs)
	output := fs.String("output", "", "findings on stdout as json or text (default from config)")
	cfg, err := c.parseSourceArgs(fs, &sf, args)
	if err != nil {
		return err
	}
	if *output != "" {
		cfg.Output.Format = *output
	}
	if len(cfg.Ingest.Sources) == 0 {
		fmt.Fprintln(c.stderr, "gatewatch run: no inputs: name files (or -) or configure ingest.sources")
		fs.Usage()
		return errUsage
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	log := c.logger(cfg.LogLevel)
	key, err := c.hmacKey(cfg, true)
	if err != nil {
		return err
	}
	normOpts, err := cfg.normalizerOptions(key)
	if err != nil {
		return err
	}
	p, err := newPipeline(cfg, log, c)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.openStore(ctx); err != nil {
		return err
	}
	return p.run(ctx, normOpts)
}

// sourceFlags are the input flags "run" and "collect" share.
type sourceFlags struct {
	configPath, format, logFormat, listen string
	fromStart                             bool
}

func (sf *sourceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.configPath, "config", "", "config file (default $GATEWATCH_CONFIG)")
	fs.StringVar(&sf.format, "format", "auto", "log format of FILE arguments (see \"gatewatch formats\")")
	fs.StringVar(&sf.logFormat, "log-format", "", "nginx log_format string, with --format nginx")
	fs.BoolVar(&sf.fromStart, "from-start", false, "read FILE arguments from the beginning, not only new lines")
	fs.StringVar(&sf.listen, "listen", "", "address for /metrics and /healthz (default from config: 127.0.0.1:9107)")
}

// parseSourceArgs parses the command line, loads the config and adds the
// FILE arguments to its sources.
func (c *cli) parseSourceArgs(fs *flag.FlagSet, sf *sourceFlags, args []string) (Config, error) {
	files, err := parseArgs(fs, args)
	if err != nil {
		return Config{}, err
	}
	cfg, err := c.loadConfig(sf.configPath)
	if err != nil {
		return cfg, err
	}
	if flagSet(fs, "listen") {
		cfg.HTTP.Listen = sf.listen
	}
	for _, f := range files {
		cfg.Ingest.Sources = append(cfg.Ingest.Sources, SourceConfig{
			Name: sourceName(f), Path: f, Format: sf.format, LogFormat: sf.logFormat, FromStart: sf.fromStart,
		})
	}
	return cfg, nil
}

func sourceName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return filepath.Base(path)
}

func (c *cli) logger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: l}))
}

// pipeline is the embedded, in-process form of gatewatch: sources feed a
// bounded channel (the in-process transport that Kafka replaces in a
// deployment), one goroutine runs the detectors, sinks write findings.
type pipeline struct {
	cfg     Config
	log     *slog.Logger
	cli     *cli
	metrics *runMetrics
	events  chan ingest.Event
	out     *alert.Writer
	dir     *alert.Dir
	dlFiles []*os.File
	healthy sync.Map // source name -> error string ("" when fine)
	watch   *inputWatch

	// store, when ClickHouse is configured, keeps every event and finding.
	db    *storage.DB
	store *storage.Writer
}

func newPipeline(cfg Config, log *slog.Logger, c *cli) (*pipeline, error) {
	p := &pipeline{cfg: cfg, log: log, cli: c, metrics: newRunMetrics(), events: make(chan ingest.Event, 64<<10),
		watch: newInputWatch(log, lateness(cfg.detectOptions()))}
	if cfg.Output.Stdout {
		w, err := alert.NewWriter(c.stdout, cfg.Output.Format)
		if err != nil {
			return nil, err
		}
		p.out = w
	}
	dir := cfg.Output.Dir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "findings")
	}
	d, err := alert.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	p.dir = d
	return p, nil
}

// openStore connects the embedded pipeline to ClickHouse when the config
// names one: the same batching writer as "gatewatch store", without Kafka.
func (p *pipeline) openStore(ctx context.Context) error {
	if p.cfg.Storage.Addr == "" {
		return nil
	}
	db, err := p.cli.openStorage(ctx, p.cfg, p.log, p.cfg.Storage.Migrate)
	if err != nil {
		return err
	}
	p.db = db
	p.store = storage.NewWriter(db, storage.WriterOptions{BatchOptions: p.cfg.Storage.batchOptions(p.log)})
	return nil
}

func (p *pipeline) close() {
	if p.store != nil {
		// Bounded: a ClickHouse that stays down cannot hold shutdown.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := p.store.Close(ctx); err != nil {
			p.log.Error("storing the last rows in ClickHouse", "err", err)
		}
		cancel()
		p.db.Close()
	}
	if err := p.dir.Close(); err != nil {
		p.log.Error("closing findings", "err", err)
	}
	for _, f := range p.dlFiles {
		f.Close()
	}
}

func (p *pipeline) run(ctx context.Context, norm ingest.NormalizerOptions) error {
	srv, err := p.serveHTTP()
	if err != nil {
		return err
	}
	srcCtx, stopSources := context.WithCancel(ctx)
	defer stopSources()
	if p.db != nil && p.cfg.Storage.HealthEvery > 0 {
		// Until the run is over, not until ctx ends: the last sample, with
		// the final counts, is written after the drain.
		healthCtx, stopHealth := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			recordHealth(healthCtx, p.db, p.metrics.reg, "run", p.cfg.Storage.HealthEvery, p.log)
		}()
		defer func() { stopHealth(); <-done }()
	}

	var sources sync.WaitGroup
	var srcErrs []error
	var errMu sync.Mutex
	for _, s := range p.cfg.Ingest.Sources {
		dlPath := filepath.Join(p.cfg.DataDir, "deadletter", s.Name+".jsonl")
		if err := os.MkdirAll(filepath.Dir(dlPath), 0o750); err != nil {
			return fmt.Errorf("dead letter dir: %w", err)
		}
		f, err := os.OpenFile(dlPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
		p.dlFiles = append(p.dlFiles, f)
		dl := ingest.NewDeadLetterWriter(f)
		p.healthy.Store(s.Name, "")
		watch := p.watch.add(s.Name, s.Format, p.metrics.lines.WithLabelValues(s.Name), p.metrics.rejects.WithLabelValues(s.Name))
		sources.Add(1)
		go func() {
			defer sources.Done()
			defer dl.Flush()
			err := p.runSource(srcCtx, s, norm, dl, watch)
			if err != nil && !errors.Is(err, context.Canceled) {
				p.log.Error("source stopped", "source", s.Name, "err", err)
				p.healthy.Store(s.Name, err.Error())
				errMu.Lock()
				srcErrs = append(srcErrs, fmt.Errorf("source %s: %w", s.Name, err))
				errMu.Unlock()
			}
		}()
	}
	// Close the transport once every source has stopped, so the detector
	// drains what was read and then ends.
	go func() { sources.Wait(); close(p.events) }()

	p.log.Info("gatewatch running", "sources", len(p.cfg.Ingest.Sources), "listen", p.cfg.HTTP.Listen, "data_dir", p.cfg.DataDir)
	detErr := p.detectLoop(ctx)

	stopSources()
	sources.Wait()
	if srv != nil {
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutCtx)
	}
	if err := p.dir.Sync(); err != nil && detErr == nil {
		detErr = err
	}
	p.log.Info("gatewatch stopped")
	if detErr != nil {
		return detErr
	}
	return errors.Join(srcErrs...)
}

// detectLoop is the single goroutine that owns the detectors. It ends when
// the transport is closed (all sources done) after draining it.
func (p *pipeline) detectLoop(ctx context.Context) error {
	var sinkErr error
	opts := p.cfg.detectOptions()
	// Rows for ClickHouse wait here and go in batches (the writer batches
	// again into large INSERTs); storing blocks the detector when
	// ClickHouse is down and the writer's bounded buffer is full.
	var toStore []ingest.Event
	var findingsToStore []detect.Finding
	var windowsToStore []storage.ClientWindow
	flushStore := func() {
		if p.store == nil {
			return
		}
		if len(toStore) > 0 {
			if err := p.store.Write(ctx, toStore); err != nil && sinkErr == nil && ctx.Err() == nil {
				sinkErr = err
			}
			toStore = toStore[:0]
		}
		if len(findingsToStore) > 0 {
			if err := p.store.WriteFindings(ctx, findingsToStore); err != nil && sinkErr == nil && ctx.Err() == nil {
				sinkErr = err
			}
			findingsToStore = findingsToStore[:0]
		}
		if len(windowsToStore) > 0 {
			if err := p.store.WriteWindows(ctx, windowsToStore); err != nil && sinkErr == nil && ctx.Err() == nil {
				sinkErr = err
			}
			windowsToStore = windowsToStore[:0]
		}
	}
	if p.store != nil {
		opts.OnWindow = func(ws detect.WindowStats) {
			windowsToStore = append(windowsToStore, storage.ClientWindowOf(ws))
		}
	}
	opts.Emit = func(f detect.Finding) {
		if p.store != nil {
			findingsToStore = append(findingsToStore, f)
		}
		p.metrics.findings.WithLabelValues(f.Detector, string(f.Severity), string(f.Status)).Inc()
		if err := p.dir.Write(f); err != nil && sinkErr == nil {
			sinkErr = err
		}
		if p.out != nil {
			if err := p.out.Write(f); err != nil && sinkErr == nil {
				sinkErr = err
			}
		}
	}
	opts.OnLate = func(*ingest.Event) { p.metrics.late.Inc() }
	engine := detect.New(opts)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var grace <-chan time.Time
	done := ctx.Done()
	var newest, lastArrival time.Time
	for {
		select {
		case <-done:
			// Shutting down: sources are stopping; give them a moment to
			// hand over what they read (stdin may never return), then end.
			done, grace = nil, time.After(5*time.Second)
		case <-grace:
			p.watch.check(time.Now(), engine.Stats())
			engine.Flush()
			flushStore()
			return sinkErr
		case ev, ok := <-p.events:
			if !ok {
				p.watch.check(time.Now(), engine.Stats())
				engine.Flush()
				flushStore()
				return sinkErr
			}
			engine.Observe(&ev)
			if p.store != nil {
				toStore = append(toStore, ev)
				if len(toStore) >= 4096 {
					flushStore()
				}
			}
			if ev.Time.After(newest) {
				newest = ev.Time
			}
			lastArrival = time.Now()
		case now := <-tick.C:
			flushStore()
			// Idle inputs must not hold windows open forever. Event time
			// is not wall time (a replayed or delayed log), so while the
			// input is idle, event time is advanced by the wall time that
			// passed since the last event arrived.
			if idle := now.Sub(lastArrival); !newest.IsZero() && idle >= time.Second {
				engine.AdvanceTo(newest.Add(idle))
			}
			st := engine.Stats()
			p.watch.check(now, st)
			p.metrics.clients.Set(float64(st.ActiveClients))
			p.metrics.queue.Set(float64(len(p.events)))
			if wm := st.Watermark; !wm.IsZero() {
				p.metrics.watermark.Set(float64(wm.Unix()))
			}
		}
		if sinkErr != nil {
			return sinkErr
		}
	}
}

// runSource reads one input until ctx ends (files) or EOF (stdin), parses
// each line and hands owned copies of the events to the detector. Lines
// that fail go to the dead-letter file, and the first few to watch.
func (p *pipeline) runSource(ctx context.Context, s SourceConfig, norm ingest.NormalizerOptions, dl *ingest.DeadLetterWriter, watch *sourceWatch) error {
	return readSource(ctx, s, norm, p.cli.stdin, sourceHooks{
		lines:   p.metrics.lines.WithLabelValues(s.Name),
		rejects: p.metrics.rejects.WithLabelValues(s.Name),
		reject: func(r ingest.Reject) error {
			watch.reject(r.Text)
			return dl.Write(s.Name, r)
		},
		event: func(ev *ingest.Event) error {
			select { // bounded: a slow detector slows the inputs, it never grows memory
			case p.events <- ev.Clone():
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
}

// sourceHooks say where a source's events and rejected lines go.
type sourceHooks struct {
	lines, rejects prometheus.Counter
	event          func(*ingest.Event) error // ev is valid only during the call
	reject         func(ingest.Reject) error
	// resume is where to continue a file from (a saved position); zero
	// follows s.FromStart. position, when set, hears the position after
	// each line of a file once event or reject has taken it.
	resume   ingest.TailPosition
	position func(ingest.TailPosition)
}

// readSource follows one configured input — a file like tail -F, or stdin
// until EOF — and parses and normalises each line.
func readSource(ctx context.Context, s SourceConfig, norm ingest.NormalizerOptions, stdin io.Reader, h sourceHooks) error {
	norm.Source = s.Name
	d, err := ingest.NewDecoder(ingest.DecoderOptions{Format: s.Format, ParserOptions: ingest.ParserOptions{LogFormat: s.LogFormat}, Normalizer: norm})
	if err != nil {
		return err
	}
	var ev ingest.Event
	var lineNo int64
	handle := func(line []byte) error {
		lineNo++
		h.lines.Inc()
		switch err := d.Decode(line, &ev); {
		case err == ingest.ErrBlank:
			return nil
		case err != nil:
			h.rejects.Inc()
			return h.reject(ingest.Reject{Line: lineNo, Reason: err.Error(), Text: line})
		}
		return h.event(&ev)
	}
	if s.Path == "-" {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if err := handle(sc.Bytes()); err != nil {
				return err
			}
		}
		return sc.Err()
	}
	opts := ingest.TailOptions{FromStart: s.FromStart, Offset: h.resume.Offset, Inode: h.resume.Inode}
	return ingest.Tail(ctx, s.Path, opts, func(line []byte, pos ingest.TailPosition) error {
		if err := handle(line); err != nil {
			return err
		}
		if h.position != nil {
			h.position(pos)
		}
		return nil
	})
}

func (p *pipeline) serveHTTP() (*http.Server, error) {
	return serveOps(p.cfg.HTTP.Listen, p.metrics.reg, func() error {
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
	}, p.log)
}

// serveOps serves /metrics from reg and /healthz from health on listen
// ("" serves nothing). The server's goroutine ends at Shutdown.
func serveOps(listen string, reg *prometheus.Registry, health func() error, log *slog.Logger) (*http.Server, error) {
	if listen == "" {
		return nil, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := health(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("http listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	return srv, nil
}
