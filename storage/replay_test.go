package storage

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestReplay stores events over 40 minutes, one batch of them twice (a
// writer's retry), and replays sub-second-bounded ranges in chunks
// smaller than the range: every stored event in range comes back once,
// in time order, equal to what was written.
func TestReplay(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	ctx := context.Background()
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	// 240,000 events 10 ms apart: 40 minutes.
	evs := sampleEvents(240_000, start)
	insertBatch(t, db, evs, "events", 2)
	tests := []struct {
		name     string
		from, to time.Time
		chunk    time.Duration
	}{
		{"all, in 7-minute chunks", start, start.Add(time.Hour), 7 * time.Minute},
		{"inside seconds, in 1-minute chunks", start.Add(90*time.Second + 250*time.Millisecond), start.Add(5*time.Minute + 30*time.Millisecond), time.Minute},
		{"one chunk", start.Add(10 * time.Minute), start.Add(11 * time.Minute), time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var want []ingest.Event
			for i := range evs {
				if !evs[i].Time.Before(tt.from) && evs[i].Time.Before(tt.to) {
					want = append(want, evs[i])
				}
			}
			var got []ingest.Event
			var progress int
			n, err := db.Replay(ctx, ReplayQuery{From: tt.from, To: tt.to, Chunk: tt.chunk, Progress: func(time.Time, int64) { progress++ }},
				func(ev *ingest.Event) error {
					got = append(got, ev.Clone())
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(want)) || len(got) != len(want) {
				t.Fatalf("replayed %d (%d passed), want %d", len(got), n, len(want))
			}
			for i := range want {
				w := want[i]
				w.Raw = ingest.RawFields{}
				if g := got[i]; !reflect.DeepEqual(stripScratch(g), stripScratch(w)) {
					t.Fatalf("event %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
			if progress == 0 {
				t.Error("no progress reported")
			}
		})
	}
	stop := errors.New("enough")
	n, err := db.Replay(ctx, ReplayQuery{From: start, To: start.Add(time.Hour)}, func(*ingest.Event) error { return stop })
	if !errors.Is(err, stop) || n != 0 {
		t.Errorf("fn's error: got %d, %v", n, err)
	}
	n, err = db.Replay(ctx, ReplayQuery{From: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), To: start,
		Progress: func(time.Time, int64) { t.Error("progress reported for a range without events") }},
		func(*ingest.Event) error { return errors.New("called") })
	if n != 0 || err != nil {
		t.Errorf("range without events: %d, %v", n, err)
	}
	if _, err := db.Replay(ctx, ReplayQuery{From: start, To: start}, func(*ingest.Event) error { return nil }); err == nil {
		t.Error("an empty range was accepted")
	}
}

// stripScratch returns ev's exported fields only, for comparison.
func stripScratch(ev ingest.Event) ingest.Event {
	c := ingest.Event{}
	c.Time, c.Source, c.Format = ev.Time, ev.Source, ev.Format
	c.ClientKey, c.ClientKind, c.RemoteIP = ev.ClientKey, ev.ClientKind, ev.RemoteIP
	c.Method, c.Host, c.Path, c.Route, c.Query = ev.Method, ev.Host, ev.Path, ev.Route, ev.Query
	c.Status, c.BytesIn, c.BytesOut, c.Latency = ev.Status, ev.BytesIn, ev.BytesOut, ev.Latency
	c.UserAgent, c.Referer, c.Auth, c.Scheme = ev.UserAgent, ev.Referer, ev.Auth, ev.Scheme
	c.TLSVersion, c.APIVersion, c.RequestID = ev.TLSVersion, ev.APIVersion, ev.RequestID
	return c
}
