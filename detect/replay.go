package detect

import (
	"encoding/binary"
	"slices"

	"github.com/gatewatch/gatewatch/ingest"
)

// Lines sent again.
//
// A collector that crashes re-sends the lines read after its last saved
// position: at least once, never skipped. Events of file inputs say where
// they were read (ingest.Event Origin and Pos; Pos grows within an
// Origin), so the engine keeps, per origin, the newest position it counted
// and skips an event at or before it: a re-sent line is counted once, in
// Stats.Replayed, never as a volume spike of every client in it. Events
// without an origin (stdin, syslog, HTTP) are always counted. A Kafka
// partition keyed by client carries each origin's events in order, so
// each partition's engine can judge its own share.

// maxOrigins bounds the origins remembered; past it the half least
// recently seen are forgotten.
const maxOrigins = 4096

// originMark is the newest position counted of one origin, and the window
// it was counted in.
type originMark struct {
	pos int64
	w   int64
}

// Admit reports whether ev is to be counted: false for a line counted
// before (Stats.Replayed counts it), true otherwise. An admitted event's
// position is recorded and its Origin cleared, so Observe or
// ObserveBatch, which must get it next, counts it without checking it
// again. A caller that looks at events besides counting them (the API
// contract of detect/group) calls Admit first, so a re-sent line reaches
// none of it; others just call Observe, which does the same check.
func (e *Engine) Admit(ev *ingest.Event) bool {
	if ev.Origin == 0 {
		return true
	}
	if e.replayed(ev) {
		e.stats.Replayed++
		return false
	}
	ev.Origin = 0
	return true
}

// replayed reports whether ev was counted before, and otherwise records
// its position.
func (e *Engine) replayed(ev *ingest.Event) bool {
	m, ok := e.origins[ev.Origin]
	if ok && ev.Pos <= m.pos {
		return true
	}
	if e.origins == nil {
		e.origins = make(map[uint64]originMark)
	}
	e.origins[ev.Origin] = originMark{pos: ev.Pos, w: e.clock.next}
	if !ok && len(e.origins) > maxOrigins {
		e.forgetOrigins()
	}
	return false
}

// forgetOrigins drops the half of the origins least recently counted
// (all of those tied at the cut, so the choice does not depend on map
// order).
func (e *Engine) forgetOrigins() {
	ws := make([]int64, 0, len(e.origins))
	for _, m := range e.origins {
		ws = append(ws, m.w)
	}
	slices.Sort(ws)
	cut := ws[len(ws)/2]
	for o, m := range e.origins {
		if m.w <= cut {
			delete(e.origins, o)
		}
	}
}

// appendOrigins writes the origins in key order (snapshot version 6).
func (e *Engine) appendOrigins(b []byte) []byte {
	keys := make([]uint64, 0, len(e.origins))
	for o := range e.origins {
		keys = append(keys, o)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, e.stats.Replayed)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, o := range keys {
		m := e.origins[o]
		b = binary.AppendUvarint(b, o)
		b = binary.AppendVarint(b, m.pos)
		b = binary.AppendVarint(b, m.w)
	}
	return b
}

// restoreOrigins reads what appendOrigins wrote.
func (e *Engine) restoreOrigins(d *decoder) error {
	e.stats.Replayed = d.Uvarint()
	n := d.int(min(len(d.B), maxOrigins+1))
	prev := uint64(0)
	for i := range n {
		o := d.Uvarint()
		if o == 0 || (i > 0 && o <= prev) {
			return d.Fail("origins out of order")
		}
		prev = o
		if e.origins == nil {
			e.origins = make(map[uint64]originMark, n)
		}
		e.origins[o] = originMark{pos: d.Varint(), w: d.Varint()}
	}
	return d.Err
}
