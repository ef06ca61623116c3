package main

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewatch/gatewatch/dashboards/report"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/pipeline"
	"github.com/gatewatch/gatewatch/ingest"

	"github.com/gatewatch/gatewatch/internal/config"
)

// liveRefresh is how often the live report reloads itself.
const liveRefresh = 15 * time.Second

// liveReport is the HTML report "gatewatch run" serves at /: a report
// Collector the pipeline feeds, and the inputs' line counts. A nil
// liveReport does nothing.
type liveReport struct {
	rep    *report.Collector
	mu     sync.Mutex
	inputs map[string]*inputCounts
	order  []string
}

// inputCounts are one input's lines and rejected lines.
type inputCounts struct{ lines, rejects atomic.Int64 }

// newLiveReport returns the live report, or nil when the config serves
// none (no listener, or http.report off).
func newLiveReport(cfg config.Config) *liveReport {
	if cfg.HTTP.Listen == "" || !cfg.HTTP.Report {
		return nil
	}
	rep := report.New(report.Options{Title: "gatewatch run", Window: cfg.DetectOptions().Window})
	return &liveReport{rep: rep, inputs: map[string]*inputCounts{}}
}

// recorder is what the pipeline feeds (nil without a live report).
func (l *liveReport) recorder() pipeline.Recorder {
	if l == nil {
		return nil
	}
	return l.rep
}

// routes serve the page at /.
func (l *liveReport) routes() []opsRoute {
	if l == nil {
		return nil
	}
	return []opsRoute{{pattern: "GET /{$}", h: report.Handler(l.rep, report.RenderOptions{Refresh: liveRefresh})}}
}

// counters wraps an input's lines and rejects counters so the report
// counts them too.
func (l *liveReport) counters(name string, lines, rejects ingest.Counter) (ingest.Counter, ingest.Counter) {
	if l == nil {
		return lines, rejects
	}
	l.mu.Lock()
	c := l.inputs[name]
	if c == nil {
		c = &inputCounts{}
		l.inputs[name] = c
		l.order = append(l.order, name)
	}
	l.mu.Unlock()
	return teeCounter{lines, &c.lines}, teeCounter{rejects, &c.rejects}
}

// tick hands the report the inputs' counts and the detectors' counters.
func (l *liveReport) tick(st detect.Stats) {
	if l == nil {
		return
	}
	in := report.InputStats{Events: int64(st.Events), Late: st.LateEvents}
	l.mu.Lock()
	for _, name := range l.order {
		c := l.inputs[name]
		lines, rejects := c.lines.Load(), c.rejects.Load()
		in.Lines += lines
		in.Rejects += rejects
		in.Inputs = append(in.Inputs, report.InputCount{Name: name, Events: lines - rejects, Rejects: rejects})
	}
	l.mu.Unlock()
	l.rep.Input(in)
}

// teeCounter counts in a metric and in n.
type teeCounter struct {
	c ingest.Counter
	n *atomic.Int64
}

func (t teeCounter) Inc() {
	if t.c != nil {
		t.c.Inc()
	}
	t.n.Add(1)
}
