package alert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// Dispatcher delivers findings from one Feed per sink to that sink. It is
// where everything a sink must not do lives, once: routing, silences,
// deduplication, rate limits, retry with exponential backoff and
// Retry-After, the dead letter for what a receiver refuses for good, and
// per-sink health. A finding is acknowledged to its feed only once the
// sink took it (or it was filtered or dead-lettered), so a crash or a
// receiver that is down loses nothing: the feed offers it again.
type Dispatcher struct {
	opts    Options
	log     *slog.Logger
	workers []*worker
}

// Options configure a Dispatcher; the zero value works (every sink gets
// every finding, failures are retried forever, dead letters are logged).
type Options struct {
	// Routing decides which sinks get which findings.
	Routing Routing
	// Host is the name gatewatch reports itself as in notifications.
	Host string
	// DeadLetter keeps what a receiver refused for good. Nil logs it.
	DeadLetter DeadLetter
	// Silences, when set, suppresses findings people silenced.
	Silences Silencer
	// FailAfter is how long a sink may keep failing before Healthy
	// reports it (DefaultFailAfter when 0).
	FailAfter time.Duration
	// Backoff spaces the retries of a failed delivery.
	Backoff Backoff
	// Log receives delivery failures (terse: no URLs' paths or queries).
	Log *slog.Logger
}

// DefaultFailAfter is Options.FailAfter's default.
const DefaultFailAfter = 10 * time.Minute

// Backoff is an exponential backoff with jitter: the n-th retry waits
// between half and all of min(Initial·2ⁿ, Max). Zero fields take 1 s and
// 5 min. A receiver's Retry-After, when longer, wins.
type Backoff struct {
	Initial, Max time.Duration
}

// delay is the wait before retry number attempt (0 for the first retry).
func (b Backoff) delay(attempt int) time.Duration {
	initial, max := b.Initial, b.Max
	if initial <= 0 {
		initial = time.Second
	}
	if max <= 0 {
		max = 5 * time.Minute
	}
	d := initial
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}

// SinkOptions tune one sink's worker; the zero value works.
type SinkOptions struct {
	// Rate is the most notifications per second sent to the sink (0 =
	// no limit); Burst is how many may go at once (1 when 0).
	Rate  float64
	Burst int
	// Linger is how long the worker waits for more findings to fill a
	// batch after the first (100 ms when 0). Slack uses a few seconds so
	// an incident's quick updates become one edit.
	Linger time.Duration
	// Timeout bounds one Notify call (2 min when 0).
	Timeout time.Duration
}

// Silencer reports findings that people silenced (Slack's Silence
// buttons): they are acknowledged without delivery.
type Silencer interface {
	Silenced(f detect.Finding, at time.Time) bool
}

// New returns a Dispatcher with no sinks; Add them before Run.
func New(opts Options) *Dispatcher {
	if opts.FailAfter <= 0 {
		opts.FailAfter = DefaultFailAfter
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{opts: opts, log: log}
}

// Add registers sink, fed by feed. Sinks are named uniquely.
func (d *Dispatcher) Add(sink Sink, feed Feed, so SinkOptions) error {
	for _, w := range d.workers {
		if w.sink.Name() == sink.Name() {
			return fmt.Errorf("alert: two sinks named %q", sink.Name())
		}
	}
	d.workers = append(d.workers, newWorker(d, sink, feed, so))
	return nil
}

// Run delivers until ctx is done, then closes the sinks that are
// io.Closers. It returns nil on a clean stop.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(d.workers))
	for i, w := range d.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.run(ctx)
		}()
	}
	wg.Wait()
	for _, w := range d.workers {
		if c, ok := w.sink.(io.Closer); ok {
			if err := c.Close(); err != nil {
				d.log.Warn("alert: closing sink", "sink", w.sink.Name(), "err", terse(err))
			}
		}
	}
	return errors.Join(errs...)
}

// Healthy returns an error naming the sinks that have been failing for
// longer than FailAfter.
func (d *Dispatcher) Healthy() error {
	now := time.Now()
	var errs []error
	for _, w := range d.workers {
		st := w.stats.snapshot()
		if !st.FailingSince.IsZero() && now.Sub(st.FailingSince) > d.opts.FailAfter {
			errs = append(errs, fmt.Errorf("sink %s failing for %s", st.Name, now.Sub(st.FailingSince).Round(time.Second)))
		}
	}
	return errors.Join(errs...)
}

// Stats returns each sink's delivery figures, in the order sinks were
// added.
func (d *Dispatcher) Stats() []SinkStats {
	out := make([]SinkStats, 0, len(d.workers))
	for _, w := range d.workers {
		st := w.stats.snapshot()
		st.Queue = w.queue()
		if !st.inflightSince.IsZero() {
			st.OldestAge = time.Since(st.inflightSince)
		}
		out = append(out, st)
	}
	return out
}

// terse renders err for a log line without the path and query of any URL
// in it: webhook URLs carry their secret there.
func terse(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err.Error()
	}
	host := "receiver"
	if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
		host = u.Scheme + "://" + u.Host
	}
	return fmt.Sprintf("%s %s: %v", ue.Op, host, ue.Err)
}
