package detect

import (
	"math"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

func TestFloorDivMod(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ a, b, div, mod int64 }{
		{0, 60, 0, 0},
		{59, 60, 0, 59},
		{60, 60, 1, 0},
		{-1, 60, -1, 59},
		{-60, 60, -1, 0},
		{-61, 60, -2, 59},
		{math.MinInt64, 2, math.MinInt64 / 2, 0},
	} {
		if d, m := floorDiv(tc.a, tc.b), floorMod(tc.a, tc.b); d != tc.div || m != tc.mod {
			t.Errorf("floor(%d/%d) = %d rem %d, want %d rem %d", tc.a, tc.b, d, m, tc.div, tc.mod)
		}
	}
}

func TestUnixNanos(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		t  time.Time
		ok bool
	}{
		{time.Time{}, false},
		{time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{t0.Add(time.Nanosecond), true},
	} {
		ns, ok := unixNanos(tc.t)
		if ok != tc.ok || (ok && ns != tc.t.UnixNano()) {
			t.Errorf("unixNanos(%v) = %d, %v; want ok %v", tc.t, ns, ok, tc.ok)
		}
	}
}

func TestClockSlots(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		window, lateness time.Duration
		slots            int
	}{
		{time.Minute, 0, 1},
		{time.Minute, 30 * time.Second, 2},
		{time.Minute, time.Minute, 2},
		{time.Minute, 61 * time.Second, 3},
		{10 * time.Second, time.Minute, 7},
	} {
		c := newClock(tc.window, tc.lateness)
		if got := c.slots(); got != tc.slots {
			t.Errorf("slots(%v, %v) = %d, want %d", tc.window, tc.lateness, got, tc.slots)
		}
	}
}

// TestLateness drives an engine with one client's events in the given
// order and checks which are counted and which are late.
func TestLateness(t *testing.T) {
	t.Parallel()
	sec := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, tc := range []struct {
		name     string
		lateness time.Duration
		times    []time.Time
		late     int
		untimed  int
		closed   uint64 // windows closed before Flush
	}{
		// The first event at 0 leaves the window before it open for late events.
		{"in order", 30 * time.Second, []time.Time{sec(0), sec(30), sec(61), sec(125)}, 0, 0, 2},
		{"within lateness", 30 * time.Second, []time.Time{sec(50), sec(70), sec(40)}, 0, 0, 0},
		// sec(40)'s window [0,60) stays open until an event newer than 90s.
		{"behind but window open", 30 * time.Second, []time.Time{sec(80), sec(10)}, 0, 0, 0},
		{"window closed", 30 * time.Second, []time.Time{sec(50), sec(95), sec(59)}, 1, 0, 1},
		{"before first watermark", 30 * time.Second, []time.Time{sec(100), sec(50)}, 1, 0, 0},
		{"no lateness", -1, []time.Time{sec(50), sec(61), sec(59)}, 1, 0, 1},
		{"zero time", 30 * time.Second, []time.Time{sec(1), {}, sec(2)}, 0, 1, 0},
		// One event a day ahead is held back (ahead.go): it moves nothing.
		{"far future then past", 30 * time.Second, []time.Time{sec(1), sec(86400), sec(2)}, 0, 0, 0},
		// Eight such events with nothing in between: the stream moved.
		{"jump confirmed then past", 30 * time.Second, []time.Time{sec(1), sec(86400), sec(86401), sec(86402), sec(86403),
			sec(86404), sec(86405), sec(86406), sec(86407), sec(2)}, 1, 0, 1440},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var late []time.Time
			e := New(Options{AllowedLateness: tc.lateness, OnLate: func(ev *ingest.Event) { late = append(late, ev.Time) }})
			var ev ingest.Event
			for _, at := range tc.times {
				ev = ingest.Event{Time: at, ClientKey: "198.51.100.1", ClientKind: ingest.ClientIP, Status: 200}
				e.Observe(&ev)
			}
			st := e.Stats()
			if st.Events != uint64(len(tc.times)) || st.LateEvents != uint64(tc.late) || st.Untimed != uint64(tc.untimed) {
				t.Errorf("events %d late %d untimed %d; want %d, %d, %d", st.Events, st.LateEvents, st.Untimed, len(tc.times), tc.late, tc.untimed)
			}
			if len(late) != tc.late+tc.untimed {
				t.Errorf("OnLate called %d times, want %d", len(late), tc.late+tc.untimed)
			}
			if st.WindowsClosed != tc.closed {
				t.Errorf("windows closed %d, want %d", st.WindowsClosed, tc.closed)
			}
		})
	}
}

// TestWindowCounts checks that events land in the right window: a spike
// split across a window boundary by late-but-allowed events is judged in
// the window its event times say.
func TestWindowCounts(t *testing.T) {
	t.Parallel()
	s := newSynth(t, Options{MinHistory: 5})
	for w := range 12 {
		s.window(w, []traffic{{client: "a", req: 10}})
	}
	// Window 12: 60 events, delivered 20 s late, after window 13 began.
	for i := range 30 {
		s.send(t0.Add(13*time.Minute+time.Duration(i)*time.Second), "a", 200)
	}
	for i := range 60 {
		s.send(t0.Add(12*time.Minute+time.Duration(i)*time.Second/2), "a", 200)
	}
	s.eng.Flush()
	fs := s.of("a", DetectorVolume)
	if len(fs) == 0 {
		t.Fatal("no volume finding for the 60-request window")
	}
	if got := fs[0].WindowStart; !got.Equal(t0.Add(12 * time.Minute)) {
		t.Errorf("finding window starts %v, want %v", got, t0.Add(12*time.Minute))
	}
	if fs[0].Observed != 60 {
		t.Errorf("observed %v, want 60", fs[0].Observed)
	}
	if st := s.eng.Stats(); st.LateEvents != 0 {
		t.Errorf("late %d, want 0", st.LateEvents)
	}
}

func TestAdvanceTo(t *testing.T) {
	t.Parallel()
	s := newSynth(t, Options{MinHistory: 5})
	for w := range 10 {
		s.window(w, []traffic{{client: "a", req: 5}})
	}
	s.window(10, []traffic{{client: "a", req: 200}})
	if len(s.findings) != 0 {
		t.Fatalf("finding before the window closed: %+v", s.findings)
	}
	s.eng.AdvanceTo(t0.Add(11*time.Minute + 29*time.Second))
	if len(s.findings) != 0 {
		t.Fatalf("finding before the watermark passed the window: %+v", s.findings)
	}
	s.eng.AdvanceTo(t0.Add(11*time.Minute + 30*time.Second))
	if len(s.findings) != 1 || s.findings[0].Status != StatusOpen {
		t.Fatalf("want one open finding once the watermark passes, got %+v", s.findings)
	}
	// Going backwards is ignored; far forward resolves by quiet windows.
	s.eng.AdvanceTo(t0)
	s.eng.AdvanceTo(t0.Add(time.Hour))
	if st := s.eng.Stats(); st.OpenIncidents != 0 || st.Resolved != 1 {
		t.Errorf("after an idle hour: %d open, %d resolved; want 0, 1", st.OpenIncidents, st.Resolved)
	}
	if wm := s.eng.Stats().Watermark; !wm.Equal(t0.Add(time.Hour - 30*time.Second)) {
		t.Errorf("watermark %v", wm)
	}
}
