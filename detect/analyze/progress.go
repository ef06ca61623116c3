package analyze

import (
	"context"
	"strings"
	"sync"
	"time"
)

// progress reports how far a reading got, every Options.ProgressEvery,
// through Options.Progress. Its goroutine is owned by the reading that
// starts it and ends at stop (or when ctx ends).
type progress struct {
	mu      sync.Mutex
	file    string
	size    int64
	base    int64 // bytes read before this file
	st      *counters
	stopped chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

// startProgress starts reporting the reading that counts in st and began
// at start; sorting marks the second reading. Without Options.Progress it
// starts nothing.
func (a *Analysis) startProgress(ctx context.Context, sorting bool, st *counters, start time.Time) *progress {
	p := &progress{st: st, stopped: make(chan struct{})}
	report := a.opts.Progress
	if report == nil {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(a.opts.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.stopped:
				return
			case <-t.C:
			}
			if pr := p.report(sorting, start, a.st.incidents.Load()); pr.File != "" {
				report(pr) // nothing to say before the first input is open
			}
		}
	}()
	return p
}

// report is the reading's progress now.
func (p *progress) report(sorting bool, start time.Time, incidents int64) Progress {
	p.mu.Lock()
	file, size, base := p.file, p.size, p.base
	p.mu.Unlock()
	return Progress{
		Sorting: sorting, File: file, Read: p.st.bytes.Load() - base, Size: size,
		Lines: p.st.lines.Load(), Rejects: p.st.rejects.Load(), Incidents: incidents,
		Elapsed: time.Since(start),
	}
}

// setFile starts reporting a new input of size bytes (-1 when unknown).
func (p *progress) setFile(name string, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.file, p.base = name, p.st.bytes.Load()
	p.size = size
	if size > 0 && strings.HasSuffix(name, ".gz") {
		p.size = -1 // compressed size says nothing about decompressed progress
	}
}

// stop ends the reports and waits for the goroutine. It may be called
// more than once.
func (p *progress) stop() {
	p.once.Do(func() { close(p.stopped) })
	p.wg.Wait()
}
