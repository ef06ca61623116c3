package group

import (
	"context"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

// TestBackfillSeedsBaselines: history replayed through Backfill becomes
// the state replicas restore. Events already in the topic are skipped
// (the state covers up to its end), and a client flooding in the very
// first live windows is judged against its own backfilled history — which
// without the backfill it would not have for MinHistory windows.
func TestBackfillSeedsBaselines(t *testing.T) {
	t.Parallel()
	cfg := brokerConfig(t)
	tp := newTopics(t, cfg)
	sc := testScenario(t)
	split := len(sc.events) * 3 / 4 // history before, live after
	// Something is in the topic before the backfill: it must be skipped.
	publish(t, cfg, tp.events, sc.events[split-500:split])

	opts := Options{Kafka: cfg, GroupID: tp.group, EventsTopic: tp.events, FindingsTopic: tp.findings, StateTopic: tp.state}
	ctx := context.Background()
	b, err := NewBackfill(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	var ev ingest.Event
	for _, w := range sc.events[:split] {
		ev.Reset()
		if err := ingest.DecodeWire(w.value, &ev); err != nil {
			t.Fatal(err)
		}
		b.Observe(&ev)
	}
	st, err := b.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Partitions != testPartitions || st.Events+st.Unkeyed != int64(split) || st.Clients < 150 {
		t.Fatalf("backfill stats %+v, want %d partitions, %d events, >= 150 clients", st, testPartitions, split)
	}

	r := startRunner(t, cfg, tp)
	publish(t, cfg, tp.events, sc.events[split:])
	live := len(sc.events) - split
	waitFor(t, 2*time.Minute, "the live events", consumed(live, r))
	r.stop(t)
	if s := r.Stats(); s.Restores != testPartitions || s.Events != int64(live) {
		t.Errorf("runner: %d restores, %d events; want %d restores and only the %d live events", s.Restores, s.Events, testPartitions, live)
	}
	_, fs := producedFindings(t, cfg, tp.findings)
	own := 0
	for _, f := range fs {
		if f.Status == detect.StatusOpen && f.Baseline == "own" && f.History >= detect.DefaultMinHistory {
			own++
		}
	}
	if own == 0 {
		t.Errorf("no live finding judged against a backfilled baseline; findings: %d", len(fs))
	}
	checkLabels(t, sc.sc, fs)
}
