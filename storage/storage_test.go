package storage

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

func TestOpenDetectsVersion(t *testing.T) {
	t.Parallel()
	db := testClickHouse(t)
	v := db.Version()
	if v.Major == 0 {
		t.Fatalf("version not detected: %v", v)
	}
	if db.Features() != FeaturesFor(v) {
		t.Errorf("features %+v, want FeaturesFor(%v) = %+v", db.Features(), v, FeaturesFor(v))
	}
	t.Logf("server %v, features %+v", v, db.Features())
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bad := opts
	bad.Password += "x"
	if db, err := Open(ctx, bad); err == nil {
		db.Close()
		t.Error("Open with a wrong password succeeded")
	}
	bad = opts
	bad.Database = "x`; DROP DATABASE system"
	if db, err := Open(ctx, bad); err == nil {
		db.Close()
		t.Error("Open accepted an invalid database name")
	}
}

func TestOpenTLS(t *testing.T) {
	t.Parallel()
	addr, cfg := testTLSConfig(t)
	db := testClickHouse(t, func(o *Options) { o.Addr, o.TLS = addr, cfg })
	migrated(t, db)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A client that does not trust the test CA must be refused.
	opts := testOptions(t)
	opts.Addr = addr
	opts.TLS = cfg.Clone()
	opts.TLS.RootCAs = nil
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if db2, err := Open(ctx, opts); err == nil {
		db2.Close()
		t.Error("Open over TLS without the CA succeeded")
	}
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	db := testClickHouse(t)
	ctx := context.Background()
	first, err := db.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all := db.ddl.migrations()
	if len(first) != len(all) {
		t.Fatalf("first Migrate applied %d steps, want %d", len(first), len(all))
	}
	second, err := db.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 0 {
		t.Errorf("second Migrate applied %v, want nothing", second)
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableMigrations)); n != uint64(len(all)) {
		t.Errorf("%d rows in schema_migrations, want %d", n, len(all))
	}
	ms, err := db.Migrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if !m.Applied {
			t.Errorf("migration %d not marked applied", m.Version)
		}
	}
	for _, table := range []string{tableEvents, tableWindows, tableFindings, tableHealth, tableViolations, tableEndpoints} {
		if n := count(t, db, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", db.Database(), table); n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
}

// TestMigrateOlderSchema applies the first migration only, stores rows,
// then migrates to the latest: the new step is applied and the rows stay.
// It also re-runs a step's statements without its record, as a migration
// that crashed before recording itself would.
func TestMigrateOlderSchema(t *testing.T) {
	t.Parallel()
	db := testClickHouse(t)
	ctx := context.Background()
	if _, err := db.migrateTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", db.Database(), tableHealth); n != 0 {
		t.Fatal("migrateTo(1) created a later table")
	}
	w := NewWriter(db, WriterOptions{})
	evs := sampleEvents(500, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	if err := w.Write(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Half-applied step 2: its table exists but it is not recorded.
	if err := db.conn.Exec(ctx, db.ddl.migrations()[1].Statements[0].SQL); err != nil {
		t.Fatal(err)
	}
	// A finding stored under schema 1, before the explanation columns.
	old, err := db.conn.PrepareBatch(ctx, "INSERT INTO "+db.table(tableFindings)+" "+columnList(db.ddl.findingColumnsV1()))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := old.Append("inc-old", "open", "k:alice", "api_key", "volume", t0, t0.Add(time.Minute), uint32(1),
		50.0, 10.0, 2.0, "req/min", 0.9, 1e-9, "high", "own", uint32(30), "old summary", t0); err != nil {
		t.Fatal(err)
	}
	if err := old.Send(); err != nil {
		t.Fatal(err)
	}
	// Half-applied step 3: its first column exists but it is not recorded.
	if err := db.conn.Exec(ctx, db.ddl.migrations()[2].Statements[0].SQL); err != nil {
		t.Fatal(err)
	}
	applied, err := db.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 6 || applied[0].Version != 2 || applied[1].Version != 3 || applied[2].Version != 4 || applied[3].Version != 5 ||
		applied[4].Version != 6 || applied[5].Version != 7 {
		t.Fatalf("Migrate on the older schema applied %v, want [2 3 4 5 6 7]", applied)
	}
	open, err := db.OpenFindings(ctx, FindingsQuery{})
	if err != nil || len(open) != 1 || open[0].Summary != "old summary" || open[0].Why != "" || open[0].Routes != nil ||
		open[0].Detectors != nil || open[0].Campaign != "" || open[0].Clients != nil || open[0].ClientCount != 0 || open[0].Totals != nil {
		t.Errorf("finding stored under schema 1 reads back as %+v, %v", open, err)
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableEvents)); n != 500 {
		t.Errorf("%d events after migration, want 500", n)
	}
	if err := db.InsertHealth(ctx, []HealthSample{{Time: time.Now(), Component: "store", Instance: "t", Metric: "lag", Value: 3}}); err != nil {
		t.Fatal(err)
	}
}

func TestEventsRoundTrip(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC) // spans two day partitions
	evs := sampleEvents(30_000, start)
	// Strings that need escaping in SQL or JSON must come back intact.
	evs[3].Path = "/v1/o'rders\\x/\"q\"/ünï/\x00"
	evs[3].UserAgent = "Mozilla/5.0 'quoted' \n newline"
	w := NewWriter(db, WriterOptions{BatchOptions: BatchOptions{BatchRows: 7000}})
	for i := 0; i < len(evs); i += 1000 {
		if err := w.Write(ctx, evs[i:i+1000]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Events != 30_000 || st.Inserts != 5 {
		t.Errorf("stats %+v, want 30000 events in 5 inserts", st)
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableEvents)); n != 30_000 {
		t.Fatalf("%d events stored, want 30000", n)
	}
	if n := count(t, db, "SELECT uniqExact(partition) FROM system.parts WHERE database = ? AND table = 'events' AND active", db.Database()); n != 2 {
		t.Errorf("%d day partitions, want 2", n)
	}

	// Timeline of one client: exact fields, time order.
	tl, err := db.ClientTimeline(ctx, TimelineQuery{Client: "k:alice", From: start, To: start.Add(time.Hour), Limit: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != 10_000 {
		t.Fatalf("timeline has %d events, want 10000", len(tl))
	}
	for i := 1; i < len(tl); i++ {
		if tl[i].Time.Before(tl[i-1].Time) {
			t.Fatalf("timeline out of order at %d", i)
		}
	}
	got := tl[1] // evs[3]: alice is every third event
	want := &evs[3]
	wantTime := want.Time.Truncate(time.Microsecond)
	checks := []struct {
		name      string
		got, want any
	}{
		{"time", got.Time, wantTime},
		{"path", got.Path, want.Path},
		{"user_agent", got.UserAgent, want.UserAgent},
		{"route", got.Route, want.Route},
		{"query", got.Query, want.Query},
		{"ip", got.IP, want.RemoteIP},
		{"status", int(got.Status), want.Status},
		{"bytes_out", got.BytesOut, uint64(want.BytesOut)},
		{"latency_us", got.LatencyUS, uint64(want.Latency.Microseconds())},
		{"auth", got.Auth, want.Auth.String()},
		{"client_kind", got.ClientKind, want.ClientKind.String()},
		{"request_id", got.RequestID, want.RequestID},
		{"tls_version", got.TLSVersion, want.TLSVersion},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if v6 := tl[0].IP; v6 != netip.MustParseAddr("2001:db8::1") { // evs[0]
		t.Errorf("IPv6 address came back as %v", v6)
	}

	// Top clients: exact counts against a count in Go.
	wantErr := map[string]uint64{}
	wantAuth := map[string]uint64{}
	for i := range evs {
		if evs[i].Status >= 500 {
			wantErr[evs[i].ClientKey]++
		}
		if evs[i].Auth.Failure() {
			wantAuth[evs[i].ClientKey]++
		}
	}
	for _, by := range []RankBy{ByRequests, ByErrors, ByAuthFailures} {
		top, err := db.TopClients(ctx, TopQuery{From: start, To: start.Add(time.Hour), By: by, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(top) != 2 {
			t.Fatalf("TopClients(%s) returned %d rows, want 2", by, len(top))
		}
		for i, c := range top {
			if c.Requests != 10_000 || c.Errors != wantErr[c.Client] || c.AuthFailures != wantAuth[c.Client] {
				t.Errorf("TopClients(%s)[%d] = %+v, want 10000 requests, %d errors, %d auth failures",
					by, i, c, wantErr[c.Client], wantAuth[c.Client])
			}
			if i > 0 {
				prev := top[i-1]
				key := map[RankBy][2]uint64{ByRequests: {prev.Requests, c.Requests}, ByErrors: {prev.Errors, c.Errors}, ByAuthFailures: {prev.AuthFailures, c.AuthFailures}}[by]
				if key[0] < key[1] {
					t.Errorf("TopClients(%s) not sorted: %+v", by, top)
				}
			}
		}
	}
	// A range outside the data is empty.
	top, err := db.TopClients(ctx, TopQuery{From: start.Add(-2 * time.Hour), To: start.Add(-time.Hour)})
	if err != nil || len(top) != 0 {
		t.Errorf("TopClients on an empty range = %v, %v", top, err)
	}
	if _, err := db.TopClients(ctx, TopQuery{From: start, To: start.Add(time.Hour), By: "requests; DROP TABLE x"}); err == nil {
		t.Error("TopClients accepted an unknown ranking")
	}
	// A client name that is SQL is just a value.
	tl, err = db.ClientTimeline(ctx, TimelineQuery{Client: "k:alice' OR 1=1 --", From: start, To: start.Add(time.Hour)})
	if err != nil || len(tl) != 0 {
		t.Errorf("timeline of an injected name = %d rows, %v", len(tl), err)
	}
}

func TestWindowsAndFindingsRoundTrip(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	ws := []ClientWindow{
		{Client: "k:alice", ClientKind: "api_key", WindowStart: t0, WindowEnd: t0.Add(time.Minute), Requests: 120, Errors: 3, AuthFailures: 1, BytesOut: 9999, DistinctRoutes: 4, DistinctPaths: 17, ExpectedRequests: 100.5, ExpectedErrorRatio: 0.01, ExpectedAuthFailures: 0.2},
		{Client: "10.0.0.1", ClientKind: "ip", WindowStart: t0, WindowEnd: t0.Add(time.Minute), Requests: 5},
	}
	finding := func(id string, st detect.Status, end time.Time, windows int, sev detect.Severity) detect.Finding {
		return detect.Finding{IncidentID: id, Status: st, Client: "k:alice", ClientKind: "api_key", Detector: detect.DetectorVolume,
			WindowStart: t0, WindowEnd: end, Windows: windows, Observed: 1240, Expected: 100, Spread: 12.5, Unit: "req/min",
			Score: 0.93, PValue: 1e-40, Severity: sev, Baseline: detect.BaselineOwn, History: 60, Summary: "client k:alice sent 1,240 req/min",
			Why: "own baseline over 60 windows", Requests: 1240, Routes: []string{"/v1/orders/{id}", "/v1/search"},
			Samples: []string{"GET /v1/orders/1 200", "GET /v1/search?q=REDACTED 200"}}
	}
	fs := []detect.Finding{
		finding("inc-1", detect.StatusOpen, t0.Add(time.Minute), 1, detect.SeverityHigh),
		finding("inc-1", detect.StatusUpdate, t0.Add(3*time.Minute), 3, detect.SeverityCritical),
		finding("inc-2", detect.StatusOpen, t0.Add(time.Minute), 1, detect.SeverityLow),
		finding("inc-2", detect.StatusResolved, t0.Add(5*time.Minute), 1, detect.SeverityLow),
		finding("inc-3", detect.StatusOpen, t0.Add(2*time.Minute), 1, detect.SeverityMedium),
	}
	// Schema 3: an incident several detectors flagged, with totals, and a
	// campaign.
	fs[1].Detectors = []string{detect.DetectorVolume, detect.DetectorScanning}
	fs[1].Totals = &detect.Totals{Requests: 3720, Failures: 12, Bytes: 1.5e6, DistinctPaths: 3}
	camp := &fs[4]
	camp.Client, camp.ClientKind, camp.Detector = "campaign:env-file", "campaign", detect.DetectorCampaign
	camp.Campaign, camp.Clients, camp.ClientCount = "env-file", []string{"192.0.2.1", "192.0.2.2"}, 37
	camp.Totals = &detect.Totals{Requests: 74, Failures: 0, Bytes: 11000, DistinctPaths: 74}
	camp.Routes, camp.Samples = nil, nil
	w := NewWriter(db, WriterOptions{})
	if err := w.WriteWindows(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFindings(ctx, fs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var got ClientWindow
	var kind string
	var start, end time.Time
	if err := db.conn.QueryRow(ctx, "SELECT client, client_kind, window_start, window_end, requests, errors, auth_failures, bytes_out,"+
		" distinct_routes, distinct_paths, expected_requests, expected_error_ratio, expected_auth_failures FROM "+db.table(tableWindows)+
		" WHERE client = ?", "k:alice").Scan(&got.Client, &kind, &start, &end, &got.Requests, &got.Errors, &got.AuthFailures,
		&got.BytesOut, &got.DistinctRoutes, &got.DistinctPaths, &got.ExpectedRequests, &got.ExpectedErrorRatio, &got.ExpectedAuthFailures); err != nil {
		t.Fatal(err)
	}
	got.ClientKind, got.WindowStart, got.WindowEnd = kind, start.UTC(), end.UTC()
	if got != ws[0] {
		t.Errorf("window = %+v\nwant %+v", got, ws[0])
	}

	open, err := db.OpenFindings(ctx, FindingsQuery{Since: t0.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 2 {
		t.Fatalf("OpenFindings = %d incidents, want 2 (inc-1, inc-3): %+v", len(open), open)
	}
	if open[0].IncidentID != "inc-1" || open[1].IncidentID != "inc-3" {
		t.Errorf("OpenFindings order = %s, %s; want inc-1 (critical), inc-3", open[0].IncidentID, open[1].IncidentID)
	}
	for i, want := range []detect.Finding{fs[1], fs[4]} {
		if !reflect.DeepEqual(open[i], want) {
			t.Errorf("latest emission of %s =\n%+v\nwant\n%+v", want.IncidentID, open[i], want)
		}
	}
	// Storing the same emissions again (a replay) leaves one copy of each
	// once merged, and does not change the answer meanwhile.
	if err := db.InsertFindings(ctx, fs); err != nil {
		t.Fatal(err)
	}
	if err := db.conn.Exec(ctx, "OPTIMIZE TABLE "+db.table(tableFindings)+" FINAL"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableFindings)); n != uint64(len(fs)) {
		t.Errorf("%d finding rows after replay and merge, want %d", n, len(fs))
	}
	open2, err := db.OpenFindings(ctx, FindingsQuery{})
	if err != nil || len(open2) != 2 {
		t.Errorf("OpenFindings after replay = %d, %v", len(open2), err)
	}
}

func TestEnforceRetention(t *testing.T) {
	t.Parallel()
	db := testClickHouse(t, func(o *Options) { o.Retention = Retention{Events: 3, Windows: 3, Findings: 3} })
	migrated(t, db)
	ctx := context.Background()
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	w := NewWriter(db, WriterOptions{})
	for d := 0; d < 6; d++ {
		day := now.AddDate(0, 0, -d)
		if err := w.Write(ctx, sampleEvents(100, day.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteWindows(ctx, []ClientWindow{{Client: "c", ClientKind: "ip", WindowStart: day, WindowEnd: day.Add(time.Minute), Requests: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	dropped, err := db.EnforceRetention(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// Three days back from the 10th is the 7th: days 10, 9, 8 and 7 stay,
	// the 6th and 5th go, in both tables.
	if len(dropped) != 4 {
		t.Errorf("dropped %v, want days 6 and 5 of events and windows", dropped)
	}
	for _, d := range dropped {
		if d.Partition != "20260306" && d.Partition != "20260305" {
			t.Errorf("dropped partition %s, want only 20260306 and 20260305", d.Partition)
		}
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableEvents)); n != 400 {
		t.Errorf("%d events after retention, want 400", n)
	}
	if n := count(t, db, "SELECT toUInt64(min(toYYYYMMDD(time))) FROM "+db.table(tableEvents)); n != 20260307 {
		t.Errorf("oldest kept day %d, want 20260307", n)
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableWindows)); n != 4 {
		t.Errorf("%d windows after retention, want 4", n)
	}
	again, err := db.EnforceRetention(ctx, now)
	if err != nil || len(again) != 0 {
		t.Errorf("second EnforceRetention dropped %v, %v", again, err)
	}

	// RetentionLoop against the real clock: the 2026-03 days stored above
	// are all past any 3-day cut-off today, so its first run drops the rest.
	lctx, cancel := context.WithCancel(ctx)
	runs := make(chan []Dropped, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.RetentionLoop(lctx, time.Hour, func(d []Dropped, err error) {
			if err != nil {
				t.Errorf("RetentionLoop: %v", err)
			}
			runs <- d
		})
	}()
	first := <-runs
	cancel()
	<-done
	if time.Now().After(now.AddDate(0, 0, 4)) && len(first) != 8 {
		t.Errorf("RetentionLoop's first run dropped %v, want the 4 remaining days of both tables", first)
	}
}

// TestDuplicateBatchCollapses inserts one Kafka batch twice (a crash after
// the insert, before the commit) and checks FINAL and a merge show it once.
func TestDuplicateBatchCollapses(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	ctx := context.Background()
	evs := sampleEvents(1000, time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC))
	insertBatch(t, db, evs, "events", 2)
	raw := count(t, db, "SELECT count() FROM "+db.table(tableEvents))
	if !db.Features().InsertDedup && raw != 2000 {
		t.Errorf("raw count %d, want 2000 before the merge on a server without insert dedup", raw)
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableEvents)+" FINAL"); n != 1000 {
		t.Errorf("count FINAL = %d, want 1000", n)
	}
	if err := db.conn.Exec(ctx, "OPTIMIZE TABLE "+db.table(tableEvents)+" FINAL"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableEvents)); n != 1000 {
		t.Errorf("count after merge = %d, want 1000", n)
	}
}

// TestLowCardinalityOverride runs the LowCardinality variant of the DDL
// (the newer path's main type change) for real on the test server, by
// forcing the feature: on 18.16 the migrator enables the experimental
// setting it needs there.
func TestLowCardinalityOverride(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t, func(o *Options) { o.Features = &Features{LowCardinality: true} }))
	ctx := context.Background()
	var typ string
	if err := db.conn.QueryRow(ctx, "SELECT type FROM system.columns WHERE database = ? AND table = 'events' AND name = 'route'", db.Database()).Scan(&typ); err != nil {
		t.Fatal(err)
	}
	if typ != "LowCardinality(String)" {
		t.Fatalf("events.route is %s, want LowCardinality(String)", typ)
	}
	start := time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC)
	evs := sampleEvents(3000, start)
	w := NewWriter(db, WriterOptions{})
	if err := w.Write(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFindings(ctx, []detect.Finding{{IncidentID: "i", Status: detect.StatusOpen, Client: "k:bob", Severity: detect.SeverityLow, WindowStart: start, WindowEnd: start}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	tl, err := db.ClientTimeline(ctx, TimelineQuery{Client: "k:bob", From: start, To: start.Add(time.Hour), Limit: 5000})
	if err != nil || len(tl) != 1000 || tl[0].Route != evs[1].Route || tl[0].Method != "GET" {
		t.Fatalf("timeline on the LowCardinality schema: %d events, %v", len(tl), err)
	}
	top, err := db.TopClients(ctx, TopQuery{From: start, To: start.Add(time.Hour), By: ByErrors})
	if err != nil || len(top) != 3 {
		t.Fatalf("TopClients on the LowCardinality schema: %v, %v", top, err)
	}
	open, err := db.OpenFindings(ctx, FindingsQuery{})
	if err != nil || len(open) != 1 {
		t.Fatalf("OpenFindings on the LowCardinality schema: %v, %v", open, err)
	}
}
