package detect

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"math"
	"time"
)

// Incidents.
//
// Anomalous windows of one client, by any of its detectors, separated by
// fewer than ResolveAfter quiet windows, are one incident: an attack that
// pauses for a few minutes, or that several detectors see (a Nikto run is
// a flood of 404s, injection probes and more requests than usual), is
// one incident, named for its most specific detector (detectorPreference)
// and listing the others. Campaigns (campaign.go) are incidents too, of
// many clients. Its first window emits "open"; later anomalous windows emit
// "update" only when the incident got worse (higher severity, or an
// effect at least worseBy times the worst so far) or UpdateEvery windows
// after the last emission, so a long attack is a handful of lines, not one
// per minute; ResolveAfter windows without an anomaly (whether or not the
// client was active) emit "resolved". Every emission reports the worst
// window so far.

// worseBy is how much larger an effect must be than the incident's worst
// to count as getting worse.
const worseBy = 1.25

// incident is one open incident.
type incident struct {
	id      string
	client  int32 // slot of the client; -1 for the fleet
	det     detector
	first   int64 // first anomalous window
	last    int64 // latest anomalous window
	windows int   // anomalous windows so far
	emitted int   // windows at the last emission
	worst   verdict
	sev     Severity // of the worst window
	pos     int      // index in incidents.open
	dets    uint16   // bit d set: detector d flagged a window of it
	camp    int32    // campaign slot + 1; 0 for a client's or the fleet's incident
	emitW   int64    // window of the last emission
	tot     Totals   // tallies of its anomalous windows
}

// incidents holds the open incidents in reusable slots.
type incidents struct {
	list []incident
	free []int32
	open []int32 // slots of open incidents, for the resolution sweep
}

func (s *incidents) add(in incident) int32 {
	var i int32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		i = int32(len(s.list))
		s.list = append(s.list, incident{})
	}
	in.pos = len(s.open)
	s.list[i] = in
	s.open = append(s.open, i)
	return i
}

func (s *incidents) remove(i int32) {
	pos := s.list[i].pos
	last := s.open[len(s.open)-1]
	s.open[pos] = last
	s.list[last].pos = pos
	s.open = s.open[:len(s.open)-1]
	s.list[i] = incident{}
	s.free = append(s.free, i)
}

// incidentID derives a stable id from the client, the detector and the
// start of the incident, so the same input always yields the same ids and
// downstream stores can deduplicate.
func incidentID(key string, d detector, start time.Time) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	h.Write([]byte{0, byte(d)})
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(start.UnixNano()))
	h.Write(b[:])
	return "inc-" + hex.EncodeToString(h.Sum(b[:0]))
}

// record handles a detector's verdict on client idx's window w (item is
// the window's index in e.work, -1 for the fleet): opens or extends the
// client's incident when the verdict is anomalous.
func (e *Engine) record(idx int32, d detector, w int64, v *verdict, item int32) {
	if !v.anomalous {
		return
	}
	slot := e.incSlot(idx, d)
	sev := severityFor(v.effect, v.logP, e.opts.PValue)
	if *slot == 0 {
		in := incident{
			id:     incidentID(e.clientKey(idx), d, e.clock.start(w)),
			client: idx, det: d, first: w, last: w, windows: 1, emitted: 1,
			worst: *v, sev: sev, dets: 1 << d, emitW: w,
		}
		e.addTotals(&in, item)
		i := e.inc.add(in)
		*e.incSlot(idx, d) = i + 1
		e.stats.Findings++
		e.emit(&e.inc.list[i], StatusOpen)
		return
	}
	in := &e.inc.list[*slot-1]
	fresh := w != in.last
	if fresh {
		in.last = w
		in.windows++
		e.addTotals(in, item)
	}
	in.dets |= 1 << d
	worse := sev.rank() > in.sev.rank()
	if worse {
		in.sev = sev
	}
	switch {
	case detectorPreference[d] < detectorPreference[in.det]:
		in.det, in.worst, worse = d, *v, true
	case d == in.det && worseThan(d, v, &in.worst):
		worse = worse || v.effect >= worseBy*in.worst.effect || v.observed >= worseBy*in.worst.observed
		in.worst = *v
	}
	if in.emitW == w {
		return // one emission per window: the next one carries this
	}
	if worse || in.windows-in.emitted >= e.opts.UpdateEvery {
		in.emitted, in.emitW = in.windows, w
		e.stats.Updates++
		e.emit(in, StatusUpdate)
	}
}

// worseThan reports whether v is a worse window than worst for detector
// d: the larger count (requests, failures, distinct paths), or for ratio
// and size detectors the larger effect. A brute force's first, partial
// window is not its worst.
func worseThan(d detector, v, worst *verdict) bool {
	if d == detErrors || d == detExfil {
		return v.effect > worst.effect
	}
	return v.observed > worst.observed || v.observed == worst.observed && v.effect > worst.effect
}

// addTotals adds the tallies of window item (of e.work) to in's totals.
func (e *Engine) addTotals(in *incident, item int32) {
	if item < 0 || int(item) >= len(e.work) {
		return
	}
	n := &e.work[item].n
	in.tot.Requests += float64(n.req)
	in.tot.Failures += float64(n.err + n.auth)
	in.tot.Bytes += float64(n.bytes)
	in.tot.DistinctPaths += math.Round(n.scan.estimate())
}

// resolveQuiet resolves the incidents whose latest anomalous window is
// ResolveAfter or more windows before window w, which just closed.
func (e *Engine) resolveQuiet(w int64) {
	for j := 0; j < len(e.inc.open); {
		i := e.inc.open[j]
		if w-e.inc.list[i].last >= e.resolveGap(&e.inc.list[i]) {
			e.resolve(i) // moves another incident into position j
			continue
		}
		j++
	}
}

// resolveGap is how many quiet windows resolve in: ResolveAfter, or
// CampaignGap for a campaign other than a route's.
func (e *Engine) resolveGap(in *incident) int64 {
	if in.camp != 0 && !e.camps[in.camp-1].route {
		if e.opts.CampaignGap < 0 {
			return math.MaxInt64
		}
		return max(int64(e.opts.CampaignGap/e.opts.Window), 1)
	}
	return int64(e.opts.ResolveAfter)
}

// resolveClient resolves the open incident of client idx.
func (e *Engine) resolveClient(idx int32) {
	if i := *e.incs.at(idx); i != 0 {
		e.resolve(i - 1)
	}
}

// resolveAll resolves every open incident.
func (e *Engine) resolveAll() {
	for len(e.inc.open) > 0 {
		e.resolve(e.inc.open[len(e.inc.open)-1])
	}
}

func (e *Engine) resolve(i int32) {
	in := &e.inc.list[i]
	if in.camp == 0 {
		*e.incSlot(in.client, in.det) = 0
	}
	e.stats.Resolved++
	e.emit(in, StatusResolved)
	if in.camp != 0 {
		c := &e.camps[in.camp-1]
		c.inc = 0
		e.resetCampaign(c)
	}
	e.inc.remove(i)
}

// emit hands the finding for incident in to Options.Emit.
func (e *Engine) emit(in *incident, status Status) {
	if e.opts.Emit == nil {
		return
	}
	key, kind := FleetClient, "fleet"
	if in.client >= 0 {
		key, kind = e.tab.key(in.client), e.tab.list.at(in.client).kind.String()
	}
	v := &in.worst
	f := Finding{
		IncidentID:  in.id,
		Status:      status,
		Client:      key,
		ClientKind:  kind,
		Detector:    in.det.String(),
		WindowStart: e.clock.start(in.first),
		WindowEnd:   e.clock.start(in.last + 1),
		Windows:     in.windows,
		Observed:    finite(v.observed),
		Expected:    finite(v.expected),
		Spread:      finite(v.spread),
		Unit:        e.unit(in.det),
		Score:       score(v.logP, e.opts.PValue),
		PValue:      pValue(v.logP),
		Severity:    in.sev,
		Baseline:    baselineName(v.population),
		History:     v.history,
		Summary:     summary(in.det, status, key, v, e.per, in.windows),
		Why:         e.why(in.det, v),
		Requests:    finite(v.requests),
	}
	if in.det == detProbe {
		f.PValue, f.Baseline = 0, BaselineNone // a count over a floor, not a test
	}
	if in.det == detScan && v.span > 0 {
		f.Unit, f.PValue, f.Baseline = "distinct 404/403 paths", 0, BaselineNone // a sweep: a rule over a run of windows
	}
	if v.ex != nil {
		f.Routes, f.Samples, f.TopClients = v.ex.routes, v.ex.samples, v.ex.top
	}
	if in.dets&(in.dets-1) != 0 {
		for d := range numDetectors {
			if in.dets&(1<<d) != 0 {
				f.Detectors = append(f.Detectors, d.String())
			}
		}
	}
	if in.client >= 0 || in.camp != 0 {
		t := in.tot
		f.Totals = &t
	}
	if in.camp != 0 {
		e.campaignFinding(&f, in, status)
	}
	e.opts.Emit(f)
}

// incSlot returns where the open incident of client idx (-1: the fleet,
// whose detectors each have their own) is linked.
func (e *Engine) incSlot(idx int32, d detector) *int32 {
	if idx < 0 {
		return &e.fleetInc[d-numClientDetectors]
	}
	return e.incs.at(idx)
}

// clientKey is the key of client idx, FleetClient for -1.
func (e *Engine) clientKey(idx int32) string {
	if idx < 0 {
		return FleetClient
	}
	return e.tab.key(idx)
}

func baselineName(population bool) string {
	if population {
		return BaselinePopulation
	}
	return BaselineOwn
}
