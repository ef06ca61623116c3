package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

// Input that is mostly not understood, or mostly late, leaves the
// detectors blind while the summary or the metrics look calm: analyze and
// run say so in words, with the likely cause.

// sampleRejects is how many failed lines of an input are kept to guess
// what format they are in.
const sampleRejects = 64

// warnLate says, after analyze's first reading, that many events came
// late.
func (a *analysis) warnLate(es detect.Stats) {
	if es.Events == 0 || float64(es.LateEvents) <= warnLateShare*float64(es.Events) {
		return
	}
	fmt.Fprintf(a.c.stderr, "analyze: warning: %s of %s events (%s) came more than %v behind newer ones: input not in time order\n",
		human(float64(es.LateEvents)), human(float64(es.Events)), percent(float64(es.LateEvents)/float64(es.Events)), lateness(a.cfg.detectOptions()))
}

// warnParse names each input of which many lines did not parse, the format
// it was read as and the one those lines look like.
func (a *analysis) warnParse() {
	for _, in := range a.inputs {
		total := in.events + in.rejects
		if total == 0 || float64(in.rejects) <= warnParseShare*float64(total) {
			continue
		}
		name := in.name
		if name == "-" {
			name = "standard input"
		}
		fmt.Fprintf(a.c.stderr, "analyze: warning: %s of %s lines of %s (%s) did not parse as %s: wrong format? %s\n",
			human(float64(in.rejects)), human(float64(total)), name, percent(float64(in.rejects)/float64(total)), in.format, formatHint(in.format, in.sample))
	}
}

// verdict is analyze's outcome once everything is printed: exit status 3
// when more lines failed to parse than --max-parse-errors allows, or when
// a non-empty input gave no event at all.
func (a *analysis) verdict() error {
	lines, events, rejects := a.st.lines.Load(), a.st.events.Load(), a.st.rejects.Load()
	switch {
	case events == 0 && lines > 0:
		return &exitError{code: exitParseErrors, err: fmt.Errorf("no events in %s lines of input: nothing was analysed", human(float64(lines)))}
	case rejects > 0 && float64(rejects) > a.maxParseErrors*float64(events+rejects):
		return &exitError{code: exitParseErrors, err: fmt.Errorf("%s of %s lines (%s) failed to parse, more than --max-parse-errors %g allows: the findings miss them",
			human(float64(rejects)), human(float64(events+rejects)), percent(float64(rejects)/float64(events+rejects)), a.maxParseErrors)}
	}
	return nil
}

// formatHint suggests what lines that failed to parse as format are.
func formatHint(format string, sample [][]byte) string {
	guess, ok := ingest.Detect(sample)
	switch {
	case ok && guess != format:
		return fmt.Sprintf("They look like %s: try --format %s", guess, guess)
	case format == "nginx":
		return "Check --log-format against the log_format in nginx.conf"
	}
	return `Name the format with --format (see "gatewatch formats")`
}

// percent formats a share for people: 0.963 -> 96%, 0.0132 -> 1.3%.
func percent(share float64) string {
	if share >= 0.1 {
		return fmt.Sprintf("%.0f%%", 100*share)
	}
	return fmt.Sprintf("%.1f%%", 100*share)
}

// inputWatch warns in run's log when a large share of a source's lines
// fails to parse or of the events arrives late, at most once a minute for
// each. Sources add failed lines from their goroutines; the detect loop
// owns the rest and calls check.
type inputWatch struct {
	log     *slog.Logger
	sources []*sourceWatch
	late    shareAlarm
	lateBy  time.Duration
}

// sourceWatch is what inputWatch knows of one source.
type sourceWatch struct {
	name, format   string
	lines, rejects prometheus.Counter
	alarm          shareAlarm

	mu     sync.Mutex
	sample [][]byte // the first lines that failed, for a format guess
}

func newInputWatch(log *slog.Logger, lateBy time.Duration) *inputWatch {
	return &inputWatch{log: log, late: shareAlarm{limit: warnLateShare}, lateBy: lateBy}
}

// add watches a source whose line and parse-error counters are given.
func (w *inputWatch) add(name, format string, lines, rejects prometheus.Counter) *sourceWatch {
	s := &sourceWatch{name: name, format: format, lines: lines, rejects: rejects, alarm: shareAlarm{limit: warnParseShare}}
	w.sources = append(w.sources, s)
	return s
}

// reject keeps a line that failed, while the sample has room.
func (s *sourceWatch) reject(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sample) < sampleRejects {
		s.sample = append(s.sample, bytes.Clone(line))
	}
}

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
		if bad, all, warn := s.alarm.check(now, counterValue(s.rejects), counterValue(s.lines)); warn {
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

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
