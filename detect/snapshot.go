package detect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gatewatch/gatewatch/detect/internal/binenc"
	"github.com/gatewatch/gatewatch/ingest"
)

// Snapshots.
//
// A detector replica in a consumer group checkpoints its Engine together
// with the input offset the checkpoint covers, and a replica that takes
// the partition over (after a rebalance or a restart) restores it and
// resumes from that offset. The snapshot therefore holds everything that
// determines future output: the clock and the counts of the open windows
// (including those still inside the allowed lateness), every client with
// its baselines, the population model, the open incidents with what was
// already emitted for them, and the counters. A restored engine fed the
// rest of the input emits exactly what the uninterrupted one would have:
// the same incident ids, "update" and "resolved" for incidents opened
// before the snapshot, never a second "open".
//
// What a snapshot leaves out is rebuilt: the maphash seed and the hash
// index (a seed must not outlive its process, and the new engine has its
// own), slot generations, and scratch space.
//
// Options are not part of the snapshot; they come from the configuration
// of the restoring process. Window must be the one the snapshot was taken
// with, since every window index and incident id depends on it.
// AllowedLateness may change as long as the windows the snapshot holds
// open fit the new one (a shorter lateness closes them at the next event
// or AdvanceTo). Everything else may change freely and takes effect from
// the next window close: thresholds, HalfLife, MinHistory (counted in the
// client's windows, which are kept), disabled detectors (an incident of a
// detector switched off resolves after ResolveAfter windows), IdleAfter,
// and MaxClients (when below the clients restored, each new client evicts
// a batch of the least recently seen, as a full engine always does).
//
// Version 2 added the scanning, enumeration, injection, exfiltration,
// credential-sharing and fleet detectors' state and the samples of open
// windows; a version 1 snapshot is refused with an error saying so (its
// baselines lack the new detectors' history). Version 3 added each
// client's seasonal profile after its baselines, and the open windows'
// enumeration sketch became four, by route template, and only the scan
// and probe samples a window holds are written; a version 2 snapshot is
// restored with empty profiles, which then learn as a new client's do,
// and its one enumeration sketch as the first of four. Version 4 added the
// brute-force baseline (a fifth metric), one incident per client with its
// detectors and totals, the open windows' probe and login tallies, and at
// the end the population samples still waiting for a measurement and the
// campaigns; a version 2 or 3 snapshot is restored with empty ones, and
// of a client's several open incidents only the first is kept. Version 5
// added, at the end, the POST routes' refusal counts that learn login
// routes (loginroutes.go); earlier snapshots restore with none counted.
// Version 6 added, at the end, the events held back for being far ahead
// of the clock and the traffic estimate that decides their fate
// (ahead.go), then the newest position counted per file origin
// (replay.go); earlier snapshots restore with none held or remembered.
// Version 7 added each client's sweep run after its exfiltration run
// (sweep.go) and, at the end, the write routes' baselines and open
// windows (routesurge.go); earlier snapshots restore with no runs and no
// route baselines, and their routes are judged once they have been seen
// for routeMinAge windows.
//
// Layout, version 7 (varints are encoding/binary's, floats IEEE 754
// little-endian bit patterns, so restored baselines are bit-identical),
// with the function that writes each part:
//
//	magic "GWDS", version byte
//	window, allowed lateness (ns)                    appendClock
//	clock: started; newest time, first open window
//	warm-up end, next idle sweep, counters
//	population model, the metric population models,  appendPopulation
//	  the fleet detectors
//	client slots: count, free list, then each live   appendClients
//	  slot's client
//	open incidents, in resolution-sweep order        appendIncidents
//	open windows, oldest first: the active clients'  appendWindow
//	  counts, in order
//	population samples waiting for a measurement     appendPending
//	login routes and probe keys named by windows     AppendBinary
//	campaigns                                        appendCampaigns
//	POST routes' refusal counts                      appendRouteAuth
//	events held far ahead, traffic estimate          appendAhead
//	replayed lines, newest position per origin       appendOrigins
//	write routes' baselines and open windows         appendRouteStats
//	CRC-32C of all the above
//
// Order is kept wherever it decides the order of findings or which
// clients are evicted first: client slots, the free list, the incidents'
// sweep order, each window's active clients.

// Snapshot framing.
const (
	snapshotMagic   = "GWDS"
	snapshotVersion = 7
)

// ErrSnapshot is wrapped by every error Restore returns for data that is
// not a well-formed snapshot: truncated, corrupted, of an unknown version.
var ErrSnapshot = errors.New("detect: invalid snapshot")

// MarshalBinary encodes the engine's state as a snapshot for Restore. It
// does not change the engine. See AppendBinary.
//
// The snapshot covers every call made so far, and every finding already
// passed to Options.Emit counts as delivered: a consumer stores the
// snapshot with the offset of the next input, after (or atomically with)
// the findings emitted up to it, so that neither is replayed.
func (e *Engine) MarshalBinary() ([]byte, error) {
	return e.AppendBinary(nil)
}

// AppendBinary appends the engine's snapshot to b, so a checkpointing loop
// can reuse one buffer. The format is versioned: a later version of this
// package restores snapshots of earlier versions, or says it cannot.
func (e *Engine) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = e.appendClock(b)
	b = e.appendPopulation(b)
	b = e.appendClients(b)
	b = e.appendIncidents(b)
	if e.clock.started {
		for w := e.clock.next; w <= e.clock.index(e.clock.newest); w++ {
			b = e.appendWindow(b, w)
		}
	}
	b = e.appendPending(b)
	b = binary.AppendUvarint(b, uint64(len(e.names)))
	for _, r := range e.names {
		b = appendString(b, r)
	}
	b = e.appendCampaigns(b)
	b = e.appendRouteAuth(b)
	b = e.appendAhead(b)
	b = e.appendOrigins(b)
	b = e.appendRouteStats(b)
	return binenc.Seal(b, start), nil
}

// appendClock writes the window and allowed lateness, the clock, the
// warm-up end, the next idle sweep and the counters.
func (e *Engine) appendClock(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(e.clock.width))
	b = binary.AppendUvarint(b, uint64(e.clock.lateness))

	b = appendBool(b, e.clock.started)
	if e.clock.started {
		b = binary.AppendVarint(b, e.clock.newest)
		b = binary.AppendVarint(b, e.clock.next)
	}
	b = binary.AppendVarint(b, e.warmUntil)
	b = binary.AppendVarint(b, e.nextSweep)
	st := &e.stats
	for _, n := range [...]uint64{st.Events, st.LateEvents, st.Untimed, st.WindowsClosed,
		st.Evicted, st.Findings, st.Updates, st.Resolved} {
		b = binary.AppendUvarint(b, n)
	}
	return b
}

// appendPopulation writes the population model, the metric population
// models and the fleet detectors' baselines and hourly profile.
func (e *Engine) appendPopulation(b []byte) []byte {
	p := &e.pop
	b = append(b, boolBits(p.volReady, p.dispReady))
	for _, x := range [...]float64{p.volMid, p.volSD, p.volHigh, p.errs.p, p.errs.rho,
		p.auth.p, p.auth.rho, p.disp.kappa, p.disp.excess} {
		b = appendFloat(b, x)
	}
	b = binary.AppendUvarint(b, uint64(p.ratioWindows))
	for m := range e.mpop {
		mp := &e.mpop[m]
		b = appendBool(b, mp.ready)
		b = appendFloat(b, mp.mid)
		b = appendFloat(b, mp.sd)
		b = appendFloat(b, mp.high)
	}
	b = appendVolumeBaseline(b, &e.fleet.vol)
	b = appendVolumeBaseline(b, &e.fleet.auth)
	for h := range e.fleet.season {
		b = appendFloat(b, e.fleet.season[h])
		b = binary.AppendUvarint(b, uint64(e.fleet.seasonN[h]))
	}
	return b
}

// appendClients writes the client table: its number of slots, the free
// list, then each live slot's client with its baselines.
func (e *Engine) appendClients(b []byte) []byte {
	t := &e.tab
	b = binary.AppendUvarint(b, uint64(t.list.len()))
	b = binary.AppendUvarint(b, uint64(len(t.free)))
	for _, i := range t.free {
		b = binary.AppendUvarint(b, uint64(i))
	}
	for i := range int32(t.list.len()) {
		c := t.list.at(i)
		if !c.live {
			continue
		}
		b = t.appendKey(b, int32(i))
		b = append(b, byte(c.kind), boolBits(c.founding))
		// Relative to the newest time: a few bytes instead of nine. The
		// subtraction may wrap; the addition in Restore wraps back.
		b = binary.AppendVarint(b, e.clock.newest-t.hot.at(i).lastSeen)
		b = appendVolumeBaseline(b, &c.vol)
		b = appendRatioBaseline(b, &c.errs)
		b = appendRatioBaseline(b, &c.auth)
		for m := range e.more.at(i) {
			mb := e.more.at(i)[m]
			mb.n = c.moreN[m]
			b = appendVolumeBaseline(b, &mb)
		}
		b = appendSeason(b, e.seasonOf(int32(i)))
		b = appendFloat(b, c.exfilRun)
		b = appendFloat(b, float64(c.sweep.paths))
		b = appendFloat(b, float64(c.sweep.reqs))
		b = binary.AppendVarint(b, c.sweep.firstW)
		b = binary.AppendVarint(b, c.sweep.lastW)
		b = append(b, boolBits(c.sweep.eligible))
	}
	return b
}

// appendIncidents writes the open incidents in their sweep order.
func (e *Engine) appendIncidents(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(e.inc.open)))
	for _, i := range e.inc.open {
		in := &e.inc.list[i]
		b = appendString(b, in.id)
		b = binary.AppendVarint(b, int64(in.client))
		b = append(b, byte(in.det), byte(in.sev.rank()))
		b = binary.AppendVarint(b, in.first)
		b = binary.AppendUvarint(b, uint64(in.last-in.first))
		b = binary.AppendUvarint(b, uint64(in.windows))
		b = binary.AppendUvarint(b, uint64(in.emitted))
		b = appendVerdict(b, &in.worst)
		b = binary.AppendUvarint(b, uint64(in.dets))
		b = binary.AppendUvarint(b, uint64(in.camp))
		b = binary.AppendVarint(b, in.emitW-in.first)
		b = appendTotals(b, &in.tot)
	}
	return b
}

// appendWindow appends the counts of open window w: its live active
// clients in the order they were first counted.
func (e *Engine) appendWindow(b []byte, w int64) []byte {
	s := e.ring.slot(w)
	live := 0
	for _, r := range e.ring.active[s] {
		if e.refCounts(r, s).req > 0 {
			live++
		}
	}
	b = binary.AppendUvarint(b, uint64(live))
	for _, r := range e.ring.active[s] {
		n := e.refCounts(r, s)
		if n.req == 0 {
			continue
		}
		b = binary.AppendUvarint(b, uint64(r.idx))
		b = binary.AppendUvarint(b, uint64(n.req))
		b = binary.AppendUvarint(b, uint64(n.err))
		b = binary.AppendUvarint(b, uint64(n.auth))
		for _, x := range [...]uint64{uint64(n.probes), uint64(n.maxKiB), n.bytes,
			uint64(n.scan), uint64(n.ids[0]), uint64(n.ids[1]), uint64(n.ids[2]), uint64(n.ids[3]),
			uint64(n.ips), uint64(n.nets), uint64(n.sigs), uint64(n.sigReq),
			uint64(n.logins.n), uint64(n.logins.ok), uint64(n.logins.redirect), uint64(n.logins.denied), uint64(n.logins.follow), uint64(n.loginRoute), uint64(n.sigKey), uint64(n.tools)} {
			b = binary.AppendUvarint(b, x)
		}
		b = binary.AppendUvarint(b, uint64(n.misses))
		b = binary.AppendUvarint(b, uint64(n.assets))
		b = binary.AppendUvarint(b, uint64(n.sigOrd))
		x := e.samplesOf(r.idx, w)
		b = appendBool(b, x != nil)
		if x != nil {
			b = appendWinExtra(b, x)
		}
	}
	return b
}

// appendWinExtra encodes a window's extras: the samples it holds, the
// enumeration votes and the largest response.
func appendWinExtra(b []byte, x *winExtra) []byte {
	np := x.nProbe
	if x.sure {
		np |= sureBit
	}
	b = append(b, x.nScan, np)
	held, n := x.held()
	for _, s := range held[:n] {
		b = append(b, s.n)
		b = append(b, s.b[:s.n]...)
	}
	b = binary.AppendVarint(b, int64(x.idVotes))
	return binary.AppendVarint(b, x.bigBytes)
}

// appendSeason encodes a client's profile: one zero byte for a client
// whose profile is still empty, as most are in their first hours.
func appendSeason(b []byte, s *clientSeason) []byte {
	b = binary.AppendUvarint(b, s.seen)
	if s.seen == 0 {
		return b
	}
	b = binary.AppendUvarint(b, uint64(s.parity))
	for _, f := range s.factor {
		b = binary.AppendVarint(b, int64(f))
	}
	return b
}

// appendVolumeBaseline encodes a count baseline.
func appendVolumeBaseline(b []byte, v *volumeBaseline) []byte {
	b = binary.AppendUvarint(b, uint64(v.n))
	b = appendFloat(b, v.mean)
	b = appendFloat(b, v.vari)
	b = appendFloat(b, v.lm)
	return appendFloat(b, v.lv)
}

// refCounts returns the counts of r in slot s, or none when r names an
// evicted client.
func (e *Engine) refCounts(r clientRef, s int) winTally {
	if !e.tab.list.at(r.idx).live || e.tab.hot.at(r.idx).gen != r.gen {
		return winTally{}
	}
	return e.ring.peek(r.idx, s)
}

// appendRatioBaseline encodes a ratio baseline.
func appendRatioBaseline(b []byte, r *ratioBaseline) []byte {
	b = binary.AppendUvarint(b, uint64(r.n))
	b = appendFloat(b, r.hits)
	b = appendFloat(b, r.reqs)
	b = appendFloat(b, r.dev)
	return appendFloat(b, r.bin)
}

// appendVerdict encodes an incident's worst window: flags, figures,
// history, then the evidence lists when it has them.
func appendVerdict(b []byte, v *verdict) []byte {
	b = append(b, boolBits(v.anomalous, v.suspect, v.population, v.seasonal, v.ex != nil, v.prior, v.rule, v.tool))
	for _, x := range [...]float64{v.observed, v.expected, v.spread, v.logP, v.effect,
		v.requests, v.hits, v.refHigh} {
		b = appendFloat(b, x)
	}
	b = binary.AppendUvarint(b, uint64(v.history))
	b = binary.AppendUvarint(b, uint64(v.span))
	if v.ex != nil {
		for _, list := range [...][]string{v.ex.routes, v.ex.samples, v.ex.top} {
			b = binary.AppendUvarint(b, uint64(len(list)))
			for _, s := range list {
				b = appendString(b, s)
			}
		}
	}
	return b
}

// appendFloat encodes x as its IEEE 754 bit pattern.
func appendFloat(b []byte, x float64) []byte { return binenc.AppendFloat(b, x) }

// appendString encodes s as its length and bytes.
func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendBool encodes v as a byte of one flag.
func appendBool(b []byte, v bool) []byte { return append(b, boolBits(v)) }

// boolBits packs flags into a byte, the first in the lowest bit.
func boolBits(flags ...bool) byte {
	var x byte
	for i, f := range flags {
		if f {
			x |= 1 << i
		}
	}
	return x
}

// Restore returns an Engine configured by opts holding the state of a
// snapshot taken by MarshalBinary, ready to continue with the input after
// the point the snapshot covers. It fails, with an error wrapping
// ErrSnapshot, on data that is not a complete, intact snapshot of a known
// version, and with a plain error when opts.Window differs from the
// snapshot's or opts.AllowedLateness is too short to hold the windows the
// snapshot has open. It never panics, whatever data holds.
func Restore(opts Options, data []byte) (*Engine, error) {
	const head = len(snapshotMagic) + 1
	if len(data) < head+4 {
		return nil, fmt.Errorf("%w: %d bytes", ErrSnapshot, len(data))
	}
	if string(data[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a detector snapshot", ErrSnapshot)
	}
	v := data[len(snapshotMagic)]
	if v == 1 {
		return nil, fmt.Errorf("%w: version 1 predates the scanning, enumeration, injection, exfiltration, sharing and fleet detectors; start this build without a checkpoint", ErrSnapshot)
	} else if v < 2 || v > snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads 2 to %d", ErrSnapshot, v, snapshotVersion)
	}
	body, err := binenc.Unseal(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	e := New(opts)
	d := decoder{Reader: binenc.Reader{B: body[head:], Wrap: ErrSnapshot}, version: v}
	if err := e.restore(&d); err != nil {
		return nil, err
	}
	if len(d.B) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrSnapshot, len(d.B))
	}
	return e, nil
}

// restore fills the fresh engine e from the snapshot body in d.
func (e *Engine) restore(d *decoder) error {
	if err := e.restoreClock(d); err != nil {
		return err
	}
	e.restorePopulation(d)
	if err := e.restoreClients(d); err != nil {
		return err
	}
	if err := e.restoreIncidents(d); err != nil {
		return err
	}
	if e.clock.started {
		for w := e.clock.next; w <= e.clock.index(e.clock.newest); w++ {
			if err := e.restoreWindow(d, w); err != nil {
				return err
			}
		}
	}
	if d.version >= 4 {
		e.restorePending(d)
		for range d.int(min(len(d.B), maxCampaigns)) {
			if n := len(e.names); e.internName(d.string()) != uint16(n+1) {
				return d.Fail("a name held twice")
			}
		}
		if err := e.restoreCampaigns(d); err != nil {
			return err
		}
	}
	if d.version >= 5 {
		if err := e.restoreRouteAuth(d); err != nil {
			return err
		}
	}
	if d.version >= 6 {
		if err := e.restoreAhead(d); err != nil {
			return err
		}
		if err := e.restoreOrigins(d); err != nil {
			return err
		}
	}
	if d.version >= 7 {
		if err := e.restoreRouteStats(d); err != nil {
			return err
		}
	}
	return d.Err
}

// restoreClock reads what appendClock wrote. It fails when the snapshot's
// window is not the options' or its open windows do not fit the options'
// allowed lateness.
func (e *Engine) restoreClock(d *decoder) error {
	width, lateness := d.Uvarint(), d.Uvarint()
	if d.Err != nil {
		return d.Err
	}
	if width != uint64(e.clock.width) {
		return fmt.Errorf("detect: snapshot has %v windows, options %v: window indexes and incident ids would not carry over",
			time.Duration(width), e.opts.Window)
	}

	if started := d.flags(1); started != 0 {
		e.clock.started = true
		e.clock.newest, e.clock.next = d.Varint(), d.Varint()
		if d.Err != nil {
			return d.Err
		}
		if e.clock.newest < minEventTime || e.clock.newest > maxEventTime {
			return d.Fail("newest event time out of range")
		}
		last := e.clock.index(e.clock.newest)
		if e.clock.next > last+1 {
			return d.Fail("first open window after the newest event")
		}
		if open := last + 1 - e.clock.next; open > int64(e.ring.slots) {
			return fmt.Errorf("detect: snapshot (AllowedLateness %v) holds %d windows open, options' AllowedLateness %v at most %d",
				time.Duration(lateness), open, e.opts.AllowedLateness, e.ring.slots)
		}
	}
	e.warmUntil, e.nextSweep = d.Varint(), d.Varint()
	st := &e.stats
	for _, n := range [...]*uint64{&st.Events, &st.LateEvents, &st.Untimed, &st.WindowsClosed,
		&st.Evicted, &st.Findings, &st.Updates, &st.Resolved} {
		*n = d.Uvarint()
	}
	return nil
}

// restorePopulation reads what appendPopulation wrote. An error sticks in
// d (see decoder).
func (e *Engine) restorePopulation(d *decoder) {
	p := &e.pop
	f := d.flags(2)
	p.volReady, p.dispReady = f&1 != 0, f&2 != 0
	for _, x := range [...]*float64{&p.volMid, &p.volSD, &p.volHigh, &p.errs.p, &p.errs.rho,
		&p.auth.p, &p.auth.rho, &p.disp.kappa, &p.disp.excess} {
		*x = d.finite()
	}
	p.ratioWindows = d.int(math.MaxInt32)
	for m := range d.metrics() {
		mp := &e.mpop[m]
		mp.ready = d.flags(1) != 0
		mp.mid, mp.sd, mp.high = d.finite(), d.finite(), d.finite()
	}
	d.volumeBaseline(&e.fleet.vol)
	d.volumeBaseline(&e.fleet.auth)
	for h := range e.fleet.season {
		e.fleet.season[h] = d.finite()
		e.fleet.seasonN[h] = d.uint32()
	}
}

// restoreClients rebuilds the client table: the same slots and free list,
// hashed under the new engine's seed.
func (e *Engine) restoreClients(d *decoder) error {
	t := &e.tab
	// Every slot costs at least a byte, which bounds the allocation below
	// by the size of the input.
	n := d.int(len(d.B))
	nfree := d.int(n)
	if d.Err != nil {
		return d.Err
	}
	t.list.grow(n)
	t.hot.grow(n)
	t.free = make([]int32, nfree)
	free := make([]bool, n)
	for j := range t.free {
		i := d.int(n - 1)
		if d.Err != nil {
			return d.Err
		}
		if free[i] {
			return d.Fail("slot freed twice")
		}
		free[i] = true
		t.free[j] = int32(i)
	}
	t.rehash(2 * (n - nfree))
	e.growExtra(n)
	for i := range int32(n) {
		if free[i] {
			continue
		}
		key := d.string()
		var c client
		c.kind = ingest.ClientKind(d.Byte()) // unknown kinds print as "unknown", as before
		c.founding = d.flags(1) != 0
		lastSeen := e.clock.newest - d.Varint()
		d.volumeBaseline(&c.vol)
		d.ratioBaseline(&c.errs)
		d.ratioBaseline(&c.auth)
		for m := range d.metrics() {
			mb := &e.more.at(i)[m]
			d.volumeBaseline(mb)
			c.moreN[m] = mb.n
			c.quiet = setQuiet(c.quiet, 1<<m, mb)
		}
		var season clientSeason
		if d.version >= 3 {
			d.season(&season)
		}
		if d.version >= 4 {
			c.exfilRun = d.finite()
		}
		if d.version >= 7 {
			d.sweepRun(&c.sweep)
		}
		if d.Err != nil {
			return d.Err
		}
		_, hash, found := t.find(key)
		if found {
			return d.Fail("client key held twice")
		}
		t.place(int32(i), key, hash, c.kind)
		c.live = true
		*t.list.at(i) = c
		t.hot.at(i).lastSeen = lastSeen
		if season != (clientSeason{}) {
			*e.seasonFor(int32(i)) = season
		}
	}
	e.ring.grow(n)
	return nil
}

// restoreIncidents rebuilds the open incidents in their sweep order and
// links them to their clients.
func (e *Engine) restoreIncidents(d *decoder) error {
	k := d.int(len(d.B))
	if d.Err != nil {
		return d.Err
	}
	s := &e.inc
	s.list = make([]incident, k)
	s.open = make([]int32, 0, k)
	for i := range s.list {
		in := &s.list[i]
		in.id = d.string()
		in.client = int32(d.Varint())
		in.det = detector(d.Byte())
		in.sev = severityOfRank(d.Byte())
		in.first = d.Varint()
		in.last = in.first + int64(d.int(math.MaxInt32))
		in.windows = d.int(math.MaxInt32)
		in.emitted = d.int(in.windows)
		d.verdict(&in.worst)
		d.incidentV4(in)
		if d.Err != nil {
			return d.Err
		}
		fleet := in.det >= numClientDetectors
		if in.camp != 0 || in.det == detCampaign {
			switch {
			case in.det != detCampaign || in.client != -1 || in.camp == 0:
				return d.Fail("campaign incident of a client, or without its campaign")
			case in.sev == "":
				return d.Fail("unknown severity")
			case in.windows == 0 || in.emitted == 0:
				return d.Fail("incident without windows")
			}
			in.pos = len(s.open)
			s.open = append(s.open, int32(i))
			continue
		}
		if d.version < 4 && !fleet && in.client >= 0 && int(in.client) < e.tab.list.len() && *e.incs.at(in.client) != 0 {
			// Version 3 kept one incident per client and detector;
			// this build keeps one per client: the first stands.
			s.list[i] = incident{}
			s.free = append(s.free, int32(i))
			continue
		}
		switch {
		case in.det >= numDetectors:
			return d.Fail("unknown detector")
		case fleet != (in.client == -1):
			return d.Fail("fleet incident of a client, or client incident of the fleet")
		case in.client < -1 || int(in.client) >= e.tab.list.len():
			return d.Fail("incident client out of range")
		case in.sev == "":
			return d.Fail("unknown severity")
		case !fleet && !e.tab.list.at(in.client).live:
			return d.Fail("incident of a freed client slot")
		case *e.incSlot(in.client, in.det) != 0:
			return d.Fail("two open incidents of one client and detector")
		case in.windows == 0 || in.emitted == 0:
			return d.Fail("incident without windows")
		}
		*e.incSlot(in.client, in.det) = int32(i) + 1
		in.pos = len(s.open)
		s.open = append(s.open, int32(i))
	}
	return nil
}

// restoreWindow refills the counts of open window w.
func (e *Engine) restoreWindow(d *decoder, w int64) error {
	s := e.ring.slot(w)
	m := d.int(len(d.B))
	if d.Err != nil {
		return d.Err
	}
	refs := make([]clientRef, 0, m)
	for range m {
		idx := d.int(e.tab.list.len() - 1)
		var n winTally
		n.req, n.err, n.auth = d.uint32(), d.uint32(), d.uint32()
		if d.version >= 4 {
			n.probes = uint16(d.int(math.MaxUint16))
		} else {
			n.probes = uint16(min(d.uint32(), math.MaxUint16)) // saturating, as counted now
		}
		n.maxKiB = uint16(d.int(math.MaxUint16))
		n.bytes = d.Uvarint()
		n.scan = bitmap64(d.Uvarint())
		d.idWalks(&n.ids)
		n.ips, n.nets = bitmap64(d.Uvarint()), bitmap64(d.Uvarint())
		if d.version >= 4 {
			n.sigs = uint32(d.int(1<<numSignatures - 1))
			n.sigReq = uint16(d.int(math.MaxUint16))
			l := &n.logins
			l.n, l.ok, l.redirect, l.denied = uint16(d.int(math.MaxUint16)), uint16(d.int(math.MaxUint16)),
				uint16(d.int(math.MaxUint16)), uint16(d.int(math.MaxUint16))
			l.follow = uint16(d.int(math.MaxUint16))
			n.loginRoute = uint16(d.int(maxCampaigns))
			n.sigKey = uint16(d.int(maxCampaigns))
			n.tools = uint16(d.int(math.MaxUint16))
		}
		if d.version >= 7 {
			n.misses, n.assets = uint16(d.int(math.MaxUint16)), uint16(d.int(math.MaxUint16))
			n.sigOrd = d.uint32()
		}
		var x winExtra
		held := d.flags(1) != 0
		if held {
			d.winExtra(&x, w)
		}
		if d.Err != nil {
			return d.Err
		}
		if held {
			e.samplesFor(int32(idx), w).win[w&1] = x
		}
		switch {
		case !e.tab.list.at(int32(idx)).live:
			return d.Fail("counts of a freed client slot")
		case n.req == 0 || n.err > n.req || n.auth > n.req:
			return d.Fail("inconsistent window counts")
		}
		if e.ring.counts.recs(int32(idx))[s].req != 0 {
			return d.Fail("client counted twice in a window")
		}
		n.login = n.logins.n > 0
		e.ring.put(int32(idx), s, &n)
		refs = append(refs, clientRef{idx: int32(idx)})
	}
	e.ring.active[s] = refs
	return nil
}

// severityOfRank inverts Severity.rank; "" for an unknown rank.
func severityOfRank(r byte) Severity {
	switch r {
	case 0:
		return SeverityLow
	case 1:
		return SeverityMedium
	case 2:
		return SeverityHigh
	case 3:
		return SeverityCritical
	}
	return ""
}

// decoder reads a snapshot body. The first error sticks: later reads
// return zero values, so a decoding step checks d.Err once at its end.
type decoder struct {
	binenc.Reader
	version byte // of the snapshot being read
}

// int reads an unsigned varint of at most limit; a negative limit fails.
func (d *decoder) int(limit int) int {
	x := d.Uvarint()
	if d.Err == nil && (limit < 0 || x > uint64(limit)) {
		d.Fail(fmt.Sprintf("value %d out of range [0, %d]", x, limit))
		return 0
	}
	return int(x)
}

// uint32 reads an unsigned varint of at most math.MaxUint32.
func (d *decoder) uint32() uint32 { return uint32(d.int(math.MaxUint32)) }

// flags reads a byte of n flags and fails on any other bit set.
func (d *decoder) flags(n int) byte {
	x := d.Byte()
	if x>>n != 0 {
		d.Fail("unknown flags")
		return 0
	}
	return x
}

// finite reads a float that must be finite: baselines and the population
// model never hold NaN or infinities, and the statistics assume so.
func (d *decoder) finite() float64 {
	x := d.Float()
	if math.IsNaN(x) || math.IsInf(x, 0) {
		d.Fail("non-finite baseline value")
		return 0
	}
	return x
}

// string reads what appendString wrote.
func (d *decoder) string() string { return string(d.Bytes(d.Uvarint())) }

// idWalks reads a window's enumeration sketches. Version 2 had one for
// all of a client's id routes: it becomes the first, so the window closes
// with the count it had.
func (d *decoder) idWalks(w *idWalks) {
	n := idSketches
	if d.version < 3 {
		n = 1
	}
	for i := range n {
		w[i] = bitmap64(d.Uvarint())
	}
}

// season reads what appendSeason wrote.
func (d *decoder) season(s *clientSeason) {
	if s.seen = d.Uvarint(); s.seen == 0 {
		return
	}
	if s.seen>>(2*seasonSlots) != 0 {
		d.Fail("seasonal profile out of range")
		return
	}
	s.parity = d.uint32()
	for i := range s.factor {
		v := d.Varint()
		if v < math.MinInt16 || v > math.MaxInt16 {
			d.Fail("seasonal factor out of range")
			return
		}
		s.factor[i] = int16(v)
	}
}

// volumeBaseline reads what appendVolumeBaseline wrote.
func (d *decoder) volumeBaseline(v *volumeBaseline) {
	v.n = d.uint32()
	v.mean, v.vari, v.lm, v.lv = d.finite(), d.finite(), d.finite(), d.finite()
}

// sureBit marks, in a snapshot's probe sample count, a window with a
// probe that was an attack by itself (winExtra.sure); snapshots written
// before it have the bit clear.
const sureBit = 0x80

// winExtra reads what appendWinExtra wrote for window w.
func (d *decoder) winExtra(x *winExtra, w int64) {
	x.w = w
	x.nScan, x.nProbe = d.Byte(), d.Byte()
	x.sure, x.nProbe = x.nProbe&sureBit != 0, x.nProbe&^sureBit
	if x.nScan > 2 || x.nProbe > 2 {
		d.Fail("too many samples")
		return
	}
	samples, n := x.held()
	if d.version < 3 {
		// Version 2 wrote every sample buffer, held or not.
		samples, n = [6]*sample{&x.scan[0], &x.scan[1], &x.probe[0], &x.probe[1], &x.idRoute, &x.big}, 6
	}
	for _, s := range samples[:n] {
		n := d.Byte()
		if d.Err != nil || int(n) > sampleLen || int(n) > len(d.B) {
			d.Fail("bad sample")
			return
		}
		s.n = n
		copy(s.b[:], d.B[:n])
		d.B = d.B[n:]
	}
	x.idVotes = int32(d.Varint())
	x.bigBytes = d.Varint()
}

// ratioBaseline reads what appendRatioBaseline wrote.
func (d *decoder) ratioBaseline(r *ratioBaseline) {
	r.n = d.uint32()
	r.hits, r.reqs, r.dev, r.bin = d.finite(), d.finite(), d.finite(), d.finite()
}

// verdict reads an incident's worst window. Its floats may be infinite (a
// tail probability of 0 is a logP of -Inf); emission copes with that.
func (d *decoder) verdict(v *verdict) {
	n := 5
	if d.version >= 4 {
		n = 8 // and prior, rule, tool
	}
	f := d.flags(n)
	v.anomalous, v.suspect, v.population, v.seasonal = f&1 != 0, f&2 != 0, f&4 != 0, f&8 != 0
	v.prior, v.rule, v.tool = f&32 != 0, f&64 != 0, f&128 != 0
	for _, x := range [...]*float64{&v.observed, &v.expected, &v.spread, &v.logP, &v.effect,
		&v.requests, &v.hits, &v.refHigh} {
		*x = d.Float()
	}
	v.history = d.int(math.MaxUint32)
	if d.version >= 7 {
		v.span = d.int(math.MaxUint32)
	}
	if f&16 != 0 {
		v.ex = &explain{}
		for _, list := range [...]*[]string{&v.ex.routes, &v.ex.samples, &v.ex.top} {
			n := d.int(len(d.B))
			for range n {
				*list = append(*list, d.string())
			}
		}
	}
}
