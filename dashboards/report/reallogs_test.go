package report

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// realLogsDir holds the real access logs shared beside the repository
// (../shared/data/real-logs, see its SOURCES.md).
const realLogsDir = "../../../shared/data/real-logs"

// analyseInto runs a log through parsing, normalisation and a default
// engine feeding c, and returns the ids of the incidents emitted.
func analyseInto(t *testing.T, c *Collector, path string) map[string]bool {
	t.Helper()
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ids := map[string]bool{}
	e := detect.New(detect.Options{OnWindow: c.Window, Emit: func(f detect.Finding) {
		ids[f.IncidentID] = true
		c.Finding(f)
	}})
	var in InputStats
	_, err = ingest.ParseStream(context.Background(), r, ingest.StreamOptions{
		Normalizer: ingest.NormalizerOptions{HMACKey: []byte("reallogs-test-key")},
	}, func(b *ingest.Batch) error {
		c.Events(b.Events)
		e.ObserveBatch(b.Events)
		in.Lines += int64(b.Lines)
		in.Events += int64(len(b.Events))
		in.Rejects += int64(len(b.Rejects))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Flush()
	in.Late = e.Stats().LateEvents
	c.Input(in)
	return ids
}

// TestReportRealLog feeds a real honeypot log through the engine into a
// collector and checks the report holds every incident, each with its
// series (a client's) or its clients' activity (a campaign's).
func TestReportRealLog(t *testing.T) {
	path := filepath.Join(realLogsDir, "honeynet-2004.log")
	testenv.Stat(t, path, "../shared beside the repository")
	c := New(Options{Title: "honeynet-2004"})
	ids := analyseInto(t, c, path)
	d := c.Data()
	if len(ids) == 0 {
		t.Fatal("the engine emitted no incident")
	}
	if len(d.Incidents) != len(ids) {
		t.Errorf("report holds %d incidents, the engine emitted %d", len(d.Incidents), len(ids))
	}
	groups := 0
	for _, inc := range d.Incidents {
		f := &inc.Finding
		if !ids[f.IncidentID] {
			t.Errorf("incident %s was never emitted", f.IncidentID)
		}
		if isGroup(f) {
			groups++
			if len(inc.Activity) == 0 {
				t.Errorf("%s incident %s of %s: no activity", f.Detector, f.IncidentID, f.Client)
			}
			continue
		}
		if !coversAnomaly(&inc) {
			t.Errorf("%s incident %s of %s: series of %d points over %v–%v misses its window %v",
				f.Detector, f.IncidentID, f.Client, len(inc.Series), inc.SeriesFrom, inc.SeriesTo, f.WindowStart)
		}
	}
	page := renderPage(t, d, RenderOptions{})
	t.Logf("%d lines, %d incidents (%d campaign or fleet), page of %d bytes", d.Input.Lines, len(d.Incidents), groups, len(page))
	if p := os.Getenv("GATEWATCH_REPORT_OUT"); p != "" {
		_ = os.WriteFile(p, []byte(page), 0o644)
	}
}

// coversAnomaly reports whether an incident's series holds a window of
// its anomalous span with requests.
func coversAnomaly(inc *Incident) bool {
	for _, p := range inc.Series {
		if !p.End.Before(inc.Finding.WindowStart) && p.Start.Before(inc.Finding.WindowEnd) && p.Requests > 0 {
			return true
		}
	}
	return false
}
