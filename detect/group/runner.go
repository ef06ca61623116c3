package group

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewatch/gatewatch/detect/feedback"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/segmentio/kafka-go"
)

// Runner runs detect.Engines as one member of a Kafka consumer group: one
// engine per assigned partition of the events topic. Create it with New
// and call Run once.
type Runner struct {
	opts      Options
	dialer    *kafka.Dialer
	transport *kafka.Transport
	client    *kafka.Client
	findings  messageWriter
	state     *kafka.Writer
	windows   messageWriter   // nil without Options.WindowsTopic
	fps       *feedback.Set   // nil without Options.FalsePositivesFile
	contract  *sharedContract // nil without Options.Contract
	contractW messageWriter   // nil without Options.Contract and ContractTopic

	violations, events, replayed, malformed, produced, checkpoints, restores, idleAdvances, failures, late atomic.Int64

	mu    sync.Mutex
	lag   map[int]int64 // owned partition -> messages behind its high watermark
	fatal error
}

// messageWriter writes messages synchronously: WriteMessages returns once
// every replica in sync has them (transport.Writer).
type messageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Stats are a Runner's counters since it was created.
type Stats struct {
	Events       int64 // events folded into engines (replays after a restore included; re-sent lines not)
	Replayed     int64 // lines a restarted collector sent again, skipped (detect.Engine.Admit)
	Malformed    int64 // messages that did not decode as events, skipped
	Late         int64 // events older than an engine's watermark allowed: counted, not scored (replays included)
	Findings     int64 // findings produced and acknowledged
	Checkpoints  int64 // state records written
	Restores     int64 // partitions resumed from a state record
	IdleAdvances int64 // engine clocks advanced by wall time on idle partitions
	Failures     int64 // failed checkpoint steps and consumer group errors (retried)
	Partitions   int   // partitions owned now
	Lag          int64 // owned partitions' messages not yet read, as of their last fetch
	Forgiven     int64 // anomalous windows absorbed as ordinary: marked false positives (FalsePositivesFile)
	Violations   int64 // requests outside the contract (Options.Contract; replays included)
}

// New returns a Runner configured by opts. It checks the Kafka
// configuration but does not contact the brokers.
func New(opts Options) (*Runner, error) {
	opts.setDefaults()
	dialer, err := opts.Kafka.Dialer()
	if err != nil {
		return nil, fmt.Errorf("detect group: %w", err)
	}
	tr, err := opts.Kafka.Transport()
	if err != nil {
		return nil, fmt.Errorf("detect group: %w", err)
	}
	var fps *feedback.Set
	if opts.FalsePositivesFile != "" {
		if fps, err = feedback.Open(opts.FalsePositivesFile, 0); err != nil {
			return nil, fmt.Errorf("detect group: %w", err)
		}
		opts.Detect.FalsePositives = fps
	}
	shared, err := newSharedContract(&opts)
	if err != nil {
		return nil, fmt.Errorf("detect group: %w", err)
	}
	r := &Runner{
		fps:       fps,
		contract:  shared,
		opts:      opts,
		dialer:    dialer,
		transport: tr,
		client:    &kafka.Client{Addr: opts.Kafka.Addr(), Transport: tr},
		lag:       make(map[int]int64),
	}
	if err := r.newWriters(tr); err != nil {
		return nil, fmt.Errorf("detect group: %w", err)
	}
	return r, nil
}

// newWriters makes the Runner's writers on tr. They are synchronous:
// WriteMessages returns once every replica in sync has the records, which
// is what a checkpoint waits for.
//
// Findings, window records and contract reports go through
// transport.Writer, compressed with lz4: window records compressed with
// zstd cost the replica 0.1-0.5 µs per event, up to a fifth of its CPU
// (BenchmarkRunnerCatchUp/windows-on, 7 pairs alternated), to keep 5.6
// bytes per event on the topic instead of lz4's 9.7. State records, one
// per partition and checkpoint, up to StateMaxBytes, and read back whole
// on every restore, keep kafka-go's Writer (its batches are bounded by
// bytes) and zstd.
func (r *Runner) newWriters(tr *kafka.Transport) error {
	opts := r.opts
	writer := func(topic string) (messageWriter, error) {
		return transport.NewWriter(opts.Kafka.Addr(), tr, transport.WriterOptions{
			Topic: topic, WriteTimeout: opts.WriteTimeout, Logger: opts.Logger,
		})
	}
	var err error
	if r.findings, err = writer(opts.FindingsTopic); err != nil {
		return err
	}
	if opts.WindowsTopic != "" {
		if r.windows, err = writer(opts.WindowsTopic); err != nil {
			return err
		}
	}
	if r.contract != nil && opts.ContractTopic != "" {
		if r.contractW, err = writer(opts.ContractTopic); err != nil {
			return err
		}
	}
	r.state = &kafka.Writer{
		Addr: opts.Kafka.Addr(), Topic: opts.StateTopic, Balancer: &kafka.Murmur2Balancer{}, Transport: tr,
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchBytes: int64(opts.StateMaxBytes),
		WriteTimeout: opts.WriteTimeout, Compression: kafka.Zstd,
	}
	return nil
}

// close releases the Runner's writers and connections.
func (r *Runner) close() {
	r.state.Close()
	r.transport.CloseIdleConnections()
}

// Stats returns the Runner's counters. It is safe to call at any time.
func (r *Runner) Stats() Stats {
	s := Stats{
		Events:       r.events.Load(),
		Replayed:     r.replayed.Load(),
		Malformed:    r.malformed.Load(),
		Late:         r.late.Load(),
		Findings:     r.produced.Load(),
		Checkpoints:  r.checkpoints.Load(),
		Restores:     r.restores.Load(),
		IdleAdvances: r.idleAdvances.Load(),
		Failures:     r.failures.Load(),
		Violations:   r.violations.Load(),
	}
	if r.fps != nil {
		s.Forgiven = r.fps.Hits()
	}
	r.mu.Lock()
	s.Partitions = len(r.lag)
	for _, l := range r.lag {
		s.Lag += l
	}
	r.mu.Unlock()
	return s
}

// Run joins the consumer group and detects on the partitions it is
// assigned until ctx is cancelled or a partition fails for good (a state
// record that does not restore). Every owned partition is checkpointed
// before Run returns or hands it over in a rebalance, so cancelling ctx is
// a graceful shutdown. Run returns nil after a cancellation.
func (r *Runner) Run(ctx context.Context) error {
	defer r.close()
	if err := r.awaitTopics(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:               r.opts.GroupID,
		Brokers:          r.brokers(),
		Dialer:           r.dialer,
		Topics:           []string{r.opts.EventsTopic},
		StartOffset:      r.opts.StartOffset,
		SessionTimeout:   r.opts.SessionTimeout,
		RebalanceTimeout: r.opts.RebalanceTimeout,
		Logger:           kafka.LoggerFunc(r.debugf),
		ErrorLogger:      kafka.LoggerFunc(r.warnf),
	})
	if err != nil {
		return fmt.Errorf("detect group: %w", err)
	}

	// Close ends the current generation and waits for its goroutines, so
	// every partition's final checkpoint is written before the member
	// leaves the group and another replica can be assigned the partition.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(runCtx, func() { group.Close() })
	defer stop()
	if r.fps != nil {
		var follow sync.WaitGroup
		follow.Add(1)
		go func() {
			defer follow.Done()
			r.fps.Follow(runCtx, 0, func(err error) { r.warnf("false positives file: %v", err) })
		}()
		defer func() { cancel(); follow.Wait() }()
	}
	if r.contract != nil {
		// Saved once more after the last partition's final checkpoint.
		stopSave, saved := make(chan struct{}), make(chan struct{})
		go func() { defer close(saved); r.saveContract(stopSave) }()
		defer func() { close(stopSave); <-saved }()
	}

	for {
		gen, err := group.Next(runCtx)
		if err != nil {
			if runCtx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				break
			}
			r.failures.Add(1)
			r.opts.Logger.Warn("detect group: consumer group", "group", r.opts.GroupID, "err", err)
			continue
		}
		assigned := gen.Assignments[r.opts.EventsTopic]
		r.opts.Logger.Info("detect group: generation", "group", r.opts.GroupID,
			"generation", gen.ID, "member", gen.MemberID, "partitions", len(assigned))
		for _, a := range assigned {
			w := &worker{r: r, gen: gen, part: a.ID, start: a.Offset}
			gen.Start(func(gctx context.Context) {
				if err := w.run(gctx); err != nil {
					r.fail(err)
					cancel()
				}
			})
		}
	}
	group.Close()
	r.mu.Lock()
	err = r.fatal
	r.mu.Unlock()
	return err
}

// fail records the first error that must stop Run.
func (r *Runner) fail(err error) {
	r.mu.Lock()
	if r.fatal == nil {
		r.fatal = err
	}
	r.mu.Unlock()
}

func (r *Runner) setLag(part int, lag int64) {
	r.mu.Lock()
	r.lag[part] = lag
	r.mu.Unlock()
}

func (r *Runner) dropLag(part int) {
	r.mu.Lock()
	delete(r.lag, part)
	r.mu.Unlock()
}

// brokers are the bootstrap brokers, spelt out for kafka-go's group and
// readers.
func (r *Runner) brokers() []string {
	if b := r.opts.Kafka.Brokers; len(b) > 0 {
		return b
	}
	return []string{transport.DefaultBroker}
}

func (r *Runner) debugf(msg string, args ...any) {
	r.opts.Logger.Debug(fmt.Sprintf(msg, args...), "component", "kafka-go")
}

func (r *Runner) warnf(msg string, args ...any) {
	r.opts.Logger.Warn(fmt.Sprintf(msg, args...), "component", "kafka-go")
}

// errNoEventsTopic: the events topic does not exist yet.
var errNoEventsTopic = errors.New("events topic not found")

// awaitTopics waits for the events topic (detectors are often started
// before the first collector has written anything), then ensures the
// others.
func (r *Runner) awaitTopics(ctx context.Context) error {
	for logged := false; ; {
		err := r.ensureTopics(ctx)
		if !errors.Is(err, errNoEventsTopic) {
			return err
		}
		if !logged {
			r.opts.Logger.Info("waiting for the events topic to be created (by a collector or an admin)", "topic", r.opts.EventsTopic)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// contractTopic is Options.ContractTopic when the contract is on.
func (r *Runner) contractTopic() string {
	if r.contractW == nil {
		return ""
	}
	return r.opts.ContractTopic
}

// ensureTopics creates the findings and state topics when missing, with
// the events topic's partition count.
func (r *Runner) ensureTopics(ctx context.Context) error {
	md, err := r.client.Metadata(ctx, &kafka.MetadataRequest{
		Topics: slices.DeleteFunc([]string{r.opts.EventsTopic, r.opts.FindingsTopic, r.opts.StateTopic, r.opts.WindowsTopic, r.contractTopic()},
			func(s string) bool { return s == "" }),
	})
	if err != nil {
		return fmt.Errorf("detect group: metadata: %w", err)
	}
	parts := map[string]int{}
	for _, t := range md.Topics {
		if t.Error == nil {
			parts[t.Name] = len(t.Partitions)
		}
	}
	n := parts[r.opts.EventsTopic]
	if n == 0 {
		return fmt.Errorf("detect group: %w: %q", errNoEventsTopic, r.opts.EventsTopic)
	}
	rf := r.opts.ReplicationFactor
	if rf <= 0 {
		rf = -1
	}
	var topics []kafka.TopicConfig
	if parts[r.opts.FindingsTopic] == 0 {
		topics = append(topics, kafka.TopicConfig{Topic: r.opts.FindingsTopic, NumPartitions: n, ReplicationFactor: rf})
	}
	for _, w := range []string{r.opts.WindowsTopic, r.contractTopic()} {
		if w != "" && parts[w] == 0 {
			topics = append(topics, kafka.TopicConfig{Topic: w, NumPartitions: n, ReplicationFactor: rf})
		}
	}
	if parts[r.opts.StateTopic] == 0 {
		topics = append(topics, kafka.TopicConfig{
			Topic: r.opts.StateTopic, NumPartitions: n, ReplicationFactor: rf,
			ConfigEntries: []kafka.ConfigEntry{
				{ConfigName: "cleanup.policy", ConfigValue: "compact"},
				{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(r.opts.StateMaxBytes)},
			},
		})
	}
	if len(topics) == 0 {
		return nil
	}
	res, err := r.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("detect group: create topics: %w", err)
	}
	for name, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("detect group: create topic %s: %w", name, err)
		}
	}
	return nil
}
