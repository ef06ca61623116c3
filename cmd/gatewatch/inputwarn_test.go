package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// jsonLog renders n requests as an nginx_json log.
func jsonLog(n int) []string {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"time_iso8601":"%s","remote_addr":"198.51.100.%d","request_method":"GET","request_uri":"/api/v1/items/%d","status":"200","body_bytes_sent":"512","http_user_agent":"client/1.0"}`,
			start.Add(time.Duration(i)*time.Second).Format(time.RFC3339), 10+i%40, i%50)
	}
	return lines
}

// withGarbage returns lines with every step-th one replaced by a line
// that no format parses.
func withGarbage(lines []string, step int) []string {
	out := append([]string(nil), lines...)
	for i := step / 2; i < len(out); i += step {
		out[i] = "%% not an access log line %%"
	}
	return out
}

// TestAnalyzeParseErrors checks the warning and exit status 3 when many
// lines do not parse, and the flag that accepts them: a JSON log read as
// nginx_combined must not look like an all-clear.
func TestAnalyzeParseErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	jsonPath := writeLines(t, dir, "json.log", jsonLog(1843))
	attack := attackLog()
	tenPct := writeLines(t, dir, "ten-percent.log", withGarbage(attack, 10))
	twoPct := writeLines(t, dir, "two-percent.log", withGarbage(attack, 50))
	wrongJSON := "analyze: warning: 1,843 of 1,843 lines of " + jsonPath + " (100%) did not parse as nginx_combined: wrong format? They look like nginx_json: try --format nginx_json"
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		stderr   []string // each must appear
		notIn    string   // must not appear in stderr
		findings bool     // the attack is still reported
	}{
		{"json read as nginx_combined", []string{"--format", "nginx_combined", jsonPath}, 3,
			[]string{wrongJSON, "1,843 parse errors", "gatewatch analyze: no events in 1,843 lines of input: nothing was analysed"}, "", false},
		{"json read as nginx_combined, accepted", []string{"--format", "nginx_combined", "--max-parse-errors", "1", jsonPath}, 3,
			[]string{wrongJSON, "no events in"}, "", false},
		{"json detected", []string{jsonPath}, 0, []string{"format nginx_json"}, "warning", false},
		{"10% bad lines", []string{tenPct}, 3,
			[]string{"did not parse as nginx_combined: wrong format?", `Name the format with --format`,
				"gatewatch analyze: 988 of 9,885 lines (10.0%) failed to parse, more than --max-parse-errors 0.05 allows"}, "", true},
		{"10% bad lines, quiet", []string{"--quiet", tenPct}, 3, []string{"wrong format?", "failed to parse"}, "analyze: 9,885 lines", true},
		{"10% bad lines accepted", []string{"--max-parse-errors", "0.2", tenPct}, 0, []string{"wrong format?"}, "failed to parse", true},
		{"2% bad lines", []string{twoPct}, 0, []string{"198 parse errors"}, "wrong format?", true},
		{"2% bad lines, none tolerated", []string{"--max-parse-errors", "0", twoPct}, 3, []string{"198 of 9,885 lines (2.0%) failed to parse"}, "wrong format?", true},
		{"share out of range", []string{"--max-parse-errors", "5", twoPct}, 2, []string{"from 0 to 1"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runAnalyze(t, "", 0, 0, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q", want)
				}
			}
			if tc.notIn != "" && strings.Contains(stderr, tc.notIn) {
				t.Errorf("stderr has %q", tc.notIn)
			}
			if found := strings.Contains(stdout, `"detector":"scanning"`); found != tc.findings {
				t.Errorf("scanning finding printed: %v, want %v", found, tc.findings)
			}
			if t.Failed() {
				t.Logf("stderr:\n%s", stderr)
			}
		})
	}
}

// TestRunWarnsOnBadInput checks run's warnings: lines in another format,
// and events out of time order.
func TestRunWarnsOnBadInput(t *testing.T) {
	t.Parallel()
	sorted := attackLog()
	shuffled := append([]string(nil), sorted...)
	rand.New(rand.NewPCG(2, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, tc := range []struct {
		name  string
		lines []string
		want  []string
	}{
		{"in order", sorted, nil},
		{"shuffled", shuffled, []string{`level=WARN msg="many events arrive late, counted but not scored: input not in time order?"`, "allowed_lateness=30s"}},
		{"json as nginx_combined", jsonLog(500), []string{`level=WARN msg="many lines fail to parse: wrong format?" source=stdin format=nginx_combined looks_like=nginx_json parse_errors=500 lines=500 share=1`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := strings.Join(tc.lines, "\n") + "\n"
			code, _, stderr := testCLI(t, in, map[string]string{"GATEWATCH_DATA_DIR": t.TempDir()},
				"run", "--listen", "", "--format", "nginx_combined", "-")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if tc.want == nil && strings.Contains(stderr, "WARN") {
				t.Errorf("warning on good input:\n%s", stderr)
			}
		})
	}
}
