package detect

import (
	"math"
	"testing"
	"time"
)

// TestOnWindowReportsEveryClientWindow: the per-window series handed to
// storage adds up to exactly what was observed, window by window, with
// the baseline's expectation once it has history.
func TestOnWindowReportsEveryClientWindow(t *testing.T) {
	t.Parallel()
	type key struct {
		client string
		start  time.Time
	}
	got := map[key]WindowStats{}
	s := newSynth(t, Options{OnWindow: func(ws WindowStats) {
		k := key{ws.Client, ws.Start}
		if _, dup := got[k]; dup {
			t.Errorf("window %v of %s reported twice", ws.Start, ws.Client)
		}
		got[k] = ws
	}})
	want := map[key]traffic{}
	for w := range 30 {
		ts := []traffic{{client: "a", req: 40, errs: 2, auth: 1}, {client: "b", req: 10 + w%3}}
		if w%5 == 0 {
			ts = append(ts, traffic{client: "c", req: 7, auth: 7})
		}
		for _, tr := range ts {
			want[key{tr.client, t0.Add(time.Duration(w) * time.Minute)}] = tr
		}
		s.window(w, ts)
	}
	s.eng.Flush()
	if len(got) != len(want) {
		t.Fatalf("%d client windows reported, want %d", len(got), len(want))
	}
	for k, tr := range want {
		ws, ok := got[k]
		switch {
		case !ok:
			t.Errorf("window %v of %s not reported", k.start, k.client)
		case ws.Requests != uint64(tr.req) || ws.Errors != uint64(tr.errs) || ws.AuthFailures != uint64(tr.auth):
			t.Errorf("window %v of %s: %+v, want %+v", k.start, k.client, ws, tr)
		case ws.End.Sub(ws.Start) != time.Minute:
			t.Errorf("window %v-%v is not a minute", ws.Start, ws.End)
		}
	}
	late := got[key{"a", t0.Add(29 * time.Minute)}]
	if math.Abs(late.ExpectedRequests-40) > 2 || late.ExpectedErrorRatio <= 0 || late.ExpectedErrorRatio > 0.2 {
		t.Errorf("a's last window expected %g req and a %g error ratio, want ~40 and ~0.05", late.ExpectedRequests, late.ExpectedErrorRatio)
	}
}
