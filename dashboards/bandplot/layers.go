package bandplot

import (
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Colours of the layers. The band is opaque so it reads the same on any
// background a chat client puts around the image; the span is
// translucent so the band shows through it.
var (
	observedColor = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff} // red
	expectedColor = color.RGBA{R: 0x1f, G: 0x4e, B: 0x9a, A: 0xff} // dark blue
	bandColor     = color.RGBA{R: 0xc6, G: 0xdb, B: 0xef, A: 0xff} // light blue
	spanColor     = color.NRGBA{R: 0xff, G: 0x98, B: 0x00, A: 0x38}
	spanEdgeColor = color.RGBA{R: 0xe6, G: 0x7e, B: 0x00, A: 0xff}
	gridColor     = color.Gray{Y: 0xdd}
)

// build lays out the plot: grid, band, span, expected line, observed
// line and points, legend, axes.
func build(s Series, pts []sample, fr frame, o Options) *plot.Plot {
	p := plot.New()
	p.Title.Text = clean(s.Title, maxTitle)
	p.Title.Padding = vg.Points(6)
	p.Y.Label.Text = clean(s.Unit, maxUnit)
	p.X.Label.Text = timeAxisLabel(fr.xmin, fr.xmax)
	p.X.Tick.Marker = timeTicker{target: max(2, o.Width/110)}
	p.Y.Tick.Marker = plot.TickerFunc(valueTicks)

	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	grid.Horizontal.Color = gridColor
	p.Add(grid)

	band := bandLayer(pts, fr.half)
	p.Add(band)
	p.Legend.Add("expected ± "+strconv.FormatFloat(o.Sigmas, 'g', 3, 64)+"σ", band)
	if !math.IsNaN(fr.spanFrom) {
		shade, edges := spanLayer(fr)
		p.Add(shade)
		p.Add(edges...)
		p.Legend.Add("incident", shade)
	}
	exp := expectedLayer(pts, fr.half)
	p.Add(exp...)
	line, dots := observedLayer(pts)
	p.Add(line...)
	p.Add(dots)
	p.Legend.Add("expected", &plotter.Line{LineStyle: expectedStyle()})
	p.Legend.Add("observed", &plotter.Line{LineStyle: observedStyle()}, dots)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(4)
	p.Legend.TextStyle.Font.Size = font.Length(9)

	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = fr.xmin, fr.xmax, fr.ymin, fr.ymax
	return p
}

func expectedStyle() draw.LineStyle {
	return draw.LineStyle{Color: expectedColor, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
}

func observedStyle() draw.LineStyle {
	return draw.LineStyle{Color: observedColor, Width: vg.Points(1.6)}
}

// runs splits pts into runs of consecutive points whose field (picked by
// ok) is drawable: a NaN ends a run, so lines break there.
func runs(pts []sample, ok func(sample) bool) [][]sample {
	var out [][]sample
	start := -1
	for i, p := range pts {
		switch {
		case ok(p) && start < 0:
			start = i
		case !ok(p) && start >= 0:
			out = append(out, pts[start:i])
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, pts[start:])
	}
	return out
}

func hasExpected(p sample) bool { return !math.IsNaN(p.exp) }
func hasObserved(p sample) bool { return !math.IsNaN(p.obs) }

// widen returns a run's X extent: its own, or ± half around a lone
// point so it still shows as a short band and line.
func widen(run []sample, half float64) (x0, x1 float64) {
	x0, x1 = run[0].x, run[len(run)-1].x
	if x0 == x1 {
		x0, x1 = x0-half, x1+half
	}
	return x0, x1
}

// bandLayer is one polygon ring per run of points with an expectation:
// the upper edge forwards, the lower edge back.
func bandLayer(pts []sample, half float64) *plotter.Polygon {
	poly := &plotter.Polygon{Color: bandColor}
	for _, run := range runs(pts, hasExpected) {
		var ring plotter.XYs
		if len(run) == 1 {
			x0, x1 := widen(run, half)
			p := run[0]
			ring = plotter.XYs{{X: x0, Y: p.bandHi}, {X: x1, Y: p.bandHi}, {X: x1, Y: p.bandLo}, {X: x0, Y: p.bandLo}}
		} else {
			ring = make(plotter.XYs, 0, 2*len(run))
			for _, p := range run {
				ring = append(ring, plotter.XY{X: p.x, Y: p.bandHi})
			}
			for i := len(run) - 1; i >= 0; i-- {
				ring = append(ring, plotter.XY{X: run[i].x, Y: run[i].bandLo})
			}
		}
		poly.XYs = append(poly.XYs, ring)
	}
	return poly
}

// spanLayer shades the incident's span and marks its edges.
func spanLayer(fr frame) (*plotter.Polygon, []plot.Plotter) {
	edge := draw.LineStyle{Color: spanEdgeColor, Width: vg.Points(0.8)}
	x0, x1 := fr.spanFrom, fr.spanTo
	shade := &plotter.Polygon{Color: spanColor,
		XYs: []plotter.XYs{{{X: x0, Y: fr.ymin}, {X: x1, Y: fr.ymin}, {X: x1, Y: fr.ymax}, {X: x0, Y: fr.ymax}}}}
	var edges []plot.Plotter
	for _, x := range [...]float64{x0, x1} {
		edges = append(edges, &plotter.Line{XYs: plotter.XYs{{X: x, Y: fr.ymin}, {X: x, Y: fr.ymax}}, LineStyle: edge})
	}
	return shade, edges
}

// expectedLayer is the dashed expected line, one per run.
func expectedLayer(pts []sample, half float64) []plot.Plotter {
	var out []plot.Plotter
	for _, run := range runs(pts, hasExpected) {
		var xys plotter.XYs
		if len(run) == 1 {
			x0, x1 := widen(run, half)
			xys = plotter.XYs{{X: x0, Y: run[0].exp}, {X: x1, Y: run[0].exp}}
		} else {
			for _, p := range run {
				xys = append(xys, plotter.XY{X: p.x, Y: p.exp})
			}
		}
		out = append(out, &plotter.Line{XYs: xys, LineStyle: expectedStyle()})
	}
	return out
}

// observedLayer is the observed line, one per run, and a dot on every
// observation.
func observedLayer(pts []sample) ([]plot.Plotter, *plotter.Scatter) {
	var (
		lines []plot.Plotter
		all   plotter.XYs
	)
	for _, run := range runs(pts, hasObserved) {
		xys := make(plotter.XYs, len(run))
		for i, p := range run {
			xys[i] = plotter.XY{X: p.x, Y: p.obs}
		}
		all = append(all, xys...)
		if len(xys) > 1 {
			lines = append(lines, &plotter.Line{XYs: xys, LineStyle: observedStyle()})
		}
	}
	radius := vg.Points(2.2)
	if len(all) > 200 { // dense: dots would merge into a thick line
		radius = vg.Points(1.2)
	}
	dots := &plotter.Scatter{XYs: all, GlyphStyle: draw.GlyphStyle{Color: observedColor, Radius: radius, Shape: draw.CircleGlyph{}}}
	return lines, dots
}
