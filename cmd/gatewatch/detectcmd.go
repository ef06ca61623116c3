package main

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewatch/gatewatch/detect/group"
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

Examples:
  gatewatch detect --config gatewatch.yaml
  GATEWATCH_KAFKA_BROKERS=kafka-1:9092 gatewatch detect
  gatewatch detect --replay   # re-detect history: no wall-clock idle advances`

func (c *cli) detect(ctx context.Context, args []string) error {
	fs := c.newFlags("detect", "[flags]", detectHelp)
	configPath := fs.String("config", "", "config file (default $GATEWATCH_CONFIG)")
	replay := fs.Bool("replay", false, "the events are history replayed faster than real time: never advance idle partitions by the wall clock")
	checkpoint := fs.Duration("checkpoint", 10*time.Second, "how often each partition's findings and state are made durable")
	listen := fs.String("listen", "", "address for /metrics and /healthz (default from config: 127.0.0.1:9107)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
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
	opts := group.Options{
		Kafka:           kc,
		GroupID:         cfg.Kafka.DetectGroup,
		EventsTopic:     cfg.Kafka.Topics.Events,
		FindingsTopic:   cfg.Kafka.Topics.Findings,
		StateTopic:      cfg.Kafka.Topics.DetectState,
		Detect:          cfg.detectOptions(),
		CheckpointEvery: *checkpoint,
		Logger:          log,
	}
	if *replay {
		opts.IdleAfter = -1
	}
	r, err := group.New(opts)
	if err != nil {
		return err
	}
	srv, err := serveOps(cfg.HTTP.Listen, detectMetrics(r), func() error { return nil }, log)
	if err != nil {
		return err
	}
	log.Info("detect starting", "group", opts.GroupID, "events", opts.EventsTopic, "findings", opts.FindingsTopic, "kafka", kc, "listen", cfg.HTTP.Listen)
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
	log.Info("detect stopped", "events", st.Events, "findings", st.Findings, "checkpoints", st.Checkpoints, "restores", st.Restores)
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
	counter("gatewatch_detect_malformed_total", "Messages on the events topic that did not decode, skipped.", func(s group.Stats) int64 { return s.Malformed })
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
