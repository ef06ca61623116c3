package detect

import (
	"slices"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestScanInYoungLog: a 12-minute log of five steady visitors with a
// scanner starting at minute 8 (40 distinct 404 paths a minute, twice the
// floor): the scanner is new, not present from the first line, and is
// found although the stream is younger than min_history. The same
// scanner present from the first line is found by the sweep rule
// (sweep.go) when its requests are nearly all misses. A client present
// from the first line whose 40 misses a minute come among 20 ordinary
// requests could be any client, one whose 404s are its normal included:
// it needs four times the floor, and at 90 a minute it is found.
func TestScanInYoungLog(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		start     int // minute the scanner starts
		perMinute int
		pages     int // ordinary requests of the scanner a minute
		want      bool
	}{
		{"new at minute 8", 8, 40, 0, true},
		{"from the first line, twice the floor, all misses", 0, 40, 0, true},
		{"from the first line, twice the floor among its pages", 0, 40, 20, false},
		{"from the first line, past four times the floor", 0, 90, 20, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			found := false
			e := New(Options{Emit: func(f Finding) { found = found || f.Client == "198.51.100.9" }})
			var ev ingest.Event
			send := func(at time.Time, client, path string, status int) {
				ev.Reset()
				ev.Time, ev.ClientKey, ev.ClientKind = at, client, ingest.ClientIP
				ev.Method, ev.Path, ev.Route, ev.Status = "GET", path, path, status
				e.Observe(&ev)
			}
			for m := range 12 {
				at := t0.Add(time.Duration(m) * time.Minute)
				for v := range 5 {
					send(at.Add(time.Duration(v)*time.Second), "192.0.2."+itoa(v), "/page/"+itoa(m%3), 200)
				}
				if m >= tt.start && m < tt.start+4 {
					for i := range tt.perMinute {
						send(at.Add(10*time.Second+time.Duration(i)*time.Second/2), "198.51.100.9", "/x"+itoa(m*1000+i), 404)
					}
					for i := range tt.pages {
						send(at.Add(10*time.Second+time.Duration(i)*time.Second), "198.51.100.9", "/page/"+itoa(i%3), 200)
					}
				}
			}
			e.Flush()
			if found != tt.want {
				t.Errorf("scanner reported %v, want %v", found, tt.want)
			}
		})
	}
}

// TestAttackFromFirstWindowStaysOneIncident: a new client failing five
// logins a minute for an hour, answered 401, is one incident lasting the
// hour. Before, its clipped attack windows became its own normal once
// min_history of them were absorbed, the incident resolved after ten
// windows and the rest came back as a login campaign of one client.
func TestAttackFromFirstWindowStaysOneIncident(t *testing.T) {
	t.Parallel()
	const who = "203.0.113.62"
	site := sweepSite(2, func(add func(int, string, string, int)) {
		for m := 60; m < 120; m++ {
			for range 5 {
				add(m, who, "/login", 401)
			}
		}
	})
	for i := range site.events { // logins are POSTs
		if site.events[i].client == who {
			site.events[i].method = "POST"
		}
	}
	ids := map[string]Finding{}
	for _, f := range site.run(Options{}) {
		if slices.Contains(namesOf(&f), who) {
			ids[f.IncidentID] = f
		}
	}
	if len(ids) != 1 {
		for _, f := range ids {
			t.Logf("%s %s: %s", f.Detector, f.Client, f.Summary)
		}
		t.Fatalf("%d incidents name the attacker, want 1", len(ids))
	}
	for _, f := range ids {
		if end := t0.Add(119 * time.Minute); f.WindowEnd.Before(end) {
			t.Errorf("the incident ends at %v, before the attack's last minute %v: %s", f.WindowEnd, end, f.Summary)
		}
	}
}
