package demo

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// TestRunFindsEveryAttack runs the library demo (smaller than the
// command's default): every attack found, no trap alerting, no normal
// client flagged, and the card saying so.
func TestRunFindsEveryAttack(t *testing.T) {
	t.Parallel()
	scen, err := Scenario(1, 800, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	findings, progress := 0, 0
	rec := &recorder{}
	res, err := Run(context.Background(), Options{Scenario: scen, Recorder: rec,
		OnFinding: func(detect.Finding) error { findings++; return nil },
		Progress:  func(time.Time, int, int) { progress++ }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events == 0 || findings == 0 || progress != 3 {
		t.Errorf("%d events, %d findings, %d progress reports (want 3)", res.Events, findings, progress)
	}
	if rec.events != res.Events || rec.findings != findings || rec.windows < 800 {
		t.Errorf("recorder saw %d events, %d windows, %d findings; the run had %d events and %d findings",
			rec.events, rec.windows, rec.findings, res.Events, findings)
	}
	attacks := 0
	for _, o := range res.Score.Outcomes() {
		if !o.Trap {
			attacks++
		}
		if o.Trap == o.Hit {
			t.Errorf("%s %q: trap %v, hit %v (%s)", o.Label.Kind, o.Label.Client, o.Trap, o.Hit, o.Finding.Summary)
		}
	}
	if attacks != 12 || res.Score.NormalFlagged() != 0 {
		t.Errorf("%d attacks labelled, %d normal clients flagged", attacks, res.Score.NormalFlagged())
	}
	if card := res.Score.Card(800, res.Events, res.Elapsed); !strings.Contains(card, "12/12 attacks found; 0 of 800 normal clients flagged (0.00%)") {
		t.Errorf("card:\n%s", card)
	}
}

// recorder counts what a run hands its Recorder.
type recorder struct{ events, windows, findings int }

func (r *recorder) Event(*ingest.Event)       { r.events++ }
func (r *recorder) Window(detect.WindowStats) { r.windows++ }
func (r *recorder) Finding(detect.Finding)    { r.findings++ }

// TestRunStopsAtFindingError checks that OnFinding's error ends the run
// and is returned.
func TestRunStopsAtFindingError(t *testing.T) {
	t.Parallel()
	scen, err := Scenario(2, 50, 90*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("output closed")
	if _, err := Run(context.Background(), Options{Scenario: scen, OnFinding: func(detect.Finding) error { return stop }}); !errors.Is(err, stop) {
		t.Fatalf("Run = %v, want %v", err, stop)
	}
	if _, err := Run(context.Background(), Options{}); err == nil {
		t.Fatal("Run without a scenario: no error")
	}
}

// TestScoreboardCard scores hand-made findings: a missed attack, a trap
// that alerted, a normal client flagged through a campaign.
func TestScoreboardCard(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	s := NewScoreboard([]simulate.Label{
		{Client: "10.0.0.1", Kind: simulate.QuietSpike, Start: t0, End: t0.Add(time.Hour), Detectors: []string{"volume"}},
		{Client: "10.0.0.2", Kind: simulate.Scanning, Start: t0, End: t0.Add(time.Hour), Detectors: []string{"scanning"}},
		{Client: "10.0.0.3", Kind: simulate.TrapSteadyHeavy, Start: t0, End: t0.Add(time.Hour)},
	})
	s.Record(detect.Finding{Client: "10.0.0.1", Detector: "volume", Status: detect.StatusOpen, WindowStart: t0, WindowEnd: t0.Add(2 * time.Minute)})
	s.Record(detect.Finding{Client: "10.0.0.3", Detector: "volume", Status: detect.StatusOpen, Summary: "heavy"})
	s.Record(detect.Finding{ClientKind: "campaign", Clients: []string{"10.0.0.9", "10.0.0.1"}})
	card := s.Card(100, 2000, 2*time.Second)
	for _, want := range []string{
		"demo: 2,000 events in 2s (1,000 events/s)",
		"  ok    quiet_spike                 10.0.0.1         found by volume 2m0s after it began",
		"  MISS  scanning                    10.0.0.2         not found",
		"  FAIL  trap trap_steady_heavy      10.0.0.3         alerted: heavy",
		"  1/2 attacks found; 1 of 100 normal clients flagged (1.00%)",
	} {
		if !strings.Contains(card, want) {
			t.Errorf("card lacks %q:\n%s", want, card)
		}
	}
}
