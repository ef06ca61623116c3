package detect

import (
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// batchRun is how many events ObserveBatch looks up ahead of counting
// them: enough misses to keep the memory system busy, few enough that
// the lines fetched are still cached when the events are counted.
const batchRun = 16

// ObserveBatch counts evs as calling Observe on each in turn would, with
// the same findings, Stats and state. With many clients most of an
// event's cost is waiting for its client's records to come from memory
// (the index cell, clientHot and the window counters, each in its own
// cache line); ObserveBatch first touches those lines for a run of
// events, so their misses overlap instead of following one another, then
// counts the events one by one as Observe does. A caller holding events
// in a slice should prefer it.
func (e *Engine) ObserveBatch(evs []ingest.Event) {
	var hashes [batchRun]uint64
	for len(evs) > 0 {
		run := evs[:min(len(evs), batchRun)]
		e.touch(run, &hashes)
		for i := range run {
			e.observe(&run[i], hashes[i])
		}
		evs = evs[len(run):]
	}
}

// Quiet reports whether counting n more events, none newer than newest,
// is sure to emit nothing and close no window: an event at newest would
// not move the watermark past the end of the first open window, and n
// new clients fit without evicting one to make room. A consumer that
// credits each finding to the input position of the event that caused it
// (detect/group) can batch such events for ObserveBatch and observe the
// others one by one. Before the first event the engine is never quiet:
// the first event starts the clock, after which a later one in the same
// batch could close a window. Nor is it while events are held for being
// far ahead (ahead.go): the next event may let them move the clock.
func (e *Engine) Quiet(n int, newest time.Time) bool {
	if !e.clock.started || e.tab.live+n >= e.opts.MaxClients || len(e.ah.held) != 0 {
		return false
	}
	t, ok := unixNanos(newest)
	if !ok {
		return false
	}
	// An event at t closes windows when its watermark, t - lateness,
	// reaches the end of the first open window.
	return t-e.clock.lateness < (e.clock.next+1)*e.clock.width
}

// touch hashes the client keys of run into hashes and loads the memory
// counting run will read, without changing anything: it only warms the
// cache, so whatever it finds need not hold by the time an event is
// counted. Each stage is a loop of independent loads, which the processor
// runs ahead on while earlier ones are still waiting for memory.
func (e *Engine) touch(run []ingest.Event, hashes *[batchRun]uint64) {
	t := &e.tab
	for i := range run {
		hashes[i] = t.hashKey(run[i].ClientKey)
	}
	var refs [batchRun]uint32
	mask := uint64(len(t.index) - 1)
	for i := range run {
		h := hashes[i]
		// A quarter of the keys are not in their home cell, but mostly
		// in the next, which is in the same line.
		for p, k := h&mask, 0; k < 4; p, k = (p+1)&mask, k+1 {
			c := t.index[p]
			if c.tag == uint32(h>>32) || c.ref == 0 {
				refs[i] = c.ref
				break
			}
		}
	}
	var sink uint64
	for i := range run {
		if refs[i] == 0 || int(refs[i]) > t.hot.len() || int(refs[i]) > e.ring.counts.len() {
			continue
		}
		idx := int32(refs[i] - 1)
		sink += uint64(t.hot.at(idx).gen)
		ns, ok := unixNanos(run[i].Time)
		if !ok {
			continue
		}
		_, slot := e.window(ns)
		c := &e.ring.counts.recs(idx)[slot]
		sink += uint64(c.req)
		if ev := &run[i]; c.cold != 0 && (ev.Route != ev.Path || ev.ClientKind != ingest.ClientIP) {
			sink += uint64(e.ring.colds[c.cold-1].probes)
		}
	}
	e.sink += sink
}
