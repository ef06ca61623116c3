package storage

import (
	"context"
	"time"
)

// DefaultHealthEvery is how often HealthLoop writes samples when given no
// interval.
const DefaultHealthEvery = time.Minute

// HealthLoop writes the samples collect returns to the pipeline_health
// table every interval (DefaultHealthEvery when zero) until ctx ends, and
// once more then, bounded by 5 seconds: the dashboards show the
// pipeline's own throughput, errors and backlog beside the traffic it
// audits, with history that a metrics scrape of now does not keep.
//
// A failed collect or write goes to report (when set) and the next
// interval tries again: health samples are not worth holding back the
// pipeline for.
func (db *DB) HealthLoop(ctx context.Context, every time.Duration, collect func(now time.Time) ([]HealthSample, error), report func(error)) {
	if every <= 0 {
		every = DefaultHealthEvery
	}
	write := func(ctx context.Context) {
		hs, err := collect(time.Now())
		if err == nil {
			err = db.InsertHealth(ctx, hs)
		}
		if err != nil && report != nil {
			report(err)
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			write(ctx)
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			write(final)
			cancel()
			return
		}
	}
}
