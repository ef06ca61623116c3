package analyze

import (
	"context"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

// recorder counts what an analysis hands a Recorder.
type recorder struct {
	resets, events, windows int
	requests                uint64 // summed over windows
	findings                map[detect.Status]int
}

func (r *recorder) Reset() {
	r.resets++
	r.events, r.windows, r.requests = 0, 0, 0
	r.findings = map[detect.Status]int{}
}
func (r *recorder) Event(*ingest.Event)          { r.events++ }
func (r *recorder) Window(ws detect.WindowStats) { r.windows++; r.requests += ws.Requests }
func (r *recorder) Finding(f detect.Finding)     { r.findings[f.Status]++ }

// TestRunRecorder checks that a Recorder sees every event, window and
// finding emission of the reading that made the findings, once: on a
// sorted log one reading, on a shuffled one only the sorted second one.
func TestRunRecorder(t *testing.T) {
	t.Parallel()
	lines := attackLog()
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		lines  []string
		resets int
	}{
		{"sorted", lines, 1},
		{"shuffled", shuffled(lines, 2), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			path := writeLines(t, dir, tc.name+".log", tc.lines)
			sum, out, err := analyse(t, context.Background(), Options{Inputs: []string{path}, Recorder: rec})
			if err != nil {
				t.Fatal(err)
			}
			if rec.resets != tc.resets {
				t.Errorf("%d resets, want %d", rec.resets, tc.resets)
			}
			if int64(rec.events) != sum.Events || rec.requests != uint64(sum.Events) {
				t.Errorf("recorder saw %d events and %d requests in windows; the analysis counted %d events", rec.events, rec.requests, sum.Events)
			}
			if rec.windows == 0 {
				t.Error("recorder saw no window")
			}
			resolved := strings.Count(out, `"status":"resolved"`)
			if rec.findings[detect.StatusOpen] != int(sum.Incidents) || rec.findings[detect.StatusResolved] != resolved || resolved == 0 {
				t.Errorf("recorder saw %v; the analysis reported %d incidents, %d resolved findings", rec.findings, sum.Incidents, resolved)
			}
		})
	}
}
