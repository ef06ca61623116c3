package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// TestAnalyzeRequests: "analyze --requests" learns from --learn, judges
// the input, prints one JSON report per request outside the contract and
// a summary naming the reasons; a log that is not the named format ends
// with the parse-error status.
func TestAnalyzeRequests(t *testing.T) {
	t.Parallel()
	log, labels, err := simulate.APIRequests(simulate.APIConfig{Seed: 9, Learn: 4000, Normal: 4000, Attacks: 400})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(log), "\n")
	dir := t.TempDir()
	learn, judge := filepath.Join(dir, "learn.log"), filepath.Join(dir, "today.log")
	os.WriteFile(learn, []byte(strings.Join(lines[:4000], "")), 0o600)
	os.WriteFile(judge, []byte(strings.Join(lines[4000:], "")), 0o600)
	code, out, stderr := runAnalyze(t, "", 0, 0, "--requests", "--learn", learn, judge)
	if code != 0 || !strings.Contains(stderr, "judged 4,400: ") || !strings.Contains(stderr, "outside the contract (") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	attacks := 0
	for _, l := range labels[4000:] {
		if l.Attack != "" {
			attacks++
		}
	}
	var reported int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Input   string
			Line    int
			Reasons []struct{ Reason, Param, Expected, Got string }
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Input != judge || len(r.Reasons) == 0 || r.Reasons[0].Reason == "" {
			t.Fatalf("report %q: %v", line, err)
		}
		if labels[4000+r.Line-1].Attack != "" {
			reported++
		}
	}
	if reported < attacks*9/10 {
		t.Errorf("%d of %d attack requests reported", reported, attacks)
	}
	code, _, stderr = runAnalyze(t, "", 0, 0, "--requests", "--format", "envoy_json", judge)
	if code != exitParseErrors {
		t.Errorf("wrong format: exit %d, want %d\n%s", code, exitParseErrors, stderr)
	}
}
