package detect

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// TestQuality runs labelled simulated traffic through an Engine with
// default options and checks the detectors against the ground truth:
//
//  1. every injected attack is found by one of its expected detectors, in
//     a finding whose windows overlap the attack;
//  2. at most 0.2% of the normal (unlabelled) clients get any finding;
//  3. no trap client gets any finding, and no client outside the attacks
//     has a finding overlapping the fleet-wide token-refresh minute.
//
// Nothing here, or in the engine, looks at labels to decide anything.
func TestQuality(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 7} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			cfg := simulate.Config{Seed: seed}
			if testing.Short() {
				cfg.Clients = 500
				cfg.Duration = 100 * time.Minute
				cfg.AttackAt = 60 * time.Minute
				cfg.TokenRefreshAt = 85 * time.Minute
			}
			checkQuality(t, cfg)
		})
	}
}

func checkQuality(t *testing.T, cfg simulate.Config) {
	sc, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var findings []Finding
	eng := New(Options{Emit: func(f Finding) { findings = append(findings, f) }})
	err = sc.Run(context.Background(), func(ev *ingest.Event) error {
		eng.Observe(ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	eng.Flush()
	st := eng.Stats()
	if st.LateEvents != 0 || st.Untimed != 0 {
		t.Errorf("late %d, untimed %d: the simulator emits in order", st.LateEvents, st.Untimed)
	}
	if st.OpenIncidents != 0 {
		t.Errorf("%d incidents still open after Flush", st.OpenIncidents)
	}

	labels := sc.Labels()
	byClient := map[string]simulate.Label{}
	var refresh *simulate.Label
	for i, l := range labels {
		if l.Client != "" {
			byClient[l.Client] = l
		} else if l.Kind == simulate.TrapTokenRefresh {
			refresh = &labels[i]
		}
	}
	perClient := map[string][]Finding{}
	for _, f := range findings {
		perClient[f.Client] = append(perClient[f.Client], f)
	}

	// 1. Attacks.
	found, total := 0, 0
	for _, l := range labels {
		if l.Kind.IsTrap() {
			continue
		}
		total++
		var first *Finding
		for i, f := range perClient[l.Client] {
			if slices.Contains(l.Detectors, f.Detector) && f.WindowStart.Before(l.End) && f.WindowEnd.After(l.Start) {
				if first == nil || f.WindowStart.Before(first.WindowStart) {
					first = &perClient[l.Client][i]
				}
			}
		}
		if first == nil {
			t.Errorf("attack %s by %s (%v..%v, want %v) not found; its findings: %s",
				l.Kind, l.Client, l.Start.Format("15:04"), l.End.Format("15:04"), l.Detectors, describe(perClient[l.Client]))
			continue
		}
		found++
		t.Logf("%-20s found by %-13s delay %-5v severity %-8s score %.2f: %s",
			l.Kind, first.Detector, first.WindowStart.Add(time.Minute).Sub(l.Start), first.Severity, first.Score, first.Summary)
	}

	// 2. Normal clients.
	var flagged []string
	for client, fs := range perClient {
		if _, labelled := byClient[client]; !labelled {
			flagged = append(flagged, client)
			t.Logf("normal client flagged: %s", describe(fs))
		}
	}
	normals := cfg.Clients
	if normals == 0 {
		normals = simulate.DefaultClients
	}
	share := float64(len(flagged)) / float64(normals)
	if share > 0.002 {
		t.Errorf("%d of %d normal clients (%.2f%%) flagged, want <= 0.2%%", len(flagged), normals, 100*share)
	}

	// 3. Traps.
	for _, l := range labels {
		if l.Kind.IsTrap() && l.Client != "" && len(perClient[l.Client]) > 0 {
			t.Errorf("trap %s client %s flagged: %s", l.Kind, l.Client, describe(perClient[l.Client]))
		}
	}
	if refresh != nil {
		for _, f := range findings {
			l, labelled := byClient[f.Client]
			if (!labelled || l.Kind.IsTrap()) && f.WindowStart.Before(refresh.End) && f.WindowEnd.After(refresh.Start) {
				t.Errorf("token refresh at %v flagged %s: %s", refresh.Start.Format("15:04"), f.Client, f.Summary)
			}
		}
	}
	t.Logf("attacks found %d/%d; normal clients flagged %d/%d (%.3f%%); %d events, %d findings opened, %d updates, %d windows",
		found, total, len(flagged), normals, 100*share, st.Events, st.Findings, st.Updates, st.WindowsClosed)
}

// describe lists findings compactly for failure messages.
func describe(fs []Finding) string {
	if len(fs) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, f := range fs {
		if f.Status == StatusUpdate {
			continue
		}
		fmt.Fprintf(&b, "\n\t%s %s %s..%s p=%.2g: %s", f.Status, f.Detector,
			f.WindowStart.Format("15:04"), f.WindowEnd.Format("15:04"), f.PValue, f.Summary)
	}
	return b.String()
}
