package analyze

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/timesort"
)

// sortAll is the second reading, for input that was not in time order:
// every input is parsed again and its events sorted by time (in runs of
// bounded size, spilled to temporary files), then a fresh engine sees
// them in that order and writes its findings to Output. It returns the
// engine and how many runs the sort took.
func (a *Analysis) sortAll(ctx context.Context) (engine *detect.Engine, runs int, err error) {
	sorter := timesort.New(timesort.Options{RunBytes: a.opts.SortRunBytes, Dir: a.opts.TmpDir})
	defer func() {
		if cerr := sorter.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("sort by time: %w", cerr)
		}
	}()
	engine, emitErr := a.newEngine(a.opts.Output)
	var st counters
	progress := a.startProgress(ctx, true, &st, time.Now())
	defer progress.stop()
	for i := range a.inputs {
		if err := a.gather(ctx, &a.inputs[i], sorter, engine, &st, progress); err != nil {
			return nil, 0, err
		}
	}
	progress.stop() // the merge reports no progress
	err = sorter.Merge(ctx, func(evs []ingest.Event) error {
		a.observe(engine, evs)
		return *emitErr
	})
	if err != nil {
		return nil, 0, fmt.Errorf("sort by time: %w", err)
	}
	engine.Flush()
	return engine, sorter.Runs(), *emitErr
}

// gather parses one input again, as the first reading did, and adds its
// events to sorter. Events with no time to sort by go to engine at once:
// it counts them as untimed wherever they come.
func (a *Analysis) gather(ctx context.Context, in *input, sorter *timesort.Sorter, engine *detect.Engine, st *counters, progress *progress) error {
	if in.Format == "" {
		return nil // it was empty
	}
	r, size, err := a.reopen(in)
	if err != nil {
		return err
	}
	defer r.Close()
	progress.setFile(in.Name, size)
	counted := &countingReader{r: r, n: &st.bytes}
	_, err = ingest.ParseStream(ctx, counted, a.streamOptions(in.Format), func(b *ingest.Batch) error {
		for i := range b.Events {
			ev := &b.Events[i]
			if err := sorter.Add(ev); errors.Is(err, timesort.ErrNoTime) {
				a.observe(engine, b.Events[i:i+1])
			} else if err != nil {
				return err
			}
		}
		st.lines.Add(int64(b.Lines))
		st.rejects.Add(int64(len(b.Rejects))) // for progress only: the first reading kept and counted them
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: sort by time: %w", in.Name, err)
	}
	return nil
}

// reopen opens an input for the second reading: the file again, or the
// copy of standard input.
func (a *Analysis) reopen(in *input) (io.ReadCloser, int64, error) {
	if in.copy == nil {
		return ingest.OpenInput(in.Name)
	}
	if in.copy.err != nil {
		return nil, -1, fmt.Errorf("standard input: keeping a copy to sort it: %w", in.copy.err)
	}
	f, err := os.Open(in.copy.name)
	if err != nil {
		return nil, -1, fmt.Errorf("standard input: reading its copy: %w", err)
	}
	return f, -1, nil
}
