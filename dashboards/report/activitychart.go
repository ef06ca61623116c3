package report

import (
	"html/template"
	"math"
	"slices"
	"strconv"
	"time"
)

// Activity chart geometry: a label column, then one row per client.
const (
	actLabelW  = 200
	actX1      = 712
	actRowH    = 14
	actColumns = 96
	actTop     = 6
)

// activityChart draws a campaign or fleet incident's clients on one
// timeline: a row per client, marks where it sent requests, the
// incident's span shaded, the part of each row not watched left blank.
func activityChart(inc *Incident, win time.Duration) template.HTML {
	from, to := activitySpan(inc)
	if to <= from {
		return ""
	}
	step := bucketLength(to-from, int64(win), actColumns)
	total := float64(ceilDiv(to-from, step) * step)
	h := actTop + actRowH*len(inc.Activity) + 22
	var w svgw
	w.raw(`<svg class="ch act" viewBox="0 0 720 ` + strconv.Itoa(h) + `" role="img"><title>`)
	w.text("clients of " + inc.Finding.Client + " over time")
	w.raw(`</title>`)
	x := func(t int64) float64 { return actLabelW + (actX1-actLabelW)*float64(t-from)/total }
	for r := range inc.Activity {
		activityRow(&w, &inc.Activity[r], actTop+float64(actRowH*r), from, to, step, x)
	}
	a0, a1 := max(nanos(inc.Finding.WindowStart), from), min(nanos(inc.Finding.WindowEnd), to)
	if a1 > a0 {
		w.rect("an ao", x(a0), actTop, x(a1)-x(a0), float64(actRowH*len(inc.Activity)), "the incident: "+stamp(inc.Finding.WindowStart)+" – "+stamp(inc.Finding.WindowEnd))
	}
	span := time.Duration(to - from)
	w.label(actLabelW, float64(h-6), "start", clock(time.Unix(0, from), span, time.Duration(step)))
	w.label(actX1, float64(h-6), "end", clock(time.Unix(0, to), span, time.Duration(step)))
	w.raw(`</svg>`)
	return w.html()
}

// activitySpan is the timeline's span: the incident and the activity
// recorded around it (its context, and participation that preceded its
// first anomalous window).
func activitySpan(inc *Incident) (int64, int64) {
	lo, hi := nanos(inc.Finding.WindowStart), nanos(inc.Finding.WindowEnd)
	for _, row := range inc.Activity {
		for _, sp := range row.Spans {
			lo, hi = min(lo, nanos(sp.Start)), max(hi, nanos(sp.End))
		}
	}
	return lo, hi
}

// activityRow writes one client's row: its label, the watched part,
// and a mark for each run of buckets it was active in.
func activityRow(w *svgw, row *ActivityRow, y float64, from, to, step int64, x func(int64) float64) {
	w.raw(`<text class="cl"`)
	w.attr("x", actLabelW-6)
	w.attr("y", y+11)
	w.raw(` text-anchor="end">`)
	w.text(shorten(printable(row.Client), 30))
	w.raw(`<title>`)
	w.text(row.Client)
	w.raw(`</title></text>`)
	if wf := max(nanos(row.From), from); wf < to {
		w.rect("wt", x(wf), y+2, x(to)-x(wf), actRowH-4, "")
	}
	span := time.Duration(to - from)
	for _, run := range activityRuns(row.Spans, from, to, step) {
		title := clock(time.Unix(0, run.start), span, time.Duration(step)) + "–" +
			clock(time.Unix(0, run.end), span, time.Duration(step)) + ": " + plural(run.req, "request")
		w.rect("ac a"+strconv.Itoa(run.level), x(run.start), y+2, x(run.end)-x(run.start), actRowH-4, title)
	}
}

// actRun is a run of consecutive buckets [start, end) in which a client
// sent req requests, at an intensity level from 1 to 4 (its busiest
// bucket's quarter).
type actRun struct {
	start, end int64
	req        uint64
	level      int
}

// activityRuns spreads spans over buckets of step from from, cut to
// [from, to), and joins consecutive active buckets of one intensity
// level into runs.
func activityRuns(spans []ActiveSpan, from, to, step int64) []actRun {
	n := ceilDiv(to-from, step)
	req := make([]float64, n)
	for _, sp := range spans {
		s, e := max(nanos(sp.Start), from), min(nanos(sp.End), to)
		if e <= s {
			continue
		}
		b0, b1 := floorDiv(s-from, step), ceilDiv(e-from, step)
		for b := b0; b < b1; b++ {
			req[b] += float64(sp.Requests) / float64(b1-b0)
		}
	}
	peak := slices.Max(append(req, 1))
	var out []actRun
	for b, r := range req {
		if r <= 0 {
			continue
		}
		lvl := min(int(4*r/peak)+1, 4)
		start := from + int64(b)*step
		if m := len(out); m > 0 && out[m-1].end == start && out[m-1].level == lvl {
			out[m-1].end += step
			out[m-1].req += uint64(math.Round(r))
			continue
		}
		out = append(out, actRun{start: start, end: min(start+step, to), req: uint64(math.Round(r)), level: lvl})
	}
	return out
}

// shorten cuts s to at most n runes, with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
