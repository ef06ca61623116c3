package storage

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// TestFinding reads one incident's latest emission back: the greatest
// window end, then the most windows, a resolved emission winning a tie;
// an unknown or injected id is ErrNotFound.
func TestFinding(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	emit := func(id string, st detect.Status, end time.Time, windows int) detect.Finding {
		return detect.Finding{IncidentID: id, Status: st, Client: "k:alice", ClientKind: "api_key", Detector: detect.DetectorVolume,
			WindowStart: t0, WindowEnd: end, Windows: windows, Observed: float64(100 * windows), Expected: 100, Spread: 12.5,
			Unit: "req/min", Severity: detect.SeverityHigh, Baseline: detect.BaselineOwn, History: 60, Summary: "s",
			Why: "w", Routes: []string{"/v1/x"}, Totals: &detect.Totals{Requests: 10}}
	}
	fs := []detect.Finding{
		emit("inc-a", detect.StatusOpen, t0.Add(time.Minute), 1),
		emit("inc-a", detect.StatusUpdate, t0.Add(3*time.Minute), 3),
		emit("inc-a", detect.StatusUpdate, t0.Add(2*time.Minute), 2),
		emit("inc-b", detect.StatusUpdate, t0.Add(24*time.Hour), 4), // the next day's partition
		emit("inc-b", detect.StatusResolved, t0.Add(24*time.Hour), 4),
		emit("inc-c", detect.StatusOpen, t0.Add(time.Minute), 1),
	}
	camp := &fs[5]
	camp.Client, camp.ClientKind, camp.Detector = "campaign:env-file", "campaign", detect.DetectorCampaign
	camp.Campaign, camp.Clients, camp.ClientCount, camp.Routes, camp.Totals = "env-file", []string{"192.0.2.1", "192.0.2.2"}, 2, nil, nil
	if err := db.InsertFindings(ctx, fs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id   string
		want *detect.Finding
	}{
		{"inc-a", &fs[1]},
		{"inc-b", &fs[4]},
		{"inc-c", &fs[5]},
		{"inc-missing", nil},
		{"inc-a' OR 1=1 --", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got, err := db.Finding(ctx, tt.id)
		if tt.want == nil {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("Finding(%q) = %+v, %v; want ErrNotFound", tt.id, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Finding(%q): %v", tt.id, err)
			continue
		}
		if !reflect.DeepEqual(got, *tt.want) {
			t.Errorf("Finding(%q) =\n%+v\nwant\n%+v", tt.id, got, *tt.want)
		}
	}
}

// TestClientWindows stores windows with spreads, one of them twice (a
// replay), and reads one client's range back: [From, To) by window
// start, in time order, each window once, the limit honoured.
func TestClientWindows(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 23, 58, 0, 0, time.UTC) // crosses a day partition
	var ws []ClientWindow
	for i := range 5 {
		start := t0.Add(time.Duration(i) * time.Minute)
		ws = append(ws, ClientWindow{Client: "k:alice", ClientKind: "api_key", WindowStart: start, WindowEnd: start.Add(time.Minute),
			Requests: uint64(100 + i), Errors: uint64(i), AuthFailures: 2, BytesOut: 1000,
			ExpectedRequests: 98.5, ExpectedErrorRatio: 0.01, ExpectedAuthFailures: 0.5,
			SpreadRequests: 10 + float64(i), SpreadErrorRatio: 0.005, SpreadAuthFailures: 0.7})
	}
	ws = append(ws, ClientWindow{Client: "k:bob", ClientKind: "api_key", WindowStart: t0, WindowEnd: t0.Add(time.Minute), Requests: 7})
	w := NewWriter(db, WriterOptions{})
	if err := w.WriteWindows(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.InsertWindows(ctx, ws[1:2]); err != nil { // a replayed window
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		q       ClientWindowsQuery
		wantIdx []int
	}{
		{"all", ClientWindowsQuery{Client: "k:alice", From: t0, To: t0.Add(time.Hour)}, []int{0, 1, 2, 3, 4}},
		{"to excluded", ClientWindowsQuery{Client: "k:alice", From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute)}, []int{1, 2}},
		{"limit", ClientWindowsQuery{Client: "k:alice", From: t0, To: t0.Add(time.Hour), Limit: 2}, []int{0, 1}},
		{"other client", ClientWindowsQuery{Client: "k:bob", From: t0, To: t0.Add(time.Hour)}, []int{5}},
		{"before", ClientWindowsQuery{Client: "k:alice", From: t0.Add(-time.Hour), To: t0}, nil},
		{"injected", ClientWindowsQuery{Client: "k:alice' OR 1=1 --", From: t0, To: t0.Add(time.Hour)}, nil},
	}
	for _, tt := range tests {
		got, err := db.ClientWindows(ctx, tt.q)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(got) != len(tt.wantIdx) {
			t.Errorf("%s: %d windows, want %d: %+v", tt.name, len(got), len(tt.wantIdx), got)
			continue
		}
		for i, j := range tt.wantIdx {
			if back := ClientWindowOf(got[i]); back != ws[j] {
				t.Errorf("%s: window %d =\n%+v\nwant\n%+v", tt.name, i, back, ws[j])
			}
		}
	}
}

// TestMigrateWindowSpreads stores windows under schema 6, before the
// spread columns, then migrates: migration 7 alone is applied, old rows
// read back with zero spreads, new rows keep theirs.
func TestMigrateWindowSpreads(t *testing.T) {
	t.Parallel()
	db := testClickHouse(t)
	ctx := context.Background()
	if _, err := db.migrateTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC)
	old, err := db.conn.PrepareBatch(ctx, "INSERT INTO "+db.table(tableWindows)+" "+columnList(db.ddl.windowColumnsV1()))
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Append("k:alice", "api_key", t0, t0.Add(time.Minute), uint64(120), uint64(3), uint64(1), uint64(999),
		uint32(0), uint32(0), 100.0, 0.01, 0.5, t0); err != nil {
		t.Fatal(err)
	}
	if err := old.Send(); err != nil {
		t.Fatal(err)
	}
	// A half-applied step 7: its first column exists but it is not recorded.
	if err := db.conn.Exec(ctx, db.ddl.migrations()[6].Statements[0].SQL); err != nil {
		t.Fatal(err)
	}
	applied, err := db.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 1 || applied[0].Version != 7 {
		t.Fatalf("Migrate from schema 6 applied %v, want [7]", applied)
	}
	fresh := ClientWindow{Client: "k:alice", ClientKind: "api_key", WindowStart: t0.Add(time.Minute), WindowEnd: t0.Add(2 * time.Minute),
		Requests: 130, ExpectedRequests: 100, SpreadRequests: 9.5, SpreadErrorRatio: 0.002, SpreadAuthFailures: 0.25}
	if err := db.InsertWindows(ctx, []ClientWindow{fresh}); err != nil {
		t.Fatal(err)
	}
	got, err := db.ClientWindows(ctx, ClientWindowsQuery{Client: "k:alice", From: t0, To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := []ClientWindow{
		{Client: "k:alice", ClientKind: "api_key", WindowStart: t0, WindowEnd: t0.Add(time.Minute), Requests: 120, Errors: 3,
			AuthFailures: 1, BytesOut: 999, ExpectedRequests: 100, ExpectedErrorRatio: 0.01, ExpectedAuthFailures: 0.5},
		fresh,
	}
	if len(got) != len(want) {
		t.Fatalf("%d windows after migration 7, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if back := ClientWindowOf(got[i]); back != want[i] {
			t.Errorf("window %d =\n%+v\nwant\n%+v", i, back, want[i])
		}
	}
}

// TestConsumeWindowsSpreads: window records as "gatewatch detect"
// produces them (detect.WindowStats as JSON, newline-separated) keep their spreads through
// ConsumeWindows into client_windows and back through ClientWindows.
func TestConsumeWindowsSpreads(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	r := newFakeReader()
	t0 := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	var want []detect.WindowStats
	var vals [][]byte
	for i := range 3 {
		start := t0.Add(time.Duration(i) * time.Minute)
		w := detect.WindowStats{Client: "10.1.2.3", ClientKind: "ip", Start: start, End: start.Add(time.Minute),
			Requests: uint64(50 + i), Errors: 2, AuthFailures: 1, BytesOut: 4096,
			ExpectedRequests: 48, ExpectedErrorRatio: 0.03, ExpectedAuthFailures: 0.5,
			SpreadRequests: 7.5, SpreadErrorRatio: 0.01 * float64(i+1), SpreadAuthFailures: 0.25}
		want = append(want, w)
		vals = append(vals, mustJSON(t, w))
	}
	// Two records in one message, the third alone, as detect cuts its
	// chunks.
	vals = [][]byte{bytes.Join(vals[:2], []byte("\n")), vals[2]}
	r.push("windows", 2, vals...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- db.ConsumeWindows(ctx, r, ConsumerOptions{BatchOptions: BatchOptions{FlushInterval: 50 * time.Millisecond}})
	}()
	waitFor(t, time.Minute, "windows committed", func() bool { _, c := r.fetched(); return c == len(vals) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := db.ClientWindows(context.Background(), ClientWindowsQuery{Client: "10.1.2.3", From: t0, To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("windows read back =\n%+v\nwant\n%+v", got, want)
	}
}
