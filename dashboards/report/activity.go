package report

import (
	"github.com/gatewatch/gatewatch/detect"
	"slices"
	"strings"
	"time"
)

// Activity bounds: rows recorded per incident, rows shown (those its
// newest emission names first), spans per row, and how far before an
// incident's first anomalous window a named client's windows count (a
// campaign is reported once enough clients took part; the first came
// earlier).
const (
	maxActivityRows   = 40
	shownActivityRows = 24
	maxActivitySpans  = 128
	activityLookback  = 6 * time.Hour
)

// actRow is when one client of a campaign or fleet incident was active.
type actRow struct {
	client string
	from   int64 // watched from here
	spans  []span
}

// span is an active window, or consecutive ones merged when a row
// outgrew its bound.
type span struct {
	start, end int64
	req        uint64
}

// watcher is a row to extend with a client's windows.
type watcher struct {
	inc *incident
	row *actRow
}

// add records an active window (a later one than those recorded),
// halving the spans (merging pairs) beyond the bound.
func (r *actRow) add(start, end int64, req uint64) {
	if n := len(r.spans); n > 0 && r.spans[n-1].end > start {
		return
	}
	if len(r.spans) >= maxActivitySpans {
		n := 0
		for i := 0; i+1 < len(r.spans); i += 2 {
			a, b := r.spans[i], r.spans[i+1]
			r.spans[n] = span{start: a.start, end: b.end, req: a.req + b.req}
			n++
		}
		if len(r.spans)%2 == 1 {
			r.spans[n] = r.spans[len(r.spans)-1]
			n++
		}
		r.spans = r.spans[:n]
	}
	r.spans = append(r.spans, span{start: start, end: end, req: req})
}

// feedActivity adds rows for the clients a campaign or fleet emission
// names, seeded from their rings, and watches them.
func (c *Collector) feedActivity(inc *incident) {
	s := &c.st
	names := inc.f.Clients
	if len(names) == 0 {
		names = inc.f.TopClients
	}
	from := nanos(inc.f.WindowStart) - max(c.ctx(), int64(activityLookback))
	for _, name := range names {
		if slices.ContainsFunc(inc.act, func(r *actRow) bool { return r.client == name }) {
			continue
		}
		if len(inc.act) >= maxActivityRows && !c.dropRow(inc, names) {
			break
		}
		row := c.seedRow(name, from)
		inc.act = append(inc.act, row)
		s.watch[row.client] = append(s.watch[row.client], watcher{inc: inc, row: row})
	}
	inc.resolved = inc.f.Status == detect.StatusResolved
	if inc.resolved && !inc.f.WindowEnd.IsZero() {
		inc.until = nanos(inc.f.WindowEnd) + c.ctx()
	}
}

// dropRow drops the oldest row of a client names does not name, to make
// room for one it does; false when every row's client is named.
func (c *Collector) dropRow(inc *incident, names []string) bool {
	i := slices.IndexFunc(inc.act, func(r *actRow) bool { return !slices.Contains(names, r.client) })
	if i < 0 {
		return false
	}
	c.unwatch(inc.act[i].client, inc)
	inc.act = slices.Delete(inc.act, i, i+1)
	return true
}

// seedRow makes a row for client from its ring's windows after from.
func (c *Collector) seedRow(client string, from int64) *actRow {
	row := &actRow{client: strings.Clone(client), from: c.st.watermark}
	tr := c.st.tracks[client]
	if tr == nil {
		return row
	}
	row.from = max(tr.since, from)
	if len(tr.ring.pts) == c.o.Context+1 {
		row.from = max(row.from, tr.ring.pts[tr.ring.head].start)
	}
	for _, p := range tr.ring.ordered(nil) {
		if p.start >= from && p.req > 0 {
			row.add(p.start, p.end, uint64(p.req))
		}
	}
	return row
}

// recordActivity extends the rows watching client with a window,
// dropping the watchers whose incident resolved Context windows ago.
func (c *Collector) recordActivity(client string, pt point) {
	ws := c.st.watch[client]
	if len(ws) == 0 {
		return
	}
	keep := ws[:0]
	for _, w := range ws {
		if w.inc.resolved && pt.start >= w.inc.until {
			continue
		}
		w.row.add(pt.start, pt.end, uint64(pt.req))
		keep = append(keep, w)
	}
	c.setWatch(client, keep)
}

// unwatch stops inc's row of client from recording.
func (c *Collector) unwatch(client string, inc *incident) {
	ws := slices.DeleteFunc(c.st.watch[client], func(w watcher) bool { return w.inc == inc })
	c.setWatch(client, ws)
}

func (c *Collector) setWatch(client string, ws []watcher) {
	if len(ws) == 0 {
		delete(c.st.watch, client)
		return
	}
	c.st.watch[client] = ws
}

// rows is inc's activity as Data shows it: the rows of the clients its
// newest emission names first, in its order, then the others, at most
// shownActivityRows.
func (inc *incident) rows() []ActivityRow {
	names := inc.f.Clients
	if len(names) == 0 {
		names = inc.f.TopClients
	}
	rank := func(r *actRow) int {
		if i := slices.Index(names, r.client); i >= 0 {
			return i
		}
		return len(names)
	}
	sorted := slices.Clone(inc.act)
	slices.SortStableFunc(sorted, func(a, b *actRow) int { return rank(a) - rank(b) })
	out := make([]ActivityRow, 0, min(len(sorted), shownActivityRows))
	for _, r := range sorted[:min(len(sorted), shownActivityRows)] {
		row := ActivityRow{Client: r.client, From: time.Unix(0, r.from).UTC(), Spans: make([]ActiveSpan, len(r.spans))}
		for i, sp := range r.spans {
			row.Spans[i] = ActiveSpan{Start: time.Unix(0, sp.start).UTC(), End: time.Unix(0, sp.end).UTC(), Requests: sp.req}
		}
		out = append(out, row)
	}
	return out
}
