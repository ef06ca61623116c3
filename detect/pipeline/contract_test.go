package pipeline

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// violationStore is a store that keeps the requests outside the contract.
type violationStore struct {
	store
	mu sync.Mutex
	rs []contract.Report
}

func (s *violationStore) WriteViolations(_ context.Context, rs []contract.Report) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rs = append(s.rs, rs...)
	return nil
}

// TestPipelineChecksTheContract: on the typed API's traffic, the pipeline
// learns the contract for its learning period, then stores every request
// outside it and reports each attacker as a contract incident (opened,
// then resolved), and no ordinary client.
func TestPipelineChecksTheContract(t *testing.T) {
	t.Parallel()
	log, labels, err := simulate.APIRequests(simulate.APIConfig{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	attackers, normal := map[string]bool{}, map[string]bool{}
	for _, l := range labels {
		if l.Attack != "" {
			attackers[l.Client] = true
		} else {
			normal[l.Client] = true
		}
	}
	out, st := &findings{}, &violationStore{}
	p, err := New(Options{
		Inputs:        []ingest.Input{{Source: &ingest.FileSource{Path: "-", Stdin: bytes.NewReader(log)}, Format: "nginx_combined"}},
		Findings:      []FindingWriter{out},
		Store:         st,
		DeadLetterDir: t.TempDir(),
		Contract:      &contract.CheckerOptions{LearnFor: 50 * time.Minute, MinLearned: 15000},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	opened, resolved := map[string]bool{}, map[string]bool{}
	for _, f := range out.fs {
		if f.Detector != detect.DetectorContract {
			continue
		}
		if !attackers[f.Client] {
			t.Errorf("ordinary client %s reported: %s", f.Client, f.Summary)
		}
		switch f.Status {
		case detect.StatusOpen:
			opened[f.IncidentID] = true
		case detect.StatusResolved:
			resolved[f.IncidentID] = true
		}
	}
	if len(opened) == 0 || len(opened) != len(resolved) {
		t.Errorf("%d contract incidents opened, %d resolved", len(opened), len(resolved))
	}
	flaggedNormal := 0
	for _, r := range st.rs {
		if !attackers[r.Client] {
			flaggedNormal++
		}
	}
	if len(st.rs) < 1500 || flaggedNormal > 100 {
		t.Errorf("%d requests stored as outside the contract, %d of them from ordinary clients", len(st.rs), flaggedNormal)
	}
	t.Logf("%d contract incidents; %d requests outside the contract stored, %d from ordinary clients", len(opened), len(st.rs), flaggedNormal)
}

// runContract runs a pipeline over log with the contract options and model
// file, and returns the requests it stored as outside the contract.
func runContract(t *testing.T, log []byte, o contract.CheckerOptions, file string) []contract.Report {
	t.Helper()
	st := &violationStore{}
	p, err := New(Options{
		Inputs:        []ingest.Input{{Source: &ingest.FileSource{Path: "-", Stdin: bytes.NewReader(log)}, Format: "nginx_combined"}},
		Store:         st,
		DeadLetterDir: t.TempDir(),
		Contract:      &o, ContractModelFile: file,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st.rs
}

// TestPipelineKeepsTheContractAcrossRuns: a run saves the contract it
// learnt, and the next run loads it and checks from its first event,
// although its own options would have it learn for two days.
func TestPipelineKeepsTheContractAcrossRuns(t *testing.T) {
	t.Parallel()
	log, _, err := simulate.APIRequests(simulate.APIConfig{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "state", "contract-model.json")
	first := runContract(t, log, contract.CheckerOptions{LearnFor: 50 * time.Minute, MinLearned: 15000}, file)
	c, err := contract.LoadChecker(file, contract.CheckerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Learning() {
		t.Fatal("the saved model is still learning")
	}
	// Without the saved model these options would learn throughout and
	// store nothing.
	long := contract.CheckerOptions{LearnFor: 48 * time.Hour, MinLearned: 1 << 40}
	second := runContract(t, log, long, file)
	if len(first) == 0 || len(second) < len(first) {
		t.Errorf("first run stored %d requests outside the contract, the second %d: want as many at least, checked from its first event",
			len(first), len(second))
	}
	if fresh := runContract(t, log, long, ""); len(fresh) != 0 {
		t.Errorf("a run without the saved model stored %d requests while learning", len(fresh))
	}
}

// TestPipelineResumesLearning: a run that ends during the learning period
// saves how far it came, and the next run goes on from there.
func TestPipelineResumesLearning(t *testing.T) {
	t.Parallel()
	log, _, err := simulate.APIRequests(simulate.APIConfig{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "contract-model.json")
	o := contract.CheckerOptions{LearnFor: 48 * time.Hour, MinLearned: 1 << 40}
	runContract(t, log, o, file)
	c, err := contract.LoadChecker(file, o)
	if err != nil {
		t.Fatal(err)
	}
	n := c.Learned()
	if !c.Learning() || n < 10000 {
		t.Fatalf("saved model: learning %v after %d events", c.Learning(), n)
	}
	runContract(t, log, o, file)
	if c, err = contract.LoadChecker(file, o); err != nil {
		t.Fatal(err)
	}
	if c.Learned() != 2*n {
		t.Errorf("after two runs the model learnt from %d events, want %d", c.Learned(), 2*n)
	}
}

// TestPipelineRefusesABadModelFile: a model file that does not load stops
// New with an error naming the way out, rather than being learnt over.
func TestPipelineRefusesABadModelFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "contract-model.json")
	if err := os.WriteFile(file, []byte(`{"format":"something else"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{
		Inputs:        []ingest.Input{{Source: &ingest.FileSource{Path: "-", Stdin: bytes.NewReader(nil)}}},
		DeadLetterDir: t.TempDir(),
		Contract:      &contract.CheckerOptions{}, ContractModelFile: file,
	})
	if err == nil || !errors.Is(err, contract.ErrFormat) || !strings.Contains(err.Error(), "model_file: off") {
		t.Errorf("New with a bad model file: %v", err)
	}
}
