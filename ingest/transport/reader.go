package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// DefaultMaxWait is how long a GroupReader's fetch waits for new
// messages when GroupReader is given no MaxWait.
const DefaultMaxWait = 500 * time.Millisecond

// GroupReader returns a kafka-go Reader of topic as a member of the
// consumer group, set up the way gatewatch's consumers read:
//
//   - a group without committed offsets starts at the oldest message
//     (kafka.FirstOffset), so a new group reads what was written before it
//     existed;
//   - commits are explicit only: the caller commits with CommitMessages
//     once what it read is durable, never on a timer of kafka-go's;
//   - partitions added to the topic are picked up (WatchPartitionChanges);
//   - a fetch returns up to 10 MiB and waits at most maxWait
//     (DefaultMaxWait when zero) for new messages;
//   - kafka-go's errors are logged to log (nil discards them) as warnings
//     with component=kafka-go and the topic.
//
// It reads the TLS and SASL files c names; it does not contact the
// brokers, which the Reader does in the background from now on. The
// caller owns the Reader and must Close it.
func (c Config) GroupReader(topic, group string, maxWait time.Duration, log *slog.Logger) (*kafka.Reader, error) {
	if topic == "" || group == "" {
		return nil, errors.New("kafka group reader: topic and group are required")
	}
	if maxWait <= 0 {
		maxWait = DefaultMaxWait
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dialer, err := c.Dialer()
	if err != nil {
		return nil, fmt.Errorf("kafka group reader for %s: %w", topic, err)
	}
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:               c.brokers(),
		GroupID:               group,
		Topic:                 topic,
		Dialer:                dialer,
		MinBytes:              1,
		MaxBytes:              10 << 20,
		MaxWait:               maxWait,
		StartOffset:           kafka.FirstOffset,
		CommitInterval:        0,
		WatchPartitionChanges: true,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Warn(fmt.Sprintf(msg, args...), "component", "kafka-go", "topic", topic)
		}),
	}), nil
}
