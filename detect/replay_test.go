package detect

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// replayStream is a file's worth of events with origins and positions:
// 30 ordinary clients, and a brute force from minute 40.
func replayStream() []ingest.Event {
	var evs []ingest.Event
	pos := int64(0)
	for s := range 60 * 60 {
		at := t0.Add(time.Duration(s) * time.Second)
		for c := range 30 {
			if (s+c)%7 != 0 {
				continue
			}
			pos += 120
			evs = append(evs, ingest.Event{Time: at, ClientKey: clientName(c), ClientKind: ingest.ClientIP, Status: 200,
				Auth: ingest.AuthOK, Origin: 0xfeed, Pos: pos})
		}
		if s >= 40*60 && s < 45*60 {
			for range 5 {
				pos += 120
				evs = append(evs, ingest.Event{Time: at, ClientKey: "192.0.2.66", ClientKind: ingest.ClientIP, Status: 401,
					Auth: ingest.AuthFailed, Origin: 0xfeed, Pos: pos})
			}
		}
	}
	return evs
}

// TestReplayedLinesCountedOnce sends a stream, then again the lines of
// the last "second" before each of three crashes of its collector: the
// findings are those of the stream sent once, every re-sent line is in
// Stats.Replayed, and a snapshot carries what was counted.
func TestReplayedLinesCountedOnce(t *testing.T) {
	t.Parallel()
	evs := replayStream()
	run := func(crashes []int, snapshotAt int) ([]string, Stats) {
		var out []string
		opts := Options{Emit: func(f Finding) {
			b, _ := json.Marshal(f)
			out = append(out, string(b))
		}}
		e := New(opts)
		next := 0
		for i := range evs {
			if next < len(crashes) && i == crashes[next] {
				for j := max(0, i-300); j < i; j++ { // re-sent: up to 300 lines before the crash
					e.Observe(&evs[j])
				}
				next++
			}
			if i == snapshotAt {
				e = roundTrip(t, opts, e)
			}
			e.Observe(&evs[i])
		}
		e.Flush()
		return out, e.Stats()
	}
	want, wantSt := run(nil, -1)
	got, st := run([]int{1000, len(evs) / 2, len(evs) - 50}, len(evs)/2+10)
	if st.Replayed != 300*3 || st.Events != wantSt.Events {
		t.Errorf("replayed %d, events %d; want 900 and %d", st.Replayed, st.Events, wantSt.Events)
	}
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("%d findings with re-sent lines, %d without (want the same, and some)", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("finding %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
}

// TestOriginsBounded checks that the origins remembered stay bounded.
func TestOriginsBounded(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	for i := range 3 * maxOrigins {
		ev := ingest.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), ClientKey: "c", ClientKind: ingest.ClientIP,
			Status: 200, Origin: uint64(i + 1), Pos: 1}
		e.Observe(&ev)
	}
	if n := len(e.origins); n > maxOrigins || n < maxOrigins/2 {
		t.Errorf("%d origins remembered, want between %d and %d", n, maxOrigins/2, maxOrigins)
	}
	if st := e.Stats(); st.Events != 3*maxOrigins || st.Replayed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestAdmitThenObserve: Admit skips what was counted before and clears
// the origin of what it admits, so Observe after it counts the event
// once, neither skipping it as its own replay nor counting it twice; a
// batch admitted event by event and then observed together counts every
// event.
func TestAdmitThenObserve(t *testing.T) {
	e := New(Options{})
	evs := replayStream()[:500]
	var batch []ingest.Event
	for _, ev := range evs {
		if !e.Admit(&ev) {
			t.Fatalf("fresh event at %d not admitted", ev.Pos)
		}
		if ev.Origin != 0 {
			t.Fatal("admitted event keeps its origin")
		}
		batch = append(batch, ev)
	}
	e.ObserveBatch(batch)
	for _, ev := range evs[300:] {
		if e.Admit(&ev) {
			t.Fatalf("re-sent event at %d admitted", ev.Pos)
		}
	}
	noOrigin := ingest.Event{Time: evs[499].Time, ClientKey: "203.0.113.9", Status: 200}
	if !e.Admit(&noOrigin) {
		t.Fatal("an event without origin (syslog, HTTP) not admitted")
	}
	e.Observe(&noOrigin)
	if st := e.Stats(); st.Events != 501 || st.Replayed != 200 {
		t.Errorf("Events %d, Replayed %d; want 501 and 200", st.Events, st.Replayed)
	}
}
