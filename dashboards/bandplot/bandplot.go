// Package bandplot draws one incident's band as a PNG: a client's metric
// over time (observed, a line with points) against what its baseline
// expected (a dashed line) and the band around it (expected ± Sigmas
// spreads, clipped at 0), with the incident's anomalous span shaded. It
// is the picture of a finding, for the Slack message and for
// `gatewatch explain INCIDENT_ID --png FILE`; it draws with
// gonum.org/v1/plot and needs no browser or server.
//
// Titles and units come from log data (client keys, routes): control
// characters, bidirectional controls and invalid UTF-8 are stripped and
// long strings cut before they reach the image. Non-finite values are
// left out (a NaN observation breaks the line there), absurd finite ones
// clipped to ±1e300, so any input draws or fails with an error; none
// panics (FuzzPNG).
package bandplot

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"sort"
	"time"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Series is one client's metric around an incident.
type Series struct {
	Title string // e.g. "k:alice — volume (inc-…)"; cleaned before drawing
	Unit  string // the Y axis label, e.g. "req/min"
	// Points are the metric's windows, in any order; each is drawn at
	// its Time (the window's start).
	Points []Point
	// From and To are the incident's anomalous span, shaded; both zero
	// for none. A zero To means up to the last point, a zero From from
	// the first.
	From, To time.Time
}

// Point is one window of a Series.
type Point struct {
	Time     time.Time
	Observed float64 // what the client did
	Expected float64 // what its baseline expected
	Spread   float64 // one standard deviation around Expected, ≥ 0
}

// Options size the image and the band.
type Options struct {
	// Width and Height in pixels; 0 means DefaultWidth and
	// DefaultHeight. Each must be within [MinSize, MaxSize].
	Width, Height int
	// Sigmas is the band's half-width in spreads; 0 means 1.
	Sigmas float64
}

// Image size limits and defaults, in pixels.
const (
	DefaultWidth  = 900
	DefaultHeight = 360
	MinSize       = 160  // below it the axes leave no room for data
	MaxSize       = 8000 // 8000×8000 RGBA is 256 MB: enough
)

// ErrNoData is wrapped by PNG's error for a series with no point, or
// with no finite value to draw.
var ErrNoData = errors.New("bandplot: nothing to draw")

// errBadOptions is wrapped by PNG's error for an Options value out of
// range.
var errBadOptions = errors.New("bad options")

// dpi is the resolution the image is drawn at: vg lengths (points) map
// to pixels at 96/72.
const dpi = vgimg.DefaultDPI

// PNG draws s as a PNG image of o's size and writes it to w.
func PNG(w io.Writer, s Series, o Options) error {
	img, err := render(s, o)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("bandplot: encode png: %w", err)
	}
	return nil
}

// render draws s as an image of o's size: what PNG encodes.
func render(s Series, o Options) (image.Image, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(s.Points) == 0 {
		return nil, fmt.Errorf("%w: the series has no points", ErrNoData)
	}
	pts := prepare(s.Points, o.Sigmas)
	fr, ok := frameOf(pts, s.From, s.To)
	if !ok {
		return nil, fmt.Errorf("%w: none of the %d points has a finite value", ErrNoData, len(s.Points))
	}
	p := build(s, pts, fr, o)
	img := image.NewRGBA(image.Rect(0, 0, o.Width, o.Height))
	c := vgimg.NewWith(vgimg.UseImage(img), vgimg.UseDPI(dpi))
	dc := draw.New(c)
	m := vg.Points(6)
	p.Draw(draw.Crop(dc, m, -m, m, -m))
	return c.Image(), nil
}

// withDefaults fills o's zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Width == 0 {
		o.Width = DefaultWidth
	}
	if o.Height == 0 {
		o.Height = DefaultHeight
	}
	if o.Width < MinSize || o.Width > MaxSize || o.Height < MinSize || o.Height > MaxSize {
		return o, fmt.Errorf("bandplot: %w: image size %dx%d: each side must be %d to %d pixels", errBadOptions, o.Width, o.Height, MinSize, MaxSize)
	}
	if o.Sigmas == 0 {
		o.Sigmas = 1
	}
	if !(o.Sigmas > 0) || math.IsInf(o.Sigmas, 0) {
		return o, fmt.Errorf("bandplot: %w: sigmas %v: want a positive number", errBadOptions, o.Sigmas)
	}
	return o, nil
}

// limit bounds every drawn value: far beyond any real metric, far
// enough below the float64 maximum that ranges and headroom stay finite.
const limit = 1e300

// sample is a Point ready to draw: X in Unix seconds, values clipped,
// the band's edges computed; a NaN field is not drawn.
type sample struct {
	x              float64
	obs, exp       float64
	bandLo, bandHi float64
}

// prepare sorts the points by time and computes the band, expected ±
// sigmas·spread clipped at 0. A non-finite value becomes NaN (left out);
// a negative or non-finite spread counts as 0.
func prepare(points []Point, sigmas float64) []sample {
	out := make([]sample, len(points))
	for i, p := range points {
		s := sample{x: unixSeconds(p.Time), obs: clip(p.Observed), exp: clip(p.Expected), bandLo: math.NaN(), bandHi: math.NaN()}
		if !math.IsNaN(s.exp) {
			spread := p.Spread
			if !(spread > 0) || math.IsInf(spread, 0) {
				spread = 0
			}
			half := math.Min(sigmas*spread, limit)
			s.bandLo = math.Max(0, math.Max(-limit, s.exp-half))
			s.bandHi = math.Max(s.bandLo, math.Min(limit, s.exp+half))
		}
		out[i] = s
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].x < out[j].x })
	return out
}

// clip returns x bounded to ±limit, NaN for NaN and infinities.
func clip(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return math.NaN()
	}
	return math.Max(-limit, math.Min(limit, x))
}

// unixSeconds is t as seconds since the Unix epoch, fractional.
func unixSeconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// frame is the plot's data range and the span to shade.
type frame struct {
	xmin, xmax, ymin, ymax float64
	spanFrom, spanTo       float64 // NaN for no span
	half                   float64 // a point's reach on each side, in seconds
}

// frameOf computes the axes' ranges over the points and the span,
// with headroom above the data for the legend. ok is false when no
// point has a finite value.
func frameOf(pts []sample, from, to time.Time) (fr frame, ok bool) {
	fr = frame{xmin: pts[0].x, xmax: pts[len(pts)-1].x, ymin: 0, ymax: math.Inf(-1), spanFrom: math.NaN(), spanTo: math.NaN()}
	for _, p := range pts {
		for _, v := range [...]float64{p.obs, p.exp, p.bandLo, p.bandHi} {
			if !math.IsNaN(v) {
				ok = true
				fr.ymin, fr.ymax = math.Min(fr.ymin, v), math.Max(fr.ymax, v)
			}
		}
	}
	if !ok {
		return fr, false
	}
	if !from.IsZero() || !to.IsZero() {
		fr.spanFrom, fr.spanTo = fr.xmin, fr.xmax
		if !from.IsZero() {
			fr.spanFrom = unixSeconds(from)
		}
		if !to.IsZero() {
			fr.spanTo = unixSeconds(to)
		}
		if fr.spanFrom > fr.spanTo {
			fr.spanFrom, fr.spanTo = fr.spanTo, fr.spanFrom
		}
		fr.xmin, fr.xmax = math.Min(fr.xmin, fr.spanFrom), math.Max(fr.xmax, fr.spanTo)
	}
	// half is a point's reach on each side: half the typical spacing; for
	// a lone point, half the span (one window) or half a minute.
	fr.half = typicalStep(pts) / 2
	if fr.half == 0 {
		fr.half = 30
		if w := fr.spanTo - fr.spanFrom; w > 0 {
			fr.half = w / 2
		}
	}
	pad := fr.half // the first and last points clear of the axes
	if !(fr.xmax > fr.xmin) {
		pad = 10 * fr.half // a lone point: in the middle, its band narrow
	}
	fr.xmin, fr.xmax = fr.xmin-pad, fr.xmax+pad
	fr.ymin, fr.ymax = padRange(fr.ymin, fr.ymax)
	return fr, true
}

// padRange widens a flat value range and adds headroom above it, a
// third of the range, where the legend sits clear of the data.
func padRange(lo, hi float64) (float64, float64) {
	min := math.Max(math.Abs(lo), math.Abs(hi)) * 1e-6
	if min == 0 {
		min = 1
	}
	if hi-lo < min {
		hi = lo + min
	}
	return lo, hi + (hi-lo)/3
}

// typicalStep is the median spacing between distinct point times, in
// seconds; 0 for a single time.
func typicalStep(pts []sample) float64 {
	var steps []float64
	for i := 1; i < len(pts); i++ {
		if d := pts[i].x - pts[i-1].x; d > 0 {
			steps = append(steps, d)
		}
	}
	if len(steps) == 0 {
		return 0
	}
	sort.Float64s(steps)
	return steps[len(steps)/2]
}
