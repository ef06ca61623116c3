package alert

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// MessageReader is the part of a kafka-go Reader a KafkaFeed uses: a
// consumer-group reader whose offsets are committed explicitly.
type MessageReader interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// KafkaFeed is one sink's Feed over the findings topic: its own consumer
// group (so a slow sink never holds back another), the topic as the
// outbox, and an offset committed only after the sink acknowledged.
type KafkaFeed struct {
	r MessageReader
}

// NewKafkaFeed returns a Feed reading findings (JSON, docs/findings.md)
// from r. Give every sink a reader in a group of its own.
func NewKafkaFeed(r MessageReader) *KafkaFeed { return &KafkaFeed{r: r} }

// Next fetches the next finding; a message that does not decode comes
// back with Bad set, for the dead letter.
func (k *KafkaFeed) Next(ctx context.Context) (Entry, error) {
	m, err := k.r.FetchMessage(ctx)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Queued: m.Time, pos: m}
	if err := json.Unmarshal(m.Value, &e.Finding); err != nil {
		e.Raw = m.Value
		e.Bad = fmt.Errorf("findings topic partition %d offset %d: %w", m.Partition, m.Offset, err)
	}
	return e, nil
}

// Ack commits the offsets of es (and so every earlier one of their
// partitions).
func (k *KafkaFeed) Ack(ctx context.Context, es ...Entry) error {
	ms := make([]kafka.Message, 0, len(es))
	for _, e := range es {
		m, ok := e.pos.(kafka.Message)
		if !ok {
			return fmt.Errorf("alert kafka feed: entry from another feed")
		}
		ms = append(ms, m)
	}
	if err := k.r.CommitMessages(ctx, ms...); err != nil {
		return fmt.Errorf("alert kafka feed: commit: %w", err)
	}
	return nil
}

// Lag is the reader's lag when it reports one (a *kafka.Reader does),
// else -1.
func (k *KafkaFeed) Lag() int64 {
	if s, ok := k.r.(interface{ Lag() int64 }); ok {
		return s.Lag()
	}
	return -1
}
