package detect

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// Events far ahead of the clock.
//
// The clock follows the newest event time, so one event dated ahead — a
// garbled year, a gateway with a wrong clock, tomorrow's line in a merged
// log — would drag the watermark past every real event and make them all
// late, switching detection off. So an event more than aheadGap past the
// newest time does not move the clock: it is held back (a copy, so the
// caller may reuse it). Held events are counted as soon
// as the clock reaches them on its own. When quorum() of them are held
// before as many ordinary events have arrived, the stream itself has moved
// (a quiet night in a small site's log, the next file of a rotated set):
// they are counted in time order and the clock jumps with them — except
// those far ahead even of the held majority, which stay held. When
// quorum() ordinary events arrive first, the held ones were implausible:
// they are handed to OnLate and counted in Stats.Ahead, never silently
// dropped. quorum() grows with the traffic (an eighth of a window's
// events, 8 to 256), so a burst of garbled lines cannot outvote a busy
// stream.

// Bounds of the held-back policy.
const (
	minAheadGap = 15 * time.Minute
	minQuorum   = 8
	maxQuorum   = 256
)

// aheadState is what the policy keeps between events.
type aheadState struct {
	held      []ingest.Event // copies of the held events, in arrival order
	inRange   int            // events counted since the first was held
	perWindow uint64         // events that arrived during the last closed window
	atClose   uint64         // Stats.Events when a window last closed
}

// aheadGap is how far past the newest event time an event may be and
// still move the clock.
func (e *Engine) aheadGap() int64 {
	return max(int64(minAheadGap), 4*e.clock.width+e.clock.lateness)
}

// quorum is how many held events move the clock, and how many ordinary
// ones reject them.
func (e *Engine) quorum() int {
	return min(max(int(e.ah.perWindow/8), minQuorum), maxQuorum)
}

// noteClosed updates the traffic estimate when windows close: n windows
// closed since the last update.
func (e *Engine) noteClosed(n int64) {
	if n <= 0 {
		return
	}
	e.ah.perWindow = (e.stats.Events - e.ah.atClose) / uint64(n)
	e.ah.atClose = e.stats.Events
}

// hold keeps ev back, then jumps the clock if the held events reached
// quorum.
func (e *Engine) hold(ev *ingest.Event) {
	e.ah.held = append(e.ah.held, ev.Clone())
	if len(e.ah.held) >= e.quorum() {
		e.confirmHeld()
	}
}

// afterCounted runs after an ordinary event was counted while events are
// held: it counts those the clock has reached and rejects the rest once
// quorum ordinary events have arrived.
func (e *Engine) afterCounted() {
	e.ah.inRange++
	e.releaseReached()
	if len(e.ah.held) > 0 && e.ah.inRange >= e.quorum() {
		e.rejectHeld()
	}
}

// releaseReached counts, in time order, the held events no longer far
// ahead of the clock.
func (e *Engine) releaseReached() {
	var keep, due []ingest.Event
	for _, ev := range e.ah.held {
		if t, _ := unixNanos(ev.Time); t-e.clock.newest > e.aheadGap() {
			keep = append(keep, ev)
		} else {
			due = append(due, ev)
		}
	}
	e.ah.held = keep
	e.countHeld(due)
	if len(e.ah.held) == 0 {
		e.ah.inRange = 0
	}
}

// confirmHeld counts the held events in time order, moving the clock,
// but for those far ahead even of their median, which stay held.
func (e *Engine) confirmHeld() {
	evs := e.ah.held
	slices.SortStableFunc(evs, func(a, b ingest.Event) int { return a.Time.Compare(b.Time) })
	median, _ := unixNanos(evs[len(evs)/2].Time)
	var keep, due []ingest.Event
	for _, ev := range evs {
		if t, _ := unixNanos(ev.Time); t-median > e.aheadGap() {
			keep = append(keep, ev)
		} else {
			due = append(due, ev)
		}
	}
	e.ah.held, e.ah.inRange = keep, 0
	e.countHeld(due)
}

// rejectHeld hands every held event to OnLate as implausible.
func (e *Engine) rejectHeld() {
	for i := range e.ah.held {
		e.stats.Ahead++
		if e.opts.OnLate != nil {
			e.opts.OnLate(&e.ah.held[i])
		}
	}
	e.ah.held, e.ah.inRange = nil, 0
}

// countHeld counts evs, in order, moving the clock to each. Every held
// event has a usable time: hold is only reached with one.
func (e *Engine) countHeld(evs []ingest.Event) {
	for i := range evs {
		ev := &evs[i]
		t, _ := unixNanos(ev.Time)
		if t > e.clock.newest {
			e.advance(t)
		}
		e.count(ev, e.tab.hashKey(ev.ClientKey), t)
	}
}

// flushHeld ends the input for the held events: they are the stream's
// last, so they are counted, but for those far ahead of their median.
func (e *Engine) flushHeld() {
	if len(e.ah.held) == 0 {
		return
	}
	e.confirmHeld()
	e.rejectHeld()
}

// appendAhead writes the policy's state (snapshot version 6).
func (e *Engine) appendAhead(b []byte) []byte {
	b = binary.AppendUvarint(b, e.stats.Ahead)
	b = binary.AppendUvarint(b, e.ah.perWindow)
	b = binary.AppendUvarint(b, e.ah.atClose)
	b = binary.AppendUvarint(b, uint64(e.ah.inRange))
	b = binary.AppendUvarint(b, uint64(len(e.ah.held)))
	var w []byte
	for i := range e.ah.held {
		w = ingest.AppendWire(w[:0], &e.ah.held[i])
		b = appendString(b, string(w))
	}
	return b
}

// restoreAhead reads what appendAhead wrote.
func (e *Engine) restoreAhead(d *decoder) error {
	e.stats.Ahead = d.Uvarint()
	e.ah.perWindow, e.ah.atClose = d.Uvarint(), d.Uvarint()
	e.ah.inRange = d.int(maxQuorum)
	n := d.int(maxQuorum)
	var ev ingest.Event
	for range n {
		w := []byte(d.string())
		if d.Err != nil {
			break
		}
		ev.Reset()
		if err := ingest.DecodeWire(w, &ev); err != nil {
			return d.Fail("a held event")
		}
		if _, ok := unixNanos(ev.Time); !ok {
			return d.Fail("a held event's time")
		}
		e.ah.held = append(e.ah.held, ev.Clone())
	}
	return d.Err
}
