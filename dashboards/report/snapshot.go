package report

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// topCodes is how many status codes Data ranks.
const topCodes = 12

// Data returns a snapshot of what the collector holds.
func (c *Collector) Data() Data {
	if c == nil {
		return Data{Title: DefaultTitle, Window: DefaultWindow, Context: DefaultContext}
	}
	c.lock()
	defer c.mu.Unlock()
	s := &c.st
	d := Data{
		Title: c.o.Title, Window: time.Duration(s.win), Context: c.o.Context,
		Events: s.events, Untimed: s.untimed, Bytes: s.bytes,
		Input:      s.input,
		Overview:   s.over.snapshot(),
		TopClients: s.clients.top(c.o.TopN),
		TopRoutes:  s.routes.top(c.o.TopN),
		Status:     StatusMix{Classes: s.classes, Codes: c.codes()},
		Clients:    ClientStats{Tracked: len(s.tracks), Dropped: s.dropped},
		Severity:   maps.Clone(s.omitted),
	}
	d.Input.Inputs = slices.Clone(s.input.Inputs)
	if s.events > s.untimed {
		d.First, d.Last = time.Unix(0, s.first).UTC(), time.Unix(0, s.last).UTC()
	}
	for _, n := range s.omitted {
		d.Omitted += n
	}
	d.Incidents = c.incidents()
	for i := range d.Incidents {
		d.Severity[d.Incidents[i].Finding.Severity]++
	}
	return d
}

// codes ranks the status codes answered.
func (c *Collector) codes() []CodeCount {
	var out []CodeCount
	for code, n := range c.st.codes {
		if n > 0 {
			out = append(out, CodeCount{Code: code, Count: n})
		}
	}
	slices.SortFunc(out, func(a, b CodeCount) int {
		if x := cmp.Compare(b.Count, a.Count); x != 0 {
			return x
		}
		return cmp.Compare(a.Code, b.Code)
	})
	return out[:min(len(out), topCodes)]
}

// incidents snapshots the incidents, most severe first, then by start.
func (c *Collector) incidents() []Incident {
	s := &c.st
	all := make([]*incident, 0, len(s.incs))
	for _, inc := range s.incs {
		all = append(all, inc)
	}
	slices.SortFunc(all, func(a, b *incident) int {
		if x := cmp.Compare(b.f.Severity.Rank(), a.f.Severity.Rank()); x != 0 {
			return x
		}
		if x := a.f.WindowStart.Compare(b.f.WindowStart); x != 0 {
			return x
		}
		return strings.Compare(a.f.IncidentID, b.f.IncidentID)
	})
	out := make([]Incident, len(all))
	for i, inc := range all {
		out[i] = Incident{Finding: inc.f, Emissions: inc.emissions}
		if inc.pin != nil {
			from := nanos(inc.f.WindowStart) - c.ctx()
			to := nanos(inc.f.WindowEnd) + c.ctx()
			out[i].Series, out[i].SeriesFrom, out[i].SeriesTo = inc.pin.span(from, to, s.watermark)
		}
		if len(inc.act) > 0 {
			out[i].Activity = inc.rows()
		}
	}
	return out
}

// severities lists the severities, most severe first.
var severities = []detect.Severity{detect.SeverityCritical, detect.SeverityHigh, detect.SeverityMedium, detect.SeverityLow}
