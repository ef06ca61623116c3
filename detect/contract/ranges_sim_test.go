package contract_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/detect/analyze"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// rangedParam finds a query integer of the simulated API whose range is
// small: a quantity, a page number, a radius, a rating.
var rangedParam = regexp.MustCompile(`([?&](?:qty|page|radius|rating)=)([0-9]+)`)

// farValues are the values an attacker probes such parameters with.
var farValues = []string{"100000", "999999999", "5000", "2147483648", "9999999999999999999", "1000", "-500"}

// TestRangeOnSimulatedTraffic: on the typed API's traffic
// (simulate.APIRequests, as detect/analyze's TestRequestsFindContractAttacks
// judges it), no ordinary request is out of range, the false positives
// stay under 0.5%, and every request whose quantity, page, radius or
// rating was set far beyond what the API takes is found: out of range,
// or not one of an enum's values (rating takes 1 to 5, an enum).
func TestRangeOnSimulatedTraffic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		one  bool
		opts analyze.RequestOptions
	}{
		{"default share", false, analyze.RequestOptions{}},
		{"one request per client", true, analyze.RequestOptions{}},
		{"learning period in lines", false, analyze.RequestOptions{LearnLines: 20000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log, labels, err := simulate.APIRequests(simulate.APIConfig{Seed: 3, OnePerClient: tc.one})
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(log), "\n")
			far := tamperRanges(lines, labels)
			path := filepath.Join(t.TempDir(), "api.log")
			if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			o := tc.opts
			o.Inputs, o.Output, o.Format = []string{path}, &out, "nginx_combined"
			sum, err := analyze.Requests(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			scoreRanges(t, labels, far, reasonsByLine(t, &out), int(sum.Learned))
		})
	}
}

// tamperRanges sets, in one of every 40 ordinary requests of the second
// half that carry one, a small-ranged integer far out of its range, and
// returns those requests' line numbers.
func tamperRanges(lines []string, labels []simulate.RequestLabel) map[int]bool {
	far := map[int]bool{}
	n := 0
	for _, l := range labels {
		i := l.Line - 1
		m := rangedParam.FindStringSubmatchIndex(lines[i])
		if l.Attack != "" || l.Line <= len(labels)/2 || m == nil {
			continue
		}
		if n++; n%40 != 0 {
			continue
		}
		lines[i] = lines[i][:m[4]] + farValues[len(far)%len(farValues)] + lines[i][m[5]:]
		far[l.Line] = true
	}
	return far
}

// reasonsByLine decodes the audit's output: each flagged line's reasons.
func reasonsByLine(t *testing.T, out *bytes.Buffer) map[int][]contract.Reason {
	t.Helper()
	got := map[int][]contract.Reason{}
	dec := json.NewDecoder(out)
	for dec.More() {
		var r analyze.RequestReport
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		for _, v := range r.Reasons {
			got[int(r.Line)] = append(got[int(r.Line)], v.Reason)
		}
	}
	return got
}

// scoreRanges checks and logs the false positives and the recall of the
// requests tampered with, after the learning period.
func scoreRanges(t *testing.T, labels []simulate.RequestLabel, far map[int]bool, got map[int][]contract.Reason, learned int) {
	t.Helper()
	normal, flagged, outOfRange, attacks, found := 0, 0, 0, 0, 0
	tampered, caught, byRange, byOthers := 0, 0, 0, 0
	for _, l := range labels {
		rs, hit := got[l.Line]
		switch {
		case l.Line <= learned:
		case far[l.Line]:
			tampered++
			if hit {
				caught++
			}
			if slices.Contains(rs, contract.OutOfRange) {
				byRange++
			}
			if slices.ContainsFunc(rs, func(r contract.Reason) bool { return r != contract.OutOfRange }) {
				byOthers++
			}
		case l.Attack != "":
			attacks++
			if hit {
				found++
			}
		default:
			normal++
			if hit {
				flagged++
			}
			if slices.Contains(rs, contract.OutOfRange) {
				outOfRange++
				t.Errorf("ordinary request out of range: line %d %v", l.Line, rs)
			}
		}
	}
	t.Logf("ordinary requests flagged %d/%d (%.3f%%), out of range %d; attacks found %d/%d (%.1f%%); "+
		"far integers found %d/%d: out of range %d, by other reasons %d (an enum's, too long, a '-')",
		flagged, normal, 100*float64(flagged)/float64(normal), outOfRange, found, attacks, 100*float64(found)/float64(attacks),
		caught, tampered, byRange, byOthers)
	if float64(flagged) > 0.005*float64(normal) {
		t.Errorf("%d of %d ordinary requests flagged, more than 0.5%%", flagged, normal)
	}
	if tampered < 100 || caught != tampered || byRange < tampered*3/4 {
		t.Errorf("%d of %d far integers found, %d out of range; want all (at least 100), three in four out of range", caught, tampered, byRange)
	}
}
