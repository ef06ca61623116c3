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
//  1. every injected attack — the classic ones and those of the newer
//     detectors, fleet-wide ones included — is found by one of its
//     expected detectors, in a finding that starts within two windows of
//     the attack's start;
//  2. at most 0.1% of the normal (unlabelled) clients get any finding;
//  3. no trap client gets any finding, no client outside the attacks has a
//     finding overlapping the fleet-wide token-refresh minute, and there is
//     no fleet-wide finding outside the fleet-wide attacks.
//
// Nothing here, or in the engine, looks at labels to decide anything.
func TestQuality(t *testing.T) {
	t.Parallel()
	for _, seed := range qualitySeeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			cfg := simulate.Config{Seed: seed, Attacks: qualityKinds()}
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

// qualitySeeds are the scenarios TestQuality runs; more are tried by
// hand (docs/detection.md lists the figures).
var qualitySeeds = []uint64{1, 7}

// qualityKinds is every attack and trap the simulator knows.
func qualityKinds() []simulate.Kind {
	ks := append(simulate.AttackKinds(), simulate.ExtendedAttackKinds()...)
	ks = append(ks, simulate.TrapKinds()...)
	return append(ks, simulate.ExtendedTrapKinds()...)
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
		for _, m := range l.Members {
			byClient[m] = l
		}
	}
	perClient := map[string][]Finding{}
	for _, f := range findings {
		perClient[f.Client] = append(perClient[f.Client], f)
		// A campaign is a finding of each client it names.
		for _, c := range f.Clients {
			if c != f.Client {
				perClient[c] = append(perClient[c], f)
			}
		}
	}

	// 1. Attacks.
	found, total := 0, 0
	for _, l := range labels {
		if l.Kind.IsTrap() {
			continue
		}
		total++
		var first *Finding
		cands := perClient[l.Client]
		if len(l.Members) > 0 {
			// A fleet-wide attack is also found by a campaign naming
			// its members (a distributed brute force's login campaign).
			cands = slices.Concat(cands, campaignsNaming(findings, l.Members))
		}
		for i, f := range cands {
			ok := flaggedBy(f, l.Detectors) || f.ClientKind == "campaign"
			if ok && f.WindowStart.Before(l.Start.Add(2*time.Minute)) && f.WindowEnd.After(l.Start) {
				if first == nil || f.WindowStart.Before(first.WindowStart) {
					first = &cands[i]
				}
			}
		}
		if first == nil {
			t.Errorf("attack %s by %s (%v..%v, want %v) not found within two windows; its findings: %s",
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
		if client == FleetClient || strings.HasPrefix(client, "campaign:") {
			continue // judged below; a campaign by the clients it names
		}
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
	if share > 0.001 {
		t.Errorf("%d of %d normal clients (%.2f%%) flagged, want <= 0.1%%", len(flagged), normals, 100*share)
	}
	for _, f := range perClient[FleetClient] {
		if !slices.ContainsFunc(labels, func(l simulate.Label) bool {
			return l.Client == FleetClient && slices.Contains(l.Detectors, f.Detector) &&
				f.WindowStart.Before(l.End) && f.WindowEnd.After(l.Start)
		}) {
			t.Errorf("fleet-wide finding outside the fleet-wide attacks: %s", f.Summary)
		}
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
			if (!labelled || l.Kind.IsTrap()) && f.Client != FleetClient && f.WindowStart.Before(refresh.End) && f.WindowEnd.After(refresh.Start) {
				t.Errorf("token refresh at %v flagged %s: %s", refresh.Start.Format("15:04"), f.Client, f.Summary)
			}
		}
	}
	byKind := map[string]int{}
	for _, f := range findings {
		if f.Status == StatusOpen {
			k := "normal"
			if l, ok := byClient[f.Client]; ok {
				k = string(l.Kind)
			}
			byKind[k+"/"+f.Detector]++
		}
	}
	t.Logf("incidents opened by client kind/detector: %v", byKind)
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

// flaggedBy reports whether finding f was made by one of dets: its main
// detector or any other that flagged its incident.
func flaggedBy(f Finding, dets []string) bool {
	if slices.Contains(dets, f.Detector) {
		return true
	}
	for _, d := range f.Detectors {
		if slices.Contains(dets, d) {
			return true
		}
	}
	return false
}

// campaignsNaming returns the campaign findings that name one of members.
func campaignsNaming(findings []Finding, members []string) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.ClientKind == "campaign" && slices.ContainsFunc(f.Clients, func(c string) bool { return slices.Contains(members, c) }) {
			out = append(out, f)
		}
	}
	return out
}
