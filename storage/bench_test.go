package storage

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

// benchEvents makes n events shaped like a busy API's traffic: 5,000
// clients (HMAC-like keys), random IPs, ids in paths, unique request ids,
// a handful of user agents, spread over span from start. Less repetitive
// than sampleEvents, so bytes on disk are not flattered.
func benchEvents(n int, start time.Time, span time.Duration, seed uint64) []ingest.Event {
	// The same 5,000 clients for every seed, so a long load has clients
	// with long histories.
	crng := rand.New(rand.NewPCG(7, 7))
	rng := rand.New(rand.NewPCG(seed, 42))
	clients := make([]string, 5000)
	for i := range clients {
		var b [12]byte
		for j := range b {
			b[j] = byte(crng.Uint32())
		}
		clients[i] = "k:" + hex.EncodeToString(b[:])
	}
	routes := []string{"/v1/orders/{id}", "/v1/users/{id}", "/v1/search", "/v1/products/{id}/reviews", "/health", "/v2/payments/{id}"}
	agents := []string{"curl/8.5.0", "okhttp/4.12.0", "python-requests/2.31.0", "Go-http-client/2.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"}
	methods := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	step := span / time.Duration(max(n, 1))
	evs := make([]ingest.Event, n)
	for i := range evs {
		ev := &evs[i]
		// Zipf-like: a few clients send most requests.
		c := int(float64(len(clients)) * rng.Float64() * rng.Float64() * rng.Float64())
		ev.Time = start.Add(time.Duration(i) * step)
		ev.Source, ev.Format = "edge-nginx", "nginx_combined"
		ev.ClientKey, ev.ClientKind = clients[c], ingest.ClientAPIKey
		ev.RemoteIP = netip.AddrFrom4([4]byte{byte(c >> 8), byte(c), byte(rng.Uint32()), 7})
		ev.Method, ev.Host = methods[rng.IntN(len(methods))], "api.example.com"
		r := rng.IntN(len(routes))
		ev.Route = routes[r]
		ev.Path = ev.Route
		if r != 2 && r != 4 {
			ev.Path = ev.Route[:len(ev.Route)-len("{id}")] + strconv.Itoa(rng.IntN(1_000_000))
			if r == 3 {
				ev.Path = "/v1/products/" + strconv.Itoa(rng.IntN(50_000)) + "/reviews"
			}
		}
		if r == 2 {
			ev.Query = "q=REDACTED&page=" + strconv.Itoa(rng.IntN(20))
		}
		ev.Status, ev.Auth = 200, ingest.AuthOK
		switch x := rng.IntN(1000); {
		case x < 8:
			ev.Status = 503
		case x < 20:
			ev.Status, ev.Auth = 401, ingest.AuthFailed
		case x < 60:
			ev.Status = 404
		}
		ev.BytesIn = int64(rng.IntN(2000))
		ev.BytesOut = int64(200 + rng.IntN(50_000))
		ev.Latency = time.Duration(500+rng.ExpFloat64()*20_000) * time.Microsecond
		ev.UserAgent = agents[c%len(agents)]
		ev.Scheme, ev.TLSVersion, ev.APIVersion = "https", "TLSv1.3", "v1"
		var id [16]byte
		for j := range id {
			id[j] = byte(rng.Uint32())
		}
		ev.RequestID = hex.EncodeToString(id[:])
	}
	return evs
}

// BenchmarkWriteEvents measures the embedded path end to end: copying
// events into column buffers and inserting 100k-row batches with the
// Writer's default two inserters, until ClickHouse acknowledged them all.
// It reports rows/s and, from system.parts after a final merge, bytes on
// disk per stored event.
//
// GATEWATCH_BENCH_LOWCARDINALITY=1 forces the LowCardinality schema (on
// 18.16 an experimental type) to compare.
func BenchmarkWriteEvents(b *testing.B) {
	db := migrated(b, testClickHouse(b, benchFeatures))
	ctx := context.Background()
	const rows = 100_000
	// Four distinct sets, each moved forward in time on reuse, so the
	// bytes per event are not flattered by identical rows.
	t0 := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
	sets := make([][]ingest.Event, 4)
	for i := range sets {
		sets[i] = benchEvents(rows, t0, time.Hour, uint64(i))
	}
	w := NewWriter(db, WriterOptions{BatchOptions: BatchOptions{BatchRows: rows, FlushInterval: time.Minute}})
	defer w.Close(ctx)
	b.ReportAllocs()
	b.ResetTimer()
	// A counted loop, not b.Loop: the timer must run through the final
	// Flush, which waits for the batches still queued.
	for i := 0; i < b.N; i++ {
		evs := sets[i%len(sets)]
		if i >= len(sets) {
			for j := range evs {
				evs[j].Time = evs[j].Time.Add(time.Hour)
			}
		}
		if err := w.Write(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
	reportBytesPerEvent(b, db)
}

// BenchmarkInsertBatch is the INSERT alone: a prepared 100k-row columnar
// batch sent and acknowledged per iteration.
func BenchmarkInsertBatch(b *testing.B) {
	db := migrated(b, testClickHouse(b, benchFeatures))
	ctx := context.Background()
	const rows = 100_000
	evs := benchEvents(rows, time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), time.Hour, 2)
	var batch eventBatch
	for i := range evs {
		batch.add(&evs[i], EventID("events", 0, int64(i)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := db.insertEvents(ctx, &batch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
}

// benchFeatures applies the benchmarks' switches:
// GATEWATCH_BENCH_LOWCARDINALITY=1 forces the LowCardinality schema (on
// 18.16 an experimental type), GATEWATCH_BENCH_LZ4=1 compresses blocks
// although the server is on loopback (CompressLZ4).
func benchFeatures(o *Options) {
	if os.Getenv("GATEWATCH_BENCH_LOWCARDINALITY") != "" {
		o.Features = &Features{LowCardinality: true}
	}
	if os.Getenv("GATEWATCH_BENCH_LZ4") != "" {
		o.Compression = CompressLZ4
	}
}

func reportBytesPerEvent(b *testing.B, db *DB) {
	b.Helper()
	ctx := context.Background()
	if err := db.conn.Exec(ctx, "OPTIMIZE TABLE "+db.table(tableEvents)+" FINAL"); err != nil {
		b.Fatal(err)
	}
	var bytes, rows uint64
	if err := db.conn.QueryRow(ctx, "SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE database = ? AND table = ? AND active",
		db.Database(), tableEvents).Scan(&bytes, &rows); err != nil {
		b.Fatal(err)
	}
	if rows > 0 {
		b.ReportMetric(float64(bytes)/float64(rows), "B/event")
	}
}

// BenchmarkDashboard10M loads 10M events (about a minute) into a scratch
// database and times the dashboard's main queries on them. It is not part
// of CI: set GATEWATCH_BENCH_10M=1 to run it, e.g.
//
//	GATEWATCH_BENCH_10M=1 go test ./storage -run '^$' -bench Dashboard10M -benchtime 5x
func BenchmarkDashboard10M(b *testing.B) {
	if os.Getenv("GATEWATCH_BENCH_10M") == "" {
		b.Skip("set GATEWATCH_BENCH_10M=1 to load 10M events and time the dashboard queries")
	}
	db := migrated(b, testClickHouse(b))
	ctx := context.Background()
	start := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
	const total, chunk = 10_000_000, 500_000
	w := NewWriter(db, WriterOptions{BatchOptions: BatchOptions{BatchRows: 250_000, FlushInterval: time.Minute}})
	t0 := time.Now()
	for i := 0; i < total; i += chunk {
		// Seven days of traffic, so queries prune day partitions.
		week := 7 * 24 * time.Hour
		evs := benchEvents(chunk, start.Add(week/(total/chunk)*time.Duration(i/chunk)), week/(total/chunk), uint64(i))
		if err := w.Write(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d events in %v (%.0f rows/s)", total, time.Since(t0).Round(time.Millisecond), total/time.Since(t0).Seconds())
	if err := db.conn.Exec(ctx, "OPTIMIZE TABLE "+db.table(tableEvents)+" FINAL"); err != nil {
		b.Fatal(err)
	}
	var bytes, rows uint64
	if err := db.conn.QueryRow(ctx, "SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE database = ? AND table = ? AND active",
		db.Database(), tableEvents).Scan(&bytes, &rows); err != nil {
		b.Fatal(err)
	}
	b.Logf("on disk after OPTIMIZE FINAL: %d rows, %.1f MiB, %.1f bytes/event", rows, float64(bytes)/(1<<20), float64(bytes)/float64(rows))
	// 50,000 incidents over the week, four emissions each (open, two
	// updates, and resolved for three in four of them).
	var fs []detect.Finding
	for inc := range 50_000 {
		ws := start.Add(7 * 24 * time.Hour / 50_000 * time.Duration(inc))
		n := 4
		if inc%4 == 0 {
			n = 3
		}
		for k := range n {
			st := []detect.Status{detect.StatusOpen, detect.StatusUpdate, detect.StatusUpdate, detect.StatusResolved}[k]
			fs = append(fs, detect.Finding{IncidentID: "inc-" + strconv.Itoa(inc), Status: st, Client: "k:" + strconv.Itoa(inc%5000),
				ClientKind: "api_key", Detector: detect.DetectorVolume, WindowStart: ws, WindowEnd: ws.Add(time.Duration(k+1) * time.Minute),
				Windows: k + 1, Observed: 100, Expected: 10, Severity: detect.SeverityHigh, Summary: "s", Routes: []string{"/v1/x"}})
		}
	}
	if err := db.InsertFindings(ctx, fs); err != nil {
		b.Fatal(err)
	}
	// The answer OpenFindings must give over the last day: incidents with
	// an emission ending in it whose latest emission is not resolved.
	wantOpen1d := 0
	{
		latest := map[string]detect.Finding{}
		seen := map[string]bool{}
		for _, f := range fs {
			if f.WindowEnd.Before(start.Add(6 * 24 * time.Hour)) {
				continue
			}
			seen[f.IncidentID] = true
			if l, ok := latest[f.IncidentID]; !ok || f.WindowEnd.After(l.WindowEnd) {
				latest[f.IncidentID] = f
			}
		}
		for id := range seen {
			if latest[id].Status != detect.StatusResolved {
				wantOpen1d++
			}
		}
	}
	busiest := ""
	if err := db.conn.QueryRow(ctx, "SELECT client FROM "+db.table(tableEvents)+" GROUP BY client ORDER BY count() DESC LIMIT 1").Scan(&busiest); err != nil {
		b.Fatal(err)
	}
	end := start.Add(7 * 24 * time.Hour)
	queries := []struct {
		name string
		run  func() error
	}{
		{"TopClients/requests/7d", func() error {
			_, err := db.TopClients(ctx, TopQuery{From: start, To: end, By: ByRequests})
			return err
		}},
		{"TopClients/auth_failures/1d", func() error {
			_, err := db.TopClients(ctx, TopQuery{From: end.Add(-24 * time.Hour), To: end, By: ByAuthFailures})
			return err
		}},
		{"ClientTimeline/busiest/1h", func() error {
			_, err := db.ClientTimeline(ctx, TimelineQuery{Client: busiest, From: end.Add(-time.Hour), To: end, Limit: 1000})
			return err
		}},
		{"RequestsPerMinute/1d", func() error {
			// The Grafana time-series panel: the portable bucket (no
			// toStartOfInterval on 18.16).
			rows, err := db.conn.Query(ctx, "SELECT toDateTime(intDiv(toUInt32(time), 60) * 60) AS t, count(), countIf(status >= 500)"+
				" FROM "+db.table(tableEvents)+" WHERE time >= ? AND time < ? GROUP BY t ORDER BY t", end.Add(-24*time.Hour), end)
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			rows.Close()
			return rows.Err()
		}},
		{"OpenFindings/1d", func() error {
			f, err := db.OpenFindings(ctx, FindingsQuery{Since: end.Add(-24 * time.Hour), Limit: 100_000})
			if err == nil && len(f) != wantOpen1d {
				err = fmt.Errorf("OpenFindings over the last day returned %d incidents, want %d", len(f), wantOpen1d)
			}
			return err
		}},
		{"OpenFindings/7d", func() error {
			f, err := db.OpenFindings(ctx, FindingsQuery{Since: start, Limit: 100})
			if err == nil && len(f) != 100 {
				err = fmt.Errorf("OpenFindings returned %d incidents, want 100 of 12500", len(f))
			}
			return err
		}},
	}
	inDay := count(b, db, "SELECT count() FROM "+db.table(tableEvents)+" WHERE time >= ? AND time < ?", end.Add(-24*time.Hour), end)
	inHour := count(b, db, "SELECT count() FROM "+db.table(tableEvents)+" WHERE client = ? AND time >= ? AND time < ?", busiest, end.Add(-time.Hour), end)
	b.Logf("events in the last day: %d; busiest client's events in the last hour: %d; open incidents in the last day: %d of %d finding rows",
		inDay, inHour, wantOpen1d, len(fs))
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				if err := q.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// A crash replay on the last day: 100k events stored twice and not
	// merged, as today's partition always is. TopClients reads that day
	// with FINAL and must count each event once.
	replay := benchEvents(100_000, end.Add(-2*time.Hour), time.Hour, 1<<40)
	rb := newEventBatch(len(replay))
	for i := range replay {
		rb.add(&replay[i], EventID("replay", 0, int64(i)))
	}
	for range 2 {
		if err := db.insertEvents(ctx, rb); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []struct {
		name string
		from time.Time
		by   RankBy
	}{
		{"TopClients/requests/7d/replayed", start, ByRequests},
		{"TopClients/auth_failures/1d/replayed", end.Add(-24 * time.Hour), ByAuthFailures},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				top, err := db.TopClients(ctx, TopQuery{From: q.from, To: end, By: q.by})
				if err != nil {
					b.Fatal(err)
				}
				if len(top) == 0 {
					b.Fatal("no clients")
				}
				if want := count(b, db, "SELECT count() FROM "+db.table(tableEvents)+" FINAL WHERE client = ? AND time >= ? AND time < ?",
					top[0].Client, q.from, end); top[0].Requests != want {
					b.Fatalf("TopClients counted %d requests of %s, FINAL %d", top[0].Requests, top[0].Client, want)
				}
			}
		})
	}
}
