package alert

import (
	"context"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// Feed is where one sink's worker reads findings, in order, and where it
// records what the sink acknowledged: an Outbox cursor in the embedded
// pipeline, a Kafka consumer group on the findings topic in `gatewatch
// alert`. Each sink has its own Feed, so a slow sink never delays
// another. A finding not acknowledged before a crash is offered again.
type Feed interface {
	// Next blocks until the next finding is available or ctx is done.
	Next(ctx context.Context) (Entry, error)
	// Ack records that es, and every entry Next returned before them,
	// are done (delivered, filtered out or dead-lettered).
	Ack(ctx context.Context, es ...Entry) error
	// Lag is the number of findings waiting behind the last Next, as far
	// as the feed knows (-1 when it does not).
	Lag() int64
}

// Entry is one finding read from a Feed.
type Entry struct {
	Finding detect.Finding
	// Raw is the entry as stored, kept for the dead letter when it did
	// not decode (Bad is then set).
	Raw []byte
	// Bad is why the entry could not be decoded; the dispatcher
	// dead-letters it and moves on.
	Bad error
	// Queued is when the finding entered the outbox or the topic.
	Queued time.Time
	// pos is the feed's own position of the entry.
	pos any
}
