package demo

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest/simulate"
	"github.com/gatewatch/gatewatch/internal/human"
)

// Scoreboard compares findings with a scenario's labels.
type Scoreboard struct {
	labels        []simulate.Label
	byClient      map[string]simulate.Label
	members       map[string]bool           // clients taking part in a fleet-wide attack
	first         map[string]detect.Finding // first finding per labelled client
	normalFlagged map[string]bool
	fleetTrapHits []detect.Finding // findings during a fleet-wide trap (no client of its own)
}

// NewScoreboard returns a Scoreboard for the scenario's labels.
func NewScoreboard(labels []simulate.Label) *Scoreboard {
	s := &Scoreboard{labels: labels, byClient: map[string]simulate.Label{}, members: map[string]bool{},
		first: map[string]detect.Finding{}, normalFlagged: map[string]bool{}}
	for _, l := range labels {
		s.byClient[l.Client] = l
		for _, m := range l.Members {
			s.members[m] = true
		}
	}
	return s
}

// Record scores one finding emission.
func (s *Scoreboard) Record(f detect.Finding) {
	if f.ClientKind == "campaign" {
		// A campaign flags each client it names.
		for _, c := range f.Clients {
			if _, labelled := s.byClient[c]; !labelled && !s.members[c] {
				s.normalFlagged[c] = true
			}
		}
	} else if _, labelled := s.byClient[f.Client]; labelled {
		if _, seen := s.first[f.Client]; !seen {
			s.first[f.Client] = f
		}
	} else if !s.members[f.Client] {
		s.normalFlagged[f.Client] = true
	}
	for _, l := range s.labels {
		if l.Client == "" && f.Status == detect.StatusOpen && f.WindowStart.Before(l.End) && f.WindowEnd.After(l.Start) {
			s.fleetTrapHits = append(s.fleetTrapHits, f)
		}
	}
}

// Outcome is how the detectors did on one label.
type Outcome struct {
	Label simulate.Label
	// Trap is a label that must not alert (no detectors expected).
	Trap bool
	// Hit says a finding named the label's client (for a fleet-wide
	// trap: a finding opened while it lasted); Finding is the first one.
	Hit     bool
	Finding detect.Finding
}

// Outcomes are the labels' outcomes, by kind.
func (s *Scoreboard) Outcomes() []Outcome {
	labels := slices.Clone(s.labels)
	sort.Slice(labels, func(i, j int) bool { return labels[i].Kind < labels[j].Kind })
	out := make([]Outcome, len(labels))
	for i, l := range labels {
		f, hit := s.first[l.Client]
		if l.Client == "" { // fleet-wide: judged by what fired while it lasted
			hit = len(s.fleetTrapHits) > 0
			if hit {
				f = s.fleetTrapHits[0]
			}
		}
		out[i] = Outcome{Label: l, Trap: len(l.Detectors) == 0, Hit: hit, Finding: f}
	}
	return out
}

// NormalFlagged is how many clients outside every label a finding named.
func (s *Scoreboard) NormalFlagged() int { return len(s.normalFlagged) }

// Card tells how the detectors did against the scenario's labels, for
// people: one line per label, then the totals; clients is the scenario's
// normal clients, events and elapsed the run's.
func (s *Scoreboard) Card(clients, events int, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\ndemo: %s events in %s (%s events/s)\n", human.Count(float64(events)), elapsed.Round(time.Millisecond), human.Count(float64(events)/elapsed.Seconds()))
	found, attacks := 0, 0
	for _, o := range s.Outcomes() {
		l, f := o.Label, o.Finding
		switch {
		case o.Trap && !o.Hit:
			who := l.Client
			if who == "" {
				who = "(whole fleet)"
			}
			fmt.Fprintf(&b, "  ok    trap %-22s %-16s no alert, as it should be\n", l.Kind, who)
		case o.Trap:
			fmt.Fprintf(&b, "  FAIL  trap %-22s %-16s alerted: %s\n", l.Kind, f.Client, f.Summary)
		case o.Hit:
			attacks++
			found++
			delay := f.WindowEnd.Sub(l.Start).Round(time.Second)
			fmt.Fprintf(&b, "  ok    %-27s %-16s found by %s %s after it began\n", l.Kind, l.Client, f.Detector, delay)
		default:
			attacks++
			fmt.Fprintf(&b, "  MISS  %-27s %-16s not found\n", l.Kind, l.Client)
		}
	}
	fmt.Fprintf(&b, "  %d/%d attacks found; %d of %d normal clients flagged (%.2f%%)\n",
		found, attacks, len(s.normalFlagged), clients, 100*float64(len(s.normalFlagged))/float64(clients))
	return b.String()
}
