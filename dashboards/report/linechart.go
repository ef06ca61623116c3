package report

import (
	"html/template"
	"math"
	"time"
)

// lineChart is one metric over time, per bucket, against an optional
// expected band, with the incident's anomalous span shaded.
type lineChart struct {
	title            string
	from, step       int64     // start of bucket 0 and bucket length, ns
	obs              []float64 // per bucket; NaN: no value
	exp, spr         []float64 // per bucket; NaN: no band (nil: none at all)
	anomFrom, anomTo int64
	ratio            bool   // values are ratios, shown as percentages
	what             string // what obs counts, for hover texts
}

// Incident chart geometry.
const (
	chartW, chartH = 720, 150
	plotX0, plotX1 = 56, 712
	plotY0, plotY1 = 10, 124
)

// svg draws the chart.
func (lc *lineChart) svg() template.HTML {
	var w svgw
	p := plot{n: len(lc.obs), ymax: lc.top()}
	w.raw(`<svg class="ch" viewBox="0 0 720 150" role="img"><title>`)
	w.text(lc.title)
	w.raw(`</title>`)
	lc.axes(&w, p)
	p.open(&w, plotX0, plotY0, plotX1-plotX0, plotY1-plotY0)
	lc.anomaly(&w)
	if lo, hi := lc.edges(); lo != nil {
		w.band("band", p, lo, hi)
		w.path("exp", p, lc.exp, false)
	}
	w.path("obs", p, lc.obs, false)
	w.raw(`</svg>`)
	lc.hover(&w)
	w.raw(`</svg>`)
	return w.html()
}

// top is the value at the top of the plot: the largest value shown,
// rounded up to 1, 2 or 5 times a power of ten.
func (lc *lineChart) top() float64 {
	m := 0.0
	for i, v := range lc.obs {
		m = maxFinite(m, v)
		if lc.exp != nil {
			m = maxFinite(m, lc.exp[i]+lc.spr[i])
		}
	}
	if lc.ratio {
		return math.Min(niceCeil(math.Max(1.05*m, 0.01)), 1)
	}
	return niceCeil(math.Max(1.05*m, 1))
}

// maxFinite is the larger of m and v, ignoring a non-finite v.
func maxFinite(m, v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return m
	}
	return math.Max(m, v)
}

// niceCeil rounds x > 0 up to 1, 2 or 5 times a power of ten.
func niceCeil(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if x <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// edges are the band's lower (clipped at 0) and upper edges, or nil.
func (lc *lineChart) edges() (lo, hi []float64) {
	if lc.exp == nil {
		return nil, nil
	}
	lo, hi = make([]float64, len(lc.exp)), make([]float64, len(lc.exp))
	for i := range lc.exp {
		lo[i], hi[i] = math.Max(lc.exp[i]-lc.spr[i], 0), lc.exp[i]+lc.spr[i]
	}
	return lo, hi
}

// value renders a value of the chart.
func (lc *lineChart) value(v float64) string {
	if lc.ratio {
		return percent(v)
	}
	return human(v)
}

// axes writes the frame, the value scale and three time labels.
func (lc *lineChart) axes(w *svgw, p plot) {
	w.raw(`<path class="ax" d="M56 10H712M56 124H712"/>`)
	w.label(plotX0-4, plotY0+4, "end", lc.value(p.ymax))
	w.label(plotX0-4, plotY1+4, "end", "0")
	span := time.Duration(lc.step * int64(len(lc.obs)))
	for k, anchor := range []string{"start", "middle", "end"} {
		t := time.Unix(0, lc.from+int64(float64(span)*float64(k)/2)).UTC()
		w.label(plotX0+(plotX1-plotX0)*float64(k)/2, chartH-8, anchor, clock(t, span, time.Duration(lc.step)))
	}
}

// anomaly shades the anomalous span, in the plot's user space.
func (lc *lineChart) anomaly(w *svgw) {
	if lc.anomTo <= lc.anomFrom || lc.step <= 0 {
		return
	}
	i0 := math.Max(float64(lc.anomFrom-lc.from)/float64(lc.step), 0)
	i1 := math.Min(float64(lc.anomTo-lc.from)/float64(lc.step), float64(len(lc.obs)))
	if i1 <= i0 {
		return
	}
	span := time.Duration(lc.step * int64(len(lc.obs)))
	title := "anomalous windows " + clock(time.Unix(0, lc.anomFrom), span, time.Duration(lc.step)) +
		"–" + clock(time.Unix(0, lc.anomTo), span, time.Duration(lc.step))
	w.rect("an", 2*i0, 0, 2*(i1-i0), 1000, title)
}

// hover writes one transparent column per bucket whose title gives its
// values: "12:03 7 (3.0±1.2)", the band in parentheses.
func (lc *lineChart) hover(w *svgw) {
	w.hoverOpen(len(lc.obs), plotX0, plotY0, plotX1-plotX0, plotY1-plotY0)
	span := time.Duration(lc.step * int64(len(lc.obs)))
	for i, v := range lc.obs {
		t := clock(time.Unix(0, lc.from+int64(i)*lc.step), span, time.Duration(lc.step))
		if lc.exp != nil && !math.IsNaN(lc.exp[i]) {
			w.hoverSlot(i, t, " ", lc.value(v), " (", lc.value(lc.exp[i]), "±", lc.value(lc.spr[i]), ")")
		} else {
			w.hoverSlot(i, t, " ", lc.value(v))
		}
	}
	w.raw(`</svg>`)
}
