package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// obs is one step of a recorded input: an event, or with advance set a
// call of AdvanceTo(at).
type obs struct {
	at      time.Time
	key     string
	kind    ingest.ClientKind
	status  int
	auth    ingest.AuthOutcome
	advance bool

	// What the newer detectors read.
	path, route, query string
	ip                 netip.Addr
	bytes              int64
}

// replayed is what a replay produced.
type replayed struct {
	findings []string // Finding JSON, in emission order
	stats    Stats
	late     int      // OnLate calls
	cuts     []string // why each snapshot was taken
}

// cutRule decides, before step i is applied to e, whether to snapshot and
// restore e there; it returns why, or "" to go on.
type cutRule func(i int, o *obs, e *Engine) string

// replay runs stream through a fresh Engine, snapshotting it and replacing
// it by an engine restored from the snapshot wherever cut says so
// (i == len(stream) is the point before Flush). Every snapshot must
// re-encode to the same bytes.
func replay(t *testing.T, opts Options, stream []obs, cut cutRule) replayed {
	t.Helper()
	var r replayed
	opts.Emit = func(f Finding) {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		r.findings = append(r.findings, string(b))
	}
	opts.OnLate = func(*ingest.Event) { r.late++ }
	e := New(opts)
	var ev ingest.Event
	for i := 0; i <= len(stream); i++ {
		var o *obs
		if i < len(stream) {
			o = &stream[i]
		}
		if cut != nil {
			if why := cut(i, o, e); why != "" {
				e = roundTrip(t, opts, e)
				r.cuts = append(r.cuts, why)
			}
		}
		switch {
		case o == nil:
		case o.advance:
			e.AdvanceTo(o.at)
		default:
			ev.Reset()
			ev.Time, ev.ClientKey, ev.ClientKind, ev.Status, ev.Auth = o.at, o.key, o.kind, o.status, o.auth
			ev.Path, ev.Route, ev.Query, ev.RemoteIP, ev.BytesOut = o.path, o.route, o.query, o.ip, o.bytes
			e.Observe(&ev)
		}
	}
	e.Flush()
	r.stats = e.Stats()
	return r
}

// roundTrip snapshots e and returns the engine restored from it.
func roundTrip(t testing.TB, opts Options, e *Engine) *Engine {
	t.Helper()
	data, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(opts, data)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	again, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("a restored engine encodes differently: %d bytes, was %d", len(again), len(data))
	}
	if got, want := r.Stats(), e.Stats(); got != want {
		t.Fatalf("restored stats %+v, want %+v", got, want)
	}
	return r
}

// sameOutput fails unless two replays emitted the same findings in the
// same order and ended with the same counters.
func sameOutput(t *testing.T, got, want replayed) {
	t.Helper()
	if len(want.findings) == 0 {
		t.Fatal("the uninterrupted run emitted no findings: the comparison proves nothing")
	}
	if got.stats != want.stats || got.late != want.late {
		t.Errorf("stats %+v (late %d), uninterrupted %+v (late %d)", got.stats, got.late, want.stats, want.late)
	}
	sameFindings(t, got.findings, want.findings)
}

// sameFindings fails at the first of the encoded findings that differs
// from the uninterrupted run's.
func sameFindings(t *testing.T, got, want []string) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Fatalf("finding %d of %d (uninterrupted %d) differs:\n got  %s\n want %s", i, len(got), len(want), g, w)
		}
	}
}

// simulated records a labelled scenario's events.
func simulated(t *testing.T, cfg simulate.Config) ([]obs, *simulate.Scenario) {
	t.Helper()
	sc, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{} // interned: event strings alias a reused buffer
	intern := func(s string) string {
		k, ok := keys[s]
		if !ok {
			k = strings.Clone(s)
			keys[k] = k
		}
		return k
	}
	var stream []obs
	err = sc.Run(context.Background(), func(ev *ingest.Event) error {
		stream = append(stream, obs{at: ev.Time, key: intern(ev.ClientKey), kind: ev.ClientKind, status: ev.Status, auth: ev.Auth,
			path: intern(ev.Path), route: intern(ev.Route), query: intern(ev.Query), ip: ev.RemoteIP, bytes: ev.BytesOut})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return stream, sc
}

// TestSnapshotEquivalence runs a labelled scenario through one engine
// uninterrupted and through a chain of engines, each restored from a
// snapshot of the one before at a cut point, and requires identical
// findings: baselines carry over, and no finding is lost or emitted twice.
func TestSnapshotEquivalence(t *testing.T) {
	t.Parallel()
	const attackAt = 80 * time.Minute
	cfg := simulate.Config{Seed: 3, Clients: 300, Duration: 2 * time.Hour, AttackAt: attackAt, Attacks: qualityKinds()}
	if testing.Short() {
		cfg.Clients, cfg.Duration = 150, 100*time.Minute
	}
	stream, _ := simulated(t, cfg)
	start := simulate.DefaultStart()
	at := func(d time.Duration) time.Time { return start.Add(d) }
	opts := Options{}
	want := replay(t, opts, stream, nil)

	var (
		openAtCut []string // incidents open at the mid-attack cut
		done      = map[string]bool{}
	)
	once := func(why string, ok bool) string {
		if !ok || done[why] {
			return ""
		}
		done[why] = true
		return why
	}
	cut := func(i int, o *obs, e *Engine) string {
		if o == nil {
			return once("before flush", true)
		}
		if why := once("before attacks", !o.at.Before(at(attackAt-5*time.Minute))); why != "" {
			return why
		}
		if why := once("window boundary", o.at.Equal(at(30*time.Minute))); why != "" {
			return why
		}
		// The first event after the watermark passed 00:40: window 00:39
		// has just been closed by this event, no sooner.
		if why := once("window just closes", o.at.After(at(40*time.Minute+DefaultAllowedLateness))); why != "" {
			return why
		}
		if why := once("lateness window open", !o.at.Before(at(50*time.Minute+10*time.Second))); why != "" {
			if open := e.clock.index(e.clock.newest) - e.clock.next + 1; open != 2 ||
				len(e.ring.active[e.ring.slot(e.clock.next)]) == 0 {
				t.Errorf("lateness cut: %d windows open, the older with %d clients; want 2, some",
					open, len(e.ring.active[e.ring.slot(e.clock.next)]))
			}
			return why
		}
		if !o.at.Before(at(attackAt+4*time.Minute)) && e.Stats().OpenIncidents > 0 {
			if why := once("mid-attack", true); why != "" {
				for _, j := range e.inc.open {
					openAtCut = append(openAtCut, e.inc.list[j].id)
				}
				return why
			}
		}
		if i%50_000 == 0 {
			return fmt.Sprintf("event %d", i)
		}
		return ""
	}
	got := replay(t, opts, stream, cut)
	for _, why := range []string{"before attacks", "window boundary", "window just closes", "lateness window open", "mid-attack", "before flush"} {
		if !done[why] {
			t.Errorf("no cut %q: the scenario did not reach it", why)
		}
	}
	t.Logf("%d events, %d findings, cut %d times: %v", len(stream), len(want.findings), len(got.cuts), got.cuts)
	sameOutput(t, got, want)
	for _, det := range []string{DetectorScanning, DetectorEnumeration, DetectorInjection, DetectorExfiltration,
		DetectorSharing, DetectorFleetVolume, DetectorFleetAuth} {
		if !slices.ContainsFunc(want.findings, func(f string) bool { return strings.Contains(f, `"detector":"`+det+`"`) }) {
			t.Errorf("no %s finding in the replay: the comparison does not cover it", det)
		}
	}

	// The incidents open at the mid-attack cut were carried over: their
	// later emissions are updates and resolutions.
	if len(openAtCut) == 0 {
		t.Fatal("no incident open at the mid-attack cut")
	}
	for _, id := range openAtCut {
		var statuses []Status
		for _, s := range want.findings {
			var f Finding
			if err := json.Unmarshal([]byte(s), &f); err != nil {
				t.Fatal(err)
			}
			if f.IncidentID == id {
				statuses = append(statuses, f.Status)
			}
		}
		if len(statuses) < 2 || statuses[0] != StatusOpen || slices.Contains(statuses[1:], StatusOpen) ||
			statuses[len(statuses)-1] != StatusResolved {
			t.Errorf("incident %s open at the cut: statuses %v", id, statuses)
		}
	}
}

// TestSnapshotEquivalenceChurn replays out-of-order traffic with late
// events, idle gaps and constant eviction (small MaxClients and IdleAfter),
// so freed slots, their reuse and stale window entries are all in the
// snapshots, cut every few dozen steps.
func TestSnapshotEquivalenceChurn(t *testing.T) {
	t.Parallel()
	stream := churnStream(rand.New(rand.NewPCG(5, 6)))
	opts := Options{MaxClients: 120, IdleAfter: 8 * time.Minute, MinHistory: 5, ResolveAfter: 2}
	want := replay(t, opts, stream, nil)
	if want.late == 0 || want.stats.Evicted == 0 {
		t.Fatalf("late %d, evicted %d: the stream does not exercise what it should", want.late, want.stats.Evicted)
	}
	for _, every := range []int{37, 1009} {
		t.Run(fmt.Sprintf("every=%d", every), func(t *testing.T) {
			t.Parallel()
			got := replay(t, opts, stream, func(i int, o *obs, _ *Engine) string {
				if i%every == 0 || (o != nil && o.advance) {
					return "cut"
				}
				return ""
			})
			sameOutput(t, got, want)
		})
	}
}

// churnStream is 90 minutes of 200 clients, 40 of them active only in
// some stretches, events delayed by up to 45s (so some arrive after the
// 30s allowed lateness), a flooding client and an auth-failure attack,
// a few untimed events and an idle gap bridged by AdvanceTo.
func churnStream(r *rand.Rand) []obs {
	type timed struct {
		arrive time.Duration
		o      obs
	}
	var all []timed
	for m := range 90 {
		if m >= 60 && m < 70 {
			continue // idle gap
		}
		for c := range 200 {
			if c >= 160 && (m/10+c)%3 != 0 {
				continue // intermittent clients, evicted when idle
			}
			n := 1 + r.IntN(2+c%15)
			if c == 7 && m >= 40 && m < 44 {
				n *= 30 // flood
			}
			for range n {
				at := time.Duration(m)*time.Minute + time.Duration(r.Int64N(int64(time.Minute)))
				o := obs{at: t0.Add(at), key: clientName(c), kind: ingest.ClientIP, status: 200, auth: ingest.AuthOK}
				switch u := r.IntN(200); {
				case c == 11 && m >= 30 && m < 35:
					o.status, o.auth = 401, ingest.AuthFailed
				case u == 0:
					o.status = 503
				case u == 1:
					o.status, o.auth = 403, ingest.AuthForbidden
				case u == 2:
					o.at = time.Time{} // untimed
				}
				all = append(all, timed{arrive: at + time.Duration(r.Int64N(int64(45*time.Second))), o: o})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b timed) int { return int(a.arrive - b.arrive) })
	out := make([]obs, 0, len(all)+10)
	for i, a := range all {
		if i > 0 && all[i-1].arrive < 60*time.Minute && a.arrive >= 60*time.Minute {
			for m := 61; m < 70; m += 2 {
				out = append(out, obs{at: t0.Add(time.Duration(m) * time.Minute), advance: true})
			}
		}
		out = append(out, a.o)
	}
	return out
}

// TestSnapshotEmpty round-trips engines that have seen nothing, and one
// that has seen a single event, with zero and non-default Options.
func TestSnapshotEmpty(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts Options
		feed bool
	}{
		{"zero options", Options{}, false},
		{"five-minute windows", Options{Window: 5 * time.Minute, AllowedLateness: -1}, false},
		{"zero options, one event", Options{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := New(tc.opts)
			if tc.feed {
				e.Observe(&ingest.Event{Time: t0, ClientKey: "192.0.2.1", ClientKind: ingest.ClientIP, Status: 200})
			}
			r := roundTrip(t, tc.opts, e)
			if r.clock.started != tc.feed || r.tab.live != e.tab.live {
				t.Errorf("restored started %v with %d clients, want %v and %d", r.clock.started, r.tab.live, tc.feed, e.tab.live)
			}
			// The restored engine is a working one.
			var got []Finding
			r.opts.Emit = func(f Finding) { got = append(got, f) }
			for i := range 50 {
				r.Observe(&ingest.Event{Time: t0.Add(time.Duration(i) * time.Second), ClientKey: "192.0.2.1", ClientKind: ingest.ClientIP, Status: 200})
			}
			r.Flush()
			if st := r.Stats(); st.ActiveClients != 1 || st.Events != e.stats.Events+50 || len(got) != 0 {
				t.Errorf("after restore: %+v, %d findings", st, len(got))
			}
		})
	}
}

// TestSnapshotOptions checks what Restore does when Options changed.
func TestSnapshotOptions(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	for i := range 200 {
		e.Observe(&ingest.Event{Time: t0.Add(time.Duration(i) * time.Second), ClientKey: clientName(i % 7), Status: 200})
	}
	// 200s in: windows 12:02 and 12:03 are open.
	data, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// After Flush no window is open, so any lateness fits.
	flushed := New(Options{})
	flushed.Observe(&ingest.Event{Time: t0.Add(10 * time.Second), ClientKey: "192.0.2.1", Status: 200})
	flushed.Flush()
	if fd, err := flushed.MarshalBinary(); err != nil {
		t.Fatal(err)
	} else if _, err := Restore(Options{AllowedLateness: -1}, fd); err != nil {
		t.Errorf("flushed snapshot, no lateness: %v", err)
	}
	for _, tc := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"same", Options{}, true},
		{"explicit defaults", Options{Window: time.Minute, AllowedLateness: 30 * time.Second}, true},
		{"thresholds", Options{PValue: 1e-3, MinHistory: 3, HalfLife: 5, MinRatio: 2, MaxClients: 3, Volume: DetectorSwitch{Disabled: true}}, true},
		{"longer lateness", Options{AllowedLateness: 5 * time.Minute}, true},
		{"different window", Options{Window: 2 * time.Minute}, false},
		{"no lateness", Options{AllowedLateness: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := Restore(tc.opts, data)
			if (err == nil) != tc.ok {
				t.Fatalf("Restore: %v, want ok %v", err, tc.ok)
			}
			if err != nil {
				if errors.Is(err, ErrSnapshot) {
					t.Errorf("%v: an options mismatch is not a broken snapshot", err)
				}
				return
			}
			got, want := r.Stats(), e.Stats()
			// The watermark trails the newest event by the lateness in force.
			want.Watermark = want.Watermark.Add(DefaultAllowedLateness - r.opts.AllowedLateness)
			if got != want {
				t.Errorf("stats %+v, want %+v", got, want)
			}
		})
	}
}

// TestRestoreCorrupt checks that every truncation and every single-byte
// change of a real snapshot is refused, and that the refusals say so.
func TestRestoreCorrupt(t *testing.T) {
	t.Parallel()
	data := churnSnapshot(t, 3000)
	for n := range len(data) {
		if _, err := Restore(Options{}, data[:n]); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(data), err)
		}
	}
	for i := range data {
		b := slices.Clone(data)
		b[i] ^= 0x20
		if _, err := Restore(Options{}, b); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
	b := slices.Clone(data)
	b[len(snapshotMagic)] = snapshotVersion + 1
	if _, err := Restore(Options{}, reseal(b)); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("unknown version: %v", err)
	}
	// Version 1 predates the newer detectors: refused, saying so.
	b[len(snapshotMagic)] = 1
	if _, err := Restore(Options{}, reseal(b)); !errors.Is(err, ErrSnapshot) || !strings.Contains(err.Error(), "version 1") {
		t.Errorf("version 1: %v", err)
	}
}

// churnSnapshot returns a snapshot of an engine after the first n steps of
// the churn stream, with open incidents and windows.
func churnSnapshot(t testing.TB, n int) []byte {
	t.Helper()
	return churnSnapshotsOf(t, churnStream(rand.New(rand.NewPCG(5, 6))), n)[0]
}

// churnSnapshotsOf replays stream once and returns the engine's snapshot
// after each of the first cuts[i] observations; cuts must not decrease.
func churnSnapshotsOf(t testing.TB, stream []obs, cuts ...int) [][]byte {
	t.Helper()
	e := New(Options{MaxClients: 120, IdleAfter: 8 * time.Minute, MinHistory: 5})
	var ev ingest.Event
	snaps := make([][]byte, 0, len(cuts))
	done := 0
	for _, n := range cuts {
		for _, o := range stream[done:max(done, min(n, len(stream)))] {
			if o.advance {
				e.AdvanceTo(o.at)
				continue
			}
			ev.Reset()
			ev.Time, ev.ClientKey, ev.ClientKind, ev.Status, ev.Auth = o.at, o.key, o.kind, o.status, o.auth
			e.Observe(&ev)
		}
		done = max(done, min(n, len(stream)))
		data, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, data)
	}
	return snaps
}

// reseal replaces the checksum of data, so a test or the fuzzer can reach
// the decoder with modified contents.
func reseal(data []byte) []byte {
	if len(data) < 4 {
		return data
	}
	b := slices.Clone(data[:len(data)-4])
	return binaryAppendCRC(b)
}
