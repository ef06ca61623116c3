package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// attackLog renders a sorted nginx combined log: 40 steady clients for
// 40 minutes, and one of them sending 300 requests for distinct missing
// paths in minute 30.
func attackLog() []string {
	rng := rand.New(rand.NewPCG(7, 7))
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	type line struct {
		at   time.Duration
		text string
	}
	var lines []line
	add := func(at time.Duration, ip, path string, status int) {
		ts := start.Add(at).Format("02/Jan/2006:15:04:05 -0700")
		lines = append(lines, line{at, fmt.Sprintf(`%s - - [%s] "GET %s HTTP/1.1" %d %d "-" "client/1.0"`, ip, ts, path, status, 200+rng.IntN(800))})
	}
	for minute := range 40 {
		for c := range 40 {
			ip := "198.51.100." + strconv.Itoa(10+c)
			for range 4 + rng.IntN(5) {
				at := time.Duration(minute)*time.Minute + time.Duration(rng.IntN(60))*time.Second
				add(at, ip, "/api/v1/items/"+strconv.Itoa(rng.IntN(50)), 200)
			}
		}
	}
	for i := range 300 {
		at := 30*time.Minute + time.Duration(i*200)*time.Millisecond
		add(at, "198.51.100.10", "/wp-admin/probe-"+strconv.Itoa(i)+".php", 404)
	}
	// Sorted by time, generation order for equal seconds: as a server
	// writes its log.
	slicesSortStable(lines, func(a, b line) bool { return a.at.Truncate(time.Second) < b.at.Truncate(time.Second) })
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return out
}

func slicesSortStable[T any](s []T, less func(a, b T) bool) {
	for i := 1; i < len(s); i++ { // insertion sort on nearly sorted data is plenty
		for j := i; j > 0 && less(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// withoutExamples returns findings (JSON lines) without the fields that
// show the first few examples of an incident (routes, samples, clients):
// which requests came first within one second of a log is lost when its
// lines are shuffled, so those may differ, while everything counted may
// not.
func withoutExamples(t *testing.T, findings string) string {
	t.Helper()
	var out strings.Builder
	for line := range strings.Lines(findings) {
		var f map[string]any
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("finding is not JSON: %q", line)
		}
		if f["samples"] == nil && f["routes"] == nil && f["clients"] == nil && f["detector"] == "scanning" {
			t.Errorf("scanning finding without examples: %s", line)
		}
		delete(f, "routes")
		delete(f, "samples")
		delete(f, "clients")
		b, _ := json.Marshal(f)
		out.Write(append(b, '\n'))
	}
	return out.String()
}

func writeLines(t *testing.T, dir, name string, lines []string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runAnalyze runs "gatewatch analyze" with the sorter's bounds set.
func runAnalyze(t *testing.T, stdin string, runBytes, holdBytes int, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" },
		sortRunBytes: runBytes, holdBytes: holdBytes}
	code := c.main(context.Background(), append([]string{"analyze"}, args...))
	return code, out.String(), errOut.String()
}

var sortedRuns = regexp.MustCompile(`input not in time order \(([0-9,.kM]+) events more than 30s behind newer ones\): sorted it by time in (\d+) runs? and analysed again`)

// TestAnalyzeUnsortedInput checks that analyze finds the same incidents
// in a shuffled or merged log as in the sorted one, from files and from
// standard input, whether the sort fits in memory or spills runs.
func TestAnalyzeUnsortedInput(t *testing.T) {
	t.Parallel()
	lines := attackLog()
	dir := t.TempDir()
	sorted := writeLines(t, dir, "sorted.log", lines)
	code, want, stderr := runAnalyze(t, "", 0, 0, "--tmp-dir", t.TempDir(), sorted)
	if code != 0 || !strings.Contains(want, `"detector":"scanning"`) || !strings.Contains(want, `"client":"198.51.100.10"`) {
		t.Fatalf("sorted log: exit %d, no scanning finding for the attacker:\n%s\n%s", code, want, stderr)
	}
	if strings.Contains(stderr, "not in time order") {
		t.Fatalf("sorted log reported unsorted: %s", stderr)
	}

	shuffled := append([]string(nil), lines...)
	rand.New(rand.NewPCG(1, 1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	var a, b []string // two servers' logs: every other request each
	for i, l := range lines {
		if i%2 == 0 {
			a = append(a, l)
		} else {
			b = append(b, l)
		}
	}
	shuffledPath := writeLines(t, dir, "shuffled.log", shuffled)
	mergedPath := writeLines(t, dir, "merged.log", append(append([]string(nil), a...), b...))
	aPath, bPath := writeLines(t, dir, "a.log", a), writeLines(t, dir, "b.log", b)
	stdinShuffled := strings.Join(shuffled, "\n") + "\n"
	fewLate := append([]string(nil), lines...) // 20 lines a minute late: 0.2%
	for i := 5000; i < 5020; i++ {
		fewLate[i], fewLate[i+600] = fewLate[i+600], fewLate[i]
	}
	fewLatePath := writeLines(t, dir, "few-late.log", fewLate)

	for _, tc := range []struct {
		name      string
		stdin     string
		args      []string
		runBytes  int
		holdBytes int
		sorts     bool
		minRuns   int
	}{
		{"sorted but for a few lines", "", []string{fewLatePath}, 0, 0, true, 1},
		{"shuffled", "", []string{shuffledPath}, 0, 0, true, 1},
		{"merged halves", "", []string{mergedPath}, 0, 0, true, 1},
		{"two files", "", []string{aPath, bPath}, 0, 0, true, 1},
		{"shuffled spilled runs", "", []string{shuffledPath}, 32 << 10, 512, true, 10},
		{"merged halves spilled runs", "", []string{mergedPath}, 100 << 10, 0, true, 5},
		{"stdin shuffled", stdinShuffled, []string{"-"}, 0, 0, true, 1},
		{"stdin shuffled spilled runs", stdinShuffled, []string{"-"}, 64 << 10, 1, true, 5},
		{"stdin sorted", strings.Join(lines, "\n") + "\n", []string{"-"}, 0, 0, false, 0},
		{"sorted with findings held in a file", "", []string{sorted}, 0, 1, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			code, got, stderr := runAnalyze(t, tc.stdin, tc.runBytes, tc.holdBytes, append([]string{"--tmp-dir", tmp}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !tc.sorts && got != want {
				t.Errorf("findings differ from the sorted log's:\n got %s\nwant %s", got, want)
			}
			if tc.sorts && withoutExamples(t, got) != withoutExamples(t, want) {
				t.Errorf("findings differ from the sorted log's:\n got %s\nwant %s", got, want)
			}
			m := sortedRuns.FindStringSubmatch(stderr)
			switch {
			case !tc.sorts && m != nil:
				t.Errorf("sorted input was sorted again: %s", stderr)
			case tc.sorts && m == nil:
				t.Fatalf("no notice of sorting: %s", stderr)
			case tc.sorts:
				if runs, _ := strconv.Atoi(m[2]); runs < tc.minRuns {
					t.Errorf("%d runs, want at least %d: %s", runs, tc.minRuns, stderr)
				}
				if !strings.Contains(stderr, "0 late") {
					t.Errorf("events still late after sorting: %s", stderr)
				}
				// Above 1% late, a warning names the cause.
				late, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
				warned := strings.Contains(stderr, "analyze: warning: "+m[1]+" of 9,885 events") &&
					strings.Contains(stderr, "came more than 30s behind newer ones: input not in time order")
				if warned != (float64(late) > 0.01*9885) {
					t.Errorf("%d late events of 9,885: warned %v: %s", late, warned, stderr)
				}
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("%d temporary files left in --tmp-dir", len(left))
			}
		})
	}
}

// cancelOnWrite cancels a context when text is written to it: a user
// pressing ^C at that point.
type cancelOnWrite struct {
	syncBuffer
	text   string
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.text) {
		w.cancel()
	}
	return w.syncBuffer.Write(p)
}

// TestAnalyzeInterruptedWhileSorting interrupts analyze as it starts
// sorting standard input: it must exit as interrupted and leave no
// temporary file (the copy of standard input, spilled runs) behind.
func TestAnalyzeInterruptedWhileSorting(t *testing.T) {
	t.Parallel()
	lines := attackLog()
	rand.New(rand.NewPCG(3, 3)).Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &cancelOnWrite{text: "input not in time order", cancel: cancel}
	var stdout bytes.Buffer
	c := &cli{stdin: strings.NewReader(strings.Join(lines, "\n") + "\n"), stdout: &stdout, stderr: stderr,
		getenv: func(string) string { return "" }, sortRunBytes: 16 << 10}
	tmp := t.TempDir()
	code := c.main(ctx, []string{"analyze", "--tmp-dir", tmp, "-"})
	if code != 130 || stdout.Len() != 0 {
		t.Fatalf("exit %d, %d bytes of findings: %s", code, stdout.Len(), stderr.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("%d temporary files left in --tmp-dir", len(left))
	}
}
