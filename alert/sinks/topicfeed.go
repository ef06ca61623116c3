package sinks

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/ingest/transport"
)

// topicFeed is a sink's feed over the findings topic that joins its
// consumer group only once the topic exists: `gatewatch alert` may start
// before the first `detect` has created it, and a group member that
// joined before would be assigned nothing, for good.
type topicFeed struct {
	kafka transport.Config
	topic string
	group string
	log   *slog.Logger

	mu     sync.Mutex
	r      *kafka.Reader
	feed   *alert.KafkaFeed
	closed bool
}

// Next waits for the topic and joins the group on its first call, then
// reads the next finding.
func (f *topicFeed) Next(ctx context.Context) (alert.Entry, error) {
	feed, err := f.open(ctx)
	if err != nil {
		return alert.Entry{}, err
	}
	return feed.Next(ctx)
}

// open returns the feed, waiting for the topic and opening the group
// reader the first time.
func (f *topicFeed) open(ctx context.Context) (*alert.KafkaFeed, error) {
	if feed := f.current(); feed != nil {
		return feed, nil
	}
	if err := f.kafka.AwaitTopic(ctx, f.topic, f.log.With("group", f.group)); err != nil {
		return nil, err
	}
	r, err := f.kafka.GroupReader(f.topic, f.group, 0, f.log)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		r.Close()
		return nil, errors.New("alert feed closed")
	}
	f.r, f.feed = r, alert.NewKafkaFeed(r)
	return f.feed, nil
}

func (f *topicFeed) current() *alert.KafkaFeed {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.feed
}

// Ack commits es; before the first Next there is nothing to commit.
func (f *topicFeed) Ack(ctx context.Context, es ...alert.Entry) error {
	feed := f.current()
	if feed == nil {
		if len(es) > 0 {
			return errors.New("alert feed: ack before the group was joined")
		}
		return nil
	}
	return feed.Ack(ctx, es...)
}

// Lag is the reader's lag, -1 (unknown) until the group was joined.
func (f *topicFeed) Lag() int64 {
	feed := f.current()
	if feed == nil {
		return -1
	}
	return feed.Lag()
}

// Close leaves the group, if it was joined.
func (f *topicFeed) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.r == nil {
		return nil
	}
	return f.r.Close()
}
