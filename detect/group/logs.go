package group

import (
	"context"
	"fmt"

	"github.com/gatewatch/gatewatch/ingest"
)

// LogProgress hears, after each access-log file, its name, the format it
// was read as, and the lines and rejects read so far.
type LogProgress func(file, format string, lines, rejects int64)

// ObserveLogs replays access-log files (plain or .gz; - is standard
// input) into the backfill, in the order given, each parsed with opts (its
// Normalizer must be the collectors' for client keys to match). It
// returns the lines read and those that did not parse or were timed in
// the future.
func (b *Backfill) ObserveLogs(ctx context.Context, files []string, opts ingest.StreamOptions, progress LogProgress) (lines, rejects int64, err error) {
	return observeLogs(ctx, files, opts, b.Observe, progress)
}

// observeLogs hands every event of the files to observe.
func observeLogs(ctx context.Context, files []string, opts ingest.StreamOptions, observe func(*ingest.Event), progress LogProgress) (lines, rejects int64, err error) {
	for _, name := range files {
		r, _, err := ingest.OpenInput(name)
		if err != nil {
			return lines, rejects, err
		}
		used, err := ingest.ParseStream(ctx, r, opts, func(bt *ingest.Batch) error {
			for i := range bt.Events {
				observe(&bt.Events[i])
			}
			lines += int64(bt.Lines)
			rejects += int64(len(bt.Rejects))
			return nil
		})
		r.Close()
		if err != nil {
			return lines, rejects, fmt.Errorf("%s: %w", name, err)
		}
		if progress != nil {
			progress(name, used, lines, rejects)
		}
	}
	return lines, rejects, nil
}
