package analyze

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/internal/testenv"
)

// TestRunUnsortedRealLogs: each real log of ../shared/data/real-logs,
// its lines shuffled, gives the incidents of the sorted file — the same
// clients (campaigns included), detectors, first windows and counts of
// clients. A worm sends its dozen probes and a bot fetches a login form
// and posts it within one second, in whatever order a shuffled log keeps
// them: which probe names a window's campaign (keyOrder) and whether a
// request after an attempt is the form fetched again (formFetch) must not
// depend on it. The number of anomalous windows may differ by a few
// (plone-hackers-2015: 458 against 456).
func TestRunUnsortedRealLogs(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "data", "real-logs")
	testenv.Stat(t, filepath.Join(dir, "SOURCES.md"), "../shared beside the repository")
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) == 0 {
		t.Fatal("no real logs")
	}
	for _, path := range logs {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".log"), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			shuffledPath := writeLines(t, t.TempDir(), "shuffled.log", shuffled(lines, 3))
			_, want, err := analyse(t, context.Background(), Options{Inputs: []string{path}})
			if err != nil {
				t.Fatal(err)
			}
			_, got, err := analyse(t, context.Background(), Options{Inputs: []string{shuffledPath}})
			if err != nil {
				t.Fatal(err)
			}
			w, g := incidentKeys(t, want), incidentKeys(t, got)
			if !slices.Equal(w, g) {
				t.Errorf("shuffled log's incidents differ:\n got %q\nwant %q", g, w)
			}
			t.Logf("%d incidents, the same shuffled", len(w))
		})
	}
}

// incidentKeys lists each finding's client, detector, first window and
// client count, sorted.
func incidentKeys(t *testing.T, findings string) []string {
	t.Helper()
	var out []string
	for line := range strings.Lines(findings) {
		var f struct {
			Client      string `json:"client"`
			Detector    string `json:"detector"`
			WindowStart string `json:"window_start"`
			Count       int    `json:"client_count"`
		}
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("finding is not JSON: %q", line)
		}
		out = append(out, fmt.Sprintf("%s %s %s %d", f.Client, f.Detector, f.WindowStart, f.Count))
	}
	slices.Sort(out)
	return out
}
