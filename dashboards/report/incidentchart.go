package report

import (
	"html/template"
	"math"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// metric is what an incident's chart plots.
type metric int

const (
	metricVolume metric = iota // requests per window, against the volume band
	metricRatio                // 5xx / requests, against the error-ratio band
	metricAuth                 // auth failures per window, against their band
)

// metricOf is the metric detector's baseline is about.
func metricOf(detector string) metric {
	switch detector {
	case detect.DetectorErrorRatio:
		return metricRatio
	case detect.DetectorAuthFailures, detect.DetectorBruteForce:
		return metricAuth
	}
	return metricVolume
}

// bucketSums accumulate the windows of one chart bucket.
type bucketSums struct {
	req, errs, auth float64 // summed over windows
	exp, spr        float64 // summed over the windows with a band
	banded          float64 // windows with a band
}

// seriesChart charts a client incident's series: its detector's metric
// against the expected band, the anomalous windows shaded. Nil when the
// incident has no series.
func seriesChart(inc *Incident, win time.Duration, maxPoints int) *lineChart {
	pts := inc.Series
	if len(pts) == 0 {
		return nil
	}
	from, to := nanos(inc.SeriesFrom), nanos(inc.SeriesTo)
	if inc.SeriesFrom.IsZero() || inc.SeriesTo.IsZero() || to <= from {
		from, to = nanos(pts[0].Start), nanos(pts[len(pts)-1].End)
	}
	if to <= from {
		return nil
	}
	step := bucketLength(to-from, int64(win), maxPoints)
	sums := make([]bucketSums, ceilDiv(to-from, step))
	m := metricOf(inc.Finding.Detector)
	for i := range pts {
		p := &pts[i]
		b := floorDiv(nanos(p.Start)-from, step)
		if b < 0 || b >= int64(len(sums)) {
			continue
		}
		sums[b].add(p, m)
	}
	lc := &lineChart{from: from, step: step, anomFrom: nanos(inc.Finding.WindowStart), anomTo: nanos(inc.Finding.WindowEnd), ratio: m == metricRatio}
	lc.title, lc.what = seriesTitle(&inc.Finding, m)
	lc.fill(sums, m, float64(step)/float64(win), to)
	return lc
}

// bucketLength is the length of a chart bucket: a whole number of
// windows, enough for span to fit in maxPoints buckets.
func bucketLength(span, win int64, maxPoints int) int64 {
	win = max(win, 1)
	perBucket := max(ceilDiv(ceilDiv(span, win), int64(maxPoints)), 1)
	return perBucket * win
}

// ceilDiv is a/b rounded up, for b > 0.
func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

func (s *bucketSums) add(p *SeriesPoint, m metric) {
	n := float64(max(p.Windows, 1))
	s.req += n * p.Requests
	s.errs += n * p.Errors
	s.auth += n * p.AuthFailures
	exp, spr := p.ExpectedRequests, p.SpreadRequests
	switch m {
	case metricRatio:
		exp, spr = p.ExpectedErrorRatio, p.SpreadErrorRatio
	case metricAuth:
		exp, spr = p.ExpectedAuthFailures, p.SpreadAuthFailures
	}
	s.exp += n * exp
	s.spr += n * spr
	s.banded += n
}

// fill sets the chart's values from bucket sums: per window (a window
// without a point had no requests), or the ratio of the sums. The last
// bucket may hold fewer windows, up to the end of the series at to.
func (lc *lineChart) fill(sums []bucketSums, m metric, windows float64, to int64) {
	lc.obs = make([]float64, len(sums))
	lc.exp, lc.spr = make([]float64, len(sums)), make([]float64, len(sums))
	for i, s := range sums {
		n := windows
		if i == len(sums)-1 {
			n = math.Max(windows*float64(to-lc.from-int64(i)*lc.step)/float64(lc.step), 1)
		}
		switch m {
		case metricRatio:
			lc.obs[i] = math.NaN()
			if s.req > 0 {
				lc.obs[i] = s.errs / s.req
			}
		case metricAuth:
			lc.obs[i] = s.auth / n
		default:
			lc.obs[i] = s.req / n
		}
		lc.exp[i], lc.spr[i] = math.NaN(), math.NaN()
		if s.banded > 0 {
			lc.exp[i], lc.spr[i] = s.exp/s.banded, s.spr/s.banded
		}
	}
}

// seriesTitle names a series chart and what its values count.
func seriesTitle(f *detect.Finding, m metric) (title, what string) {
	switch m {
	case metricRatio:
		what = "5xx ratio"
	case metricAuth:
		what = "auth failures/window"
	default:
		what = "requests/window"
	}
	return f.Client + ": " + what + " against the expected band (" + f.Detector + ")", what
}

// overviewChart charts the whole traffic over an incident's span and
// context: the fallback for a campaign or fleet incident without
// activity.
func overviewSpanChart(inc *Incident, d *Data, maxPoints int) *lineChart {
	ov := &d.Overview
	step := int64(ov.Step)
	if len(ov.Points) == 0 || step <= 0 {
		return nil
	}
	ctx := int64(d.Context) * int64(d.Window)
	start := nanos(ov.Start)
	i0 := max(floorDiv(nanos(inc.Finding.WindowStart)-ctx-start, step), 0)
	i1 := min(ceilDiv(nanos(inc.Finding.WindowEnd)+ctx-start, step), int64(len(ov.Points)))
	if i1 <= i0 {
		return nil
	}
	pts, k := downsample(ov.Points[i0:i1], maxPoints)
	lc := &lineChart{from: start + i0*step, step: int64(k) * step, anomFrom: nanos(inc.Finding.WindowStart),
		anomTo: nanos(inc.Finding.WindowEnd), what: "requests (all clients)"}
	lc.title = "all traffic around " + inc.Finding.Client + " (" + inc.Finding.Detector + "): requests per " + duration(time.Duration(lc.step))
	lc.obs = make([]float64, len(pts))
	for i := range pts {
		lc.obs[i] = float64(pts[i].Requests)
	}
	return lc
}

// downsample sums buckets k at a time so at most maxPoints remain.
func downsample(b []Bucket, maxPoints int) ([]Bucket, int) {
	k := max((len(b)+maxPoints-1)/maxPoints, 1)
	if k == 1 {
		return b, 1
	}
	out := make([]Bucket, (len(b)+k-1)/k)
	for i := range b {
		add(&out[i/k], &b[i])
	}
	return out, k
}

// incidentChart is the chart of an incident's evidence, and a note on
// what it shows.
func incidentChart(inc *Incident, d *Data, o RenderOptions) (template.HTML, string) {
	win := d.Window
	if win <= 0 {
		win = DefaultWindow
	}
	if lc := seriesChart(inc, win, o.IncidentPoints); lc != nil {
		return lc.svg(), "Line: observed; band: expected ± one spread; shaded: the anomalous windows."
	}
	if len(inc.Activity) > 0 {
		if svg := activityChart(inc, win); svg != "" {
			return svg, "Each row a client the incident names; marks: windows it sent requests in; shaded: the incident."
		}
	}
	if lc := overviewSpanChart(inc, d, o.IncidentPoints); lc != nil {
		return lc.svg(), "No series recorded for this incident's clients: all traffic over its span; shaded: the incident."
	}
	return "", "No series recorded for this incident."
}
