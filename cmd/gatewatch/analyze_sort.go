package main

import (
	"bufio"
	"bytes"
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

// defaultHoldBytes is how much of the first reading's findings analyze
// keeps in memory before it moves them to a temporary file.
const defaultHoldBytes = 64 << 20

// sortAll is the second reading, for input that was not in time order:
// every input is parsed again and its events sorted by time (in runs of
// bounded size, spilled to temporary files), then a fresh engine sees
// them in that order and prints its findings. It returns the engine and
// how many runs the sort took.
func (a *analysis) sortAll(ctx context.Context) (engine *detect.Engine, runs int, err error) {
	sorter := timesort.New(timesort.Options{RunBytes: a.c.sortRunBytes, Dir: a.tmpDir})
	defer func() {
		if cerr := sorter.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	engine, emitErr := a.newEngine(a.c.stdout)
	var st analyzeStats
	progress := a.c.startProgress(ctx, !a.quiet, "sorting ", &st, time.Now())
	defer progress.stop()
	for i := range a.inputs {
		if err := a.gather(ctx, &a.inputs[i], sorter, engine, &st, progress); err != nil {
			return nil, 0, err
		}
	}
	progress.stop() // the merge prints no progress lines
	err = sorter.Merge(ctx, func(evs []ingest.Event) error {
		engine.ObserveBatch(evs)
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
func (a *analysis) gather(ctx context.Context, in *analyzeInput, sorter *timesort.Sorter, engine *detect.Engine, st *analyzeStats, progress *progress) error {
	if in.format == "" {
		return nil // it was empty
	}
	r, size, err := a.reopen(in)
	if err != nil {
		return err
	}
	defer r.Close()
	progress.setFile(in.name, size)
	counted := &countingReader{r: r, n: &st.bytes}
	_, err = ingest.ParseStream(ctx, counted, a.streamOptions(in.format), func(b *ingest.Batch) error {
		for i := range b.Events {
			ev := &b.Events[i]
			if err := sorter.Add(ev); errors.Is(err, timesort.ErrNoTime) {
				engine.Observe(ev)
			} else if err != nil {
				return err
			}
		}
		st.lines.Add(int64(b.Lines))
		st.rejects.Add(int64(len(b.Rejects))) // for progress only: the first reading kept and counted them
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: sort by time: %w", in.name, err)
	}
	return nil
}

// reopen opens an input for the second reading: the file again, or the
// copy of standard input.
func (a *analysis) reopen(in *analyzeInput) (io.ReadCloser, int64, error) {
	if in.copy == nil {
		return ingest.OpenInput(in.name)
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

// lateness is the engine's allowed lateness as opts resolve it.
func lateness(opts detect.Options) time.Duration {
	switch {
	case opts.AllowedLateness == 0:
		return detect.DefaultAllowedLateness
	case opts.AllowedLateness < 0:
		return 0
	}
	return opts.AllowedLateness
}

// stdinCopy reads standard input and writes what it reads to a temporary
// file, for a second reading. A failure to write is kept, not returned:
// the copy is needed only if the input turns out not to be in time order.
type stdinCopy struct {
	r    io.Reader
	f    *os.File
	w    *bufio.Writer
	name string
	err  error // the first error writing the copy
}

func newStdinCopy(r io.Reader, dir string) (*stdinCopy, error) {
	f, err := os.CreateTemp(dir, "gatewatch-stdin-*.log")
	if err != nil {
		return nil, fmt.Errorf("standard input: a file to keep a copy in: %w", err)
	}
	return &stdinCopy{r: r, f: f, w: bufio.NewWriterSize(f, 1<<20), name: f.Name()}, nil
}

func (s *stdinCopy) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 && s.err == nil {
		_, s.err = s.w.Write(p[:n])
	}
	return n, err
}

// Close ends the copy. It never fails: an error is kept in s.err.
func (s *stdinCopy) Close() error {
	if s.f == nil {
		return nil
	}
	if s.err == nil {
		s.err = s.w.Flush()
	}
	if err := s.f.Close(); s.err == nil {
		s.err = err
	}
	s.f = nil
	return nil
}

// remove deletes the copy.
func (s *stdinCopy) remove() {
	s.Close()
	os.Remove(s.name)
}

// heldOutput keeps the first reading's findings until it is known they
// are right: in memory up to a limit, then in a temporary file.
type heldOutput struct {
	dir   string
	limit int
	buf   bytes.Buffer
	f     *os.File
	w     *bufio.Writer
}

func newHeldOutput(dir string, limit int) *heldOutput {
	if limit <= 0 {
		limit = defaultHoldBytes
	}
	return &heldOutput{dir: dir, limit: limit}
}

func (h *heldOutput) Write(p []byte) (int, error) {
	if h.f == nil && h.buf.Len()+len(p) > h.limit {
		f, err := os.CreateTemp(h.dir, "gatewatch-findings-*.out")
		if err != nil {
			return 0, fmt.Errorf("hold findings: %w", err)
		}
		h.f, h.w = f, bufio.NewWriterSize(f, 1<<20)
		if _, err := h.buf.WriteTo(h.w); err != nil {
			return 0, fmt.Errorf("hold findings: %w", err)
		}
	}
	if h.w != nil {
		return h.w.Write(p)
	}
	return h.buf.Write(p)
}

// CopyTo writes what is held to w.
func (h *heldOutput) CopyTo(w io.Writer) error {
	if h.f == nil {
		_, err := h.buf.WriteTo(w)
		return err
	}
	if err := h.w.Flush(); err != nil {
		return fmt.Errorf("hold findings: %w", err)
	}
	if _, err := h.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("hold findings: %w", err)
	}
	_, err := io.Copy(w, h.f)
	return err
}

// Close drops what is held and removes the file. It may be called more
// than once.
func (h *heldOutput) Close() error {
	h.buf = bytes.Buffer{}
	if h.f == nil {
		return nil
	}
	h.f.Close()
	err := os.Remove(h.f.Name())
	h.f, h.w = nil, nil
	return err
}
