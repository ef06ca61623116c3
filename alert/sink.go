package alert

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// Notification is one finding on its way to one sink: what every Sink
// receives. The dispatcher builds it; sinks only read it.
type Notification struct {
	// Finding is the emission to deliver: an incident's open, update or
	// resolved record.
	Finding detect.Finding
	// DeliveryID names this (incident, emission, sink) triple. It is the
	// same every time the same emission is offered to the same sink, so a
	// sink that can deduplicate (CEF externalId, ECS event.id, OCSF
	// finding_info.uid, an HEC event id) makes redelivery idempotent.
	DeliveryID string
	// Sink is the name of the sink it is addressed to.
	Sink string
	// Host is the name gatewatch reports itself as (syslog HOSTNAME,
	// ECS observer.hostname); empty means unknown.
	Host string
}

// NewNotification returns the notification of finding f for the sink
// named sink, with its delivery id.
func NewNotification(f detect.Finding, sink, host string) Notification {
	return Notification{Finding: f, DeliveryID: DeliveryID(f, sink), Sink: sink, Host: host}
}

// DeliveryID returns the delivery id of finding f for sink: 32 hex digits
// of SHA-256 over the incident id, the emission (status, windows and the
// end of its last window) and the sink's name. It depends on nothing but
// its arguments, so a finding re-read from Kafka or an outbox after a
// restart gets the id it had before.
func DeliveryID(f detect.Finding, sink string) string {
	h := sha256.New()
	var num [8]byte
	for _, s := range []string{f.IncidentID, string(f.Status), sink} {
		binary.BigEndian.PutUint64(num[:], uint64(len(s)))
		h.Write(num[:])
		h.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(num[:], uint64(f.Windows))
	h.Write(num[:])
	binary.BigEndian.PutUint64(num[:], uint64(f.WindowEnd.UnixNano()))
	h.Write(num[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Sink is one destination of notifications: Slack, a syslog receiver, a
// Splunk HTTP Event Collector, an OpenSearch index, a webhook. A sink
// encodes and sends; it never retries, waits, deduplicates or buffers
// beyond one call — the Dispatcher does that, once, for every sink.
//
// Notify delivers ns (at least one, at most the sink's MaxBatch, oldest
// first) and reports whether a failure is worth retrying:
//
//   - nil error: every notification was delivered (acknowledged by the
//     receiver where the protocol has acknowledgements);
//   - retry true: nothing is known to be delivered for sure; the
//     dispatcher sends the same notifications again after a backoff, or
//     after the delay of a RetryAfterError in the chain;
//   - retry false with a *RejectedError: the receiver refused some
//     notifications for good (their reasons in the error); the rest were
//     delivered. The dispatcher dead-letters the refused ones;
//   - retry false with another error: the whole call failed for good
//     (a bad request, a revoked token); the dispatcher dead-letters ns.
type Sink interface {
	Name() string
	Notify(ctx context.Context, ns ...Notification) (retry bool, err error)
}

// Batcher is implemented by sinks that take more than one notification
// per Notify call (HEC, _bulk). MaxBatch is the most they take at once.
// Sinks that do not implement it get one notification per call.
type Batcher interface {
	MaxBatch() int
}

// RetryAfterError is a failure the receiver asked to retry after a delay
// (HTTP 429 or 503 with Retry-After, Slack's rate limit). Wrap it in the
// error a sink returns with retry true; the dispatcher waits at least
// After before the next attempt, and counts it as throttled.
type RetryAfterError struct {
	After time.Duration
	Err   error // the receiver's answer, for the log
}

// Error implements error.
func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("throttled, retry after %s: %v", e.After, e.Err)
}

// Unwrap returns the receiver's answer.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns the delay a RetryAfterError in err's chain asks
// for, and whether there is one.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.After, true
	}
	return 0, false
}

// RejectedError reports notifications a receiver refused for good while
// it accepted the others of the same call (one bad document in an
// OpenSearch _bulk request). Reasons maps a notification's DeliveryID to
// the receiver's reason.
type RejectedError struct {
	Reasons map[string]string
}

// Error implements error.
func (e *RejectedError) Error() string {
	return fmt.Sprintf("%d notifications rejected by the receiver", len(e.Reasons))
}

// Encoder renders one notification in a wire format (CEF, LEEF, RFC 5424,
// ECS, OCSF, text), appending to dst. Encoders are pure: no I/O, no
// state, safe for concurrent use; package alert/encode holds them.
type Encoder func(dst []byte, n Notification) ([]byte, error)
