package transport

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"
)

// metadataTTL is how long metadataCache answers from its copy: partitions
// added to the topic are written to at most this much later than
// kafka-go's Transport alone would (its own cache lives 6 s).
const metadataTTL = time.Second

// metadataCache is the Producer's RoundTripper. kafka-go's Writer asks
// its Transport for the topic's metadata once per message
// (Writer.partitions), and the Transport answers each time by filtering
// its cached view of the whole cluster: a tenth of collect's CPU on a
// broker with a few hundred topics, two allocations and a channel
// round trip per event on any. metadataCache answers a request for one
// topic from the last good answer for it, for metadataTTL; everything
// else (and every error) goes to next.
type metadataCache struct {
	next kafka.RoundTripper

	mu    sync.Mutex
	topic string
	res   *metadata.Response
	at    time.Time
}

// RoundTrip implements kafka.RoundTripper.
func (c *metadataCache) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	m, ok := req.(*metadata.Request)
	if !ok || len(m.TopicNames) != 1 {
		return c.next.RoundTrip(ctx, addr, req)
	}
	name := m.TopicNames[0]
	c.mu.Lock()
	if c.res != nil && c.topic == name && time.Since(c.at) < metadataTTL {
		res := c.res
		c.mu.Unlock()
		return res, nil
	}
	c.mu.Unlock()
	res, err := c.next.RoundTrip(ctx, addr, req)
	if mr, ok := res.(*metadata.Response); ok && err == nil && answers(mr, name) {
		c.mu.Lock()
		c.topic, c.res, c.at = name, mr, time.Now()
		c.mu.Unlock()
	}
	return res, err
}

// answers reports whether res describes topic, without error and with
// partitions: an answer worth repeating.
func answers(res *metadata.Response, topic string) bool {
	for _, t := range res.Topics {
		if t.Name == topic {
			return t.ErrorCode == 0 && len(t.Partitions) > 0
		}
	}
	return false
}
