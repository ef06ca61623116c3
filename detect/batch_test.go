package detect

import (
	"bytes"
	"context"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// batchTraffic returns simulated traffic with every attack and trap,
// plus late events (an event repeated ten minutes before its time) and
// untimed ones, as owned copies.
func batchTraffic(t *testing.T) []ingest.Event {
	t.Helper()
	sc, err := simulate.New(simulate.Config{Seed: 11, Attacks: qualityKinds(), Clients: 300,
		Duration: 90 * time.Minute, AttackAt: 60 * time.Minute, TokenRefreshAt: 80 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var evs []ingest.Event
	err = sc.Run(context.Background(), func(ev *ingest.Event) error {
		evs = append(evs, ev.Clone())
		switch n := len(evs); {
		case n%5003 == 0:
			late := ev.Clone()
			late.Time = ev.Time.Add(-10 * time.Minute)
			evs = append(evs, late)
		case n%7001 == 0:
			untimed := ev.Clone()
			untimed.Time = time.Time{}
			evs = append(evs, untimed)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// batchCases are the engines batching is checked on: the defaults, and
// a MaxClients below the clients seen, which evicts in the middle of
// batches.
var batchCases = []struct {
	name string
	opts Options
}{
	{"defaults", Options{}},
	{"evicting", Options{MaxClients: 200, IdleAfter: 20 * time.Minute}},
}

// engineRecord is everything an Engine tells its caller.
type engineRecord struct {
	findings []Finding
	windows  []WindowStats
	late     []string
	snaps    [][]byte
	stats    []Stats
}

func (r *engineRecord) options(o Options) Options {
	o.Emit = func(f Finding) { r.findings = append(r.findings, f) }
	o.OnWindow = func(w WindowStats) { r.windows = append(r.windows, w) }
	o.OnLate = func(ev *ingest.Event) { r.late = append(r.late, ev.ClientKey+" "+ev.Time.String()) }
	return o
}

// checkpoint records e's snapshot and Stats.
func (r *engineRecord) checkpoint(t *testing.T, e *Engine) {
	t.Helper()
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r.snaps = append(r.snaps, b)
	r.stats = append(r.stats, e.Stats())
}

// TestObserveBatchEquivalent feeds the same traffic to one engine event
// by event and to another in batches of assorted sizes, and requires the
// same findings, window tallies, late events, Stats and snapshots, with
// and without eviction (a MaxClients below the clients seen, which
// evicts in the middle of batches).
func TestObserveBatchEquivalent(t *testing.T) {
	t.Parallel()
	evs := batchTraffic(t)
	for _, tc := range batchCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var one, many engineRecord
			a, b := New(one.options(tc.opts)), New(many.options(tc.opts))
			r := rand.New(rand.NewPCG(1, 2))
			checkEvery := len(evs) / 4
			for i := 0; i < len(evs); {
				n := min(len(evs)-i, []int{1, 2, 7, batchRun, batchRun + 1, 100, 1000}[r.IntN(7)])
				for j := i; j < i+n; j++ {
					a.Observe(&evs[j])
				}
				b.ObserveBatch(evs[i : i+n])
				if i/checkEvery != (i+n)/checkEvery {
					one.checkpoint(t, a)
					many.checkpoint(t, b)
				}
				i += n
			}
			a.Flush()
			b.Flush()
			one.checkpoint(t, a)
			many.checkpoint(t, b)
			if len(one.findings) == 0 || len(one.late) == 0 || one.stats[len(one.stats)-1].Untimed == 0 {
				t.Fatalf("traffic too tame to compare: %d findings, %d late, stats %+v", len(one.findings), len(one.late), one.stats[len(one.stats)-1])
			}
			if tc.opts.MaxClients != 0 && one.stats[len(one.stats)-1].Evicted == 0 {
				t.Fatal("no client evicted")
			}
			if !reflect.DeepEqual(one.findings, many.findings) {
				t.Errorf("findings differ: %d one by one, %d batched", len(one.findings), len(many.findings))
			}
			if !reflect.DeepEqual(one.windows, many.windows) {
				t.Errorf("window tallies differ: %d one by one, %d batched", len(one.windows), len(many.windows))
			}
			if !reflect.DeepEqual(one.late, many.late) {
				t.Errorf("late events differ: %d one by one, %d batched", len(one.late), len(many.late))
			}
			if !reflect.DeepEqual(one.stats, many.stats) {
				t.Errorf("stats differ:\n%+v\n%+v", one.stats, many.stats)
			}
			for i := range one.snaps {
				if !bytes.Equal(one.snaps[i], many.snaps[i]) {
					t.Errorf("snapshot %d differs", i)
				}
			}
		})
	}
}

// TestObserveBatchEmpty checks that an empty or nil batch does nothing.
func TestObserveBatchEmpty(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	e.ObserveBatch(nil)
	e.ObserveBatch([]ingest.Event{})
	if st := e.Stats(); st.Events != 0 {
		t.Errorf("%d events counted from empty batches", st.Events)
	}
}

// TestQuietBatches batches the traffic as detect/group does: events join
// the batch while Quiet holds for it, and one that breaks it is observed
// alone after the batch. Nothing may be emitted, and no window closed,
// while a batch is counted; every finding comes from an event observed
// alone; and the result equals observing event by event. With evictions
// (a MaxClients below the clients seen) too, which Quiet must foresee.
func TestQuietBatches(t *testing.T) {
	t.Parallel()
	evs := batchTraffic(t)
	for _, tc := range batchCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var one, many engineRecord
			a, b := New(one.options(tc.opts)), New(many.options(tc.opts))
			for i := range evs {
				a.Observe(&evs[i])
			}
			var batch []ingest.Event
			var top time.Time
			batched, alone := 0, 0
			count := func(evs []ingest.Event) {
				f, w := len(many.findings), b.Stats().WindowsClosed
				b.ObserveBatch(evs)
				if len(many.findings) != f || b.Stats().WindowsClosed != w {
					t.Fatalf("a quiet batch of %d emitted %d findings and closed %d windows", len(evs), len(many.findings)-f, b.Stats().WindowsClosed-w)
				}
				batched += len(evs)
			}
			for i := range evs {
				next := top
				if tm := evs[i].Time; tm.Year() >= 1700 && tm.Year() < 2200 && tm.After(next) {
					next = tm
				}
				if len(batch) < 64 && b.Quiet(len(batch)+1, next) {
					batch, top = append(batch, evs[i]), next
					continue
				}
				count(batch)
				batch, top = batch[:0], time.Time{}
				if b.Quiet(1, evs[i].Time) {
					batch, top = append(batch, evs[i]), evs[i].Time
					continue
				}
				b.Observe(&evs[i])
				alone++
			}
			count(batch)
			a.Flush()
			b.Flush()
			// Evicting, the engine is always full: only what keeps to known
			// clients can be batched.
			if want := map[bool]int{false: len(evs) * 9 / 10, true: 1}[tc.opts.MaxClients != 0]; batched < want {
				t.Errorf("only %d of %d events batched (%d alone)", batched, len(evs), alone)
			}
			if !reflect.DeepEqual(one.findings, many.findings) || !reflect.DeepEqual(one.windows, many.windows) {
				t.Errorf("batching changed the output: %d/%d findings, %d/%d windows", len(one.findings), len(many.findings), len(one.windows), len(many.windows))
			}
			sa, sb := a.Stats(), b.Stats()
			if sa != sb {
				t.Errorf("stats differ:\n%+v\n%+v", sa, sb)
			}
		})
	}
}

func TestQuiet(t *testing.T) {
	t.Parallel()
	e := New(Options{Window: time.Minute, AllowedLateness: 30 * time.Second, MaxClients: 10})
	if e.Quiet(1, t0) {
		t.Error("quiet before the first event")
	}
	var ev ingest.Event
	ev.ClientKey, ev.Time = "a", t0.Add(10*time.Second)
	e.Observe(&ev)
	// The first event leaves the window before it open (its watermark is
	// 20 s before t0): an event 31 s in closes it.
	if e.Quiet(1, t0.Add(31*time.Second)) || !e.Quiet(1, t0.Add(29*time.Second)) {
		t.Error("the window before the first event's is not closed 30 s into the next")
	}
	ev.Time = t0.Add(40 * time.Second)
	e.Observe(&ev)
	for _, tc := range []struct {
		n    int
		at   time.Time
		want bool
	}{
		{1, t0.Add(50 * time.Second), true},
		{1, t0.Add(89 * time.Second), true},                     // watermark 59 s: window [0, 60 s) still open
		{1, t0.Add(90 * time.Second), false},                    // watermark 60 s closes it
		{8, t0.Add(20 * time.Second), true},                     // 1 + 8 clients fit in 10
		{9, t0.Add(20 * time.Second), false},                    // 1 + 9 would evict
		{1, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), false}, // not a time the engine counts
	} {
		if got := e.Quiet(tc.n, tc.at); got != tc.want {
			t.Errorf("Quiet(%d, %v) = %v, want %v", tc.n, tc.at.Sub(t0), got, tc.want)
		}
	}
}
