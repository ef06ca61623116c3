package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// Headers a shipper may set on a raw-lines message.
const (
	HeaderFormat = "gatewatch-format" // log format of the lines, e.g. nginx_combined
	HeaderSource = "gatewatch-source" // source name put on the events
)

// RawOptions configure ReadRaw.
type RawOptions struct {
	Topic string // the raw-lines topic
	Group string // consumer group; collectors sharing it share the partitions
	// CommitEvery is how often what was handled is made durable and its
	// offsets committed (default 1s). A crash re-reads at most this much.
	CommitEvery time.Duration
	// MaxPending bounds the messages handled but not yet committed
	// (default 50,000): reaching it commits early.
	MaxPending int
	Logger     *slog.Logger // default: discard
}

// RawLine is one line of a raw-lines message.
type RawLine struct {
	Line      []byte // without its line ending; valid only during the call
	Format    string // from the message's HeaderFormat, else ""
	Source    string // from the message's HeaderSource, else ""
	Partition int
	Offset    int64
}

// ReadRaw consumes plain log lines that third-party shippers (rsyslog's
// omkafka, Vector, Fluent Bit) write to opts.Topic, one or more
// newline-separated lines per message, and calls handle for each line.
// Every CommitEvery it calls durable, which must return only once
// everything handle was given is safe (e.g. Producer.Flush), and then
// commits the offsets: lines are delivered at least once, never lost.
// It returns when ctx ends, after a last durable and commit, or on the
// first error from handle or durable.
func ReadRaw(ctx context.Context, cfg Config, opts RawOptions, handle func(RawLine) error, durable func(context.Context) error) error {
	if opts.Topic == "" || opts.Group == "" {
		return errors.New("raw lines: topic and group are required")
	}
	if opts.CommitEvery <= 0 {
		opts.CommitEvery = time.Second
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 50_000
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A consumer group that joins before its topic exists is assigned
	// nothing and stays idle, so wait for the first shipper to create it.
	if err := cfg.AwaitTopic(ctx, opts.Topic, log.With("reader", "raw lines")); err != nil {
		return err
	}
	r, err := cfg.GroupReader(opts.Topic, opts.Group, 250*time.Millisecond, log)
	if err != nil {
		return fmt.Errorf("raw lines: %w", err)
	}
	defer r.Close()

	var pending []kafka.Message // last handled message per partition
	count := 0
	commit := func(ctx context.Context) error {
		if count == 0 {
			return nil
		}
		if err := durable(ctx); err != nil {
			return fmt.Errorf("raw lines: %w", err)
		}
		err := r.CommitMessages(ctx, pending...)
		if err != nil && ctx.Err() == nil {
			// Typically a rebalance took the partitions away: their new
			// owner reads the uncommitted lines again (at least once).
			log.Warn("raw lines: commit failed; lines since the last commit may be read again", "topic", opts.Topic, "err", err)
		}
		pending, count = pending[:0], 0
		return nil
	}
	next := time.Now().Add(opts.CommitEvery)
	for {
		fctx, cancel := context.WithDeadline(ctx, next)
		m, err := r.FetchMessage(fctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			// Make what was handled durable and commit it, bounded so a
			// dead Kafka cannot hold shutdown; uncommitted lines are read
			// again by the next collector.
			final, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			return errors.Join(ctx.Err(), commit(final))
		case errors.Is(err, context.DeadlineExceeded):
		case err != nil:
			return fmt.Errorf("raw lines: fetch from %s: %w", opts.Topic, err)
		default:
			if err := splitLines(m, handle); err != nil {
				return err
			}
			pending = lastPerPartition(pending, m)
			count++
		}
		if count >= opts.MaxPending || !time.Now().Before(next) {
			if err := commit(ctx); err != nil && ctx.Err() == nil {
				return err
			}
			next = time.Now().Add(opts.CommitEvery)
		}
	}
}

// AwaitTopic returns once topic exists (it has partitions), checking
// every second, or with ctx's error when ctx ends first. It logs to log
// (nil: discarded) once that it is waiting. It never creates the topic
// (a metadata request through a Dialer would, on a broker that
// auto-creates topics, with the broker's default partitions). A consumer
// group member that joins before its topic exists is assigned nothing and
// kafka-go never asks again, so every group reader of a topic that
// another program creates waits for it first.
func (c Config) AwaitTopic(ctx context.Context, topic string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr, err := c.Transport()
	if err != nil {
		return fmt.Errorf("awaiting topic %s: %w", topic, err)
	}
	client := &kafka.Client{Addr: c.Addr(), Transport: tr}
	for logged := false; ; {
		err := topicExists(ctx, client, topic)
		if err == nil {
			return nil
		}
		if !logged {
			log.Info("waiting for the topic to be created", "topic", topic, "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// topicExists returns nil when topic has partitions, else why not.
func topicExists(ctx context.Context, client *kafka.Client, topic string) error {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return err
	}
	for _, t := range md.Topics {
		if t.Name == topic && t.Error == nil && len(t.Partitions) > 0 {
			return nil
		}
		if t.Name == topic && t.Error != nil {
			return t.Error
		}
	}
	return errors.New("topic does not exist")
}

// splitLines hands each non-empty line of m to handle.
func splitLines(m kafka.Message, handle func(RawLine) error) error {
	l := RawLine{Partition: m.Partition, Offset: m.Offset}
	for _, h := range m.Headers {
		switch h.Key {
		case HeaderFormat:
			l.Format = string(h.Value)
		case HeaderSource:
			l.Source = string(h.Value)
		}
	}
	v := m.Value
	for len(v) > 0 {
		line := v
		if i := bytes.IndexByte(v, '\n'); i >= 0 {
			line, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		l.Line = line
		if err := handle(l); err != nil {
			return err
		}
	}
	return nil
}

// lastPerPartition keeps one message per partition, the newest: committing
// it commits everything before it on that partition.
func lastPerPartition(ms []kafka.Message, m kafka.Message) []kafka.Message {
	for i := range ms {
		if ms[i].Partition == m.Partition {
			if m.Offset > ms[i].Offset {
				ms[i] = kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
			}
			return ms
		}
	}
	return append(ms, kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset})
}
