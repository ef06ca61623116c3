package detect

import "math"

// Eviction keeps memory bounded: a client idle for IdleAfter in event time
// is dropped at the next sweep, and when MaxClients are held the least
// recently seen are dropped to make room. An evicted client's open
// incidents are resolved first, so no incident is left dangling; if it
// comes back it starts again as a new client.

// evictBatch is the share of MaxClients evicted at once when the table is
// full, so the O(clients) selection runs once per that many new clients
// rather than for every one.
const evictBatch = 64

// sweepEvery is how far the watermark moves between idle sweeps: a
// sixteenth of IdleAfter, so a client outlives IdleAfter by at most ~6%,
// and each O(clients) sweep is spread over many windows.
func (e *Engine) sweepEvery() int64 {
	return max(int64(e.opts.IdleAfter)/16, e.clock.width)
}

// evictIdle drops the clients last seen more than IdleAfter before the
// watermark wm.
func (e *Engine) evictIdle(wm int64) {
	if wm < math.MinInt64+int64(e.opts.IdleAfter) {
		return
	}
	cutoff := wm - int64(e.opts.IdleAfter)
	for i := range int32(e.tab.list.len()) {
		if e.tab.list.at(i).live && e.tab.hot.at(i).lastSeen < cutoff {
			e.evict(i)
		}
	}
}

// evictOldest drops the least recently seen MaxClients/evictBatch
// clients (at least one).
func (e *Engine) evictOldest() {
	n := max(1, e.opts.MaxClients/evictBatch)
	e.seen = e.seen[:0]
	for i := range int32(e.tab.list.len()) {
		if e.tab.list.at(i).live {
			e.seen = append(e.seen, float64(e.tab.hot.at(i).lastSeen))
		}
	}
	if len(e.seen) == 0 {
		return
	}
	cutoff := selectKth(e.seen, min(n, len(e.seen))-1)
	for i := range int32(e.tab.list.len()) {
		if n == 0 {
			break
		}
		if e.tab.list.at(i).live && float64(e.tab.hot.at(i).lastSeen) <= cutoff {
			e.evict(i)
			n--
		}
	}
}

// evict drops client idx.
func (e *Engine) evict(idx int32) {
	e.resolveClient(idx)
	e.ring.clear(idx)
	e.releaseSamples(idx)
	e.releaseSeason(idx)
	e.tab.remove(idx)
	e.stats.Evicted++
}
