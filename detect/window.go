package detect

import (
	"math"
	"time"
)

// Event-time windows.
//
// Time is handled as Unix nanoseconds and windows as their index
// floor(t/width), so a window is [index*width, (index+1)*width). The clock
// tracks the newest event time; the watermark trails it by the allowed
// lateness, and every window ending at or before the watermark is closed.
// At most slots() windows are open at once (two with the defaults), which
// is what lets per-client counters live in a small fixed ring instead of a
// map of windows.

// Representable event times: time.Time.UnixNano is undefined outside about
// 1678..2262, so events outside 1700..2200 are refused as untimed rather
// than wrapped around into some other window.
var (
	minEventTime = time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	maxEventTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
)

// unixNanos converts t for the window arithmetic; ok is false for a zero
// or unrepresentable time.
func unixNanos(t time.Time) (ns int64, ok bool) {
	sec := t.Unix()
	if sec < minEventTime/1e9 || sec > maxEventTime/1e9 {
		return 0, false
	}
	return sec*1e9 + int64(t.Nanosecond()), true
}

// floorDiv is a/b rounded towards minus infinity, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// floorMod is a mod b in [0, b), for b > 0.
func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// clock is the event-time state of an Engine: the newest time seen and the
// first window not yet closed.
type clock struct {
	width    int64 // window width, ns
	lateness int64 // allowed lateness, ns
	started  bool  // an event or AdvanceTo has set newest
	newest   int64 // newest event time seen, ns
	next     int64 // index of the first window that is not closed
}

func newClock(window, lateness time.Duration) clock {
	return clock{width: int64(window), lateness: int64(lateness)}
}

// slots is how many windows can be open at once: the newest event's
// window and the ceil(lateness/width) before it that the watermark has
// not passed yet.
func (c *clock) slots() int {
	return int((c.lateness+c.width-1)/c.width) + 1
}

// index is the window holding time t.
func (c *clock) index(t int64) int64 { return floorDiv(t, c.width) }

// start is the start time of window w.
func (c *clock) start(w int64) time.Time {
	return time.Unix(0, w*c.width).UTC()
}

// watermark is the time up to which all events are assumed to have been
// seen.
func (c *clock) watermark() int64 {
	if !c.started {
		return math.MinInt64
	}
	return c.newest - c.lateness
}

// closeBefore is the index of the first window the watermark does not yet
// close: every window below it has ended at or before the watermark.
func (c *clock) closeBefore() int64 {
	return floorDiv(c.watermark(), c.width)
}

// observe moves the clock to time t if t is newer and reports whether it
// did. The first call also fixes the first open window, so events before
// the watermark of the very first event are late, as they would be for
// any other event.
func (c *clock) observe(t int64) bool {
	if c.started && t <= c.newest {
		return false
	}
	if !c.started {
		c.started = true
		c.newest = t
		c.next = c.closeBefore()
		return true
	}
	c.newest = t
	return true
}

// isLate reports whether an event at window w arrives after w closed.
func (c *clock) isLate(w int64) bool { return w < c.next }

// winCount holds one client's tallies for one open window that every
// event touches: 32 bytes, two to a cache line and never straddling
// two, so the ring of a hundred thousand clients stays small enough to
// be cached.
type winCount struct {
	req    uint32 // requests
	err    uint32 // 5xx responses
	auth   uint32 // 401 and 403 responses
	maxKiB uint16 // largest response in KiB, saturating: when to refresh the sample of it
	login  bool   // the winCold of the window counted a login attempt
	// cold is the index + 1 of the window's winCold in windowRing.colds,
	// 0 while it has none; in a winTally, non-zero when winCold holds
	// something.
	cold  uint32
	bytes uint64 // response bytes
}

// winCold holds the tallies only some events touch: 404/403s, requests
// on routes with ids, probes, clients keyed by more than their address.
type winCold struct {
	scan   bitmap64 // distinct paths answered 404/403 on routes not allowlisted
	ids    idWalks  // distinct paths per route template with ids
	ips    bitmap64 // distinct remote addresses (clients not keyed by IP)
	nets   bitmap64 // distinct remote networks, /24 or /48
	probes uint16   // injection probes, saturating
	tools  uint16   // refused requests with a scanner's user agent, saturating
	misses uint16   // requests answered 404/403 on routes not allowlisted, saturating
	assets uint16   // 404/403s for static assets (images, styles, scripts, fonts), saturating: a page's broken images, not a sweep
	sigs   uint32   // bit s set: a commodity probe of signature s (signature.go)
	sigReq uint16   // commodity probe requests, saturating
	sigKey uint16   // the window's probe key of least sigOrd (Engine.names index + 1)
	sigOrd uint32   // keyOrder of sigKey: the choice does not depend on the order of a second's lines
	// loginRoute is the route of the latest login attempt (Engine.names
	// index + 1).
	loginRoute uint16
	logins     loginTally
}

// loginTally counts a client's login attempts (POSTs to login routes) in
// a window by their answer, saturating.
type loginTally struct {
	n, ok, redirect, denied uint16 // attempts; answered 2xx, 3xx, 401/403
	follow                  uint16 // requests after the first attempt that were not attempts, answered below 400
}

// add counts one attempt answered status.
func (l *loginTally) add(status int) {
	l.n = satInc(l.n)
	switch {
	case status == 401 || status == 403:
		l.denied = satInc(l.denied)
	case status >= 300 && status < 400:
		l.redirect = satInc(l.redirect)
	case status >= 200 && status < 300:
		l.ok = satInc(l.ok)
	}
}

// satInc adds one to x, saturating.
func satInc(x uint16) uint16 {
	if x == math.MaxUint16 {
		return x
	}
	return x + 1
}

// winTally is all of a client's tallies for one window.
type winTally struct {
	winCount
	winCold
}

// bigKiB is the smallest response whose route is kept as a sample: the
// samples explain exfiltration, and visiting them for every small
// response would cost a cache miss per event.
const bigKiB = 64

// hit is what one event adds to its client's window.
type hit struct {
	err, auth, miss, idReq, probe bool
	sure                          bool      // a probe that is an attack by itself (sureProbe)
	addr                          bool      // the remote address counts
	login                         bool      // a login attempt
	loginRoute                    uint16    // its route, Engine.names index + 1
	sigKey                        uint16    // the probe's key, Engine.names index + 1
	sigOrd                        uint32    // keyOrder of the probe's key
	tool                          bool      // a refused request with a scanner's user agent
	asset                         bool      // a refused request for a static asset
	formFetch                     bool      // not an attempt, but a request for the route of the window's login attempts
	sig                           signature // a commodity probe
	status                        int
	bytes                         uint64
	pathHash, addrHash, netHash   uint64
	routeBucket                   uint8 // the id route's sketch, for enumeration
}

// clientRef names a client slot as it was when a window first counted it;
// gen tells a reused slot from the evicted client that held it.
type clientRef struct {
	idx int32
	gen uint32
}

// windowRing holds the per-client counters of the open windows, in one
// flat array (client index * slots + window slot), and for each slot the
// clients that have counts in it, so closing a window touches only the
// clients active in it. The cold tallies, which most client windows never
// touch, live apart in a pool shared by all (colds, reused through
// freeCold) and are linked from winCount.cold: a client costs 32 bytes a
// window slot, not the 112 a winCold beside every winCount would.
type windowRing struct {
	slots    int
	counts   paged[winCount] // slots records a client
	colds    []winCold       // cold tallies in use or free
	freeCold []uint32        // indexes + 1 of free entries in colds
	active   [][]clientRef
}

func newWindowRing(slots int) windowRing {
	return windowRing{slots: slots, counts: newPaged[winCount](slots), active: make([][]clientRef, slots)}
}

// slot is the ring position of window w.
func (r *windowRing) slot(w int64) int { return int(floorMod(w, int64(r.slots))) }

// grow makes room for clients [0, n).
func (r *windowRing) grow(n int) {
	r.counts.grow(n)
}

// coldOf returns the cold tallies of c, allocating them if c has none.
func (r *windowRing) coldOf(c *winCount) *winCold {
	if c.cold == 0 {
		if n := len(r.freeCold); n > 0 {
			c.cold = r.freeCold[n-1]
			r.freeCold = r.freeCold[:n-1]
		} else {
			r.colds = append(r.colds, winCold{})
			c.cold = uint32(len(r.colds))
		}
	}
	return &r.colds[c.cold-1]
}

// dropCold returns the cold tallies of c, if any, to the pool, zeroed.
func (r *windowRing) dropCold(c *winCount) {
	if c.cold != 0 {
		r.colds[c.cold-1] = winCold{}
		r.freeCold = append(r.freeCold, c.cold)
		c.cold = 0
	}
}

// add counts one request of client ref in window slot s, and reports
// whether its response is the largest of the window so far and at least
// bigKiB.
func (r *windowRing) add(ref clientRef, s int, h *hit) (biggest bool) {
	c := &r.counts.recs(ref.idx)[s]
	if c.req == 0 {
		r.active[s] = append(r.active[s], ref)
	}
	c.req++
	if h.err {
		c.err++
	}
	if h.auth {
		c.auth++
	}
	if c.login && !h.login && h.status < 400 && !h.formFetch {
		// A client that goes on after a login attempt was let in; one
		// that fetches the login form again was not (and a bot's form
		// fetch and post in one second come in either order in an
		// unsorted log).
		if k := &r.colds[c.cold-1]; k.logins.n > 0 {
			k.logins.follow = satInc(k.logins.follow)
		}
	}
	if h.miss || h.idReq || h.probe || h.addr || h.login || h.sig != sigNone {
		r.addCold(c, h)
	}
	c.bytes += h.bytes
	if b := uint16(min(h.bytes>>10, math.MaxUint16)); b > c.maxKiB {
		c.maxKiB = b
		return b >= bigKiB
	}
	return false
}

// addCold counts what h adds to the cold tallies of window counts c.
func (r *windowRing) addCold(c *winCount, h *hit) {
	k := r.coldOf(c)
	if h.miss {
		k.scan.add(h.pathHash)
		k.misses = satInc(k.misses)
		if h.tool {
			k.tools = satInc(k.tools)
		}
		if h.asset {
			k.assets = satInc(k.assets)
		}
	}
	if h.idReq {
		k.ids.add(h.routeBucket, h.pathHash)
	}
	if h.probe {
		k.probes = satInc(k.probes)
	}
	if h.addr {
		k.ips.add(h.addrHash)
		k.nets.add(h.netHash)
	}
	if h.sig != sigNone {
		if k.sigs == 0 || h.sigOrd < k.sigOrd {
			k.sigKey, k.sigOrd = h.sigKey, h.sigOrd
		}
		k.sigs |= 1 << h.sig
		k.sigReq = satInc(k.sigReq)
	}
	if h.login {
		c.login = true
		k.logins.add(h.status)
		k.loginRoute = h.loginRoute
	}
}

// peek returns client idx's tallies in slot s, leaving them in place.
func (r *windowRing) peek(idx int32, s int) winTally {
	c := &r.counts.recs(idx)[s]
	v := winTally{winCount: *c}
	if c.cold != 0 {
		v.winCold = r.colds[c.cold-1]
	}
	return v
}

// take returns and zeroes client idx's tallies in slot s.
func (r *windowRing) take(idx int32, s int) winTally {
	c := &r.counts.recs(idx)[s]
	v := r.peek(idx, s)
	r.dropCold(c)
	*c = winCount{}
	return v
}

// put sets client idx's tallies in slot s, which are empty, to v.
func (r *windowRing) put(idx int32, s int, v *winTally) {
	c := &r.counts.recs(idx)[s]
	*c = v.winCount
	c.cold = 0
	if v.winCold != (winCold{}) {
		*r.coldOf(c) = v.winCold
	}
}

// clear zeroes every slot of client idx, when it is evicted; its stale
// entries in the active lists are skipped by generation.
func (r *windowRing) clear(idx int32) {
	recs := r.counts.recs(idx)
	for i := range recs {
		r.dropCold(&recs[i])
	}
	clear(recs)
}

// loginRoute returns the route (Engine.names index + 1) of the latest
// login attempt of client idx in slot s, 0 when the window has none.
func (r *windowRing) loginRoute(idx int32, s int) uint16 {
	c := &r.counts.recs(idx)[s]
	if !c.login || c.cold == 0 {
		return 0
	}
	return r.colds[c.cold-1].loginRoute
}
