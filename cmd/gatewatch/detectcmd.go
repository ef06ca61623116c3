package main

import (
	"context"
	"errors"
	"log/slog"

	"fmt"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/storage"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewatch/gatewatch/detect/group"

	"github.com/gatewatch/gatewatch/internal/config"
)

const detectHelp = `
Run the detectors as a Kafka consumer group: read normalised events from the
events topic (written by "gatewatch collect"), keep per-client baselines, and
produce findings (JSON, docs/findings.md) to the findings topic. Start several
replicas with the same kafka.detect_group to share the partitions: each
replica owns the clients of its partitions.

Every partition's detector state is checkpointed to a compacted state topic
together with the offset it covers; findings are produced before the state,
and the offset is committed after both. When a partition moves (a replica
stops, one is added) its new owner restores the state, so clients keep their
baselines and no finding is lost or repeated (a repeat after a crash carries
the same gatewatch-seq header). SIGTERM checkpoints every partition and leaves
the group.

A new deployment need not spend its first hours learning: --backfill replays
history into every partition's state, then exits; the replicas started next
restore it and carry on at the live end of the topic. The history is either
access logs named as arguments (clients routed to partitions as the
collectors route them, with the collectors' HMAC key) or, with --from-store,
the events ClickHouse stored since a time (read an hour at a time, in time
order, each stored event once). Run it while no replica of the group is
running.

The API contract (detect.contract; docs/contract.md) is learnt by each replica
from the events it reads, then every event is checked against it: requests
outside it go to kafka.topics.contract (for "gatewatch store") and each
client's run of them is a finding of detector "contract". The model is saved
to DATA_DIR/contract-model.json (give each replica its own data_dir) and
loaded at start; --backfill learns it from the history too.

/metrics and /healthz are served on http.listen.

Examples:
  gatewatch detect --config gatewatch.yaml
  GATEWATCH_KAFKA_BROKERS=kafka-1:9092 gatewatch detect
  gatewatch detect --replay   # re-detect history: no wall-clock idle advances
  gatewatch detect --backfill --format nginx_combined /var/log/nginx/access.log.1 access.log.2.gz
  gatewatch detect --backfill --from-store 168h   # the last week from ClickHouse`

func (c *cli) detect(ctx context.Context, args []string) error {
	fs := c.newFlags("detect", "[flags]", detectHelp)
	configPath := fs.String("config", "", "config file (default $GATEWATCH_CONFIG)")
	replay := fs.Bool("replay", false, "the events are history replayed faster than real time: never advance idle partitions by the wall clock")
	checkpoint := fs.Duration("checkpoint", 10*time.Second, "how often each partition's findings and state are made durable")
	listen := fs.String("listen", "", "address for /metrics and /healthz (default from config: 127.0.0.1:9107)")
	backfill := fs.Bool("backfill", false, "seed every partition's baselines from the access logs named as arguments, write the state, and exit")
	format := fs.String("format", "auto", "with --backfill: log format of the files (see \"gatewatch formats\")")
	logFormat := fs.String("log-format", "", "with --backfill: nginx log_format string, with --format nginx")
	fromStore := fs.String("from-store", "", "with --backfill: read the events stored in ClickHouse (clickhouse.addr) since this time, a duration back from now (72h) or an RFC 3339 time, instead of log files")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if sources := len(files) > 0 || *fromStore != ""; *backfill != sources || (len(files) > 0 && *fromStore != "") {
		fmt.Fprintln(c.stderr, "gatewatch detect: --backfill needs access-log files or --from-store (one of them), and they need --backfill")
		fs.Usage()
		return errUsage
	}
	var since time.Time
	if *fromStore != "" {
		if since, err = parseWhen(*fromStore, time.Now()); err != nil {
			return fmt.Errorf("--from-store: %w", err)
		}
	}
	cfg, err := c.loadConfig(*configPath)
	if err != nil {
		return err
	}
	if flagSet(fs, "listen") {
		cfg.HTTP.Listen = *listen
	}
	kc, err := c.kafkaConfig(cfg)
	if err != nil {
		return err
	}
	log := c.logger(cfg.LogLevel)
	opts := groupOptions(cfg, kc, log)
	opts.CheckpointEvery = *checkpoint
	if *replay {
		opts.IdleAfter = -1
	}
	if *backfill && *fromStore != "" {
		return c.backfillFromStore(ctx, cfg, opts, since, log)
	}
	if *backfill {
		return c.backfill(ctx, cfg, opts, files, *format, *logFormat, log)
	}
	return c.runGroup(ctx, cfg, opts, log)
}

// groupOptions maps the config onto the detect group's options.
func groupOptions(cfg config.Config, kc transport.Config, log *slog.Logger) group.Options {
	return group.Options{
		Kafka:              kc,
		GroupID:            cfg.Kafka.DetectGroup,
		EventsTopic:        cfg.Kafka.Topics.Events,
		FindingsTopic:      cfg.Kafka.Topics.Findings,
		StateTopic:         cfg.Kafka.Topics.DetectState,
		WindowsTopic:       cfg.Kafka.Topics.Windows,
		Detect:             cfg.DetectOptions(),
		FalsePositivesFile: cfg.FalsePositivesFile(),
		Contract:           cfg.ContractOptions(),
		ContractGap:        cfg.Detect.Contract.IncidentGap,
		ContractTopic:      contractTopic(cfg),
		ContractModelFile:  cfg.ContractModelFile(),
		Logger:             log,
	}
}

// runGroup runs the detect group, with /metrics and /healthz, until ctx
// ends.
func (c *cli) runGroup(ctx context.Context, cfg config.Config, opts group.Options, log *slog.Logger) error {
	r, err := group.New(opts)
	if err != nil {
		return err
	}
	srv, err := serveOps(cfg.HTTP, detectMetrics(r), func() error { return nil }, log)
	if err != nil {
		return err
	}
	log.Info("detect starting", "group", opts.GroupID, "events", opts.EventsTopic, "findings", opts.FindingsTopic, "kafka", opts.Kafka, "listen", cfg.HTTP.Listen)
	runErr := r.Run(ctx)
	if srv != nil {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(shut)
		cancel()
	}
	if runErr != nil {
		return fmt.Errorf("detect: %w", runErr)
	}
	st := r.Stats()
	log.Info("detect stopped", "events", st.Events, "findings", st.Findings, "violations", st.Violations, "checkpoints", st.Checkpoints, "restores", st.Restores)
	return nil
}

// detectMetrics exposes a Runner's counters as Prometheus series.
func detectMetrics(r *group.Runner) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	counter := func(name, help string, v func(group.Stats) int64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(r.Stats())) }))
	}
	gauge := func(name, help string, v func(group.Stats) int64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(v(r.Stats())) }))
	}
	counter("gatewatch_detect_events_total", "Events folded into the detectors (replays after a restore included).", func(s group.Stats) int64 { return s.Events })
	counter("gatewatch_detect_replayed_total", "Lines a restarted collector sent again (same file and position), skipped: counted once, not twice.", func(s group.Stats) int64 { return s.Replayed })
	counter("gatewatch_detect_malformed_total", "Messages on the events topic that did not decode, skipped.", func(s group.Stats) int64 { return s.Malformed })
	counter("gatewatch_detect_late_events_total", "Events older than the watermark allows (allowed_lateness): counted, not scored.", func(s group.Stats) int64 { return s.Late })
	counter("gatewatch_detect_false_positive_windows_total", "Anomalous windows absorbed as ordinary ones: their client/detector pair was marked a false positive.", func(s group.Stats) int64 { return s.Forgiven })
	counter("gatewatch_detect_contract_violations_total", "Requests outside the learnt API contract (replays included).", func(s group.Stats) int64 { return s.Violations })
	counter("gatewatch_detect_findings_total", "Findings produced to the findings topic and acknowledged.", func(s group.Stats) int64 { return s.Findings })
	counter("gatewatch_detect_checkpoints_total", "Detector state records written.", func(s group.Stats) int64 { return s.Checkpoints })
	counter("gatewatch_detect_restores_total", "Partitions resumed from a state record.", func(s group.Stats) int64 { return s.Restores })
	counter("gatewatch_detect_idle_advances_total", "Detector clocks advanced by wall time on idle partitions.", func(s group.Stats) int64 { return s.IdleAdvances })
	counter("gatewatch_detect_failures_total", "Failed checkpoint steps and consumer-group errors (retried).", func(s group.Stats) int64 { return s.Failures })
	gauge("gatewatch_detect_partitions", "Partitions of the events topic this replica owns.", func(s group.Stats) int64 { return int64(s.Partitions) })
	gauge("gatewatch_detect_lag_events", "Events not yet read on the owned partitions.", func(s group.Stats) int64 { return s.Lag })
	reg.MustRegister(prometheus.NewGoCollector())
	return reg
}

// backfill replays access logs into every partition's detector state.
func (c *cli) backfill(ctx context.Context, cfg config.Config, opts group.Options, files []string, format, logFormat string, log *slog.Logger) error {
	// Client keys must come out as the collectors make them: same HMAC
	// key, same trusted proxies.
	key, err := c.hmacKey(cfg, false)
	if err != nil {
		return err
	}
	if key == nil {
		return errors.New("backfill: no HMAC key: set ingest.hmac_key_file or $GATEWATCH_HMAC_KEY to the collectors' key, or API-key clients would not match")
	}
	norm, err := cfg.NormalizerOptions(key)
	if err != nil {
		return err
	}
	b, err := group.NewBackfill(ctx, opts)
	if err != nil {
		return err
	}
	start := time.Now()
	lines, rejects, err := b.ObserveLogs(ctx, files, ingest.StreamOptions{
		Format: format, ParserOptions: ingest.ParserOptions{LogFormat: logFormat}, Normalizer: norm, Workers: cfg.Ingest.Workers,
	}, func(file, format string, lines, rejects int64) {
		log.Info("backfill: read", "file", file, "format", format, "lines", lines, "unparsable", rejects)
	})
	if err != nil {
		return err
	}
	st, err := b.Commit(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "backfill: %d lines (%d unparsable or timed in the future), %d events into %d partitions, %d clients with baselines, %d findings in the history (not produced), %.1fs\n",
		lines, rejects, st.Events, st.Partitions, st.Clients, st.Findings, time.Since(start).Seconds())
	c.reportContract(st)
	return nil
}

// reportContract says what a backfill's contract learnt.
func (c *cli) reportContract(st group.BackfillStats) {
	if st.ContractLearned == 0 {
		return
	}
	state := "still learning: detect goes on learning from the live events"
	if st.ContractFrozen {
		state = "learning period over: detect checks from the first live event"
	}
	fmt.Fprintf(c.stderr, "backfill: the API contract learnt from %d events (%s)\n", st.ContractLearned, state)
}

// backfillFromStore replays the events ClickHouse stored since since into
// every partition's detector state. Stored client keys are already the
// collectors', so no HMAC key is needed.
func (c *cli) backfillFromStore(ctx context.Context, cfg config.Config, opts group.Options, since time.Time, log *slog.Logger) error {
	db, err := c.openStorage(ctx, cfg, log, false)
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	defer db.Close()
	b, err := group.NewBackfill(ctx, opts)
	if err != nil {
		return err
	}
	start := time.Now()
	n, err := db.Replay(ctx, storage.ReplayQuery{From: since, To: start,
		Progress: func(through time.Time, events int64) {
			log.Info("backfill: read", "through", through.UTC().Format(time.RFC3339), "events", events)
		}}, func(ev *ingest.Event) error {
		b.Observe(ev)
		return nil
	})
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	st, err := b.Commit(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "backfill: %d stored events since %s, %d events into %d partitions, %d clients with baselines, %d findings in the history (not produced), %.1fs\n",
		n, since.UTC().Format(time.RFC3339), st.Events, st.Partitions, st.Clients, st.Findings, time.Since(start).Seconds())
	c.reportContract(st)
	return nil
}
