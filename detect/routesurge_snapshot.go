package detect

import (
	"encoding/binary"
	"slices"

	"github.com/gatewatch/gatewatch/detect/internal/binenc"
)

// Snapshot section added in version 7 (snapshot.go): the write routes'
// baselines, the open incident's client sketch and worst window, and
// their open windows' tallies, sorted by route.

// appendRouteStats writes the routes that have a baseline.
func (e *Engine) appendRouteStats(b []byte) []byte {
	var keys []string
	for k, r := range e.routeAuth {
		if r.stats != nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		st := e.routeAuth[k].stats
		b = appendString(b, k)
		b = binary.AppendVarint(b, st.first)
		b = binary.AppendVarint(b, st.baseW)
		b = binary.AppendVarint(b, st.seenW)
		b = binenc.AppendFloat(b, st.mFresh, st.m2Fresh, st.req, st.fail, st.redir)
		b = appendSketch(b, &st.inc)
		v := &st.worst
		b = append(b, v.test)
		b = binenc.AppendFloat(b, v.observed, v.expected, v.spread, v.requests, v.clients, v.logP)
		b = e.appendRouteWins(b, st)
	}
	return b
}

// appendRouteWins writes a route's tallies of the open windows, oldest
// first.
func (e *Engine) appendRouteWins(b []byte, st *routeStats) []byte {
	var open []*routeWin
	if e.clock.started {
		for w := e.clock.next; w <= e.clock.index(e.clock.newest); w++ {
			if x := &st.win[e.ring.slot(w)]; x.w == w && x.req != 0 {
				open = append(open, x)
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(len(open)))
	for _, x := range open {
		b = binary.AppendVarint(b, x.w)
		for _, n := range [...]uint32{x.req, x.fail, x.redir, x.fresh} {
			b = binary.AppendUvarint(b, uint64(n))
		}
		b = binary.AppendUvarint(b, x.bytes)
		for _, s := range [...]*routeSketch{&x.all, &x.freshers, &x.failers} {
			b = appendSketch(b, s)
		}
		b = append(b, x.nTop)
		for _, t := range x.top[:x.nTop] {
			b = binary.AppendUvarint(b, uint64(t.idx))
			b = binary.AppendUvarint(b, uint64(t.n))
		}
	}
	return b
}

func appendSketch(b []byte, s *routeSketch) []byte {
	for _, x := range s {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return b
}

// restoreRouteStats reads what appendRouteStats wrote.
func (e *Engine) restoreRouteStats(d *decoder) error {
	n := d.int(min(len(d.B), maxRouteStats))
	prev := ""
	for i := range n {
		k := d.string()
		r := e.routeAuth[k]
		if (i > 0 && k <= prev) || r == nil || r.stats != nil {
			return d.Fail("route baselines out of order or without their route")
		}
		prev = k
		st := &routeStats{first: d.Varint(), baseW: d.Varint(), seenW: d.Varint(), win: make([]routeWin, e.ring.slots)}
		st.mFresh, st.m2Fresh, st.req, st.fail, st.redir = d.finite(), d.finite(), d.finite(), d.finite(), d.finite()
		d.sketch(&st.inc)
		v := &st.worst
		v.test = d.Byte()
		v.observed, v.expected, v.spread, v.requests, v.clients, v.logP = d.finite(), d.finite(), d.finite(), d.finite(), d.finite(), d.Float()
		if d.Err != nil {
			return d.Err
		}
		if v.test > routeTestRedir || st.baseW < st.first-1 || st.seenW < st.first || !(st.mFresh >= 0) || !(st.req >= 0) || !(v.logP <= 0) {
			return d.Fail("a route baseline")
		}
		r.key, r.stats = k, st
		e.routeStatsN++
		if err := e.restoreRouteWins(d, st, r); err != nil {
			return err
		}
	}
	return d.Err
}

// restoreRouteWins reads a route's open windows' tallies.
func (e *Engine) restoreRouteWins(d *decoder, st *routeStats, r *routeAuth) error {
	for range d.int(e.ring.slots) {
		x := routeWin{w: d.Varint()}
		x.req, x.fail, x.redir, x.fresh = d.uint32(), d.uint32(), d.uint32(), d.uint32()
		x.bytes = d.Uvarint()
		for _, s := range [...]*routeSketch{&x.all, &x.freshers, &x.failers} {
			d.sketch(s)
		}
		x.nTop = d.Byte()
		if int(x.nTop) > routeTopN {
			return d.Fail("a route window's clients")
		}
		for j := range x.top[:x.nTop] {
			t := &x.top[j]
			t.idx, t.n = int32(d.int(e.tab.list.len()-1)), d.uint32()
			if d.Err != nil || !e.tab.list.at(t.idx).live {
				return d.Fail("a route window's client is not held")
			}
			t.gen = e.tab.hot.at(t.idx).gen
		}
		if d.Err != nil {
			return d.Err
		}
		if !e.clock.started || x.w < e.clock.next || x.w > e.clock.index(e.clock.newest) || x.req == 0 ||
			st.win[e.ring.slot(x.w)].req != 0 {
			return d.Fail("a route window outside the open windows")
		}
		s := e.ring.slot(x.w)
		st.win[s] = x
		e.routeOpen[s] = append(e.routeOpen[s], r)
	}
	return d.Err
}

// sketch reads a routeSketch.
func (d *decoder) sketch(s *routeSketch) {
	for i := range s {
		if b := d.Bytes(8); len(b) == 8 {
			s[i] = binary.LittleEndian.Uint64(b)
		}
	}
}
