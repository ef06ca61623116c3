package main

import (
	"context"
	"fmt"
	"time"

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
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*configPath)
	if err != nil {
		return err
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
	log.Info("detect starting", "group", opts.GroupID, "events", opts.EventsTopic, "findings", opts.FindingsTopic, "kafka", kc)
	if err := r.Run(ctx); err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	st := r.Stats()
	log.Info("detect stopped", "events", st.Events, "findings", st.Findings, "checkpoints", st.Checkpoints, "restores", st.Restores)
	return nil
}
