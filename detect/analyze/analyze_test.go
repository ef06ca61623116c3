package analyze

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

// attackLog renders a sorted nginx combined log of 9,885 lines: 40 steady
// clients for 40 minutes, and one of them sending 300 requests for
// distinct missing paths in minute 30.
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
	slices.SortStableFunc(lines, func(a, b line) int {
		return int(a.at.Truncate(time.Second) - b.at.Truncate(time.Second))
	})
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return out
}

// attackLines is how many lines attackLog renders.
const attackLines = 9885

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
	out := slices.Clone(lines)
	for i := step / 2; i < len(out); i += step {
		out[i] = "%% not an access log line %%"
	}
	return out
}

// shuffled returns lines in a random order of seed.
func shuffled(lines []string, seed uint64) []string {
	out := slices.Clone(lines)
	rand.New(rand.NewPCG(seed, seed)).Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// text joins lines into a log.
func text(lines []string) string { return strings.Join(lines, "\n") + "\n" }

// writeLines writes lines to a new file in dir and returns its path.
func writeLines(t *testing.T, dir, name string, lines []string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text(lines)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
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
		delete(f, "routes")
		delete(f, "samples")
		delete(f, "clients")
		b, _ := json.Marshal(f)
		out.Write(append(b, '\n'))
	}
	return out.String()
}

// analyse runs an analysis with opts, its temporary files in a fresh
// directory that must be empty afterwards, and returns the summary and
// the findings written.
func analyse(t *testing.T, ctx context.Context, opts Options) (Summary, string, error) {
	t.Helper()
	var out bytes.Buffer
	opts.Output = &out
	if opts.TmpDir == "" {
		opts.TmpDir = t.TempDir()
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := a.Run(ctx)
	if left, _ := os.ReadDir(opts.TmpDir); len(left) != 0 {
		t.Errorf("%d temporary files left in TmpDir", len(left))
	}
	return sum, out.String(), err
}

// TestRunUnsortedInput checks that an analysis finds the same incidents
// in a shuffled or merged log as in the sorted one, from files and from
// standard input, whether the sort fits in memory or spills runs and the
// held findings fit in memory or not.
func TestRunUnsortedInput(t *testing.T) {
	t.Parallel()
	lines := attackLog()
	dir := t.TempDir()
	sorted := writeLines(t, dir, "sorted.log", lines)
	sum, want, err := analyse(t, context.Background(), Options{Inputs: []string{sorted}})
	if err != nil || sum.Late != 0 || !strings.Contains(want, `"detector":"scanning"`) || !strings.Contains(want, `"client":"198.51.100.10"`) {
		t.Fatalf("sorted log: %v, %d late, no scanning finding for the attacker:\n%s", err, sum.Late, want)
	}
	var a, b []string // two servers' logs: every other request each
	for i, l := range lines {
		if i%2 == 0 {
			a = append(a, l)
		} else {
			b = append(b, l)
		}
	}
	shuffledPath := writeLines(t, dir, "shuffled.log", shuffled(lines, 1))
	mergedPath := writeLines(t, dir, "merged.log", append(slices.Clone(a), b...))
	aPath, bPath := writeLines(t, dir, "a.log", a), writeLines(t, dir, "b.log", b)
	fewLate := slices.Clone(lines) // 20 lines a minute late: 0.2%
	for i := 5000; i < 5020; i++ {
		fewLate[i], fewLate[i+600] = fewLate[i+600], fewLate[i]
	}
	fewLatePath := writeLines(t, dir, "few-late.log", fewLate)

	for _, tc := range []struct {
		name      string
		stdin     string
		inputs    []string
		runBytes  int
		holdBytes int
		minRuns   int // 0: the input is in order
	}{
		{"sorted but for a few lines", "", []string{fewLatePath}, 0, 0, 1},
		{"shuffled", "", []string{shuffledPath}, 0, 0, 1},
		{"merged halves", "", []string{mergedPath}, 0, 0, 1},
		{"two files", "", []string{aPath, bPath}, 0, 0, 1},
		{"shuffled spilled runs", "", []string{shuffledPath}, 32 << 10, 512, 10},
		{"merged halves spilled runs", "", []string{mergedPath}, 100 << 10, 0, 5},
		{"stdin shuffled", text(shuffled(lines, 1)), []string{"-"}, 0, 0, 1},
		{"stdin shuffled spilled runs", text(shuffled(lines, 1)), []string{"-"}, 64 << 10, 1, 5},
		{"stdin sorted", text(lines), []string{"-"}, 0, 0, 0},
		{"sorted with findings held in a file", "", []string{sorted}, 0, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var unsorted atomic.Int32
			sum, got, err := analyse(t, context.Background(), Options{
				Inputs: tc.inputs, Stdin: strings.NewReader(tc.stdin), SortRunBytes: tc.runBytes, HoldBytes: tc.holdBytes,
				OnUnsorted: func(detect.Stats) { unsorted.Add(1) },
			})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Lines != attackLines || sum.Events != attackLines || sum.Detect.LateEvents != 0 {
				t.Errorf("%d lines, %d events, %d late after sorting; want %d, %d, 0", sum.Lines, sum.Events, sum.Detect.LateEvents, attackLines, attackLines)
			}
			sorts := tc.minRuns > 0
			if (sum.Late > 0) != sorts || (unsorted.Load() == 1) != sorts || sum.Runs < tc.minRuns {
				t.Errorf("%d late, OnUnsorted called %d times, %d runs; want sorted %v in at least %d runs", sum.Late, unsorted.Load(), sum.Runs, sorts, tc.minRuns)
			}
			if !sorts && got != want {
				t.Errorf("findings differ from the sorted log's:\n got %s\nwant %s", got, want)
			}
			if sorts && withoutExamples(t, got) != withoutExamples(t, want) {
				t.Errorf("findings differ from the sorted log's:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestRunCounts checks what the summary counts per input: formats
// detected, lines that did not parse and a sample of them, events timed
// in the future, and the rejected lines the dead letter gets.
func TestRunCounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	attack := attackLog()
	jsonPath := writeLines(t, dir, "json.log", jsonLog(1843))
	tenPct := writeLines(t, dir, "ten-percent.log", withGarbage(attack, 10))
	future := writeLines(t, dir, "future.log", append(slices.Clone(attack[:100]),
		`198.51.100.77 - - [02/Nov/2099:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x"`))
	empty := writeLines(t, dir, "empty.log", nil)
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                    string
		format                  string
		inputs                  []string
		events, rejects, future int64
		formats                 []string
		looksLike               string // the sample of the first input is detected as
		deadLetters             int
		findings                bool
	}{
		{"json read as nginx_combined", "nginx_combined", []string{jsonPath}, 0, 1843, 0, []string{"nginx_combined"}, "nginx_json", 1843, false},
		{"json detected", "", []string{jsonPath}, 1843, 0, 0, []string{"nginx_json"}, "", 0, false},
		{"10% bad lines", "auto", []string{tenPct}, attackLines - 988, 988, 0, []string{"nginx_combined"}, "", 988, true},
		{"a line from the future", "", []string{future}, 100, 0, 1, []string{"nginx_combined"}, "", 1, false},
		{"an empty input and two formats", "", []string{empty, jsonPath, tenPct}, 1843 + attackLines - 988, 988, 0,
			[]string{"", "nginx_json", "nginx_combined"}, "", 988, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var dl deadLetters
			sum, out, err := analyse(t, context.Background(), Options{Inputs: tc.inputs, Format: tc.format, DeadLetter: &dl})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Events != tc.events || sum.Rejects != tc.rejects || sum.Future != tc.future {
				t.Errorf("%d events, %d rejects, %d future; want %d, %d, %d", sum.Events, sum.Rejects, sum.Future, tc.events, tc.rejects, tc.future)
			}
			if sum.Lines != tc.events+tc.rejects+tc.future {
				t.Errorf("%d lines, want %d", sum.Lines, tc.events+tc.rejects+tc.future)
			}
			var formats []string
			var events, rejects int64
			for _, in := range sum.Inputs {
				formats = append(formats, in.Format)
				events, rejects = events+in.Events, rejects+in.Rejects
				if len(in.Sample) != int(min(in.Rejects, sampleRejects)) {
					t.Errorf("%s: %d sample lines of %d rejects", in.Name, len(in.Sample), in.Rejects)
				}
			}
			if !slices.Equal(formats, tc.formats) || events != sum.Events || rejects != sum.Rejects {
				t.Errorf("inputs %+v, want formats %q adding up to the totals", sum.Inputs, tc.formats)
			}
			if tc.looksLike != "" {
				if guess, _ := ingest.Detect(sum.Inputs[0].Sample); guess != tc.looksLike {
					t.Errorf("sample looks like %q, want %q", guess, tc.looksLike)
				}
			}
			if dl.n != tc.deadLetters {
				t.Errorf("%d dead letters, want %d", dl.n, tc.deadLetters)
			}
			if found := strings.Contains(out, `"detector":"scanning"`); found != tc.findings {
				t.Errorf("scanning finding written: %v, want %v", found, tc.findings)
			}
		})
	}
}

// deadLetters counts rejected lines.
type deadLetters struct {
	mu sync.Mutex
	n  int
}

// Write counts one rejected line.
func (d *deadLetters) Write(string, ingest.Reject) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	return nil
}

// findings records the findings written.
type findings struct {
	mu sync.Mutex
	fs []detect.Finding
}

// Write records f.
func (w *findings) Write(f detect.Finding) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fs = append(w.fs, f)
	return nil
}

// TestRunStream checks which emissions reach the writer: each incident's
// resolved finding by default, every open, update and resolve with
// Stream, and only the second reading's when the input was sorted.
func TestRunStream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lines := attackLog()
	sorted, unsorted := writeLines(t, dir, "sorted.log", lines), writeLines(t, dir, "shuffled.log", shuffled(lines, 4))
	for _, tc := range []struct {
		name   string
		input  string
		stream bool
	}{
		{"sorted", sorted, false},
		{"sorted, stream", sorted, true},
		{"shuffled", unsorted, false},
		{"shuffled, stream", unsorted, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var w findings
			sum, _, err := analyse(t, context.Background(), Options{Inputs: []string{tc.input}, Stream: tc.stream,
				NewWriter: func(io.Writer) FindingWriter { return &w }})
			if err != nil {
				t.Fatal(err)
			}
			status := map[detect.Status]int64{}
			for _, f := range w.fs {
				status[f.Status]++
			}
			if status[detect.StatusResolved] != sum.Incidents || sum.Incidents == 0 {
				t.Errorf("%d resolved findings of %d incidents", status[detect.StatusResolved], sum.Incidents)
			}
			if got := status[detect.StatusOpen] > 0; got != tc.stream {
				t.Errorf("open findings written: %v, want %v", got, tc.stream)
			}
			if tc.stream && status[detect.StatusOpen] != sum.Incidents {
				t.Errorf("%d open findings of %d incidents", status[detect.StatusOpen], sum.Incidents)
			}
		})
	}
}

// failingWriter fails every write.
type failingWriter struct{}

// Write fails.
func (failingWriter) Write(detect.Finding) error { return errors.New("disk full") }

// TestRunStops checks that an analysis ends with the error when it is
// cancelled (before it starts, or as it starts sorting) or cannot write
// its findings, writes nothing then, and leaves no temporary file.
func TestRunStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lines := attackLog()
	sorted := writeLines(t, dir, "sorted.log", lines)
	unsorted := text(shuffled(lines, 3))
	for _, tc := range []struct {
		name      string
		input     string
		stdin     string
		cancelAt  string // "start" or "unsorted"
		failWrite bool
		want      error
	}{
		{"cancelled before", sorted, "", "start", false, context.Canceled},
		{"cancelled as it starts sorting", "-", unsorted, "unsorted", false, context.Canceled},
		{"cannot write, sorted", sorted, "", "", true, nil},
		{"cannot write, unsorted", "-", unsorted, "", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelAt == "start" {
				cancel()
			}
			opts := Options{Inputs: []string{tc.input}, Stdin: strings.NewReader(tc.stdin), SortRunBytes: 16 << 10}
			if tc.cancelAt == "unsorted" {
				opts.OnUnsorted = func(detect.Stats) { cancel() }
			}
			if tc.failWrite {
				opts.NewWriter = func(io.Writer) FindingWriter { return failingWriter{} }
			}
			_, out, err := analyse(t, ctx, opts)
			switch {
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("error %v, want %v", err, tc.want)
			case tc.failWrite && (err == nil || !strings.Contains(err.Error(), "disk full")):
				t.Errorf("error %v, want the writer's", err)
			}
			if out != "" {
				t.Errorf("%d bytes of findings written", len(out))
			}
		})
	}
}

// slowReader hands out its text in small pieces, pausing before each.
type slowReader struct {
	r     *strings.Reader
	pause time.Duration
}

// Read reads at most 4 KiB after a pause.
func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), 4<<10)])
}

// TestRunProgress checks that progress is reported while an input is read
// (on both readings of an unsorted one) and no more once Run returns.
func TestRunProgress(t *testing.T) {
	t.Parallel()
	lines := attackLog()
	for _, tc := range []struct {
		name  string
		lines []string
		sorts bool
	}{
		{"sorted", lines, false},
		{"shuffled", shuffled(lines, 5), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var reports []Progress
			stdin := &slowReader{r: strings.NewReader(text(tc.lines)), pause: time.Millisecond}
			_, _, err := analyse(t, context.Background(), Options{Inputs: []string{"-"}, Stdin: stdin,
				ProgressEvery: 5 * time.Millisecond, Progress: func(p Progress) {
					mu.Lock()
					defer mu.Unlock()
					reports = append(reports, p)
				}})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			n := len(reports)
			first, sorting := Progress{}, false
			if n > 0 {
				first = reports[0]
			}
			for _, p := range reports {
				sorting = sorting || p.Sorting
			}
			mu.Unlock()
			if n == 0 || first.File != "-" || first.Size > 0 || first.Elapsed <= 0 {
				t.Fatalf("%d reports, first %+v", n, first)
			}
			if sorting != tc.sorts {
				t.Errorf("a report of sorting: %v, want %v", sorting, tc.sorts)
			}
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			if len(reports) != n {
				t.Errorf("%d reports after Run returned", len(reports)-n)
			}
		})
	}
}

// TestNew checks the options New refuses and the defaults it fills.
func TestNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"no input", Options{}, false},
		{"defaults", Options{Inputs: []string{"-"}}, true},
		{"a key of its own", Options{Inputs: []string{"-"}, Normalizer: ingest.NormalizerOptions{HMACKey: []byte("0123456789abcdef")}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := New(tc.opts)
			if (err == nil) != tc.ok {
				t.Fatalf("error %v, want ok %v", err, tc.ok)
			}
			if err != nil {
				return
			}
			o := a.opts
			if o.Stdin == nil || o.Output == nil || o.NewWriter == nil || o.TmpDir == "" || o.HoldBytes <= 0 || o.ProgressEvery <= 0 {
				t.Errorf("defaults missing: %+v", o)
			}
			if key := tc.opts.Normalizer.HMACKey; len(o.Normalizer.HMACKey) == 0 || key != nil && !bytes.Equal(key, o.Normalizer.HMACKey) {
				t.Errorf("HMAC key %x, given %x", o.Normalizer.HMACKey, key)
			}
		})
	}
}
