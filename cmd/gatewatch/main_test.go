package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest/simulate"

	"github.com/gatewatch/gatewatch/internal/config"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// testCLI runs the command line with in-memory stdio and a fixed
// environment.
func testCLI(t *testing.T, stdin string, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] }}
	code = c.main(context.Background(), args)
	return code, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args     []string
		code     int
		want     string
		inStdout bool
	}{
		{[]string{"help"}, 0, "gatewatch demo", true},
		{[]string{"--help"}, 0, "Commands:", true},
		{nil, 2, "Usage:", false},
		{[]string{"nope"}, 2, `unknown command "nope"`, false},
		{[]string{"analyze", "--help"}, 0, "gatewatch analyze /var/log/nginx/access.log", false},
		{[]string{"analyze", "-help"}, 0, "Exit status: 0 when done; 3 when more lines failed to parse than\n--max-parse-errors allows", false},
		{[]string{"help", "run"}, 0, "tail -F", false},
		{[]string{"demo", "--help"}, 0, "scorecard", false},
		{[]string{"analyze"}, 2, "no input", false},
		{[]string{"analyze", "--no-such-flag", "x.log"}, 2, "flag provided but not defined", false},
		{[]string{"version"}, 0, "gatewatch dev", true},
		{[]string{"formats"}, 0, "nginx_combined", true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := testCLI(t, "", nil, tc.args...)
			got := stderr
			if tc.inStdout {
				got = stdout
			}
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Fatalf("exit %d (want %d); output does not contain %q:\nstdout: %s\nstderr: %s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
}

// TestExampleConfigIsPrinted checks that "gatewatch config" prints the
// example config (internal/config keeps it equal to the defaults).
func TestExampleConfigIsPrinted(t *testing.T) {
	t.Parallel()
	code, stdout, _ := testCLI(t, "", nil, "config")
	if code != 0 || stdout != string(config.Example) {
		t.Fatalf("gatewatch config: exit %d, printed %d bytes", code, len(stdout))
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct{ name, yaml, want string }{
		{"typo", "detect:\n  windw: 1m\n", "field windw not found"},
		{"p value", "detect:\n  p_value: 2\n", "detect.p_value"},
		{"window", "detect:\n  window: 10ms\n", "detect.window"},
		{"proxy", "ingest:\n  trusted_proxies: [not-an-ip]\n", "trusted_proxies"},
		{"output", "output:\n  format: xml\n", "output.format"},
		{"source", "ingest:\n  sources: [{name: x}]\n", "path is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tc.name+".yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := testCLI(t, "", nil, "analyze", "--config", path, "x.log")
			if code != 1 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, stderr, tc.want)
			}
		})
	}
}

// writeScenarioLog renders a small labelled scenario as an nginx log.
func writeScenarioLog(t *testing.T, cfg simulate.Config) (string, []simulate.Label) {
	t.Helper()
	scen, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "access.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := scen.WriteNginx(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, scen.Labels()
}

func smallScenario() simulate.Config {
	return simulate.Config{Seed: 11, Clients: 400, Duration: 2 * time.Hour, AttackAt: 90 * time.Minute, AttackFor: 10 * time.Minute}
}

// TestAnalyzeFindsAttacksInNginxLog runs the whole analyze command on a
// rendered nginx log: detection through the real parser, and the
// documented output schema.
func TestAnalyzeFindsAttacksInNginxLog(t *testing.T) {
	t.Parallel()
	path, labels := writeScenarioLog(t, smallScenario())
	// A garbage line must be counted and kept, not stop the run.
	appendLine(t, path, "\x16\x03\x01\xff\xfe not http at all")
	// A garbled year must not drag the watermark past every real event.
	appendLine(t, path, `198.51.100.77 - - [02/Nov/2099:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x"`)
	dead := filepath.Join(t.TempDir(), "dead.jsonl")
	page := filepath.Join(t.TempDir(), "report.html")
	code, stdout, stderr := testCLI(t, "", nil, "analyze", "--dead-letter", dead, "--report", page, path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "1 parse errors") {
		t.Errorf("summary does not count the bad line: %s", stderr)
	}
	if !strings.Contains(stderr, "1 events skipped: their time is more than 1h0m0s in the future") {
		t.Errorf("summary does not count the future event: %s", stderr)
	}
	if b, err := os.ReadFile(dead); err != nil || !strings.Contains(string(b), "line_base64") {
		t.Errorf("dead letter file: %q, %v", b, err)
	}
	found := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var f map[string]any
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("output line is not JSON: %q", sc.Text())
		}
		for _, k := range []string{"client", "detector", "window_start", "window_end", "observed", "expected", "score", "severity", "summary"} {
			if _, ok := f[k]; !ok {
				t.Fatalf("finding lacks %q: %s", k, sc.Text())
			}
		}
		for _, k := range []string{"window_start", "window_end"} {
			if _, err := time.Parse(time.RFC3339, f[k].(string)); err != nil {
				t.Fatalf("%s is not RFC 3339: %v", k, err)
			}
		}
		if f["status"] != "resolved" {
			t.Fatalf("analyze prints final incidents, got status %v", f["status"])
		}
		found[f["client"].(string)] = true
	}
	for _, l := range labels {
		if len(l.Detectors) > 0 && !found[l.Client] {
			t.Errorf("attack %s by %s not found; stdout:\n%s", l.Kind, l.Client, stdout)
		}
		if len(l.Detectors) == 0 && found[l.Client] {
			t.Errorf("trap %s (%s) alerted", l.Kind, l.Client)
		}
	}
	checkReportFile(t, page, stdout, stderr)
}

// checkReportFile checks analyze's --report page: announced, and naming
// every incident of the findings on stdout.
func checkReportFile(t *testing.T, page, stdout, stderr string) {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil || !strings.Contains(stderr, "report written to "+page) {
		t.Fatalf("report: %v; stderr: %s", err, stderr)
	}
	ids := 0
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var f struct {
			IncidentID string `json:"incident_id"`
		}
		if json.Unmarshal([]byte(line), &f) == nil && f.IncidentID != "" {
			ids++
			if !strings.Contains(string(b), f.IncidentID) {
				t.Errorf("incident %s is not in the report", f.IncidentID)
			}
		}
	}
	if ids == 0 || !strings.Contains(string(b), "<svg") {
		t.Errorf("report of %d incidents without a chart (%d bytes)", ids, len(b))
	}
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
}

// TestRunStdinWritesFindings runs the embedded pipeline on standard input:
// findings reach stdout and the findings directory, and a bad line reaches
// the dead-letter file.
func TestRunStdinWritesFindings(t *testing.T) {
	t.Parallel()
	path, labels := writeScenarioLog(t, smallScenario())
	appendLine(t, path, "garbage line")
	in, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	code, stdout, stderr := testCLI(t, string(in), map[string]string{"GATEWATCH_DATA_DIR": data},
		"run", "--listen", "", "--format", "nginx_combined", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	files, _ := filepath.Glob(filepath.Join(data, "findings", "findings-*.jsonl"))
	if len(files) == 0 {
		t.Fatalf("no findings files in %s; stderr: %s", data, stderr)
	}
	var stored bytes.Buffer
	for _, f := range files {
		b, _ := os.ReadFile(f)
		stored.Write(b)
	}
	if stored.String() != stdout {
		t.Errorf("stdout and the findings files differ")
	}
	for _, l := range labels {
		if len(l.Detectors) > 0 && !strings.Contains(stdout, `"client":"`+l.Client+`"`) {
			t.Errorf("attack %s by %s not in run output", l.Kind, l.Client)
		}
	}
	dl, err := os.ReadFile(filepath.Join(data, "deadletter", "stdin.jsonl"))
	if err != nil || !strings.Contains(string(dl), "garbage line") {
		t.Errorf("dead letter: %q %v", dl, err)
	}
	if _, err := os.Stat(filepath.Join(data, "hmac.key")); err != nil {
		t.Errorf("run did not persist an HMAC key: %v", err)
	}
}

// TestRunTailsFileServesMetricsAndShutsDown follows a log file, serves
// /metrics and /healthz while running, and exits cleanly on cancellation
// with findings flushed.
func TestRunTailsFileServesMetricsAndShutsDown(t *testing.T) {
	t.Parallel()
	path, labels := writeScenarioLog(t, smallScenario())
	data := t.TempDir()
	addr := testenv.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		getenv: func(k string) string { return map[string]string{"GATEWATCH_DATA_DIR": data}[k] }}
	done := make(chan int, 1)
	go func() { done <- c.main(ctx, []string{"run", "--listen", addr, "--from-start", path}) }()

	var attacker string
	for _, l := range labels {
		if l.Kind == simulate.Flood {
			attacker = l.Client
		}
	}
	deadline := time.Now().Add(150 * time.Second) // about 2 s alone; minutes on a loaded CI box
	for !strings.Contains(out.String(), `"client":"`+attacker+`"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no finding for the flood client %s; stderr: %s", attacker, errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for path, want := range map[string]string{"/healthz": "ok", "/metrics": "gatewatch_ingest_lines_total", "/": attacker} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s: %d %q", path, resp.StatusCode, body)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run exited %d after shutdown: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not shut down")
	}
	files, _ := filepath.Glob(filepath.Join(data, "findings", "*.jsonl"))
	if len(files) == 0 {
		t.Fatal("no findings file after shutdown")
	}
}

// syncBuffer is a bytes.Buffer safe to read while another goroutine writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDemoFindsEveryAttack runs the demo as a user would (smaller): the
// scorecard must show every injected attack found, no trap alerting and no
// normal client flagged. It reads the scorecard, so a regression in any
// detector or in the demo's bookkeeping shows here.
func TestDemoFindsEveryAttack(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := testCLI(t, "", nil, "demo", "--clients", "800", "--hours", "2", "--output", "text")
	if code != 0 {
		t.Fatalf("demo exited %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "12/12 attacks found; 0 of 800 normal clients flagged") ||
		strings.Contains(stderr, "  MISS  ") || strings.Contains(stderr, "  FAIL  ") {
		t.Errorf("scorecard:\n%s", stderr)
	}
	// The distributed brute force is one login campaign (fleet_auth_failures
	// stays quiet while it is active).
	if !strings.Contains(stdout, "credential_sharing") || !strings.Contains(stdout, "campaign:login /login") {
		t.Errorf("findings on stdout lack the wider detectors:\n%s", stdout[:min(len(stdout), 2000)])
	}
}

// background is a gatewatch command running until the test stops it, as
// a service would: collect, detect, store.
type background struct {
	cancel context.CancelFunc
	done   chan int
	stdout syncBuffer
	stderr syncBuffer
}

// startBackground runs gatewatch with args and getenv's environment.
func startBackground(t testing.TB, getenv func(string) string, args ...string) *background {
	t.Helper()
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{cancel: cancel, done: make(chan int, 1)}
	c := &cli{stdin: strings.NewReader(""), stdout: &b.stdout, stderr: &b.stderr, getenv: getenv}
	go func() { b.done <- c.main(ctx, args) }()
	t.Cleanup(cancel)
	return b
}

// exited reports the exit code if the command has already ended.
func (b *background) exited() (int, bool) {
	select {
	case code := <-b.done:
		b.done <- code
		return code, true
	default:
		return 0, false
	}
}

// stop cancels the command (SIGTERM) and fails t unless it ends cleanly
// and promptly.
func (b *background) stop(t testing.TB) {
	t.Helper()
	b.cancel()
	select {
	case code := <-b.done:
		b.done <- code
		if code != 0 {
			t.Fatalf("exited %d: %s", code, b.stderr.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("did not stop within 40s of cancellation: %s", b.stderr.String())
	}
}
