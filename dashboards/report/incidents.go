package report

import (
	"slices"
	"strings"

	"github.com/gatewatch/gatewatch/detect"
)

// incident is one incident the collector holds.
type incident struct {
	f         detect.Finding // its newest emission
	emissions int
	seq       int  // arrival order
	group     bool // a campaign or fleet incident: activity, not a series
	slot      bool // holds one of the MaxIncidents series slots
	open      bool // counted in pin.open
	pin       *pin
	act       []*actRow
	until     int64 // group: watch its clients until then once resolved
	resolved  bool
}

// isGroup reports whether f is about many clients: a campaign or the
// fleet.
func isGroup(f *detect.Finding) bool {
	return f.Detector == detect.DetectorCampaign || f.Client == detect.FleetClient ||
		strings.HasPrefix(f.Client, "campaign:")
}

// outranks reports whether a is more severe than b (then higher score,
// then earlier).
func outranks(a, b *incident) bool {
	if ra, rb := a.f.Severity.Rank(), b.f.Severity.Rank(); ra != rb {
		return ra > rb
	}
	if a.f.Score != b.f.Score {
		return a.f.Score > b.f.Score
	}
	return a.seq < b.seq
}

// Finding records one emission of an incident, keyed by IncidentID; the
// newest emission wins. An incident's first emission pins its client's
// series (or, for a campaign or fleet incident, watches its clients).
func (c *Collector) Finding(f detect.Finding) {
	if c == nil || f.IncidentID == "" {
		return
	}
	c.lock()
	defer c.mu.Unlock()
	s := &c.st
	inc := s.incs[f.IncidentID]
	fresh := inc == nil
	if fresh {
		inc = &incident{seq: s.seq, group: isGroup(&f)}
		s.seq++
		s.incs[strings.Clone(f.IncidentID)] = inc
	}
	inc.f = cloneFinding(f)
	inc.emissions++
	if !inc.slot {
		c.claimSlot(inc)
	}
	if inc.slot && inc.group {
		c.feedActivity(inc)
	} else if inc.slot {
		c.feedPin(inc)
	}
	if fresh {
		c.prune()
	}
}

// cloneFinding copies f's slices, which the caller may reuse.
func cloneFinding(f detect.Finding) detect.Finding {
	f.Routes, f.Samples = slices.Clone(f.Routes), slices.Clone(f.Samples)
	f.TopClients, f.Detectors, f.Clients = slices.Clone(f.TopClients), slices.Clone(f.Detectors), slices.Clone(f.Clients)
	if f.Totals != nil {
		t := *f.Totals
		f.Totals = &t
	}
	return f
}

// byRank orders incidents most severe first (outranks).
func byRank(a, b *incident) int {
	switch {
	case outranks(a, b):
		return -1
	case outranks(b, a):
		return 1
	}
	return 0
}

// claimSlot gives inc a series slot: a free one, or that of the least
// severe incident holding one if inc outranks it.
func (c *Collector) claimSlot(inc *incident) {
	s := &c.st
	if len(s.withSeries) >= c.o.MaxIncidents {
		low := slices.MaxFunc(s.withSeries, byRank) // the last in rank order
		if !outranks(inc, low) {
			return
		}
		c.release(low)
	}
	inc.slot = true
	s.withSeries = append(s.withSeries, inc)
}

// release takes inc's series slot back, with its series or activity.
func (c *Collector) release(inc *incident) {
	s := &c.st
	inc.slot = false
	if i := slices.Index(s.withSeries, inc); i >= 0 {
		s.withSeries = slices.Delete(s.withSeries, i, i+1)
	}
	c.unpin(inc)
	for _, row := range inc.act {
		c.unwatch(row.client, inc)
	}
	inc.act = nil
}

// unpin detaches inc from its pin, stopping the pin when no incident
// holds it any more.
func (c *Collector) unpin(inc *incident) {
	p := inc.pin
	if p == nil {
		return
	}
	if inc.open {
		p.open--
		inc.open = false
	}
	p.refs--
	inc.pin = nil
	if p.refs > 0 {
		return
	}
	if tr := c.st.tracks[inc.f.Client]; tr != nil && tr.pin == p {
		tr.pin = nil
		p.to = c.st.watermark
	}
}

// feedPin attaches inc to its client's pinned series, starting one from
// the client's ring when none records, and follows its status.
func (c *Collector) feedPin(inc *incident) {
	s := &c.st
	if inc.pin != nil && inc.pin.to != 0 {
		c.unpin(inc) // stopped: a new emission after the context ran out
	}
	if inc.pin == nil {
		tr := s.tracks[inc.f.Client]
		if tr == nil {
			tr = c.newTrack(inc.f.Client, s.watermark)
		}
		if tr.pin == nil {
			tr.pin = c.startPin(tr)
		}
		inc.pin = tr.pin
		inc.pin.refs++
	}
	open := inc.f.Status != detect.StatusResolved
	switch {
	case open && !inc.open:
		inc.pin.open++
	case !open && inc.open:
		inc.pin.open--
	}
	inc.open = open
	if !open && !inc.f.WindowEnd.IsZero() {
		inc.pin.until = max(inc.pin.until, nanos(inc.f.WindowEnd)+c.ctx())
	}
}

// startPin starts a series from the track's ring.
func (c *Collector) startPin(tr *track) *pin {
	p := &pin{from: tr.since, pts: tr.ring.ordered(make([]point, 0, len(tr.ring.pts)+8))}
	if len(tr.ring.pts) == c.o.Context+1 {
		p.from = max(p.from, p.pts[0].start)
	}
	return p
}

// prune drops the least severe incidents beyond MaxListed, counting
// them, once the list is a quarter over (so pruning is amortised).
func (c *Collector) prune() {
	s := &c.st
	if len(s.incs) <= c.o.MaxListed+c.o.MaxListed/4 {
		return
	}
	all := make([]*incident, 0, len(s.incs))
	for _, inc := range s.incs {
		all = append(all, inc)
	}
	slices.SortFunc(all, byRank)
	for _, inc := range all[c.o.MaxListed:] {
		if inc.slot {
			c.release(inc)
		}
		c.unpin(inc)
		s.omitted[inc.f.Severity]++
		delete(s.incs, inc.f.IncidentID)
	}
}
