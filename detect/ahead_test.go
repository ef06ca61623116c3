package detect

import (
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestFutureEventsDoNotHideAnAttack sends a site's ordinary traffic, a
// few lines dated ahead (50 minutes, a year, a garbled century), then a
// new client's brute force: it is reported, the lines ahead are handed to
// OnLate and counted in Stats.Ahead, and no ordinary event is late. A
// snapshot taken while they are held restores to the same engine.
func TestFutureEventsDoNotHideAnAttack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		ahead []time.Duration // after the 30th minute's traffic
	}{
		{"none", nil},
		{"50 minutes", []time.Duration{50 * time.Minute}},
		{"a year, twice", []time.Duration{365 * 24 * time.Hour, 365 * 24 * time.Hour}},
		{"a century, five lines", []time.Duration{100 * 8760 * time.Hour, 100 * 8760 * time.Hour, 100 * 8760 * time.Hour,
			100 * 8760 * time.Hour, 100 * 8760 * time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var late []time.Time
			s := newSynth(t, Options{OnLate: func(ev *ingest.Event) { late = append(late, ev.Time) }})
			for w := range 60 {
				ts := s.background(40)
				if w >= 45 && w < 50 {
					ts = append(ts, traffic{client: "198.51.100.7", req: 300, auth: 285})
				}
				s.window(w, ts)
				if w == 30 {
					for _, d := range tc.ahead {
						s.send(t0.Add(31*time.Minute+d), "203.0.113.66", 200)
					}
					s.eng = roundTrip(t, s.eng.opts, s.eng)
				}
			}
			s.eng.Flush()
			st := s.eng.Stats()
			if st.Ahead != uint64(len(tc.ahead)) || len(late) != len(tc.ahead) || st.LateEvents != 0 {
				t.Errorf("ahead %d, OnLate %d, late %d; want %d, %d, 0", st.Ahead, len(late), st.LateEvents, len(tc.ahead), len(tc.ahead))
			}
			if len(s.of("198.51.100.7", "")) == 0 {
				t.Errorf("the brute force was not reported (stats %+v)", st)
			}
			if len(s.of("203.0.113.66", "")) != 0 {
				t.Errorf("the client of the lines ahead was reported: %+v", s.of("203.0.113.66", ""))
			}
		})
	}
}

// TestGapInSparseLog checks that a stream which really moved on — a
// small site quiet for two hours, then busy again — is followed: nothing
// after the gap is late or dropped, and the windows across it close.
func TestGapInSparseLog(t *testing.T) {
	t.Parallel()
	s := newSynth(t, Options{})
	for w := range 30 {
		s.window(w, []traffic{{client: "10.1.0.1", req: 2}, {client: "10.1.0.2", req: 1}})
	}
	for w := 150; w < 180; w++ {
		s.window(w, []traffic{{client: "10.1.0.1", req: 2}, {client: "10.1.0.2", req: 1}})
	}
	before := s.eng.Stats()
	if before.WindowsClosed < 170 {
		t.Errorf("%d windows closed before Flush: the clock did not follow the stream past the gap", before.WindowsClosed)
	}
	s.eng.Flush()
	st := s.eng.Stats()
	if st.Events != 60*3 || st.LateEvents != 0 || st.Ahead != 0 {
		t.Errorf("stats %+v: want 180 events, none late or ahead", st)
	}
}

// TestAheadBurstInBusyStream checks that a burst of lines from one
// server with a clock an hour fast is outvoted by a busy stream: its lines
// are rejected as ahead, and the clock stays with the majority.
func TestAheadBurstInBusyStream(t *testing.T) {
	t.Parallel()
	s := newSynth(t, Options{})
	for w := range 20 {
		s.window(w, s.background(60)) // about 2,000 events a window
	}
	for i := range 100 { // a burst of 100, under the quorum of a busy stream
		s.send(t0.Add(20*time.Minute+time.Hour+time.Duration(i)*time.Second), "10.9.9.9", 200)
	}
	for w := 20; w < 30; w++ {
		s.window(w, s.background(60))
	}
	st := s.eng.Stats()
	if st.Ahead != 100 || st.LateEvents != 0 {
		t.Errorf("stats %+v: want 100 ahead, none late", st)
	}
	if wm := st.Watermark; wm.After(t0.Add(31 * time.Minute)) {
		t.Errorf("watermark %s: dragged ahead by the burst", wm)
	}
}
