package alert

import (
	"sync"
	"time"
)

// SinkStats are one sink's delivery figures, for /metrics and /healthz.
type SinkStats struct {
	Name string
	// Queue is the number of findings waiting for the sink, in flight
	// included (as far as its feed knows).
	Queue int64
	// OldestAge is how long the oldest finding in flight has waited
	// since it was queued (0 when nothing is in flight).
	OldestAge time.Duration
	// Delivered counts notifications the sink took; Filtered counts
	// findings routed to other sinks.
	Delivered, Filtered uint64
	// Retries counts failed attempts that were retried; Throttled counts
	// those the receiver asked to retry later (429, Retry-After).
	Retries, Throttled uint64
	// Dropped counts notifications not delivered, by reason: "rejected"
	// (refused for good, dead-lettered), "undecodable" (dead-lettered),
	// "silenced", "duplicate" (already delivered).
	Dropped map[string]uint64
	// LastSuccess is when the sink last took a notification.
	LastSuccess time.Time
	// FailingSince is when the current run of failures started (zero
	// while the sink is healthy); LastError is the latest failure, terse.
	FailingSince time.Time
	LastError    string

	inflightSince time.Time
	inflightN     int
}

// stats is a worker's SinkStats under a mutex.
type stats struct {
	mu sync.Mutex
	s  SinkStats
}

func (st *stats) init(name string) {
	st.s = SinkStats{Name: name, Dropped: map[string]uint64{}}
}

func (st *stats) filtered(n int) {
	st.mu.Lock()
	st.s.Filtered += uint64(n)
	st.mu.Unlock()
}

func (st *stats) drop(reason string, n int) {
	st.mu.Lock()
	st.s.Dropped[reason] += uint64(n)
	st.mu.Unlock()
}

func (st *stats) inflight(since time.Time, n int) {
	st.mu.Lock()
	st.s.inflightSince, st.s.inflightN = since, n
	st.mu.Unlock()
}

func (st *stats) succeeded(n int) {
	st.mu.Lock()
	st.s.Delivered += uint64(n)
	st.s.LastSuccess = time.Now()
	st.s.FailingSince = time.Time{}
	st.mu.Unlock()
}

func (st *stats) failed(err error, throttled bool) {
	st.mu.Lock()
	st.s.Retries++
	if throttled {
		st.s.Throttled++
	}
	if st.s.FailingSince.IsZero() {
		st.s.FailingSince = time.Now()
	}
	st.s.LastError = terse(err)
	st.mu.Unlock()
}

// snapshot copies the figures.
func (st *stats) snapshot() SinkStats {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.s
	s.Dropped = make(map[string]uint64, len(st.s.Dropped))
	for k, v := range st.s.Dropped {
		s.Dropped[k] = v
	}
	return s
}

// recent remembers the last n delivery ids a sink took, so a finding
// offered twice (a feed replaying after a rebalance) is sent once.
type recent struct {
	ids  map[string]struct{}
	ring []string
	next int
}

func newRecent(n int) *recent {
	return &recent{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (r *recent) has(id string) bool {
	_, ok := r.ids[id]
	return ok
}

func (r *recent) add(id string) {
	if r.has(id) {
		return
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.ids, old)
	}
	r.ring[r.next] = id
	r.ids[id] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
}
