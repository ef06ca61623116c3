package report

import (
	"strings"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

// Collector gathers, in bounded memory, what a report shows. Safe for
// concurrent use (a live page reads Data while the pipeline feeds it).
// The zero Collector works with the default Options; a nil *Collector
// ignores everything fed to it.
type Collector struct {
	mu    sync.Mutex
	ready bool
	o     Options
	st    state
}

// state is everything a Collector forgets on Reset.
type state struct {
	win int64 // window length in nanoseconds (from the WindowStats)

	events, untimed, bytes uint64
	first, last            int64 // event times; valid when events > untimed
	over                   overview
	clients, routes        topK
	classes                [6]uint64
	codes                  [1000]uint64
	input                  InputStats

	tracks    map[string]*track
	dropped   uint64 // windows of clients not tracked
	firstWin  int64  // start of the first window seen; 0 before any
	watermark int64  // end of the latest window seen
	swept     int64  // watermark at the last sweep of idle tracks
	cutoff    int64  // the last sweep dropped tracks idle since before this

	incs       map[string]*incident
	seq        int
	withSeries []*incident
	watch      map[string][]watcher
	omitted    map[detect.Severity]int
}

// New returns a Collector configured by o; the zero Options work.
func New(o Options) *Collector {
	c := &Collector{o: o}
	c.init()
	return c
}

// init applies the defaults and makes an empty state.
func (c *Collector) init() {
	c.o = c.o.withDefaults()
	c.st = state{
		win:     int64(c.o.Window),
		over:    newOverview(c.o.Window, c.o.MaxBuckets),
		clients: newTopK(c.o.TopCapacity),
		routes:  newTopK(c.o.TopCapacity),
		tracks:  make(map[string]*track),
		incs:    make(map[string]*incident),
		watch:   make(map[string][]watcher),
		omitted: make(map[detect.Severity]int),
	}
	c.ready = true
}

// lock locks c, initialising a zero Collector.
func (c *Collector) lock() {
	c.mu.Lock()
	if !c.ready {
		c.init()
	}
}

// Reset forgets everything fed so far, keeping the Options: analyze may
// read its input twice (the sort pass).
func (c *Collector) Reset() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
}

// Event counts one event in the overview, the top clients and routes and
// the status mix. ev is not retained.
func (c *Collector) Event(ev *ingest.Event) {
	if c == nil || ev == nil {
		return
	}
	c.lock()
	c.event(ev)
	c.mu.Unlock()
}

// Events counts a batch of events, as Event does each, under one lock.
func (c *Collector) Events(evs []ingest.Event) {
	if c == nil || len(evs) == 0 {
		return
	}
	c.lock()
	for i := range evs {
		c.event(&evs[i])
	}
	c.mu.Unlock()
}

// statusClass is the status's class, 1 to 5, or 0.
func statusClass(status int) int {
	if status < 100 || status >= 600 {
		return 0
	}
	return status / 100
}

func (c *Collector) event(ev *ingest.Event) {
	s := &c.st
	s.events++
	class := statusClass(ev.Status)
	auth := ev.Status == 401 || ev.Status == 403
	bytes := uint64(max(ev.BytesOut, 0))
	s.bytes += bytes
	s.classes[class]++
	if ev.Status >= 0 && ev.Status < len(s.codes) {
		s.codes[ev.Status]++
	}
	c.timed(ev.Time, class, auth, bytes)
	s.clients.add(ev.ClientKey, class, auth, bytes)
	route := ev.Route
	if route == "" {
		route = ev.Path
	}
	s.routes.add(route, class, auth, bytes)
}

// timed counts an event at time t in the overview.
func (c *Collector) timed(t time.Time, class int, auth bool, bytes uint64) {
	s := &c.st
	ns := nanos(t)
	if ns <= minTime || ns >= maxTime {
		s.untimed++
		return
	}
	if s.events-s.untimed == 1 {
		s.first, s.last = ns, ns
	}
	s.first, s.last = min(s.first, ns), max(s.last, ns)
	b := s.over.at(ns)
	b.Requests++
	b.Bytes += bytes
	switch class {
	case 4:
		b.Status4xx++
	case 5:
		b.Status5xx++
	}
	if auth {
		b.AuthFailures++
	}
}

// Input records the inputs' counters, replacing those recorded before
// (pass the latest totals).
func (c *Collector) Input(in InputStats) {
	if c == nil {
		return
	}
	c.lock()
	defer c.mu.Unlock()
	in.Inputs = append([]InputCount(nil), in.Inputs...)
	c.st.input = in
}

// Window records one client window: in the client's ring of its last
// Context+1 windows, in the series of its incidents, and as activity of
// the campaign and fleet incidents naming it.
func (c *Collector) Window(ws detect.WindowStats) {
	if c == nil {
		return
	}
	c.lock()
	defer c.mu.Unlock()
	c.window(&ws)
}

func (c *Collector) window(ws *detect.WindowStats) {
	s := &c.st
	pt := pointOf(ws)
	if pt.start <= minTime || pt.end >= maxTime || pt.end <= pt.start {
		return
	}
	s.win = pt.end - pt.start
	if s.firstWin == 0 {
		s.firstWin = pt.start
	}
	s.watermark = max(s.watermark, pt.end)
	if tr := c.trackFor(ws.Client, pt.start); tr != nil {
		tr.ring.push(pt, c.o.Context+1)
		tr.last = pt.start
		c.recordPin(tr, pt)
	}
	if ws.Requests > 0 {
		c.recordActivity(ws.Client, pt)
	}
}

// ctx is the span of Context windows, in nanoseconds.
func (c *Collector) ctx() int64 { return int64(c.o.Context) * c.st.win }

// trackFor returns client's track, making one when there is room; nil
// when MaxClients clients are tracked.
func (c *Collector) trackFor(client string, start int64) *track {
	s := &c.st
	if tr := s.tracks[client]; tr != nil {
		return tr
	}
	if len(s.tracks) >= c.o.MaxClients {
		c.sweep()
		if len(s.tracks) >= c.o.MaxClients {
			s.dropped++
			return nil
		}
	}
	return c.newTrack(client, start)
}

// newTrack tracks client. Unless some window was dropped, its ring is
// complete from the first window the collector saw, or from the cutoff
// of the last sweep: a client without a track had no windows since then.
func (c *Collector) newTrack(client string, start int64) *track {
	s := &c.st
	tr := &track{since: start}
	if s.dropped == 0 && s.firstWin != 0 {
		tr.since = min(start, max(s.firstWin, s.cutoff))
	}
	s.tracks[strings.Clone(client)] = tr
	return tr
}

// sweep drops, at most once a window, the tracks idle for longer than an
// incident's context and holding no series: their windows are too old to
// show around any incident to come.
func (c *Collector) sweep() {
	s := &c.st
	if s.swept == s.watermark {
		return
	}
	s.swept = s.watermark
	old := s.watermark - c.ctx() - 2*s.win
	for k, tr := range s.tracks {
		if tr.pin == nil && tr.last < old {
			delete(s.tracks, k)
			s.cutoff = old
		}
	}
}

// recordPin appends pt to the track's pinned series, or stops it once
// its incidents resolved Context windows ago.
func (c *Collector) recordPin(tr *track, pt point) {
	p := tr.pin
	if p == nil {
		return
	}
	if p.open > 0 || pt.start < p.until {
		p.record(pt, c.o.MaxSeriesPoints)
		return
	}
	p.to = pt.start
	tr.pin = nil
}
