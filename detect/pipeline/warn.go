package pipeline

import (
	"bytes"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

// Input that is mostly not understood, or mostly late, leaves the
// detectors blind while the metrics look calm: the pipeline says so in its
// log, with the likely cause. "gatewatch analyze" warns about files at the
// same shares.

// Shares of bad input above which the pipeline (and analyze) warn.
const (
	WarnParseShare = 0.05 // lines that fail to parse
	WarnLateShare  = 0.01 // events that arrive late
)

// sampleRejects is how many failed lines of an input are kept to guess
// what format they are in.
const sampleRejects = 64

// Lateness is the allowed lateness opts ask the detectors for, as the
// warnings name it: the default when unset, none when negative.
func Lateness(opts detect.Options) time.Duration {
	switch {
	case opts.AllowedLateness == 0:
		return detect.DefaultAllowedLateness
	case opts.AllowedLateness < 0:
		return 0
	}
	return opts.AllowedLateness
}

// inputWatch warns in the log when a large share of an input's lines
// fails to parse or of the events arrives late, at most once a minute for
// each. Inputs count lines and keep failed ones from their goroutines; the
// detector goroutine owns the rest and calls check.
type inputWatch struct {
	log     *slog.Logger
	sources []*sourceWatch
	late    shareAlarm
	lateBy  time.Duration
}

// sourceWatch is what inputWatch knows of one input.
type sourceWatch struct {
	name, format   string
	lines, rejects atomic.Int64
	alarm          shareAlarm

	mu     sync.Mutex
	sample [][]byte // the first lines that failed, for a format guess
}

// newInputWatch returns a watch that logs to log; lateBy is the
// detectors' allowed lateness, named in the warning.
func newInputWatch(log *slog.Logger, lateBy time.Duration) *inputWatch {
	return &inputWatch{log: log, late: shareAlarm{limit: WarnLateShare}, lateBy: lateBy}
}

// add watches an input read as format.
func (w *inputWatch) add(name, format string) *sourceWatch {
	s := &sourceWatch{name: name, format: format, alarm: shareAlarm{limit: WarnParseShare}}
	w.sources = append(w.sources, s)
	return s
}

// counters returns the input's lines and rejects counters: they count for
// the watch, then for lines and rejects when those are set.
func (s *sourceWatch) counters(lines, rejects ingest.Counter) (ingest.Counter, ingest.Counter) {
	return counter{&s.lines, lines}, counter{&s.rejects, rejects}
}

// counter counts into n, and into next when set.
type counter struct {
	n    *atomic.Int64
	next ingest.Counter
}

func (c counter) Inc() {
	c.n.Add(1)
	if c.next != nil {
		c.next.Inc()
	}
}

// reject keeps a line that failed, while the sample has room.
func (s *sourceWatch) reject(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sample) < sampleRejects {
		s.sample = append(s.sample, bytes.Clone(line))
	}
}

// guess names the format the sampled failed lines look like, when it is
// not the one the input is read as; else "".
func (s *sourceWatch) guess() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := ingest.Detect(s.sample); ok && g != s.format {
		return g
	}
	return ""
}

// check warns about each share that crossed its limit.
func (w *inputWatch) check(now time.Time, es detect.Stats) {
	for _, s := range w.sources {
		if bad, all, warn := s.alarm.check(now, float64(s.rejects.Load()), float64(s.lines.Load())); warn {
			w.log.Warn("many lines fail to parse: wrong format?", "source", s.name, "format", s.format,
				"looks_like", s.guess(), "parse_errors", bad, "lines", all, "share", round3(bad/all))
		}
	}
	if bad, all, warn := w.late.check(now, float64(es.LateEvents), float64(es.Events)); warn {
		w.log.Warn("many events arrive late, counted but not scored: input not in time order?", "late", bad, "events", all,
			"share", round3(bad/all), "allowed_lateness", w.lateBy)
	}
}

// shareAlarm decides when a share of bad items calls for a warning: over
// its limit since the current minute began (and on enough items to tell),
// and no warning in the last minute. bad and all are running totals.
type shareAlarm struct {
	limit      float64
	warned     time.Time
	since      time.Time // start of the current period
	bad0, all0 float64   // the totals then
}

// minShareItems is the fewest items a share is judged on.
const minShareItems = 50

// check takes the running totals at now and returns the counts since the
// period began, and whether to warn.
func (a *shareAlarm) check(now time.Time, bad, all float64) (dBad, dAll float64, warn bool) {
	if a.since.IsZero() {
		a.since = now
	}
	dBad, dAll = bad-a.bad0, all-a.all0
	warn = dAll >= minShareItems && dBad > a.limit*dAll && (a.warned.IsZero() || now.Sub(a.warned) >= time.Minute)
	if warn {
		a.warned = now
	}
	if warn || now.Sub(a.since) >= time.Minute {
		a.since, a.bad0, a.all0 = now, bad, all
	}
	return dBad, dAll, warn
}

// round3 rounds v to three decimals, for log fields.
func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
