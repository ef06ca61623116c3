package report

import (
	"html/template"
	"math"
	"strconv"
)

// svgw writes SVG markup; text goes through text, which escapes it.
type svgw struct{ b []byte }

func (w *svgw) raw(s string) { w.b = append(w.b, s...) }

// num writes x with at most one decimal.
func (w *svgw) num(x float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		x = 0
	}
	x = math.Round(x*10) / 10
	if x == math.Trunc(x) && math.Abs(x) < 1e15 {
		w.b = strconv.AppendInt(w.b, int64(x), 10)
		return
	}
	w.b = strconv.AppendFloat(w.b, x, 'f', 1, 64)
}

// text writes s as escaped character data or attribute value.
func (w *svgw) text(s string) { w.b = appendEscaped(w.b, printable(s)) }

// attr writes ` name="v"` with v a number.
func (w *svgw) attr(name string, v float64) {
	w.raw(" " + name + `="`)
	w.num(v)
	w.raw(`"`)
}

// rect writes a rectangle of class cls with an optional title.
func (w *svgw) rect(cls string, x, y, width, height float64, title string) {
	w.raw(`<rect class="` + cls + `"`)
	w.attr("x", x)
	w.attr("y", y)
	w.attr("width", math.Max(width, 0.5))
	w.attr("height", math.Max(height, 0))
	if title == "" {
		w.raw("/>")
		return
	}
	w.raw("><title>")
	w.text(title)
	w.raw("</title></rect>")
}

// label writes a text element; anchor is "start", "middle" or "end".
func (w *svgw) label(x, y float64, anchor, s string) {
	w.raw(`<text`)
	w.attr("x", x)
	w.attr("y", y)
	if anchor != "start" {
		w.raw(` text-anchor="` + anchor + `"`)
	}
	w.raw(">")
	w.text(s)
	w.raw("</text>")
}

func (w *svgw) html() template.HTML { return template.HTML(w.b) } //nolint:gosec // built by svgw, which escapes all text

// appendEscaped appends s with HTML's special characters escaped.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '"':
			b = append(b, "&#34;"...)
		case '\'':
			b = append(b, "&#39;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// plot is the data area of a chart: a nested SVG whose user space is 2
// units per slot and 1000 units of height, stretched over the area, so
// coordinates are small integers and paths relative moves ("h2", "l2-7").
type plot struct {
	n    int     // slots
	ymax float64 // value at the top
}

// open writes the nested SVG covering x, y, width, height of the chart.
func (p plot) open(w *svgw, x, y, width, height float64) {
	w.raw(`<svg`)
	w.attr("x", x)
	w.attr("y", y)
	w.attr("width", width)
	w.attr("height", height)
	w.raw(` viewBox="0 0 ` + strconv.Itoa(2*max(p.n, 1)) + ` 1000" preserveAspectRatio="none">`)
}

// y is the vertical coordinate of value v.
func (p plot) y(v float64) int {
	if p.ymax <= 0 || math.IsNaN(v) {
		return 1000
	}
	return 1000 - int(math.Round(1000*math.Min(math.Max(v/p.ymax, 0), 1)))
}

// pen writes a path's data with relative moves between slot centres.
type pen struct {
	w    *svgw
	x, y int
}

// move starts a subpath at (x, y).
func (p *pen) move(x, y int) {
	p.w.raw("M")
	p.w.b = strconv.AppendInt(p.w.b, int64(x), 10)
	p.w.raw(" ")
	p.w.b = strconv.AppendInt(p.w.b, int64(y), 10)
	p.x, p.y = x, y
}

// line draws to (x, y): "h" when level, "v" when vertical, else "l".
func (p *pen) line(x, y int) {
	dx, dy := x-p.x, y-p.y
	switch {
	case dy == 0:
		p.w.raw("h")
		p.w.b = strconv.AppendInt(p.w.b, int64(dx), 10)
	case dx == 0:
		p.w.raw("v")
		p.w.b = strconv.AppendInt(p.w.b, int64(dy), 10)
	default:
		p.w.raw("l")
		p.w.b = strconv.AppendInt(p.w.b, int64(dx), 10)
		if dy >= 0 {
			p.w.raw(" ")
		}
		p.w.b = strconv.AppendInt(p.w.b, int64(dy), 10)
	}
	p.x, p.y = x, y
}

// path writes a path of class cls through the slot centres (2i+1,
// y(vs[i])), broken where vs[i] is NaN; an area is closed down to the
// baseline.
func (w *svgw) path(cls string, p plot, vs []float64, area bool) {
	w.raw(`<path class="` + cls + `" d="`)
	pn := pen{w: w}
	for i := 0; i < len(vs); i++ {
		if math.IsNaN(vs[i]) {
			continue
		}
		j := i
		for j < len(vs) && !math.IsNaN(vs[j]) {
			j++
		}
		if area {
			pn.move(2*i, 1000)
			pn.line(2*i, p.y(vs[i]))
			pn.line(2*i+1, p.y(vs[i]))
		} else {
			pn.move(2*i+1, p.y(vs[i]))
		}
		for k := i + 1; k < j; k++ {
			pn.line(2*k+1, p.y(vs[k]))
		}
		if area {
			pn.line(2*j, pn.y)
			pn.line(2*j, 1000)
			w.raw("z")
		}
		i = j
	}
	w.raw(`"/>`)
}

// band writes the area between lo and hi, broken where either is NaN.
func (w *svgw) band(cls string, p plot, lo, hi []float64) {
	w.raw(`<path class="` + cls + `" d="`)
	pn := pen{w: w}
	for i := 0; i < len(lo); {
		if math.IsNaN(lo[i]) || math.IsNaN(hi[i]) {
			i++
			continue
		}
		j := i
		for j < len(lo) && !math.IsNaN(lo[j]) && !math.IsNaN(hi[j]) {
			j++
		}
		pn.move(2*i, p.y(hi[i]))
		for k := i; k < j; k++ {
			pn.line(2*k+1, p.y(hi[k]))
		}
		pn.line(2*j, pn.y)
		pn.line(2*j, p.y(lo[j-1]))
		for k := j - 1; k >= i; k-- {
			pn.line(2*k+1, p.y(lo[k]))
		}
		pn.line(2*i, pn.y)
		w.raw("z")
		i = j
	}
	w.raw(`"/>`)
}

// hoverOpen starts the transparent columns giving each slot's values:
// a nested SVG of one unit per slot over the chart's area.
func (w *svgw) hoverOpen(n int, x, y, width, height float64) {
	w.raw(`<svg class="hv"`)
	w.attr("x", x)
	w.attr("y", y)
	w.attr("width", width)
	w.attr("height", height)
	w.raw(` viewBox="0 0 ` + strconv.Itoa(max(n, 1)) + ` 1" preserveAspectRatio="none">`)
}

// hoverSlot writes slot i's column, titled by the texts.
func (w *svgw) hoverSlot(i int, texts ...string) {
	w.raw(`<rect x="`)
	w.b = strconv.AppendInt(w.b, int64(i), 10)
	w.raw(`" width="1" height="1"><title>`)
	for _, t := range texts {
		w.text(t)
	}
	w.raw(`</title></rect>`)
}

// bar is a horizontal bar of v out of top, for the ranking tables.
func bar(v, top uint64) template.HTML {
	var w svgw
	w.raw(`<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true"><rect height="10"`)
	if top > 0 {
		w.attr("width", 100*float64(v)/float64(top))
	} else {
		w.raw(` width="0"`)
	}
	w.raw("/></svg>")
	return w.html()
}
