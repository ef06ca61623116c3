package detect

// Samples.
//
// A finding names a few requests that show what happened: the routes a
// scanner got 404/403 on, the matched probes, the route an enumeration
// walked, the route of the largest response. They are copied into fixed
// buffers per client and open window, so collecting them allocates
// nothing. Only route templates (ids replaced by {id}, see
// ingest.RouteTemplate) and, for probes, the truncated start of the
// matched value are kept: never a query value of an ordinary request,
// never a credential. Samples are kept for the two newest windows of a
// client; with an AllowedLateness longer than a window, an event for an
// older open window is counted but does not replace its samples.

// sampleLen bounds the text of one sample.
const sampleLen = 48

// sample is one bounded, owned piece of text.
type sample struct {
	n uint8
	b [sampleLen]byte
}

func (s *sample) reset() { s.n = 0 }

// write appends as much of t as fits.
func (s *sample) write(t string) {
	s.n += uint8(copy(s.b[s.n:], t))
}

// writeSafe appends t with bytes outside printable ASCII replaced by '?'.
func (s *sample) writeSafe(t string) {
	for i := 0; i < len(t) && int(s.n) < sampleLen; i++ {
		c := t[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		s.b[s.n] = c
		s.n++
	}
}

func (s *sample) set(t string) {
	s.n = 0
	s.write(t)
}

func (s *sample) String() string { return string(s.b[:s.n]) }

func (s *sample) equal(t string) bool { return string(s.b[:s.n]) == t[:min(len(t), sampleLen)] }

// winExtra is what a client's window keeps besides its counts: samples
// for the explanation of a finding.
type winExtra struct {
	// Counters first, in one cache line: reset clears them and not the
	// samples' bytes.
	w        int64 // the window the samples belong to
	bigBytes int64
	idVotes  int32
	nScan    uint8
	nProbe   uint8
	sure     bool      // a probe in the window was an attack by itself (sureProbe)
	scan     [2]sample // routes answered 404/403
	probe    [2]sample // matched injection probes
	idRoute  sample    // the id route most requests went to (a one-counter Misra–Gries)
	big      sample    // route of the largest response
}

// clientExtra holds a client's samples of the two newest windows
// (indexed by window parity). It lives apart from client, in a pool
// (samplePool), so the records Observe looks up per event stay small and
// only clients with samples in an open window hold one.
type clientExtra struct {
	win [2]winExtra
}

// samplePool holds the clientExtra of the clients that sampled a request
// in a window still open, linked from client.samples. Most clients never
// do: at 640 bytes a client, giving every client its own would be half
// of the engine's memory with a long tail of clients. A client's entry
// returns to the pool once the windows it holds are closed
// (releaseSamplesUntil) or the client is evicted.
type samplePool struct {
	list []clientExtra
	// owner and newest are parallel to list: the entry's client + 1 (0
	// for a free entry) and the newest window it holds samples of.
	owner  []int32
	newest []int64
	free   []int32 // indexes + 1 of unused entries
}

// samplesFor returns client idx's samples, to keep some of window w,
// taking an empty entry from the pool if it has none.
func (e *Engine) samplesFor(idx int32, w int64) *clientExtra {
	c := e.tab.list.at(idx)
	p := &e.samples
	if c.samples == 0 {
		if n := len(p.free); n > 0 {
			c.samples = p.free[n-1]
			p.free = p.free[:n-1]
		} else {
			p.list = append(p.list, clientExtra{})
			p.owner, p.newest = append(p.owner, 0), append(p.newest, 0)
			c.samples = int32(len(p.list))
		}
		p.list[c.samples-1] = newClientExtra()
		p.owner[c.samples-1], p.newest[c.samples-1] = idx+1, w
	}
	j := c.samples - 1
	p.newest[j] = max(p.newest[j], w)
	return &p.list[j]
}

// samplesOf returns the samples client idx holds for window w, nil if
// none.
func (e *Engine) samplesOf(idx int32, w int64) *winExtra {
	if ref := e.tab.list.at(idx).samples; ref != 0 {
		return e.samples.list[ref-1].take(w)
	}
	return nil
}

// releaseSamples returns client idx's samples, if any, to the pool.
func (e *Engine) releaseSamples(idx int32) {
	c := e.tab.list.at(idx)
	if c.samples != 0 {
		p := &e.samples
		p.owner[c.samples-1] = 0
		p.free = append(p.free, c.samples)
		c.samples = 0
	}
}

// releaseSamplesUntil returns to the pool the samples that hold no window
// after w, which is being closed: once it is, samples of w or before are
// never read again. A client that samples again gets an entry emptied
// for its window, as the entry released would have been.
func (e *Engine) releaseSamplesUntil(w int64) {
	p := &e.samples
	for j, owner := range p.owner {
		if owner != 0 && p.newest[j] <= w {
			e.releaseSamples(owner - 1)
		}
	}
}

// forWindow returns the samples of window w, reset when they belonged to
// an older window; nil when they belong to a newer one.
func (x *clientExtra) forWindow(w int64) *winExtra {
	s := &x.win[w&1]
	switch {
	case s.w == w:
		return s
	case s.w > w:
		return nil
	}
	s.reset(w)
	return s
}

// reset empties x for window w. Only what says which samples hold text is
// cleared: the counters, kept together at the front, and the lengths of
// the two samples read without a counter. The scan and probe samples past
// nScan and nProbe are never read (nor written to snapshots), so their
// stale bytes need no clearing; zeroing all ~300 bytes touched six cache
// lines for a client's first sampled event of each window.
func (x *winExtra) reset(w int64) {
	x.w, x.bigBytes, x.idVotes, x.nScan, x.nProbe, x.sure = w, 0, 0, 0, 0, false
	x.idRoute.n, x.big.n = 0, 0
}

// take returns the samples of window w if they are held.
func (x *clientExtra) take(w int64) *winExtra {
	if s := &x.win[w&1]; s.w == w {
		return s
	}
	return nil
}

// held returns the samples x holds text in, in snapshot order: the scan
// and probe samples up to their counts, then the id route and the
// largest response's route; n of the array's entries are used.
func (x *winExtra) held() (s [6]*sample, n int) {
	for i := range min(x.nScan, 2) {
		s[n] = &x.scan[i]
		n++
	}
	for i := range min(x.nProbe, 2) {
		s[n] = &x.probe[i]
		n++
	}
	s[n], s[n+1] = &x.idRoute, &x.big
	return s, n + 2
}
