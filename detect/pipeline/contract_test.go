package pipeline

import (
	"bytes"
	"context"
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
