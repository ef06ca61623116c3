package report

import (
	"cmp"
	"html/template"
	"slices"
	"strconv"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// Overview chart geometry: four stacked panels sharing the time axis.
const (
	ovX0, ovX1   = 8, 952
	ovTop        = 8
	ovPanelH     = 62
	ovPanelGap   = 16
	ovPanelPitch = ovPanelH + ovPanelGap
)

// panel is one metric of the overview.
type panel struct {
	name, class string
	value       func(*Bucket) uint64
}

var panels = []panel{
	{"requests", "p0", func(b *Bucket) uint64 { return b.Requests }},
	{"4xx", "p1", func(b *Bucket) uint64 { return b.Status4xx }},
	{"5xx", "p2", func(b *Bucket) uint64 { return b.Status5xx }},
	{"auth failures (401/403)", "p3", func(b *Bucket) uint64 { return b.AuthFailures }},
}

// overviewChart draws the traffic per bucket (summed to at most
// maxPoints buckets), one panel per metric, with the incidents' spans
// shaded across all panels.
func overviewChart(d *Data, maxPoints int) template.HTML {
	pts, k := downsample(d.Overview.Points, maxPoints)
	if len(pts) == 0 || d.Overview.Step <= 0 {
		return ""
	}
	step := time.Duration(k) * d.Overview.Step
	h := ovTop + len(panels)*ovPanelPitch + 8
	var w svgw
	w.raw(`<svg class="ch ov" viewBox="0 0 960 ` + strconv.Itoa(h) + `" role="img"><title>`)
	w.text("traffic per " + duration(step))
	w.raw(`</title>`)
	start := nanos(d.Overview.Start)
	areaH := float64(len(panels)*ovPanelPitch - ovPanelGap)
	plot{n: len(pts), ymax: 1}.open(&w, ovX0, ovTop, ovX1-ovX0, areaH)
	for _, r := range incidentRuns(d.Incidents, start, int64(step), len(pts)) {
		w.rect("s"+strconv.Itoa(r.rank), float64(2*r.i0), 0, float64(2*(r.i1-r.i0)), 1000, r.title(start, int64(step), len(pts)))
	}
	w.raw(`</svg>`)
	for i, p := range panels {
		overviewPanel(&w, pts, p, ovTop+float64(i*ovPanelPitch), step)
	}
	overviewHover(&w, pts, start, step, areaH)
	span := step * time.Duration(len(pts))
	for k, anchor := range []string{"start", "middle", "end"} {
		t := time.Unix(0, start+int64(float64(span)*float64(k)/2))
		w.label(ovX0+(ovX1-ovX0)*float64(k)/2, float64(h-4), anchor, clock(t, span, step))
	}
	w.raw(`</svg>`)
	return w.html()
}

// overviewPanel writes one metric's area and its label.
func overviewPanel(w *svgw, pts []Bucket, pn panel, top float64, step time.Duration) {
	vs := make([]float64, len(pts))
	m := 0.0
	for i := range pts {
		vs[i] = float64(pn.value(&pts[i]))
		m = max(m, vs[i])
	}
	w.raw(`<path class="ax" d="M8 `)
	w.num(top + ovPanelH)
	w.raw(`H952"/>`)
	p := plot{n: len(pts), ymax: niceCeil(max(m, 1))}
	p.open(w, ovX0, top+12, ovX1-ovX0, ovPanelH-12)
	w.path("ar "+pn.class, p, vs, true)
	w.raw(`</svg>`)
	w.label(ovX0, top+9, "start", pn.name+" per "+duration(step)+" (peak "+human(m)+")")
}

// overviewHover writes a transparent column per bucket whose title gives
// its tallies.
func overviewHover(w *svgw, pts []Bucket, start int64, step time.Duration, height float64) {
	w.hoverOpen(len(pts), ovX0, ovTop, ovX1-ovX0, height)
	span := step * time.Duration(len(pts))
	for i := range pts {
		b := &pts[i]
		w.hoverSlot(i, clock(time.Unix(0, start+int64(i)*int64(step)), span, step), ": ", count(b.Requests), " req, ",
			count(b.Status4xx), " 4xx, ", count(b.Status5xx), " 5xx, ", count(b.AuthFailures), " auth failures")
	}
	w.raw(`</svg>`)
}

// incRun is a run of overview buckets [i0, i1) overlapped by n
// incidents, the most severe of rank rank.
type incRun struct {
	i0, i1, n, rank int
}

func (r incRun) title(start, step int64, n int) string {
	span := time.Duration(step * int64(n))
	return strconv.Itoa(r.n) + " incident(s), worst " + string(severityName(r.rank)) + ": " +
		clock(time.Unix(0, start+int64(r.i0)*step), span, time.Duration(step)) + "–" +
		clock(time.Unix(0, start+int64(r.i1)*step), span, time.Duration(step))
}

// incidentRuns merges the incidents' spans, in buckets of step from
// start, into runs of overlapping spans.
func incidentRuns(incs []Incident, start, step int64, n int) []incRun {
	var rs []incRun
	for i := range incs {
		f := &incs[i].Finding
		i0 := max(floorDiv(nanos(f.WindowStart)-start, step), 0)
		i1 := min(max(ceilDiv(nanos(f.WindowEnd)-start, step), i0+1), int64(n))
		if i0 < i1 {
			rs = append(rs, incRun{i0: int(i0), i1: int(i1), n: 1, rank: f.Severity.Rank()})
		}
	}
	slices.SortFunc(rs, func(a, b incRun) int { return cmp.Compare(a.i0, b.i0) })
	var out []incRun
	for _, r := range rs {
		if m := len(out); m > 0 && r.i0 <= out[m-1].i1 {
			last := &out[m-1]
			last.i1, last.n, last.rank = max(last.i1, r.i1), last.n+1, max(last.rank, r.rank)
			continue
		}
		out = append(out, r)
	}
	return out
}

// statusChart is the status mix as one stacked bar.
func statusChart(mix *StatusMix) template.HTML {
	var total uint64
	for _, n := range mix.Classes {
		total += n
	}
	if total == 0 {
		return ""
	}
	var w svgw
	w.raw(`<svg class="mix" viewBox="0 0 960 24" role="img"><title>responses by status class</title>`)
	x := 0.0
	for _, c := range []int{2, 3, 4, 5, 1, 0} {
		width := 960 * float64(mix.Classes[c]) / float64(total)
		if mix.Classes[c] == 0 {
			continue
		}
		w.rect("c"+strconv.Itoa(c), x, 0, width, 24, className(c)+": "+count(mix.Classes[c])+" ("+percent(float64(mix.Classes[c])/float64(total))+")")
		x += width
	}
	w.raw(`</svg>`)
	return w.html()
}

// className names a status class.
func className(c int) string {
	if c == 0 {
		return "other"
	}
	return strconv.Itoa(c) + "xx"
}

// severityName is the severity of rank r.
func severityName(r int) detect.Severity { return severities[3-min(max(r, 0), 3)] }
