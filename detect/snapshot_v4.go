package detect

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"strings"
)

// Snapshot sections added in version 4 (snapshot.go): incidents'
// detectors and totals, the population samples waiting for a measurement,
// and the campaigns.

// metrics is how many metric baselines a client has in the snapshot.
func (d *decoder) metrics() int {
	if d.version < 4 {
		return int(mLogin) // before brute_force
	}
	return int(numMetrics)
}

// incidentV4 reads what version 4 added to an incident, or derives it for
// an older snapshot (whose detector numbers stopped before brute_force).
func (d *decoder) incidentV4(in *incident) {
	if d.version < 4 {
		if in.det >= detBrute {
			in.det++
		}
		in.dets, in.emitW = 1<<in.det, in.last
		return
	}
	in.dets = uint16(d.int(1<<numDetectors - 1))
	in.camp = int32(d.int(maxCampaigns))
	in.emitW = in.first + d.Varint()
	d.totals(&in.tot)
}

func appendTotals(b []byte, t *Totals) []byte {
	for _, x := range [...]float64{t.Requests, t.Failures, t.Bytes, t.DistinctPaths} {
		b = appendFloat(b, x)
	}
	return b
}

func (d *decoder) totals(t *Totals) {
	t.Requests, t.Failures, t.Bytes, t.DistinctPaths = d.finite(), d.finite(), d.finite(), d.finite()
}

// appendPending writes the population samples not yet measured: fewer
// than popMinClients each, so a handful of floats.
func (e *Engine) appendPending(b []byte) []byte {
	p := &e.pop
	for _, xs := range [...][]float64{p.logVol, p.errR, p.errInvN, p.authR, p.authInvN} {
		b = appendFloats(b, xs)
	}
	for m := range e.mpop {
		b = appendFloats(b, e.mpop[m].xs)
	}
	return b
}

func appendFloats(b []byte, xs []float64) []byte {
	b = binary.AppendUvarint(b, uint64(len(xs)))
	for _, x := range xs {
		b = appendFloat(b, x)
	}
	return b
}

// floats reads a list written by appendFloats, each float taking 8 bytes.
func (d *decoder) floats() []float64 {
	n := d.int(len(d.B) / 8)
	xs := make([]float64, 0, n)
	for range n {
		xs = append(xs, d.finite())
	}
	return xs
}

func (e *Engine) restorePending(d *decoder) {
	p := &e.pop
	for _, xs := range [...]*[]float64{&p.logVol, &p.errR, &p.errInvN, &p.authR, &p.authInvN} {
		*xs = d.floats()
	}
	if len(p.errR) != len(p.errInvN) || len(p.authR) != len(p.authInvN) {
		d.Fail("ratio samples of different lengths")
	}
	for m := range e.mpop {
		e.mpop[m].xs = d.floats()
	}
}

// appendCampaigns writes the campaigns in slot order.
func (e *Engine) appendCampaigns(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(e.camps)))
	for i := range e.camps {
		c := &e.camps[i]
		b = appendString(b, c.key)
		b = append(b, byte(c.sig))
		inc := 0 // the incident's position in the snapshot, which is its slot after Restore
		if c.inc != 0 {
			inc = e.inc.list[c.inc-1].pos + 1
		}
		b = binary.AppendUvarint(b, uint64(inc))
		b = binary.AppendVarint(b, c.lastW)
		b = binary.AppendUvarint(b, uint64(len(c.names)))
		for i, n := range c.names {
			b = appendString(b, n)
			b = appendFloat(b, c.nameReq[i])
		}
		b = binary.AppendUvarint(b, uint64(c.clients))
		hs := slices.Sorted(maps.Keys(c.seen)) // deterministic bytes
		b = binary.AppendUvarint(b, uint64(len(hs)))
		for _, h := range hs {
			b = binary.AppendUvarint(b, h)
		}
		for _, x := range [...]float64{c.reqs, c.fails, c.succ, c.failClients} {
			b = appendFloat(b, x)
		}
		b = appendTotals(b, &c.tot)
	}
	return b
}

// restoreCampaigns reads the campaigns and checks the incidents' links.
func (e *Engine) restoreCampaigns(d *decoder) error {
	n := d.int(min(len(d.B), maxCampaigns))
	for range n {
		c := campaign{key: d.string()}
		c.route = strings.HasPrefix(c.key, "route:")
		c.sig = signature(d.Byte())
		c.inc = int32(d.int(len(e.inc.list)))
		c.lastW = d.Varint()
		for range d.int(min(len(d.B), campaignTracked)) {
			c.names = append(c.names, d.string())
			c.nameReq = append(c.nameReq, d.finite())
		}
		c.clients = d.int(math.MaxInt32)
		if k := d.int(min(len(d.B), maxCampaignSeen, maxSeenTotal-e.seenTotal)); k > 0 {
			c.seen = make(map[uint64]struct{}, k)
			var prev uint64
			for j := range k {
				h := d.Uvarint()
				if j > 0 && h <= prev {
					return d.Fail("campaign participants out of order")
				}
				c.seen[h], prev = struct{}{}, h
			}
			e.seenTotal += k
		}
		c.reqs, c.fails, c.succ, c.failClients = d.finite(), d.finite(), d.finite(), d.finite()
		d.totals(&c.tot)
		if d.Err != nil {
			return d.Err
		}
		if c.sig >= numSignatures {
			return d.Fail("unknown signature")
		}
		if _, dup := e.campIdx[c.key]; dup {
			return d.Fail("campaign held twice")
		}
		if e.campIdx == nil {
			e.campIdx = make(map[string]int32)
		}
		e.campIdx[c.key] = int32(len(e.camps))
		e.camps = append(e.camps, c)
	}
	return e.checkCampaignLinks(d)
}

// checkCampaignLinks verifies that campaign incidents and campaigns name
// each other.
func (e *Engine) checkCampaignLinks(d *decoder) error {
	for _, i := range e.inc.open {
		in := &e.inc.list[i]
		if in.camp == 0 {
			continue
		}
		if int(in.camp) > len(e.camps) || e.camps[in.camp-1].inc != i+1 {
			return d.Fail("campaign incident without its campaign")
		}
	}
	for i := range e.camps {
		if c := &e.camps[i]; c.inc != 0 && (int(c.inc) > len(e.inc.list) || e.inc.list[c.inc-1].camp != int32(i)+1) {
			return d.Fail("campaign linked to another incident")
		}
	}
	return nil
}
