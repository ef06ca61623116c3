package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/pipeline"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/storage"

	"github.com/gatewatch/gatewatch/internal/config"
)

const runHelp = `
Run the embedded pipeline on live inputs: follow log files (rotation and
truncation handled, like tail -F) and standard input, detect in-process, and
write findings to standard output and to daily JSON-lines files in
DATA_DIR/findings. Lines that cannot be parsed go to DATA_DIR/deadletter.
/metrics (Prometheus) and /healthz are served on http.listen, and at / a live
HTML report of what the run sees (incidents with each client's band, traffic
per minute, top clients and routes; it reloads itself every 15 s; http.report
false turns it off). With http.token_file, / and /metrics want
"Authorization: Bearer TOKEN"; /healthz stays open for probes.

Inputs come from the config file's ingest.sources, or from the command line
as FILE arguments (- for standard input) with --format. SIGINT or SIGTERM
stops the inputs, drains what was read, closes the open windows and flushes
every file before exiting.

The API contract (detect.contract; docs/contract.md) is learnt from the first
24 hours of traffic, then every request is checked against it; the learnt
model is saved to DATA_DIR/contract-model.json every 5 minutes and on exit,
and loaded at start, so a restart goes on where it stopped. Delete the file
to learn afresh (after an API release that changes its shape, say).

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
	late      *prometheus.CounterVec
	forgiven  atomic.Uint64 // detect.Stats.Forgiven, as of the last tick
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
		late: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewatch_detect_late_events_total",
			Help: "Events older than the watermark allows, or dated far ahead of the stream (counted, not scored), by source.",
		}, []string{"source"}),
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
	forgiven := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "gatewatch_detect_false_positive_windows_total",
		Help: "Anomalous windows absorbed as ordinary ones: their client/detector pair was marked a false positive.",
	}, func() float64 { return float64(m.forgiven.Load()) })
	m.reg.MustRegister(m.lines, m.rejects, m.findings, m.late, forgiven, m.clients, m.queue, m.watermark,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// maxLateSources bounds the source label of the late-events counter: an
// HTTP sender names its events' source, so the names are not all ours.
const maxLateSources = 64

// lateBySource returns what counts a late event under its source, the
// first maxLateSources names as they are, later ones as "other". It is
// called from the detectors' goroutine only.
func (m *runMetrics) lateBySource() func(source string) {
	known := map[string]prometheus.Counter{}
	other := m.late.WithLabelValues("other")
	return func(source string) {
		c, ok := known[source]
		switch {
		case ok:
		case len(known) < maxLateSources:
			c = m.late.WithLabelValues(source)
			known[source] = c
		default:
			c = other
		}
		c.Inc()
	}
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
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := c.logger(cfg.LogLevel)
	key, err := c.hmacKey(cfg, true)
	if err != nil {
		return err
	}
	normOpts, err := cfg.NormalizerOptions(key)
	if err != nil {
		return err
	}
	return c.runPipeline(ctx, cfg, normOpts, log)
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
	fs.StringVar(&sf.listen, "listen", "", "address for the live report at /, /metrics and /healthz (default from config: 127.0.0.1:9107)")
}

// parseSourceArgs parses the command line, loads the config and adds the
// FILE arguments to its sources.
func (c *cli) parseSourceArgs(fs *flag.FlagSet, sf *sourceFlags, args []string) (config.Config, error) {
	files, err := parseArgs(fs, args)
	if err != nil {
		return config.Config{}, err
	}
	cfg, err := c.loadConfig(sf.configPath)
	if err != nil {
		return cfg, err
	}
	if flagSet(fs, "listen") {
		cfg.HTTP.Listen = sf.listen
	}
	for _, f := range files {
		cfg.Ingest.Sources = append(cfg.Ingest.Sources, config.SourceConfig{
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

// runPipeline wires the embedded pipeline (detect/pipeline) to the
// config's files, findings writers, ClickHouse, metrics and ops server,
// and runs it until ctx ends or its inputs do.
func (c *cli) runPipeline(ctx context.Context, cfg config.Config, norm ingest.NormalizerOptions, log *slog.Logger) error {
	m := newRunMetrics()
	writers, dir, err := c.findingWriters(cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := dir.Close(); err != nil {
			log.Error("closing findings", "err", err)
		}
	}()
	db, store, err := c.openRunStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	if db != nil {
		defer closeRunStore(db, store, log)
	}
	live := newLiveReport(cfg)
	alerts, err := c.startAlerts(ctx, cfg, m.reg, log, live)
	if err != nil {
		return err
	}
	health, routes := func() error { return nil }, []opsRoute(nil)
	if alerts != nil {
		defer func() { // after the pipeline drained: every finding is in the outbox
			drain := 30 * time.Second // input ended: let the sinks catch up
			if ctx.Err() != nil {
				drain = 5 * time.Second // interrupted: what is left waits in the outbox
			}
			alerts.Stop(drain)
		}()
		writers = append(writers, alerts.Outbox)
		health, routes = alerts.Service.Healthy, interactions(alerts.Service)
	}
	p, err := pipeline.New(c.pipelineOptions(cfg, norm, log, m, writers, store, live))
	if err != nil {
		return err
	}
	routes = append(routes, live.routes()...)
	srv, err := serveOps(cfg.HTTP, m.reg, func() error { return errors.Join(p.Healthy(), health()) }, log, routes...)
	if err != nil {
		return err
	}
	if db != nil && cfg.Storage.HealthEvery > 0 {
		// Until the run is over, not until ctx ends: the last sample, with
		// the final counts, is written after the drain.
		healthCtx, stopHealth := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			recordHealth(healthCtx, db, m.reg, "run", cfg.Storage.HealthEvery, log)
		}()
		defer func() { stopHealth(); <-done }()
	}
	log.Info("gatewatch running", "sources", len(cfg.Ingest.Sources), "listen", cfg.HTTP.Listen, "data_dir", cfg.DataDir)
	runErr := p.Run(ctx)
	if srv != nil {
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutCtx)
	}
	if err := dir.Sync(); err != nil && runErr == nil {
		runErr = err
	}
	log.Info("gatewatch stopped")
	return runErr
}

// pipelineOptions are the embedded pipeline's options for cfg, with its
// metrics hooked in.
func (c *cli) pipelineOptions(cfg config.Config, norm ingest.NormalizerOptions, log *slog.Logger, m *runMetrics,
	writers []pipeline.FindingWriter, store pipeline.Store, live *liveReport) pipeline.Options {
	return pipeline.Options{
		Inputs: c.fileInputs(cfg, nil, log), Normalizer: norm, Detect: cfg.DetectOptions(), Findings: writers, Store: store,
		DeadLetterDir: filepath.Join(cfg.DataDir, "deadletter"), Logger: log, FalsePositivesFile: cfg.FalsePositivesFile(),
		Contract: cfg.ContractOptions(), ContractGap: cfg.Detect.Contract.IncidentGap, ContractModelFile: cfg.ContractModelFile(),
		Inventory: cfg.InventoryOptions(), InventoryFile: cfg.InventoryFile(),
		Recorder: live.recorder(),
		Counters: func(name string) (ingest.Counter, ingest.Counter) {
			return live.counters(name, m.lines.WithLabelValues(name), m.rejects.WithLabelValues(name))
		},
		OnFinding: func(f detect.Finding) {
			m.findings.WithLabelValues(f.Detector, string(f.Severity), string(f.Status)).Inc()
		},
		OnLate: m.lateBySource(),
		OnTick: func(now time.Time, st detect.Stats, queued int) {
			live.tick(st)
			m.clients.Set(float64(st.ActiveClients))
			m.forgiven.Store(st.Forgiven)
			m.queue.Set(float64(queued))
			if wm := st.Watermark; !wm.IsZero() {
				m.watermark.Set(float64(wm.Unix()))
			}
		},
	}
}

// findingWriters are where findings go: standard output when the config
// says so, and always the daily files of the findings directory.
func (c *cli) findingWriters(cfg config.Config) ([]pipeline.FindingWriter, *alert.Dir, error) {
	path := cfg.Output.Dir
	if path == "" {
		path = filepath.Join(cfg.DataDir, "findings")
	}
	dir, err := alert.OpenDir(path)
	if err != nil {
		return nil, nil, err
	}
	writers := []pipeline.FindingWriter{dir}
	if cfg.Output.Stdout {
		w, err := alert.NewWriter(c.stdout, cfg.Output.Format)
		if err != nil {
			dir.Close()
			return nil, nil, err
		}
		writers = append(writers, w)
	}
	return writers, dir, nil
}

// openRunStore connects the embedded pipeline to ClickHouse when the
// config names one: the same batching writer as "gatewatch store",
// without Kafka. Both are nil without clickhouse.addr.
func (c *cli) openRunStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*storage.DB, pipeline.Store, error) {
	if cfg.Storage.Addr == "" {
		return nil, nil, nil
	}
	db, err := c.openStorage(ctx, cfg, log, cfg.Storage.Migrate)
	if err != nil {
		return nil, nil, err
	}
	w := storage.NewWriter(db, storage.WriterOptions{BatchOptions: batchOptions(cfg.Storage, log)})
	return db, runStore{w}, nil
}

// closeRunStore stores the last rows, bounded so a ClickHouse that stays
// down cannot hold shutdown, and disconnects.
func closeRunStore(db *storage.DB, store pipeline.Store, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := store.(runStore).Close(ctx); err != nil {
		log.Error("storing the last rows in ClickHouse", "err", err)
	}
	db.Close()
}

// runStore is storage.Writer as the pipeline's Store.
type runStore struct{ *storage.Writer }

// WriteWindows converts the detectors' window records to rows.
func (s runStore) WriteWindows(ctx context.Context, ws []detect.WindowStats) error {
	rows := make([]storage.ClientWindow, len(ws))
	for i, w := range ws {
		rows[i] = storage.ClientWindowOf(w)
	}
	return s.Writer.WriteWindows(ctx, rows)
}
