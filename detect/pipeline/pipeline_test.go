package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// findings records what the pipeline emits.
type findings struct{ fs []detect.Finding }

func (w *findings) Write(f detect.Finding) error { w.fs = append(w.fs, f); return nil }

// store records what the pipeline stores.
type store struct {
	mu                     sync.Mutex
	events, finds, windows int
}

func (s *store) Write(_ context.Context, evs []ingest.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events += len(evs)
	return nil
}

func (s *store) WriteFindings(_ context.Context, fs []detect.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finds += len(fs)
	return nil
}

func (s *store) WriteWindows(_ context.Context, ws []detect.WindowStats) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows += len(ws)
	return nil
}

// TestPipelineFindsAttacks runs the library pipeline, not the binary, on
// a labelled scenario's nginx log read from standard input: every attack's
// client is in a finding, no trap's is, every event and finding reaches
// the store, and the bad lines are in the dead-letter file.
// attackLog is the scenario of the pipeline tests (400 clients for two
// hours, attacks at 90 minutes) and its nginx log.
func attackLog(t *testing.T) (*simulate.Scenario, *bytes.Buffer) {
	t.Helper()
	scen, err := simulate.New(simulate.Config{Seed: 11, Clients: 400, Duration: 2 * time.Hour, AttackAt: 90 * time.Minute, AttackFor: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if err := scen.WriteNginx(context.Background(), &log); err != nil {
		t.Fatal(err)
	}
	return scen, &log
}

func TestPipelineFindsAttacks(t *testing.T) {
	t.Parallel()
	scen, log := attackLog(t)
	lines := strings.Count(log.String(), "\n")
	log.WriteString("not an access log line\n\n")
	dir := t.TempDir()
	out, st, rec := &findings{}, &store{}, &recorder{}
	ticks := 0
	p, err := New(Options{
		Inputs:        []ingest.Input{{Source: &ingest.FileSource{Path: "-", Stdin: log}, Format: "nginx_combined"}},
		Findings:      []FindingWriter{out},
		Store:         st,
		Recorder:      rec,
		DeadLetterDir: dir,
		OnTick:        func(time.Time, detect.Stats, int) { ticks++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, f := range out.fs {
		found[f.Client] = true
	}
	for _, l := range scen.Labels() {
		if len(l.Detectors) > 0 && !found[l.Client] {
			t.Errorf("attack %s by %s not found", l.Kind, l.Client)
		}
		if len(l.Detectors) == 0 && l.Client != "" && found[l.Client] {
			t.Errorf("trap %s (%s) alerted", l.Kind, l.Client)
		}
	}
	if st.events != lines || st.finds != len(out.fs) || st.windows == 0 {
		t.Errorf("stored %d events of %d, %d findings of %d, %d windows", st.events, lines, st.finds, len(out.fs), st.windows)
	}
	dl, err := os.ReadFile(filepath.Join(dir, "stdin.jsonl"))
	if err != nil || !strings.Contains(string(dl), "not an access log line") || bytes.Count(dl, []byte("\n")) != 1 {
		t.Errorf("dead letters %q (%v): want the one bad line", dl, err)
	}
	if ticks == 0 || p.Healthy() != nil {
		t.Errorf("%d ticks, health %v", ticks, p.Healthy())
	}
	if rec.events != lines || rec.windows != st.windows || rec.finds != len(out.fs) {
		t.Errorf("recorder saw %d events, %d windows, %d findings; want %d, %d, %d", rec.events, rec.windows, rec.finds, lines, st.windows, len(out.fs))
	}
}

// recorder counts what a Recorder is handed.
type recorder struct{ events, windows, finds int }

func (r *recorder) Event(*ingest.Event)       { r.events++ }
func (r *recorder) Window(detect.WindowStats) { r.windows++ }
func (r *recorder) Finding(detect.Finding)    { r.finds++ }

// failingSource is an input that fails at once.
type failingSource struct{}

func (failingSource) Name() string                              { return "broken" }
func (failingSource) Run(context.Context, ingest.Handler) error { return os.ErrPermission }

// TestPipelineReportsInputErrors: an input that fails makes the pipeline
// unhealthy and is Run's error; the others are drained.
func TestPipelineReportsInputErrors(t *testing.T) {
	t.Parallel()
	p, err := New(Options{Inputs: []ingest.Input{{Source: failingSource{}}}, DeadLetterDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "input broken") {
		t.Errorf("Run: %v", err)
	}
	if err := p.Healthy(); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("Healthy: %v", err)
	}
}

// TestPipelineStopsOnCancel: a followed file never ends; cancelling ends
// the run within the grace period, with no error.
func TestPipelineStopsOnCancel(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Inputs: []ingest.Input{{Source: &ingest.FileSource{Path: path}}}, DeadLetterDir: t.TempDir(), Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestNewRequires(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err == nil {
		t.Error("New without inputs succeeded")
	}
}

// TestPipelineReadsFalsePositives: after a run, a person marks every
// detector one attacker was reported for as a false positive (the alert
// stage's feedback file); a second run over the same log no longer
// reports that client, and still reports the other attackers.
func TestPipelineReadsFalsePositives(t *testing.T) {
	t.Parallel()
	_, log := attackLog(t)
	path := filepath.Join(t.TempDir(), "alert-feedback.jsonl")
	before := runWithFeedback(t, log.Bytes(), path)
	marked := before[0].Client
	var fb strings.Builder
	for _, f := range before {
		if f.Client == marked {
			for _, d := range append([]string{f.Detector}, f.Detectors...) {
				fmt.Fprintf(&fb, `{"at":%q,"kind":"false_positive","client":%q,"detector":%q,"user":"U1 test"}`+"\n",
					time.Now().UTC().Format(time.RFC3339), marked, d)
			}
		}
	}
	if err := os.WriteFile(path, []byte(fb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	after := map[string]bool{}
	for _, f := range runWithFeedback(t, log.Bytes(), path) {
		after[f.Client] = true
		if f.Client == marked {
			t.Errorf("marked as a false positive, still reported: %s %s", f.Status, f.Summary)
		}
	}
	for _, f := range before {
		if f.Client != marked && !after[f.Client] {
			t.Errorf("%s no longer reported: %s", f.Client, f.Summary)
		}
	}
}

// runWithFeedback runs a pipeline over an nginx log with the feedback
// file at path, and returns its findings.
func runWithFeedback(t *testing.T, log []byte, path string) []detect.Finding {
	t.Helper()
	out := &findings{}
	p, err := New(Options{
		Inputs:             []ingest.Input{{Source: &ingest.FileSource{Path: "-", Stdin: bytes.NewReader(log)}, Format: "nginx_combined"}},
		Findings:           []FindingWriter{out},
		DeadLetterDir:      t.TempDir(),
		FalsePositivesFile: path,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(out.fs) == 0 {
		t.Fatal("no findings")
	}
	return out.fs
}
