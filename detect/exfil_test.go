package detect

import (
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestExfiltrationLowAndSlow: a client reading 40 times its usual bytes
// per request at its usual rate moves about 4 MB a minute, under the
// 8 MiB floor in every window; the floor applies to the run of anomalous
// windows, so the read is found in its third window, once the run passes
// the floor, as one incident. The same client reading at its usual size
// is never flagged.
func TestExfiltrationLowAndSlow(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		bigBytes  int64
		wantFound bool
	}{
		{"40x bytes per request", 200_000, true},
		{"usual bytes", 5_000, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []Finding
			e := New(Options{Emit: func(f Finding) {
				if f.Client == "10.0.0.7" && f.Detector == DetectorExfiltration {
					got = append(got, f)
				}
			}})
			var ev ingest.Event
			send := func(at time.Time, bytes int64) {
				ev.Reset()
				ev.Time, ev.ClientKey, ev.ClientKind = at, "10.0.0.7", ingest.ClientIP
				ev.Method, ev.Path, ev.Route, ev.Status, ev.BytesOut = "GET", "/api/export", "/api/export", 200, bytes
				e.Observe(&ev)
			}
			for w := range 90 {
				bytes := int64(4_000 + 200*(w%11)) // ~5 KB, a little noise
				if w >= 60 && w < 70 {
					bytes = tt.bigBytes
				}
				for i := range 20 {
					send(t0.Add(time.Duration(w)*time.Minute+time.Duration(i)*2*time.Second), bytes)
				}
			}
			e.Flush()
			if !tt.wantFound {
				if len(got) != 0 {
					t.Fatalf("flagged at its usual size: %+v", got[0])
				}
				return
			}
			if len(got) == 0 {
				t.Fatal("low-and-slow read not found")
			}
			if got[0].Status != StatusOpen || got[0].WindowStart.Sub(t0) > 62*time.Minute {
				t.Errorf("first finding %s at %v, want open by minute 62", got[0].Status, got[0].WindowStart.Sub(t0))
			}
			ids := map[string]bool{}
			for _, f := range got {
				ids[f.IncidentID] = true
			}
			if len(ids) != 1 {
				t.Errorf("%d incidents, want 1", len(ids))
			}
			last := got[len(got)-1]
			if last.Totals == nil || last.Totals.Bytes < 8<<20 {
				t.Errorf("totals %+v, want the run's bytes over the 8 MiB floor", last.Totals)
			}
		})
	}
}
