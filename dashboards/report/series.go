package report

import (
	"math"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// point is one client window, compactly: about 48 bytes.
type point struct {
	start, end       int64 // unix nanoseconds
	req, errs, auth  float32
	bytes            float32
	expReq, sprReq   float32
	expErr, sprErr   float32
	expAuth, sprAuth float32
	windows          uint32 // windows averaged into it
}

// pointOf is ws as a point.
func pointOf(ws *detect.WindowStats) point {
	return point{
		start: nanos(ws.Start), end: nanos(ws.End), windows: 1,
		req: float32(ws.Requests), errs: float32(ws.Errors), auth: float32(ws.AuthFailures),
		bytes:  float32(ws.BytesOut),
		expReq: f32(ws.ExpectedRequests), sprReq: f32(ws.SpreadRequests),
		expErr: f32(ws.ExpectedErrorRatio), sprErr: f32(ws.SpreadErrorRatio),
		expAuth: f32(ws.ExpectedAuthFailures), sprAuth: f32(ws.SpreadAuthFailures),
	}
}

// f32 is x as a float32, non-finite values as 0.
func f32(x float64) float32 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return float32(x)
}

// merge averages two consecutive points into one.
func merge(a, b point) point {
	na, nb := float32(a.windows), float32(b.windows)
	avg := func(x, y float32) float32 { return (x*na + y*nb) / (na + nb) }
	return point{
		start: a.start, end: b.end, windows: a.windows + b.windows,
		req: avg(a.req, b.req), errs: avg(a.errs, b.errs), auth: avg(a.auth, b.auth), bytes: avg(a.bytes, b.bytes),
		expReq: avg(a.expReq, b.expReq), sprReq: avg(a.sprReq, b.sprReq),
		expErr: avg(a.expErr, b.expErr), sprErr: avg(a.sprErr, b.sprErr),
		expAuth: avg(a.expAuth, b.expAuth), sprAuth: avg(a.sprAuth, b.sprAuth),
	}
}

// seriesPoint is p as Data shows it.
func (p *point) seriesPoint() SeriesPoint {
	return SeriesPoint{
		Start: time.Unix(0, p.start).UTC(), End: time.Unix(0, p.end).UTC(), Windows: int(p.windows),
		Requests: float64(p.req), Errors: float64(p.errs), AuthFailures: float64(p.auth), Bytes: float64(p.bytes),
		ExpectedRequests: float64(p.expReq), SpreadRequests: float64(p.sprReq),
		ExpectedErrorRatio: float64(p.expErr), SpreadErrorRatio: float64(p.sprErr),
		ExpectedAuthFailures: float64(p.expAuth), SpreadAuthFailures: float64(p.sprAuth),
	}
}

// ring holds a client's last windows, oldest first from head once full.
type ring struct {
	pts  []point
	head int
}

// push adds p, dropping the oldest point beyond n.
func (r *ring) push(p point, n int) {
	if len(r.pts) < n {
		r.pts = append(r.pts, p)
		return
	}
	r.pts[r.head] = p
	r.head = (r.head + 1) % n
}

// ordered appends the ring's points to dst, oldest first.
func (r *ring) ordered(dst []point) []point {
	dst = append(dst, r.pts[r.head:]...)
	return append(dst, r.pts[:r.head]...)
}

// track is what the collector keeps of one client.
type track struct {
	ring  ring
	since int64 // start of the first window recorded: the ring is complete from here
	last  int64 // start of the latest window recorded
	pin   *pin  // recording a series for incidents, or nil
}

// pin is a client's series recorded for its incidents, from the ring's
// content when the first of them came until Context windows after the
// last of them resolved.
type pin struct {
	pts   []point
	from  int64 // the series is complete from here
	until int64 // once no incident is open, record windows starting before this
	to    int64 // when stopped: recording ended here; 0 while recording
	open  int   // its incidents that have not resolved
	refs  int   // its incidents holding a series slot
}

// record appends p to the pin, coarsening it beyond maxPoints.
func (p *pin) record(pt point, maxPoints int) {
	if len(p.pts) >= maxPoints {
		p.coarsen()
	}
	p.pts = append(p.pts, pt)
}

// coarsen halves the pin's points, averaging consecutive pairs.
func (p *pin) coarsen() {
	n := 0
	for i := 0; i+1 < len(p.pts); i += 2 {
		p.pts[n] = merge(p.pts[i], p.pts[i+1])
		n++
	}
	if len(p.pts)%2 == 1 {
		p.pts[n] = p.pts[len(p.pts)-1]
		n++
	}
	p.pts = p.pts[:n]
}

// span returns the points of p overlapping [from, to), as Data shows
// them, and the span over which they are complete.
func (p *pin) span(from, to, watermark int64) ([]SeriesPoint, time.Time, time.Time) {
	end := p.to
	if end == 0 {
		end = watermark
	}
	from, to = max(from, p.from), min(to, end)
	var out []SeriesPoint
	for i := range p.pts {
		if p.pts[i].end > from && p.pts[i].start < to {
			out = append(out, p.pts[i].seriesPoint())
		}
	}
	if to < from {
		to = from
	}
	return out, time.Unix(0, from).UTC(), time.Unix(0, to).UTC()
}
