package hec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// errAckTimeout is wrapped by the error of a batch HEC did not
// acknowledge within AckTimeout.
var errAckTimeout = errors.New("not acknowledged in time")

// firstAckPoll is the first wait for an acknowledgement; each later one
// doubles, up to AckPoll. A batch a healthy indexer takes in a few tens
// of milliseconds is then known delivered that soon, rather than a whole
// AckPoll later (the dispatcher holds one batch in flight per sink, so
// that wait bounds the sink's throughput).
const firstAckPoll = 50 * time.Millisecond

// waitAck polls the ack endpoint, from firstAckPoll to every AckPoll, until HEC reports ack id
// indexed, AckTimeout passes or ctx ends. Until then nothing is known to
// be delivered, so every failure is worth retrying (the retry may index
// the batch twice; delivery_id tells the copies apart). Transient poll
// failures (network, 429, 5xx) are polled through; any other answer ends
// the wait at once.
func (s *Sink) waitAck(ctx context.Context, id int64) (bool, error) {
	deadline := time.Now().Add(s.o.AckTimeout)
	body := []byte(`{"acks":[` + strconv.FormatInt(id, 10) + `]}`)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var last error
	poll := min(firstAckPoll, s.o.AckPoll)
	for {
		wait := min(poll, time.Until(deadline))
		poll = min(2*poll, s.o.AckPoll)
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return true, fmt.Errorf("hec %s: waiting for ack %d: %w", s.o.Name, id, ctx.Err())
		case <-timer.C:
		}
		done, transient, err := s.pollAck(ctx, id, body)
		switch {
		case done:
			return false, nil
		case err != nil && !transient:
			return true, fmt.Errorf("hec %s: polling ack %d: %w", s.o.Name, id, err)
		case err != nil:
			last = err
		}
		if !time.Now().Before(deadline) {
			if last != nil {
				return true, fmt.Errorf("hec %s: ack %d %w after %s (last poll: %v)", s.o.Name, id, errAckTimeout, s.o.AckTimeout, last)
			}
			return true, fmt.Errorf("hec %s: ack %d %w after %s", s.o.Name, id, errAckTimeout, s.o.AckTimeout)
		}
	}
}

// pollAck asks once whether ack id is indexed.
func (s *Sink) pollAck(ctx context.Context, id int64, body []byte) (done, transient bool, err error) {
	a, err := s.post(ctx, s.ackURL, body)
	if err != nil {
		return false, true, err
	}
	if a.status != http.StatusOK {
		e := &Error{StatusCode: a.status, Code: a.code, Text: a.text}
		if e.Text == "" && e.Code < 0 {
			e.Text = snippet(a.raw)
		}
		transient = a.status == http.StatusTooManyRequests || a.status >= 500
		if a.code == codeAckDisabled {
			transient = false
		}
		return false, transient, e
	}
	var j struct {
		Acks map[string]bool `json:"acks"`
	}
	if err := json.Unmarshal(a.raw, &j); err != nil {
		return false, false, fmt.Errorf("ack answer: %w", err)
	}
	return j.Acks[strconv.FormatInt(id, 10)], false, nil
}
