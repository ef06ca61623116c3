package analyze

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// TestRequestsFindContractAttacks: on the typed API's labelled requests
// (ingest/simulate.APIRequests: a learning period of ordinary traffic,
// then ordinary traffic with attacks only contract learning catches), the
// request audit reports at least 90% of the attack requests judged, every
// kind at least 80%, and at most 0.5% of the ordinary requests judged —
// whether each client sends many requests or one, and whether the
// learning period is the default share of the input or named in lines.
func TestRequestsFindContractAttacks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		one  bool
		opts RequestOptions
	}{
		{"default share", false, RequestOptions{}},
		{"one request per client", true, RequestOptions{}},
		{"learning period in lines", false, RequestOptions{LearnLines: 20000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log, labels, err := simulate.APIRequests(simulate.APIConfig{Seed: 3, OnePerClient: tc.one})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "api.log")
			if err := os.WriteFile(path, log, 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			o := tc.opts
			o.Inputs, o.Output, o.Format = []string{path}, &out, "nginx_combined"
			sum, err := Requests(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			reports := readReports(t, &out, strings.Split(string(log), "\n"))
			scoreRequests(t, labels, reports, sum.Learned)
		})
	}
}

// readReports decodes the audit's output and checks each report names
// the line it came from.
func readReports(t *testing.T, out *bytes.Buffer, lines []string) map[int64]RequestReport {
	t.Helper()
	reports := map[int64]RequestReport{}
	dec := json.NewDecoder(out)
	for dec.More() {
		var r RequestReport
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		if r.Line < 1 || int(r.Line) > len(lines) || !strings.Contains(lines[r.Line-1], r.Client+" ") || len(r.Reasons) == 0 {
			t.Fatalf("report %+v does not match line %d", r, r.Line)
		}
		reports[r.Line] = r
	}
	return reports
}

// scoreRequests checks recall and false positives after the learning
// period (the first learned lines: the log has no blank or bad line).
func scoreRequests(t *testing.T, labels []simulate.RequestLabel, reports map[int64]RequestReport, learned int64) {
	t.Helper()
	attacks, found := map[string]int{}, map[string]int{}
	normal, flagged := 0, 0
	for _, l := range labels {
		if int64(l.Line) <= learned {
			if _, ok := reports[int64(l.Line)]; ok {
				t.Fatalf("line %d of the learning period judged", l.Line)
			}
			continue
		}
		_, hit := reports[int64(l.Line)]
		if l.Attack == "" {
			normal++
			if hit {
				flagged++
				t.Logf("ordinary request flagged: line %d %+v", l.Line, reports[int64(l.Line)].Reasons)
			}
			continue
		}
		attacks[l.Attack]++
		if hit {
			found[l.Attack]++
		}
	}
	all, hits := 0, 0
	for k, n := range attacks {
		all, hits = all+n, hits+found[k]
		if float64(found[k]) < 0.8*float64(n) {
			t.Errorf("%s: %d of %d attack requests reported, want 80%%", k, found[k], n)
		}
	}
	t.Logf("recall %d/%d (%.1f%%), ordinary requests flagged %d/%d (%.3f%%), by kind %v of %v",
		hits, all, 100*float64(hits)/float64(all), flagged, normal, 100*float64(flagged)/float64(normal), found, attacks)
	if all == 0 || float64(hits) < 0.9*float64(all) {
		t.Errorf("%d of %d attack requests reported, want 90%%", hits, all)
	}
	if float64(flagged) > 0.005*float64(normal) {
		t.Errorf("%d of %d ordinary requests flagged, more than 0.5%%", flagged, normal)
	}
}

// TestRequestsFromStandardInput: standard input is kept for the learning
// share, reported as "-", and learning twice over it works.
func TestRequestsFromStandardInput(t *testing.T) {
	t.Parallel()
	log, _, err := simulate.APIRequests(simulate.APIConfig{Seed: 5, Learn: 3000, Normal: 3000, Attacks: 300})
	if err != nil {
		t.Fatal(err)
	}
	for _, share := range []float64{0, 1} {
		var out bytes.Buffer
		sum, err := Requests(context.Background(), RequestOptions{Inputs: []string{"-"}, Stdin: bytes.NewReader(log),
			Output: &out, LearnShare: share, TmpDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		reports := readReports(t, &out, strings.Split(string(log), "\n"))
		if sum.Lines != 6300 || sum.Flagged == 0 || int64(len(reports)) != sum.Flagged {
			t.Errorf("share %v: %+v, %d reports", share, sum, len(reports))
		}
		for _, r := range reports {
			if r.Input != "-" {
				t.Fatalf("input named %q, want -", r.Input)
			}
		}
		if share == 1 && sum.Learned != 6300 {
			t.Errorf("learnt from %d events, want all 6,300", sum.Learned)
		}
	}
}
