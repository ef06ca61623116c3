package alert

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

func sampleFinding(end time.Time) detect.Finding {
	return detect.Finding{
		IncidentID: "volume-203.0.113.7-1", Status: detect.StatusOpen, Client: "203.0.113.7", ClientKind: "ip",
		Detector: "volume", WindowStart: end.Add(-time.Minute), WindowEnd: end, Windows: 1,
		Observed: 52, Expected: 2, Spread: 1, Unit: "req/min", Score: 0.99, PValue: 3e-21,
		Severity: detect.SeverityHigh, Baseline: "own", History: 40,
		Summary: "client 203.0.113.7 sent 52 req/min, baseline 2±1",
	}
}

func TestWriter(t *testing.T) {
	t.Parallel()
	f := sampleFinding(time.Date(2026, 11, 2, 2, 1, 0, 0, time.UTC))
	for _, tc := range []struct{ format, want string }{
		{"json", `"client":"203.0.113.7"`},
		{"", `"window_start":"2026-11-02T02:00:00Z"`},
		{"text", "2026-11-02T02:00:00Z HIGH     volume        203.0.113.7         open     client 203.0.113.7 sent 52 req/min, baseline 2±1 (p=3e-21)\n"},
	} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, tc.format)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), tc.want) {
			t.Errorf("format %q: got %q, want it to contain %q", tc.format, buf.String(), tc.want)
		}
		if tc.format != "text" && !json.Valid(bytes.TrimSpace(buf.Bytes())) {
			t.Errorf("format %q: not JSON: %s", tc.format, buf.String())
		}
	}
	if _, err := NewWriter(&bytes.Buffer{}, "xml"); err == nil {
		t.Fatal("NewWriter accepted xml")
	}
}

func TestDirRotatesDaily(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "findings")
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	day1 := time.Date(2026, 11, 2, 23, 59, 0, 0, time.UTC)
	for _, end := range []time.Time{day1, day1, day1.Add(2 * time.Minute)} {
		if err := d.Write(sampleFinding(end)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for name, lines := range map[string]int{"findings-2026-11-02.jsonl": 2, "findings-2026-11-03.jsonl": 1} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(b), "\n"); got != lines {
			t.Errorf("%s: %d lines, want %d", name, got, lines)
		}
	}
}
