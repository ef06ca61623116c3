package storage

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/gatewatch/gatewatch/detect/inventory"
	"github.com/gatewatch/gatewatch/ingest"
)

// sampleEndpoint is an endpoint with every field set.
func sampleEndpoint() inventory.Endpoint {
	return inventory.Endpoint{
		Host: "api.example.com", Method: "GET", Route: "/v1/orders/{id}", Requests: 120, Clients: 7,
		Status:       inventory.StatusMix{S2xx: 100, S3xx: 2, S4xx: 15, S5xx: 3, S401403: 10, NotFound: 4},
		AuthRequired: true, BytesP50: 512, BytesP95: 4096,
		FirstSeen: time.Date(2026, 3, 1, 9, 0, 0, 123_000_000, time.UTC),
		LastSeen:  time.Date(2026, 3, 4, 9, 59, 59, 999_000_000, time.FixedZone("CET", 3600)),
		Versions:  []string{"v1", "v2"}, MemoryBytes: 1234,
	}
}

// TestEndpointRowOf pins the row encoding: counts and flags as stored,
// times in UTC seconds, nothing shared with the endpoint, and every
// server's column list matched.
func TestEndpointRowOf(t *testing.T) {
	t.Parallel()
	snap := time.Date(2026, 3, 4, 10, 0, 0, 700_000_000, time.FixedZone("CET", 3600))
	e := sampleEndpoint()
	row := endpointRowOf(snap, &e)
	want := endpointRow{
		snapshot: time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC), host: "api.example.com", method: "GET", route: "/v1/orders/{id}",
		requests: 120, clients: 7, s2xx: 100, s3xx: 2, s4xx: 15, s5xx: 3, s401403: 10, s404: 4, authRequired: 1,
		bytesP50: 512, bytesP95: 4096,
		firstSeen: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), lastSeen: time.Date(2026, 3, 4, 8, 59, 59, 0, time.UTC),
		versions: []string{"v1", "v2"},
	}
	if !reflect.DeepEqual(row, want) {
		t.Errorf("endpointRowOf =\n%+v\nwant\n%+v", row, want)
	}
	e.Versions[0] = "changed"
	if row.versions[0] != "v1" {
		t.Error("the row shares its versions with the endpoint")
	}
	// An endpoint built from a parser's buffer: the row keeps its own copy.
	buf := []byte("/v1/alias")
	e.Route = unsafe.String(&buf[0], len(buf))
	row = endpointRowOf(snap, &e)
	copy(buf, "/v2/reuse")
	if row.route != "/v1/alias" {
		t.Errorf("row route %q changed with the caller's buffer", row.route)
	}
	e = inventory.Endpoint{Requests: -1, BytesP95: -5}
	row = endpointRowOf(snap, &e)
	if row.requests != 0 || row.bytesP95 != 0 || row.authRequired != 0 {
		t.Errorf("negative counts stored as %d, %d", row.requests, row.bytesP95)
	}
	if row.firstSeen.Unix() != 0 || row.lastSeen.Unix() != 0 || row.versions == nil {
		t.Errorf("no times and no versions stored as %v, %v, %#v: want the epoch and an empty array", row.firstSeen, row.lastSeen, row.versions)
	}
	for _, v := range []ServerVersion{{18, 16, 1}, {19, 9, 0}, {24, 8, 0}} {
		d := ddl{f: FeaturesFor(v)}
		if n := len(d.endpointColumns()); n != len(row.values()) {
			t.Errorf("%v: %d columns, %d values per row", v, n, len(row.values()))
		}
	}
}

// TestEndpointRowReadsBack: a row read back is the endpoint it was made
// of, but for MemoryBytes and the sub-second part of its times.
func TestEndpointRowReadsBack(t *testing.T) {
	t.Parallel()
	e := sampleEndpoint()
	row := endpointRowOf(time.Now(), &e)
	want := e
	want.MemoryBytes = 0
	want.FirstSeen, want.LastSeen = e.FirstSeen.UTC().Truncate(time.Second), e.LastSeen.UTC().Truncate(time.Second)
	if got := row.endpoint(); !reflect.DeepEqual(got, want) {
		t.Errorf("read back as\n%+v\nwant\n%+v", got, want)
	}
	empty := inventory.Endpoint{Host: "h", Versions: []string{}}
	row = endpointRowOf(time.Now(), &empty)
	if got := row.endpoint(); !reflect.DeepEqual(got, empty) {
		t.Errorf("endpoint without times or versions read back as %+v", got)
	}
	if got := clampInt64(1 << 63); got != 1<<63-1 {
		t.Errorf("clampInt64(2^63) = %d", got)
	}
}

// TestEndpointsNeedSnapshot: without a snapshot time nothing is queued or
// inserted, since the snapshot decides which row is an endpoint's latest.
func TestEndpointsNeedSnapshot(t *testing.T) {
	t.Parallel()
	eps := []inventory.Endpoint{sampleEndpoint()}
	if err := (&DB{}).InsertEndpoints(context.Background(), time.Time{}, eps); !errors.Is(err, errNoSnapshot) {
		t.Errorf("InsertEndpoints at the zero time = %v, want errNoSnapshot", err)
	}
	w := NewWriter(&DB{}, WriterOptions{})
	if err := w.WriteEndpoints(context.Background(), time.Time{}, eps); !errors.Is(err, errNoSnapshot) {
		t.Errorf("WriteEndpoints at the zero time = %v, want errNoSnapshot", err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("Close with nothing queued = %v", err)
	}
	if err := (&DB{}).InsertEndpoints(context.Background(), time.Now(), nil); err != nil {
		t.Errorf("InsertEndpoints of nothing = %v", err)
	}
}

// inventoryOf learns an inventory from evs.
func inventoryOf(evs []ingest.Event) *inventory.Inventory {
	inv := inventory.New(inventory.Options{})
	for i := range evs {
		inv.Observe(&evs[i])
	}
	return inv
}

// inventoryEvents are n requests from start, one a second, to host: on
// /v1/orders/{id} (every fourth anonymous and turned away), and every
// third to /v1/search.
func inventoryEvents(n int, start time.Time, host string) []ingest.Event {
	evs := sampleEvents(n, start)
	for i := range evs {
		ev := &evs[i]
		ev.Time = start.Add(time.Duration(i)*time.Second + 250*time.Millisecond)
		ev.Host, ev.Route, ev.Status, ev.APIVersion = host, "/v1/orders/{id}", 200, "v1"
		if i%3 == 0 {
			ev.Route, ev.APIVersion = "/v1/search", "v2"
		}
		if i%4 == 1 {
			ev.ClientKey, ev.ClientKind, ev.Auth, ev.Status = "203.0.113.9", ingest.ClientIP, ingest.AuthNone, 401
		}
	}
	return evs
}

// stored is how endpoints read back: no MemoryBytes, times to the second.
func stored(eps []inventory.Endpoint) []inventory.Endpoint {
	out := make([]inventory.Endpoint, len(eps))
	for i, e := range eps {
		e.MemoryBytes = 0
		e.FirstSeen, e.LastSeen = e.FirstSeen.Truncate(time.Second), e.LastSeen.Truncate(time.Second)
		e.Versions = slices.Clone(e.Versions)
		out[i] = e
	}
	return out
}

// TestEndpointsRoundTrip stores two snapshots of a learning inventory on
// the real server, the first with DB.InsertEndpoints, the second (a day
// later, with a new route and one endpoint of the first gone) through a
// Writer, and reads the inventory back: each endpoint's latest snapshot,
// as the inventory itself lists it; as of the first snapshot; one host;
// a limit; "gatewatch query endpoints". A snapshot stored twice changes
// nothing, a merge keeps one row per endpoint per day, and retention
// drops an expired day.
func TestEndpointsRoundTrip(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t, func(o *Options) { o.Retention = Retention{Endpoints: DefaultEndpointRetentionDays} }))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	now := time.Now().UTC()
	snap1, snap2 := now.Add(-25*time.Hour).Truncate(time.Second), now.Add(-time.Hour).Truncate(time.Second)

	evs := inventoryEvents(200, snap1.Add(-time.Hour), "api.example.com")
	inv := inventoryOf(evs)
	first := inv.Endpoints()
	// A host only the first snapshot lists (say, its inventory was lost):
	// its endpoint stays the latest known until retention drops it.
	other := inventoryOf(inventoryEvents(5, snap1.Add(-time.Hour), "old.example.com")).Endpoints()[:1]
	if err := db.InsertEndpoints(ctx, snap1, append(slices.Clone(first), other...)); err != nil {
		t.Fatal(err)
	}
	more := inventoryEvents(100, snap2.Add(-time.Hour), "api.example.com")
	more[7].Method, more[7].Route = "DELETE", "/v1/orders/{id}"
	for i := range more {
		inv.Observe(&more[i])
	}
	second := inv.Endpoints()
	if len(second) != len(first)+1 {
		t.Fatalf("the second snapshot has %d endpoints, want %d", len(second), len(first)+1)
	}
	writeSnapshot(t, ctx, db, snap2, second)

	want := append(stored(other), stored(second)...)
	slices.SortFunc(want, func(a, b inventory.Endpoint) int {
		return strings.Compare(a.Host+" "+a.Route+" "+a.Method, b.Host+" "+b.Route+" "+b.Method)
	})
	got, err := db.Endpoints(ctx, EndpointsQuery{})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Endpoints = %+v, %v\nwant %+v", got, err, want)
	}
	checkEndpointFilters(t, ctx, db, snap1, stored(first), stored(second), want)
	checkEndpointReplay(t, ctx, db, snap2, second, want)

	// Retention: a snapshot from past the 90 days is dropped, as other
	// tables' days are.
	if err := db.InsertEndpoints(ctx, time.Date(2020, 1, 2, 3, 0, 0, 0, time.UTC), other); err != nil {
		t.Fatal(err)
	}
	dropped, err := db.EnforceRetention(ctx, now)
	if err != nil || !reflect.DeepEqual(dropped, []Dropped{{Table: tableEndpoints, Partition: "20200102"}}) {
		t.Errorf("EnforceRetention dropped %v, %v; want endpoints 20200102 only", dropped, err)
	}
}

// writeSnapshot stores eps at snap through a Writer, then spoils the
// caller's slice: the Writer must have copied it.
func writeSnapshot(t *testing.T, ctx context.Context, db *DB, snap time.Time, eps []inventory.Endpoint) {
	t.Helper()
	w := NewWriter(db, WriterOptions{})
	mine := slices.Clone(eps)
	for i := range mine {
		mine[i].Versions = slices.Clone(mine[i].Versions)
	}
	if err := w.WriteEndpoints(ctx, snap, mine); err != nil {
		t.Fatal(err)
	}
	for i := range mine {
		mine[i].Host, mine[i].Requests = "reused", -1
		if len(mine[i].Versions) > 0 {
			mine[i].Versions[0] = "reused"
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Endpoints != uint64(len(eps)) || st.Inserts != 1 {
		t.Errorf("writer stats %+v, want %d endpoints in 1 insert", st, len(eps))
	}
}

// checkEndpointFilters reads the inventory as of the first snapshot, of
// one host, with a limit, and through Ask.
func checkEndpointFilters(t *testing.T, ctx context.Context, db *DB, snap1 time.Time, first, second, all []inventory.Endpoint) {
	t.Helper()
	asOf, err := db.Endpoints(ctx, EndpointsQuery{Host: "api.example.com", AsOf: snap1.Add(time.Minute)})
	if err != nil || !reflect.DeepEqual(asOf, first) {
		t.Errorf("as of the first snapshot = %+v, %v\nwant %+v", asOf, err, first)
	}
	if got, err := db.Endpoints(ctx, EndpointsQuery{AsOf: snap1.Add(-time.Second)}); err != nil || len(got) != 0 {
		t.Errorf("before any snapshot = %+v, %v; want nothing", got, err)
	}
	if got, err := db.Endpoints(ctx, EndpointsQuery{Host: "api.example.com"}); err != nil || !reflect.DeepEqual(got, second) {
		t.Errorf("one host = %+v, %v\nwant %+v", got, err, second)
	}
	if got, err := db.Endpoints(ctx, EndpointsQuery{Limit: 2}); err != nil || !reflect.DeepEqual(got, all[:2]) {
		t.Errorf("limit 2 = %+v, %v; want the first 2", got, err)
	}
	ans, err := db.Ask(ctx, Question{Name: "endpoints", Args: []string{"old.example.com"}, To: time.Now()})
	if err != nil || len(ans.Rows.([]inventory.Endpoint)) != 1 {
		t.Fatalf("query endpoints old.example.com = %+v, %v; want 1 endpoint", ans, err)
	}
	var table strings.Builder
	if err := ans.WriteTable(&table); err != nil || !strings.Contains(table.String(), "/v1/orders/{id}") {
		t.Errorf("table:\n%s%v", table.String(), err)
	}
	if _, err := db.Ask(ctx, Question{Name: "endpoints", Args: []string{"a", "b"}}); err == nil {
		t.Error("query endpoints with two hosts accepted")
	}
}

// checkEndpointReplay stores the second snapshot again (a retried
// insert): the inventory reads the same, and a merge keeps one row per
// endpoint per day. Then one endpoint again in the same second, busier:
// that row wins whole.
func checkEndpointReplay(t *testing.T, ctx context.Context, db *DB, snap2 time.Time, second, want []inventory.Endpoint) {
	t.Helper()
	if err := db.InsertEndpoints(ctx, snap2, second); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Endpoints(ctx, EndpointsQuery{}); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("after the snapshot stored twice: %+v, %v", got, err)
	}
	// Two snapshots in one second: the one with more requests is the
	// newest, all of its row, not a mix of the two.
	busier := stored(second[:1])
	busier[0].Requests, busier[0].BytesP95, busier[0].Versions = busier[0].Requests+1000, 7, []string{"v9"}
	if err := db.InsertEndpoints(ctx, snap2, busier); err != nil {
		t.Fatal(err)
	}
	got, err := db.Endpoints(ctx, EndpointsQuery{Host: busier[0].Host})
	if i := slices.IndexFunc(got, func(e inventory.Endpoint) bool { return e.Route == busier[0].Route && e.Method == busier[0].Method }); err != nil || i < 0 ||
		!reflect.DeepEqual(got[i], busier[0]) {
		t.Errorf("same-second snapshots read back as %+v, %v; want %+v", got, err, busier[0])
	}
	if err := db.conn.Exec(ctx, "OPTIMIZE TABLE "+db.table(tableEndpoints)+" PARTITION "+snap2.Format("20060102")+" FINAL"); err != nil {
		t.Fatal(err)
	}
	day := "toYYYYMMDD(snapshot) = " + snap2.Format("20060102")
	if n := count(t, db, "SELECT count() FROM "+db.table(tableEndpoints)+" WHERE "+day); n != uint64(len(second)) {
		t.Errorf("%d rows of the second snapshot's day after the merge, want %d", n, len(second))
	}
}
