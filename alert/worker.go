package alert

import (
	"context"
	"errors"
	"time"

	"golang.org/x/time/rate"
)

// worker moves one sink's feed into the sink.
type worker struct {
	d     *Dispatcher
	sink  Sink
	feed  Feed
	so    SinkOptions
	max   int
	lim   *rate.Limiter
	seen  *recent
	stats stats
	wait  func(ctx context.Context, d time.Duration) error // sleep; replaced in tests
}

func newWorker(d *Dispatcher, sink Sink, feed Feed, so SinkOptions) *worker {
	if so.Linger <= 0 {
		so.Linger = 100 * time.Millisecond
	}
	if so.Timeout <= 0 {
		so.Timeout = 2 * time.Minute
	}
	if so.Burst <= 0 {
		so.Burst = 1
	}
	lim := rate.NewLimiter(rate.Inf, so.Burst)
	if so.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(so.Rate), so.Burst)
	}
	max := 1
	if b, ok := sink.(Batcher); ok && b.MaxBatch() > 1 {
		max = b.MaxBatch()
	}
	w := &worker{d: d, sink: sink, feed: feed, so: so, max: max, lim: lim, seen: newRecent(8192), wait: sleep}
	w.stats.init(sink.Name())
	return w
}

// run loops gather → deliver → ack until ctx is done or the feed closes.
func (w *worker) run(ctx context.Context) error {
	for attempt := 0; ; {
		batch, err := w.gather(ctx)
		if err == nil && len(batch) > 0 {
			err = w.handle(ctx, batch)
			if err == nil {
				err = w.ack(ctx, batch)
			}
			w.stats.inflight(time.Time{}, 0)
		}
		switch {
		case ctx.Err() != nil, errors.Is(err, ErrClosed):
			return nil
		case err != nil:
			w.d.log.Warn("alert: feed", "sink", w.sink.Name(), "err", terse(err))
			if w.wait(ctx, w.d.opts.Backoff.delay(attempt)) != nil {
				return nil
			}
			attempt++
		default:
			attempt = 0
		}
	}
}

// gather blocks for one entry, then takes what else arrives within the
// linger, up to the sink's batch size.
func (w *worker) gather(ctx context.Context) ([]Entry, error) {
	e, err := w.feed.Next(ctx)
	if err != nil {
		return nil, err
	}
	batch := []Entry{e}
	w.stats.inflight(e.Queued, 1) // read from the feed: queued until settled
	lctx, cancel := context.WithTimeout(ctx, w.so.Linger)
	defer cancel()
	for len(batch) < w.max {
		e, err := w.feed.Next(lctx)
		if err != nil {
			break
		}
		batch = append(batch, e)
		w.stats.inflight(batch[0].Queued, len(batch))
	}
	return batch, nil
}

// ack acknowledges a handled batch, retrying a failing feed until ctx is
// done: a batch handled but not acknowledged is offered again after a
// restart, which the delivery ids make harmless.
func (w *worker) ack(ctx context.Context, batch []Entry) error {
	for attempt := 0; ; attempt++ {
		err := w.feed.Ack(ctx, batch...)
		if err == nil || ctx.Err() != nil {
			return err
		}
		w.d.log.Warn("alert: acknowledging", "sink", w.sink.Name(), "err", terse(err))
		if err := w.wait(ctx, w.d.opts.Backoff.delay(attempt)); err != nil {
			return err
		}
	}
}

// handle turns a batch into notifications for the sink and delivers
// them; entries that do not decode, are routed elsewhere, silenced or
// already delivered are settled here.
func (w *worker) handle(ctx context.Context, batch []Entry) error {
	name := w.sink.Name()
	ns := make([]Notification, 0, len(batch))
	inBatch := make(map[string]bool, len(batch))
	for _, e := range batch {
		switch {
		case e.Bad != nil:
			if err := w.deadLetter(ctx, Dead{Sink: name, Raw: e.Raw, Reason: e.Bad.Error()}, "undecodable"); err != nil {
				return err
			}
		case !w.d.opts.Routing.To(name, e.Finding):
			w.stats.filtered(1)
		case w.d.opts.Silences != nil && w.d.opts.Silences.Silenced(e.Finding, time.Now()):
			w.stats.drop("silenced", 1)
		default:
			n := NewNotification(e.Finding, name, w.d.opts.Host)
			if w.seen.has(n.DeliveryID) || inBatch[n.DeliveryID] {
				w.stats.drop("duplicate", 1)
				continue
			}
			inBatch[n.DeliveryID] = true
			ns = append(ns, n)
		}
	}
	if len(ns) == 0 {
		return nil
	}
	return w.deliver(ctx, ns)
}

// deliver calls the sink until it took ns, refused them for good, or ctx
// is done.
func (w *worker) deliver(ctx context.Context, ns []Notification) error {
	for attempt := 0; ; attempt++ {
		if err := w.lim.WaitN(ctx, min(len(ns), w.so.Burst)); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, w.so.Timeout)
		retry, err := w.sink.Notify(cctx, ns...)
		cancel()
		if err == nil {
			w.delivered(ns)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !retry {
			return w.refused(ctx, ns, err)
		}
		if err := w.wait(ctx, w.retryDelay(attempt, err)); err != nil {
			return err
		}
	}
}

// retryDelay records a retryable failure and returns how long to wait.
func (w *worker) retryDelay(attempt int, err error) time.Duration {
	delay := w.d.opts.Backoff.delay(attempt)
	after, throttled := RetryAfter(err)
	if throttled && after > delay {
		delay = after
	}
	w.stats.failed(err, throttled)
	w.d.log.Warn("alert: delivery failed, will retry", "sink", w.sink.Name(), "attempt", attempt+1,
		"retry_in", delay.Round(time.Millisecond), "err", terse(err))
	return delay
}

// delivered records a success.
func (w *worker) delivered(ns []Notification) {
	for _, n := range ns {
		w.seen.add(n.DeliveryID)
	}
	w.stats.succeeded(len(ns))
}

// refused dead-letters what the receiver refused for good: the rejected
// ones of a RejectedError (the rest were delivered), else all of ns.
func (w *worker) refused(ctx context.Context, ns []Notification, err error) error {
	var rej *RejectedError
	isRej := errors.As(err, &rej)
	var ok []Notification
	for _, n := range ns {
		reason := err.Error()
		if isRej {
			r, bad := rej.Reasons[n.DeliveryID]
			if !bad {
				ok = append(ok, n)
				continue
			}
			reason = r
		}
		f := n.Finding
		if err := w.deadLetter(ctx, Dead{Sink: n.Sink, DeliveryID: n.DeliveryID, Finding: &f, Reason: reason}, "rejected"); err != nil {
			return err
		}
	}
	if len(ok) > 0 {
		w.delivered(ok)
	}
	w.d.log.Warn("alert: receiver refused notifications", "sink", w.sink.Name(), "refused", len(ns)-len(ok), "err", terse(err))
	return nil
}

// deadLetter keeps d, retrying a failing dead letter until ctx is done:
// a finding is never settled without being delivered or kept.
func (w *worker) deadLetter(ctx context.Context, d Dead, why string) error {
	d.At = time.Now().UTC()
	for attempt := 0; ; attempt++ {
		err := w.d.writeDead(ctx, d)
		if err == nil {
			w.stats.drop(why, 1)
			return nil
		}
		w.d.log.Error("alert: dead letter", "sink", w.sink.Name(), "err", terse(err))
		if err := w.wait(ctx, w.d.opts.Backoff.delay(attempt)); err != nil {
			return err
		}
	}
}

// queue is the number of findings waiting for the sink.
func (w *worker) queue() int64 {
	lag := w.feed.Lag()
	if lag < 0 {
		lag = 0
	}
	return lag + int64(w.stats.snapshot().inflightN)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
