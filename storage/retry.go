package storage

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff bounds the waits between attempts of an insert that failed.
type Backoff struct {
	Min time.Duration // first wait; default 100ms
	Max time.Duration // cap; default 10s
}

func (b *Backoff) setDefaults() {
	if b.Min <= 0 {
		b.Min = 100 * time.Millisecond
	}
	if b.Max < b.Min {
		b.Max = max(10*time.Second, b.Min)
	}
}

// retry calls fn until it succeeds or ctx ends, waiting between attempts
// with capped exponential backoff and jitter (so writers restarted
// together do not hammer a recovering server in step). It never gives up
// on its own: the data would otherwise be lost, and the caller's memory
// stays bounded because it blocks while retrying. onErr sees every failed
// attempt.
func retry(ctx context.Context, b Backoff, onErr func(error), fn func(context.Context) error) error {
	b.setDefaults()
	wait := b.Min
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if onErr != nil {
			onErr(err)
		}
		// Full jitter in [wait/2, wait].
		d := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, b.Max)
	}
}
