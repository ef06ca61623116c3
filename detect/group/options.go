package group

import (
	"log/slog"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/segmentio/kafka-go"
)

// Defaults for zero Options fields.
const (
	DefaultGroupID          = "gatewatch-detect"
	DefaultEventsTopic      = transport.DefaultTopic
	DefaultFindingsTopic    = "gatewatch.findings"
	DefaultStateTopic       = "gatewatch.detect-state"
	DefaultCheckpointEvery  = 10 * time.Second
	DefaultCheckpointEvents = 100_000
	DefaultIdleAfter        = 2 * time.Second
	DefaultStateMaxBytes    = 32 << 20
	DefaultWriteTimeout     = 30 * time.Second
)

// Options configure a Runner. The zero value consumes DefaultEventsTopic
// from DefaultBroker as group DefaultGroupID.
type Options struct {
	// Kafka says how to reach the cluster (TLS, SASL).
	Kafka transport.Config
	// GroupID is the consumer group (default "gatewatch-detect").
	GroupID string
	// EventsTopic is consumed (default "gatewatch.events"); FindingsTopic
	// receives findings (default "gatewatch.findings"); StateTopic holds
	// the partitions' checkpoints (default "gatewatch.detect-state"). Run
	// creates the findings and state topics when missing, the state topic
	// compacted, both with as many partitions as the events topic.
	EventsTopic, FindingsTopic, StateTopic string
	// WindowsTopic, when set, receives every client's tallies for every
	// closed window, for storage's client_windows: detect.WindowStats as
	// JSON, one record a line, up to 128 KiB of them a message, keyed by
	// the events partition they were counted on; produced at each
	// checkpoint, before the findings. Run creates it like the findings
	// topic.
	WindowsTopic string
	// ReplicationFactor of the topics Run creates; the broker's
	// default.replication.factor when zero.
	ReplicationFactor int

	// Detect configures every partition's engine. Its Emit is replaced by
	// the Runner's; OnLate, when set, is called from every partition's
	// goroutine and must be safe for concurrent use.
	Detect detect.Options

	// CheckpointEvery and CheckpointEvents bound how long and how many
	// events a partition's findings wait before they are produced (and its
	// state saved): 10s and 100,000 by default.
	CheckpointEvery  time.Duration
	CheckpointEvents int
	// IdleAfter is how long a caught-up partition must be silent before
	// its engine's clock is advanced by wall time so that its windows close
	// (default 2s: it bounds how late a quiet partition's findings are).
	// Keep it below the engine's AllowedLateness, so an advance does not
	// make a briefly delayed collector's events late. Negative disables
	// idle advances: use that when replaying history faster or slower than
	// it happened.
	IdleAfter time.Duration
	// StartOffset is where a partition without state or committed offset
	// starts: kafka.FirstOffset (default) or kafka.LastOffset.
	StartOffset int64
	// StateMaxBytes caps one state record (default 32 MiB, about 250,000
	// clients per partition); it is the state topic's max.message.bytes.
	// A snapshot beyond it fails the checkpoint, so size it for the
	// clients of the busiest partition.
	StateMaxBytes int
	// WriteTimeout bounds producing a checkpoint's findings or state, and
	// the final checkpoint of a partition being given up (default 30s).
	WriteTimeout time.Duration
	// SessionTimeout and RebalanceTimeout are passed to the consumer group
	// (kafka-go defaults, 30s, when zero). A rebalance waits for the final
	// checkpoint of every partition that changes hands, so keep
	// RebalanceTimeout above the time a checkpoint takes.
	SessionTimeout, RebalanceTimeout time.Duration
	// FalsePositivesFile, when set, is the alert stage's feedback file
	// (alert-feedback.jsonl): client/detector pairs people marked as false
	// positives there are absorbed into their baselines instead of being
	// reported, in every partition's engine (detect.Options.FalsePositives).
	// It is followed while Run runs; a missing one is empty.
	FalsePositivesFile string
	// Contract, when set, has the Runner learn the API's contract from the
	// events it reads during the learning period, then check every event
	// against it (detect/contract): one model shared by the member's
	// partitions. Each request outside it is produced to ContractTopic,
	// when set (contract.Report as JSON, keyed by client, at each
	// checkpoint, for storage's contract_violations; Run creates the topic
	// like the findings topic), and each client's run of them is an
	// incident, findings of detector "contract" (resolved after ContractGap
	// of quiet; default contract.DefaultIncidentGap).
	Contract      *contract.CheckerOptions
	ContractGap   time.Duration
	ContractTopic string
	// ContractModelFile, when set with Contract, is where the learnt model
	// lives across runs: New loads it when it exists (one that does not
	// load is an error), and Run saves it every ContractSaveEvery and when
	// it returns. Give each replica its own file.
	ContractModelFile string
	// Logger receives the Runner's events; nothing is logged when nil.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.GroupID == "" {
		o.GroupID = DefaultGroupID
	}
	if o.EventsTopic == "" {
		o.EventsTopic = DefaultEventsTopic
	}
	if o.FindingsTopic == "" {
		o.FindingsTopic = DefaultFindingsTopic
	}
	if o.StateTopic == "" {
		o.StateTopic = DefaultStateTopic
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = DefaultCheckpointEvery
	}
	if o.CheckpointEvents <= 0 {
		o.CheckpointEvents = DefaultCheckpointEvents
	}
	if o.IdleAfter == 0 {
		o.IdleAfter = DefaultIdleAfter
	}
	if o.StartOffset != kafka.LastOffset {
		o.StartOffset = kafka.FirstOffset
	}
	if o.StateMaxBytes <= 0 {
		o.StateMaxBytes = DefaultStateMaxBytes
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}
