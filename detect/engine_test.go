package detect

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestOwnBaseline checks the core promise: a quiet client that jumps is
// caught, a heavy overdispersed client is not, each judged against its
// own past.
func TestOwnBaseline(t *testing.T) {
	t.Parallel()
	s := newSynth(t, Options{})
	for w := range 60 {
		ts := s.background(30)
		quiet := s.poisson(2)
		if w >= 40 && w < 43 {
			quiet = 50
		}
		ts = append(ts,
			traffic{client: "203.0.113.7", req: quiet},
			traffic{client: "198.51.100.1", req: s.normal(3000, 300), auth: 20, errs: 10},
		)
		s.window(w, ts)
	}
	s.eng.Flush()
	if fs := s.of("198.51.100.1", ""); len(fs) != 0 {
		t.Errorf("steady heavy client flagged: %v", summaries(fs))
	}
	fs := s.of("203.0.113.7", DetectorVolume)
	if len(fs) == 0 {
		t.Fatal("quiet client's jump from ~2 to 50 req/min not found")
	}
	open := fs[0]
	if open.Status != StatusOpen || open.Baseline != BaselineOwn || open.Observed != 50 ||
		!open.WindowStart.Equal(t0.Add(40*time.Minute)) || open.Expected > 4 || open.History < DefaultMinHistory {
		t.Errorf("open finding: %+v", open)
	}
	if want := "client 203.0.113.7 sent 50 req/min, baseline "; !strings.HasPrefix(open.Summary, want) {
		t.Errorf("summary %q, want prefix %q", open.Summary, want)
	}
	last := fs[len(fs)-1]
	if last.Status != StatusResolved || last.Windows != 3 || last.IncidentID != open.IncidentID ||
		!last.WindowEnd.Equal(t0.Add(43*time.Minute)) {
		t.Errorf("resolved finding: %+v", last)
	}
	for _, f := range s.findings {
		if f.Client != "203.0.113.7" {
			t.Errorf("background client flagged: %s", f.Summary)
		}
	}
}

// TestPopulationFallback checks that a client without history is judged
// against its peers: a new address failing 95% of 300 logins is found in
// its first window, while a new address behaving like its peers is not.
func TestPopulationFallback(t *testing.T) {
	t.Parallel()
	s := newSynth(t, Options{})
	for w := range 30 {
		ts := s.background(50)
		if w == 20 {
			ts = append(ts, traffic{client: "192.0.2.66", req: 300, auth: 285})
		}
		if w >= 20 {
			ts = append(ts, traffic{client: "192.0.2.67", req: 40, auth: s.binomial(40, 0.01)})
		}
		s.window(w, ts)
	}
	s.eng.Flush()
	fs := s.of("192.0.2.66", DetectorAuthFailures)
	if len(fs) == 0 {
		t.Fatalf("new client failing 285/300 logins not found; findings %v", summaries(s.findings))
	}
	if f := fs[0]; f.Baseline != BaselinePopulation || !f.WindowStart.Equal(t0.Add(20*time.Minute)) ||
		f.Observed != 285 || f.Severity != SeverityCritical || f.Unit != "auth failures/min" {
		t.Errorf("finding: %+v", f)
	}
	if fs := s.of("192.0.2.67", ""); len(fs) != 0 {
		t.Errorf("ordinary new client flagged: %v", summaries(fs))
	}
}

// TestNewClientVolume checks the population volume test: a client that
// appears after warm-up is compared with the fleet's upper tail, while
// clients present from the start are not (nothing was known about them).
func TestNewClientVolume(t *testing.T) {
	t.Parallel()
	s := newSynth(t, Options{})
	for w := range 30 {
		ts := s.background(100)
		ts = append(ts, traffic{client: "198.51.100.9", req: s.normal(5000, 200)}) // founding heavy client
		if w >= 20 {
			ts = append(ts, traffic{client: "192.0.2.10", req: 20000}) // new, beyond the fleet
		}
		s.window(w, ts)
	}
	s.eng.Flush()
	if fs := s.of("198.51.100.9", ""); len(fs) != 0 {
		t.Errorf("founding heavy client flagged: %v", summaries(fs))
	}
	fs := s.of("192.0.2.10", DetectorVolume)
	if len(fs) == 0 {
		t.Fatal("new client sending 20,000 req/min not found")
	}
	if f := fs[0]; f.Baseline != BaselinePopulation || !f.WindowStart.Equal(t0.Add(20*time.Minute)) {
		t.Errorf("finding: %+v", f)
	}
	// Its baseline learned no more than a busy but plausible client, so
	// the flood stays one incident while it lasts.
	if last := fs[len(fs)-1]; last.Status != StatusResolved || last.Windows != 10 {
		t.Errorf("want one incident over the 10 flood windows, got %v", summaries(fs))
	}
}

// TestFleetCommonMode checks that what every client does at once is not
// a finding, while the one client that deviates from the fleet still is.
func TestFleetCommonMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		burst func(s *synth, tr *traffic)
		det   string
	}{
		{"token refresh", func(s *synth, tr *traffic) { tr.auth += s.binomial(tr.req-tr.auth-tr.errs, 0.12) }, DetectorAuthFailures},
		{"backend outage", func(s *synth, tr *traffic) { tr.errs += s.binomial(tr.req-tr.auth-tr.errs, 0.12) }, DetectorErrorRatio},
		{"traffic surge", func(s *synth, tr *traffic) { tr.req *= 4 }, DetectorVolume},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSynth(t, Options{})
			for w := range 40 {
				ts := make([]traffic, 0, 101)
				for i := range 100 {
					req := s.poisson(100)
					ts = append(ts, traffic{client: clientName(i), req: req, errs: s.binomial(req, 0.005), auth: s.binomial(req, 0.01)})
				}
				if w == 30 {
					for i := range ts {
						tc.burst(s, &ts[i])
					}
					// One client deviates from the fleet as well.
					ts[7] = traffic{client: ts[7].client, req: 100, errs: 90, auth: 0}
					if tc.det == DetectorAuthFailures {
						ts[7] = traffic{client: ts[7].client, req: 100, auth: 90}
					}
					if tc.det == DetectorVolume {
						ts[7].req = 4000
					}
				}
				s.window(w, ts)
			}
			s.eng.Flush()
			for _, f := range s.findings {
				// A fourfold surge of the whole fleet is one fleet-wide
				// finding, not an incident of every client.
				if f.Client == FleetClient && tc.det == DetectorVolume && f.Detector == DetectorFleetVolume {
					continue
				}
				if f.Client != clientName(7) {
					t.Errorf("common-mode %s flagged %s", tc.name, f.Summary)
				}
			}
			if fs := s.of(clientName(7), tc.det); len(fs) == 0 {
				t.Errorf("the client deviating from the fleet was not found by %s", tc.det)
			}
		})
	}
}

// TestIncidentMerging checks the incident life cycle: one open, quiet
// updates only when worse or every UpdateEvery windows, one resolution
// after ResolveAfter quiet windows, a fresh id for a later incident.
func TestIncidentMerging(t *testing.T) {
	t.Parallel()
	s := newSynth(t, Options{UpdateEvery: 5, ResolveAfter: 3})
	spike := map[int]int{}
	for w := 20; w < 40; w++ {
		spike[w] = 100 // 20 anomalous windows at one level
	}
	spike[25] = 400 // worse: an update
	spike[41] = 0   // one quiet window (below): not yet resolved
	spike[42] = 100
	for w := 60; w < 62; w++ {
		spike[w] = 100 // a second incident, after resolution
	}
	for w := range 80 {
		req := 5
		if n, ok := spike[w]; ok {
			req = n
		}
		s.window(w, []traffic{{client: "c", req: req}})
	}
	s.eng.Flush()
	fs := s.of("c", DetectorVolume)
	var statuses []Status
	ids := map[string]int{}
	for _, f := range fs {
		statuses = append(statuses, f.Status)
		ids[f.IncidentID]++
	}
	// Incident 1: windows 20..39 and 42 (21 anomalous windows). Updates at
	// 25 (worse: 400 vs 100) then every 5 windows after the last emission.
	want := []Status{StatusOpen, StatusUpdate, StatusUpdate, StatusUpdate, StatusUpdate, StatusResolved, StatusOpen, StatusResolved}
	if !slices.Equal(statuses, want) {
		t.Fatalf("statuses %v, want %v\n%s", statuses, want, strings.Join(summaries(fs), "\n"))
	}
	if len(ids) != 2 {
		t.Errorf("%d incident ids, want 2", len(ids))
	}
	first, resolved := fs[0], fs[5]
	if first.IncidentID != resolved.IncidentID || resolved.Windows != 21 ||
		!resolved.WindowStart.Equal(t0.Add(20*time.Minute)) || !resolved.WindowEnd.Equal(t0.Add(43*time.Minute)) {
		t.Errorf("resolved: %+v", resolved)
	}
	if resolved.Observed != 400 {
		t.Errorf("resolved finding reports observed %v, want the worst window's 400", resolved.Observed)
	}
	if fs[1].Observed != 400 || fs[1].Windows != 6 {
		t.Errorf("first update: %+v", fs[1])
	}
	// Ids are a function of client, detector and start: stable across runs.
	if id := incidentID("c", detVolume, t0.Add(20*time.Minute)); id != first.IncidentID {
		t.Errorf("incident id %s, want %s", first.IncidentID, id)
	}
	if st := s.eng.Stats(); st.Findings != 2 || st.Resolved != 2 || st.Updates != 4 {
		t.Errorf("stats %+v", st)
	}
}

// TestEviction checks that idle clients are dropped, in event time, with
// their open incidents resolved, and that MaxClients holds.
func TestEviction(t *testing.T) {
	t.Parallel()
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		// ResolveAfter is long so the incident is still open at eviction.
		s := newSynth(t, Options{IdleAfter: 30 * time.Minute, MinHistory: 5, ResolveAfter: 1000})
		for w := range 12 {
			ts := []traffic{{client: "stays", req: 5}, {client: "leaves", req: 5}}
			if w == 11 {
				ts[1].req = 500 // opens an incident, then goes silent
			}
			s.window(w, ts)
		}
		for w := 12; w < 60; w++ {
			s.window(w, []traffic{{client: "stays", req: 5}})
		}
		st := s.eng.Stats()
		if st.Evicted != 1 || st.ActiveClients != 1 {
			t.Errorf("evicted %d, active %d; want 1, 1", st.Evicted, st.ActiveClients)
		}
		if _, _, ok := s.eng.tab.find("leaves"); ok {
			t.Error("idle client still held")
		}
		fs := s.of("leaves", "")
		if len(fs) != 2 || fs[1].Status != StatusResolved || s.eng.Stats().OpenIncidents != 0 {
			t.Errorf("idle client's incident: %v", summaries(fs))
		}
		// A client that comes back starts afresh.
		s.window(60, []traffic{{client: "stays", req: 5}, {client: "leaves", req: 5}})
		if st := s.eng.Stats(); st.ActiveClients != 2 {
			t.Errorf("active %d after the client came back, want 2", st.ActiveClients)
		}
	})
	t.Run("max clients", func(t *testing.T) {
		t.Parallel()
		e := New(Options{MaxClients: 128})
		var ev ingest.Event
		for i := range 1000 {
			ev = ingest.Event{Time: t0.Add(time.Duration(i) * time.Second), ClientKey: clientName(i), Status: 200}
			e.Observe(&ev)
			if n := e.Stats().ActiveClients; n > 128 {
				t.Fatalf("%d clients held, MaxClients 128", n)
			}
		}
		st := e.Stats()
		if st.Evicted != 1000-uint64(st.ActiveClients) {
			t.Errorf("evicted %d, active %d of 1000", st.Evicted, st.ActiveClients)
		}
		// The most recently seen survive.
		for i := 990; i < 1000; i++ {
			if _, _, ok := e.tab.find(clientName(i)); !ok {
				t.Errorf("recent client %d evicted", i)
			}
		}
		if e.tab.list.len() > 128 {
			t.Errorf("%d slots allocated for 128 clients: freed slots not reused", e.tab.list.len())
		}
	})
}

// TestClientTableCollisions checks the index under colliding hashes:
// keys that share a hash (and so a probe run and tag) are told apart by
// their bytes, short and long alike, and survive each other's removal.
func TestClientTableCollisions(t *testing.T) {
	t.Parallel()
	tab := newClientTable()
	const h = 42
	long := strings.Repeat("x", hotKeyLen) // shares its first hotKeyLen bytes with the two below
	keys := []string{"a", "b", "c", long + "1", long + "2", long, long[:hotKeyLen-1]}
	slots := make([]int32, len(keys))
	for i, k := range keys {
		slots[i] = tab.add(k, h, ingest.ClientIP)
	}
	// Keys of other hashes whose home cells fall in the colliding run.
	other := tab.add("other", h+1, ingest.ClientIP)
	check := func(step string, removed map[int]bool) {
		t.Helper()
		for i, k := range keys {
			idx, ok := tab.lookup(k, h)
			switch {
			case removed[i] && ok:
				t.Errorf("%s: removed key %q still found", step, k)
			case !removed[i] && (!ok || idx != slots[i]):
				t.Errorf("%s: key %q found at %d (%v), want %d", step, k, idx, ok, slots[i])
			}
		}
		if idx, ok := tab.lookup("other", h+1); !ok || idx != other {
			t.Errorf("%s: other key lost", step)
		}
		if _, ok := tab.lookup("d", h); ok {
			t.Errorf("%s: never added key found", step)
		}
	}
	check("added", nil)
	removed := map[int]bool{}
	for _, i := range []int{1, 3, 0, 6, 2, 5, 4} {
		tab.remove(slots[i])
		removed[i] = true
		check(fmt.Sprintf("removed %q", keys[i]), removed)
	}
	tab.remove(other)
	for p, e := range tab.index {
		if e.ref != 0 {
			t.Errorf("index cell %d still holds slot %d after removing all", p, e.ref-1)
		}
	}
	if tab.live != 0 {
		t.Errorf("live %d after removing all", tab.live)
	}
	if d := tab.add("d", 7, ingest.ClientIP); tab.hot.at(d).gen == 0 {
		t.Error("reused slot kept generation 0")
	}
	// The key is copied: mutating the source buffer does not rename it.
	buf := []byte("10.1.1.1")
	i := tab.add(string(buf), 9, ingest.ClientIP)
	buf[0] = 'X'
	if tab.key(i) != "10.1.1.1" {
		t.Errorf("key %q changed with the event buffer", tab.key(i))
	}
	if idx, ok := tab.lookup("10.1.1.1", 9); !ok || idx != i {
		t.Error("key not found after its source buffer changed")
	}
}

// TestClientTableGrowth adds and removes many clients in a mixed order
// and checks every lookup against a map, across index growth and
// backward-shift deletions.
func TestClientTableGrowth(t *testing.T) {
	t.Parallel()
	tab := newClientTable()
	want := map[string]int32{}
	r := rand.New(rand.NewPCG(5, 6))
	for step := range 20_000 {
		k := "10.0." + strconv.Itoa(r.IntN(5000))
		if step%3 == 2 {
			k = "key:" + strings.Repeat("k", r.IntN(60)) + strconv.Itoa(r.IntN(500))
		}
		idx, hash, ok := tab.find(k)
		if w, held := want[k]; held != ok || (ok && w != idx) {
			t.Fatalf("step %d: find(%q) = %d, %v; want %d, %v", step, k, idx, ok, w, held)
		}
		if ok && r.IntN(2) == 0 {
			tab.remove(idx)
			delete(want, k)
		} else if !ok {
			want[k] = tab.add(k, hash, ingest.ClientIP)
		}
		if tab.live != len(want) {
			t.Fatalf("step %d: live %d, want %d", step, tab.live, len(want))
		}
	}
	for k, w := range want {
		if idx, _, ok := tab.find(k); !ok || idx != w {
			t.Errorf("find(%q) = %d, %v; want %d", k, idx, ok, w)
		}
	}
	// Every live client is indexed exactly once, and nothing else is.
	cells := 0
	seen := map[uint32]bool{}
	for _, e := range tab.index {
		if e.ref == 0 {
			continue
		}
		cells++
		if seen[e.ref] || !tab.list.at(int32(e.ref-1)).live {
			t.Errorf("slot %d indexed twice or while free", e.ref-1)
		}
		seen[e.ref] = true
	}
	if cells != len(want) {
		t.Errorf("%d index cells in use for %d clients", cells, len(want))
	}
	if len(tab.index) < 2*len(want) {
		t.Errorf("index of %d cells more than half full with %d clients", len(tab.index), len(want))
	}
}

func TestDisabledDetectors(t *testing.T) {
	t.Parallel()
	s := newSynth(t, Options{Volume: DetectorSwitch{Disabled: true}, ErrorRatio: DetectorSwitch{Disabled: true},
		FleetVolume: Tuning{Disabled: true}})
	for w := range 30 {
		ts := []traffic{{client: "c", req: 20, auth: s.binomial(20, 0.01)}}
		if w == 25 {
			ts[0] = traffic{client: "c", req: 2000, errs: 1000, auth: 900}
		}
		s.window(w, ts)
	}
	s.eng.Flush()
	if len(s.findings) == 0 {
		t.Fatal("auth_failures found nothing")
	}
	for _, f := range s.findings {
		if f.Detector != DetectorAuthFailures {
			t.Errorf("disabled detector %s emitted: %s", f.Detector, f.Summary)
		}
	}
}

func TestZeroOptions(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	e.Flush() // nothing observed
	var ev ingest.Event
	e.Observe(&ev) // no time, no client
	ev = ingest.Event{Time: t0, Status: 200}
	e.Observe(&ev) // no client key
	e.AdvanceTo(time.Time{})
	e.Flush()
	st := e.Stats()
	if st.Events != 2 || st.Untimed != 1 || st.ActiveClients != 1 {
		t.Errorf("stats %+v", st)
	}
	o := Options{}.withDefaults()
	if o.Window != time.Minute || o.AllowedLateness != 30*time.Second || o.PValue != 1e-6 || o.MaxClients != 1_000_000 || o.IdleAfter != 25*time.Hour {
		t.Errorf("defaults %+v", o)
	}
}

// TestFindingJSON pins the JSON keys: they are the `analyze` output
// schema.
func TestFindingJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(Finding{WindowStart: t0, WindowEnd: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"baseline", "client", "client_kind", "detector", "expected", "history", "incident_id", "observed",
		"p_value", "score", "severity", "spread", "status", "summary", "unit", "window_end", "window_start", "windows"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v\nwant %v", keys, want)
	}
	if m["window_start"] != "2026-03-01T12:00:00Z" {
		t.Errorf("window_start %v", m["window_start"])
	}
}

// TestFindingsAreJSONSafe runs an extreme stream and checks every finding
// encodes (no NaN or infinity) with sane fields.
func TestFindingsAreJSONSafe(t *testing.T) {
	t.Parallel()
	s := newSynth(t, Options{MinHistory: 3})
	for w := range 20 {
		ts := []traffic{{client: "c", req: 1}, {client: "d", req: 3, errs: 0}}
		if w >= 10 {
			ts = []traffic{{client: "c", req: 50000, errs: 50000}, {client: "d", req: 3000, auth: 3000}}
		}
		s.window(w, ts)
	}
	s.eng.Flush()
	if len(s.findings) == 0 {
		t.Fatal("no findings")
	}
	for _, f := range s.findings {
		if _, err := json.Marshal(f); err != nil {
			t.Errorf("%s: %v", f.Summary, err)
		}
		if f.Score < 0 || f.Score >= 1 || f.PValue < 0 || f.PValue > 1 || f.Windows < 1 || !f.WindowEnd.After(f.WindowStart) {
			t.Errorf("finding out of range: %+v", f)
		}
		if f.WindowStart.Location() != time.UTC {
			t.Errorf("window start not UTC: %v", f.WindowStart)
		}
	}
}

func summaries(fs []Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f.Status) + " " + f.Detector + ": " + f.Summary
	}
	return out
}

// TestHotLayout holds the per-event client record to one cache line.
func TestHotLayout(t *testing.T) {
	t.Parallel()
	if n := unsafe.Sizeof(clientHot{}); n != 64 {
		t.Errorf("clientHot is %d bytes, want 64 (one cache line)", n)
	}
}

// TestSortRefs checks the radix sort of window refs against a comparison
// sort, for small and large lists, slots past one radix digit, and
// repeated slots.
func TestSortRefs(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	var tmp []clientRef
	for _, tc := range []struct{ n, top int }{{0, 1}, {10, 5}, {255, 1000}, {256, 3}, {5000, 1 << 11}, {100_000, 120_000}, {3000, 1<<31 - 1}} {
		refs := make([]clientRef, tc.n)
		for i := range refs {
			refs[i] = clientRef{idx: int32(r.IntN(tc.top)), gen: uint32(i)}
		}
		want := slices.Clone(refs)
		slices.SortStableFunc(want, func(a, b clientRef) int { return cmp.Compare(a.idx, b.idx) })
		tmp = sortRefs(refs, tmp)
		if !slices.EqualFunc(refs, want, func(a, b clientRef) bool { return a.idx == b.idx }) {
			t.Errorf("n=%d top=%d: not sorted by slot", tc.n, tc.top)
		}
		// A permutation: every ref kept once (gens are distinct).
		slices.SortFunc(refs, func(a, b clientRef) int { return cmp.Compare(a.gen, b.gen) })
		for i := range refs {
			if refs[i].gen != uint32(i) {
				t.Errorf("n=%d top=%d: refs lost or duplicated", tc.n, tc.top)
				break
			}
		}
	}
}
