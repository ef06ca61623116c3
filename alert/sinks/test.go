package sinks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// TestResult says what happened to a sample notification sent by
// SendTest.
type TestResult struct {
	Sink       string
	DeliveryID string
	Attempts   int
	Elapsed    time.Duration
	// Err is the last failure (nil when delivered); Retryable says
	// whether the dispatcher would have kept trying.
	Err       error
	Retryable bool
}

// SampleFinding is the finding `gatewatch alert test` sends: labelled as
// a test everywhere a person reads it, from a documentation address.
func SampleFinding(now time.Time) detect.Finding {
	end := now.UTC().Truncate(time.Minute)
	return detect.Finding{
		IncidentID: fmt.Sprintf("gatewatch-test-%d", now.Unix()), Status: detect.StatusOpen,
		Client: "192.0.2.1", ClientKind: "ip", Detector: detect.DetectorVolume,
		WindowStart: end.Add(-time.Minute), WindowEnd: end, Windows: 1,
		Observed: 120, Expected: 10, Spread: 3, Unit: "req/min", Score: 0.9, PValue: 1e-12,
		Severity: detect.SeverityLow, Baseline: detect.BaselineOwn, History: 60,
		Summary: "gatewatch alert test: a sample finding, not an incident",
		Routes:  []string{"GET /api/v1/items/{id}"},
		Samples: []string{"GET /api/v1/items/42 200"},
	}
}

// SendTest builds the sink named name from c and sends it one sample
// finding, retrying a retryable failure twice (after its Retry-After,
// within 45 s in all), and reports what happened.
func SendTest(ctx context.Context, c Config, d Deps, name string) (TestResult, error) {
	built, err := Build(c, d)
	if err != nil {
		return TestResult{}, err
	}
	var sink alert.Sink
	for _, b := range built {
		if b.Sink.Name() == name {
			sink = b.Sink
		} else if cl, ok := b.Sink.(io.Closer); ok {
			cl.Close()
		}
	}
	if sink == nil {
		return TestResult{}, fmt.Errorf("no sink named %q is configured", name)
	}
	if cl, ok := sink.(io.Closer); ok {
		defer cl.Close()
	}
	ctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	n := alert.NewNotification(SampleFinding(time.Now()), name, host(c.Host))
	res := TestResult{Sink: name, DeliveryID: n.DeliveryID}
	start := time.Now()
	for res.Attempts < 3 {
		res.Attempts++
		res.Retryable, res.Err = sink.Notify(ctx, n)
		if res.Err == nil || !res.Retryable || res.Attempts == 3 {
			break
		}
		wait := 2 * time.Second
		if after, ok := alert.RetryAfter(res.Err); ok {
			wait = after
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			res.Err = errors.Join(res.Err, ctx.Err())
		}
		if ctx.Err() != nil {
			break
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// testTimeout bounds SendTest.
const testTimeout = 45 * time.Second
