package dashboards

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/inventory"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/testenv"
	"github.com/gatewatch/gatewatch/storage"
)

// The real-server test talks to the server deploy/clickhouse/clickhouse.sh
// starts (see storage/helpers_test.go): GATEWATCH_TEST_CLICKHOUSE (native
// host:port), _USER, _PASSWORD.

// testStorage opens storage on a scratch database, migrated, and a plain
// connection for the panel queries; both go when the test ends. It skips
// without a server, and fails under CI=true.
func testStorage(t *testing.T) (*storage.DB, driver.Conn) {
	t.Helper()
	addr := testenv.Getenv(t, "ClickHouse server", "GATEWATCH_TEST_CLICKHOUSE")[0]
	user, password := os.Getenv("GATEWATCH_TEST_CLICKHOUSE_USER"), os.Getenv("GATEWATCH_TEST_CLICKHOUSE_PASSWORD")
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "gwtest_dashboards_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := storage.Open(ctx, storage.Options{Addr: addr, Username: user, Password: password, Database: name})
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol: clickhouse.Native,
		Addr:     []string{addr},
		Auth:     clickhouse.Auth{Database: "default", Username: user, Password: password},
	})
	if err != nil {
		db.Close()
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
		conn.Close()
		db.Close()
	})
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db, conn
}

// The test's data: within [from, to) a heavy client, a client failing
// authentication, a client getting 5xx, a quiet one; before from, a
// client busier than all of them that no panel may count.
var (
	t0   = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	from = t0.Add(-time.Hour)
	to   = t0.Add(2 * time.Hour)
)

const (
	heavy   = "k:heavy"
	authC   = "k:auth"
	flaky   = "k:flaky"
	quiet   = "k:quiet"
	outside = "k:outside"

	inRangeEvents = 600 + 50 + 60 + 10
)

func testEvents() []ingest.Event {
	var evs []ingest.Event
	add := func(client string, n int, start time.Time, step time.Duration, f func(i int, ev *ingest.Event)) {
		for i := range n {
			ev := ingest.Event{
				Time: start.Add(time.Duration(i) * step), Source: "edge", Format: "nginx_combined",
				ClientKey: client, ClientKind: ingest.ClientAPIKey,
				RemoteIP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Method: "GET", Host: "api.example.com",
				Route: "/v1/orders/{id}", Path: fmt.Sprintf("/v1/orders/%d", i), Status: 200, Auth: ingest.AuthOK,
				BytesOut: 1000, Latency: time.Duration(1+i%10) * time.Millisecond, UserAgent: "test",
				Scheme: "https", RequestID: fmt.Sprintf("%s-%d", client, i),
			}
			f(i, &ev)
			evs = append(evs, ev)
		}
	}
	add(heavy, 600, t0, 6*time.Second, func(i int, ev *ingest.Event) {
		if i%2 == 1 {
			ev.Route, ev.Path = "/v1/search", "/v1/search"
		}
	})
	add(authC, 50, t0, time.Minute, func(i int, ev *ingest.Event) {
		ev.Method, ev.Route, ev.Path = "POST", "/v1/login", "/v1/login"
		if i < 40 {
			ev.Auth, ev.Status = ingest.AuthFailed, 401
		}
	})
	add(flaky, 60, t0, time.Minute, func(i int, ev *ingest.Event) {
		if i%2 == 0 {
			ev.Status = 503
		}
	})
	add(quiet, 10, t0, time.Minute, func(int, *ingest.Event) {})
	add(outside, 1000, from.Add(-time.Hour), time.Second, func(int, *ingest.Event) {})
	return evs
}

func testWindows() []storage.ClientWindow {
	var ws []storage.ClientWindow
	for i := range 6 {
		start := t0.Add(time.Duration(i) * 10 * time.Minute)
		ws = append(ws, storage.ClientWindow{
			Client: heavy, ClientKind: "api_key", WindowStart: start, WindowEnd: start.Add(10 * time.Minute),
			Requests: 100, BytesOut: 100000, ExpectedRequests: 20, ExpectedErrorRatio: 0.01, ExpectedAuthFailures: 0.5,
		})
	}
	return ws
}

func testFindings() []detect.Finding {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	f := func(id, status, client, det string, start, end, windows int, sev detect.Severity) detect.Finding {
		return detect.Finding{
			IncidentID: id, Status: detect.Status(status), Client: client, ClientKind: "api_key", Detector: det,
			WindowStart: at(start), WindowEnd: at(end), Windows: windows, Observed: 40, Expected: 0.5, Spread: 0.7,
			Unit: "auth failures/min", Score: 0.9, PValue: 1e-9, Severity: sev, Baseline: detect.BaselineOwn,
			History: 30, Summary: id + " summary", Why: id + " why: observed far above expected",
			Requests: 50, Routes: []string{"/v1/login"}, Samples: []string{"POST /v1/login 401"},
		}
	}
	fleet := f("inc-fleet", "open", detect.FleetClient, detect.DetectorFleetAuth, 10, 30, 1, detect.SeverityMedium)
	fleet.TopClients = []string{authC, flaky}
	return []detect.Finding{
		f("inc-auth", "open", authC, detect.DetectorAuthFailures, 0, 10, 1, detect.SeverityHigh),
		f("inc-auth", "update", authC, detect.DetectorAuthFailures, 0, 20, 2, detect.SeverityCritical),
		f("inc-heavy", "open", heavy, detect.DetectorVolume, 0, 10, 1, detect.SeverityLow),
		f("inc-heavy", "resolved", heavy, detect.DetectorVolume, 0, 30, 3, detect.SeverityMedium),
		fleet,
	}
}

// result is one query's answer: column names and rows.
type result struct {
	cols []string
	rows [][]any
}

func (r result) col(name string) int { return slices.Index(r.cols, name) }

// column is every row's value of a column.
func (r result) column(t *testing.T, name string) []any {
	t.Helper()
	i := r.col(name)
	if i < 0 {
		t.Fatalf("no column %q in %v", name, r.cols)
	}
	out := make([]any, len(r.rows))
	for j, row := range r.rows {
		out[j] = row[i]
	}
	return out
}

// scalar is the first column of the single row.
func (r result) scalar(t *testing.T) float64 {
	t.Helper()
	if len(r.rows) != 1 {
		t.Fatalf("want one row, have %d", len(r.rows))
	}
	return toFloat(t, r.rows[0][0])
}

func toFloat(t *testing.T, v any) float64 {
	t.Helper()
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	}
	t.Fatalf("%v (%T) is not a number", v, v)
	return 0
}

func strs(vs []any) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprint(v)
	}
	return out
}

// run sends sql to the server and reads every row, whatever its types.
func run(ctx context.Context, conn driver.Conn, sql string) (result, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return result{}, err
	}
	defer rows.Close()
	var r result
	r.cols = rows.Columns()
	types := rows.ColumnTypes()
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return result{}, err
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			row[i] = reflect.ValueOf(d).Elem().Interface()
		}
		r.rows = append(r.rows, row)
	}
	return r, rows.Err()
}

// scenario is one set of variable values a dashboard is run with.
type scenario struct {
	name string
	vars map[string][]string
}

// TestPanelsOnClickHouse writes known events, windows and findings with
// storage.Writer into a scratch database, then runs every query of every
// dashboard (panel targets and query variables), expanded as Grafana and
// the plugin would, on the real server, under several variable settings;
// and checks the key panels' answers.
func TestPanelsOnClickHouse(t *testing.T) {
	db, conn := testStorage(t)
	testPanels(t, db, conn)
}

// testPanels is TestPanelsOnClickHouse on the server conn talks to, db
// being storage on it, migrated; TestChdbPanels runs it on chdb. It
// returns every answer: [dashboard uid][scenario][panel title or
// "variable name"].
func testPanels(t *testing.T, db *storage.DB, conn driver.Conn) map[string]map[string]map[string]result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	w := storage.NewWriter(db, storage.WriterOptions{})
	if err := w.Write(ctx, testEvents()); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteWindows(ctx, testWindows()); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFindings(ctx, testFindings()); err != nil {
		t.Fatal(err)
	}
	writeTestEndpoints(t, ctx, w)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The store's rows counter sampled a minute apart: 10/s, then 20/s;
	// a sample before the range must not count.
	rowsMetric := `gatewatch_store_rows_total{table="events"}`
	var health []storage.HealthSample
	for i, v := range []float64{0, 600, 1800} {
		health = append(health, storage.HealthSample{Time: t0.Add(time.Duration(i) * time.Minute), Component: "store", Instance: "h1", Metric: rowsMetric, Value: v})
	}
	health = append(health, storage.HealthSample{Time: from.Add(-time.Hour), Component: "store", Instance: "h1", Metric: rowsMetric, Value: 99_999})
	if err := db.InsertHealth(ctx, health); err != nil {
		t.Fatal(err)
	}

	ds, err := All(Options{Database: db.Database()})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{allValue}
	scenarios := func(uid string) []scenario {
		common := map[string][]string{varDatabase: {db.Database()}, varDatasource: {"ClickHouse"}}
		with := func(kv ...any) map[string][]string {
			m := map[string][]string{}
			for k, v := range common {
				m[k] = v
			}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1].([]string)
			}
			return m
		}
		switch uid {
		case uidClient:
			return []scenario{
				{"heavy", with(varClient, []string{heavy})},
				{"auth", with(varClient, []string{authC})},
				{"quote in key", with(varClient, []string{"k:o'brien"})},
			}
		case uidFindings:
			return []scenario{
				{"all", with(varSeverity, all, varDetector, all, varStatus, all)},
				{"critical", with(varSeverity, []string{string(detect.SeverityCritical)}, varDetector, all, varStatus, all)},
				{"resolved", with(varSeverity, all, varDetector, all, varStatus, []string{string(detect.StatusResolved)})},
				{"volume or fleet", with(varSeverity, all, varDetector, []string{detect.DetectorVolume, detect.DetectorFleetAuth}, varStatus, all)},
				{"high and medium open", with(varSeverity, []string{"high", "medium"}, varDetector, all, varStatus, []string{"open", "update"})},
			}
		case uidEndpoints:
			return []scenario{
				{"all", with(varHost, all)},
				{"admin", with(varHost, []string{adminHost})},
				{"quote in host", with(varHost, []string{"o'brien.example.com"})},
			}
		}
		return []scenario{{"fleet", with()}}
	}

	// answers[uid][scenario][panel title or "variable name"]
	answers := map[string]map[string]map[string]result{}
	ran := 0
	for _, d := range ds {
		b, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var generic map[string]any
		if err := json.Unmarshal(b, &generic); err != nil {
			t.Fatal(err)
		}
		queries := targets(t, d.File, generic)
		answers[d.UID()] = map[string]map[string]result{}
		for _, sc := range scenarios(d.UID()) {
			got := map[string]result{}
			answers[d.UID()][sc.name] = got
			for _, q := range queries {
				sql, err := Expand(q.sql, Expansion{From: from, To: to, Interval: time.Minute, Vars: sc.vars})
				if err != nil {
					t.Errorf("%s [%s] %s: expand: %v", d.File, sc.name, q.where, err)
					continue
				}
				r, err := run(ctx, conn, sql)
				if err != nil {
					t.Errorf("%s [%s] %s: ClickHouse %s rejects the query: %v\n%s", d.File, sc.name, q.where, db.Version(), err, sql)
					continue
				}
				ran++
				if q.format == FormatTimeSeries {
					checkTimeSeries(t, d.File+" "+q.where, r)
				}
				got[q.where] = r
			}
		}
	}
	if t.Failed() {
		return answers
	}
	t.Logf("ran %d expanded queries on ClickHouse %s", ran, db.Version())

	t.Run("pipeline", func(t *testing.T) {
		a := answers[uidPipeline]["fleet"]
		r := a["Rows stored/s"]
		if got := r.column(t, "per_s"); len(got) != 2 || toFloat(t, got[0]) != 10 || toFloat(t, got[1]) != 20 {
			t.Errorf("Rows stored/s = %v, want [10 20]", got)
		}
		if got := strs(r.column(t, "series")); len(got) == 0 || got[0] != "h1 "+rowsMetric {
			t.Errorf("series %q", got)
		}
		if n := len(a["Lines read/s"].rows); n != 0 {
			t.Errorf("Lines read/s has %d rows without samples", n)
		}
		l := a["Latest values"]
		if got := l.column(t, "value"); len(got) != 1 || toFloat(t, got[0]) != 1800 {
			t.Errorf("Latest values = %v, want [1800]", got)
		}
	})

	t.Run("overview", func(t *testing.T) {
		a := answers[uidOverview]["fleet"]
		if got := a["Requests"].scalar(t); got != inRangeEvents {
			t.Errorf("Requests = %v, want %d (events before the range must not count)", got, inRangeEvents)
		}
		if got, want := a["5xx ratio"].scalar(t), 30.0/inRangeEvents; math.Abs(got-want) > 1e-9 {
			t.Errorf("5xx ratio = %v, want %v", got, want)
		}
		if got := a["Auth failures"].scalar(t); got != 40 {
			t.Errorf("Auth failures = %v, want 40", got)
		}
		if got := a["Open incidents"].scalar(t); got != 2 {
			t.Errorf("Open incidents (stat) = %v, want 2", got)
		}
		if c := strs(a["Top clients by requests"].column(t, "client")); len(c) != 4 || c[0] != heavy || slices.Contains(c, outside) {
			t.Errorf("top by requests = %v, want %s first, 4 clients, not %s", c, heavy, outside)
		}
		if c := strs(a["Top clients by 5xx"].column(t, "client")); !slices.Equal(c, []string{flaky}) {
			t.Errorf("top by 5xx = %v, want [%s]", c, flaky)
		}
		if c := strs(a["Top clients by auth failures"].column(t, "client")); !slices.Equal(c, []string{authC}) {
			t.Errorf("top by auth failures = %v, want [%s]", c, authC)
		}
		if n := a["Top clients by auth failures"].column(t, "auth_failures"); toFloat(t, n[0]) != 40 {
			t.Errorf("auth failures of %s = %v, want 40", authC, n[0])
		}
		if ids := strs(a["Open incidents, most severe first"].column(t, "incident_id")); !slices.Equal(ids, []string{"inc-auth", "inc-fleet"}) {
			t.Errorf("open incidents table = %v, want [inc-auth inc-fleet] (critical first, resolved left out)", ids)
		}
		if got := sumSeries(t, a["Requests/s"], "requests_per_s") * 60; math.Abs(got-inRangeEvents) > 1e-6 {
			t.Errorf("Requests/s integrates to %v requests, want %d", got, inRangeEvents)
		}
		if got := sumSeries(t, a["Auth failures/s"], "failures_per_s") * 60; math.Abs(got-40) > 1e-6 {
			t.Errorf("Auth failures/s integrates to %v, want 40", got)
		}
		if got := sumSeries(t, a["Incidents opened, by detector"], "incidents"); got != 3 {
			t.Errorf("incidents opened = %v, want 3", got)
		}
	})

	t.Run("client", func(t *testing.T) {
		h := answers[uidClient]["heavy"]
		if got := h["Requests"].scalar(t); got != 600 {
			t.Errorf("heavy: Requests = %v, want 600", got)
		}
		if got := h["Routes"].scalar(t); got != 2 {
			t.Errorf("heavy: Routes = %v, want 2", got)
		}
		if got := len(h["Requests"].rows); got != 1 {
			t.Errorf("heavy: %d rows", got)
		}
		ove := h["Requests per window: observed vs expected"]
		if len(ove.rows) != 6 {
			t.Errorf("heavy: %d windows, want 6", len(ove.rows))
		}
		for _, row := range ove.rows {
			if toFloat(t, row[ove.col("observed")]) != 100 || toFloat(t, row[ove.col("expected")]) != 20 {
				t.Errorf("heavy window %v: want observed 100, expected 20", row)
			}
		}
		audit := h["Latest requests"]
		if len(audit.rows) != 500 {
			t.Errorf("heavy: audit trail has %d rows, want the limit 500", len(audit.rows))
		}
		if routes := strs(h["Top routes"].column(t, "route")); len(routes) != 2 {
			t.Errorf("heavy: top routes %v, want 2", routes)
		}
		if got := sumSeries(t, h["Requests/s by status class"], "requests_per_s") * 60; math.Abs(got-600) > 1e-6 {
			t.Errorf("heavy: timeline integrates to %v, want 600", got)
		}

		a := answers[uidClient]["auth"]
		if got := a["Auth failures"].scalar(t); got != 40 {
			t.Errorf("auth: Auth failures = %v, want 40", got)
		}
		mix := a["Status mix"]
		if codes := strs(mix.column(t, "code")); !slices.Equal(codes, []string{"401", "200"}) {
			t.Errorf("auth: status mix %v, want [401 200]", codes)
		}
		f := a["Findings"]
		if ids := strs(f.column(t, "incident_id")); !slices.Equal(ids, []string{"inc-fleet", "inc-auth"}) {
			t.Errorf("auth: findings %v, want the fleet finding naming it and its own, latest first", ids)
		}
		for _, row := range f.rows {
			if why := fmt.Sprint(row[f.col("why")]); !strings.Contains(why, "observed far above expected") {
				t.Errorf("auth: finding without its explanation: %q", why)
			}
		}
		if sev := strs(f.column(t, "severity")); sev[1] != string(detect.SeverityCritical) {
			t.Errorf("auth: inc-auth severity %v, want the latest emission's (critical)", sev)
		}

		list := strs(answers[uidClient]["heavy"]["variable "+varClient].column(t, "client"))
		if len(list) != 5 || slices.Contains(list, outside) {
			t.Fatalf("client list %v: want 5 clients, not %s", list, outside)
		}
		flagged := slices.Sorted(slices.Values(list[:3]))
		if !slices.Equal(flagged, []string{detect.FleetClient, authC, heavy}) || list[0] != heavy {
			t.Errorf("client list %v: want the clients with findings first, the busiest of them first", list)
		}

		q := answers[uidClient]["quote in key"]
		if got := q["Requests"].scalar(t); got != 0 {
			t.Errorf("unknown client with a quote: Requests = %v, want 0", got)
		}
	})

	t.Run("endpoints", func(t *testing.T) { checkEndpointPanels(t, answers[uidEndpoints]) })

	t.Run("findings", func(t *testing.T) {
		f := answers[uidFindings]
		for _, c := range []struct {
			scenario              string
			incidents, unresolved float64
			highOrCritical        float64
			ids                   []string
			lifecycle             int
		}{
			{"all", 3, 2, 1, []string{"inc-auth", "inc-fleet", "inc-heavy"}, 5},
			{"critical", 1, 1, 1, []string{"inc-auth"}, 2},
			{"resolved", 1, 0, 0, []string{"inc-heavy"}, 2},
			{"volume or fleet", 2, 1, 0, []string{"inc-fleet", "inc-heavy"}, 3},
			{"high and medium open", 1, 1, 0, []string{"inc-fleet"}, 1},
		} {
			a := f[c.scenario]
			if n := a["Incidents"].scalar(t); n != c.incidents {
				t.Errorf("%s: Incidents = %v, want %v", c.scenario, n, c.incidents)
			}
			if ids := strs(a["Incident list"].column(t, "incident_id")); !slices.Equal(ids, c.ids) {
				t.Errorf("%s: incidents %v, want %v", c.scenario, ids, c.ids)
			}
			if got := a["Unresolved"].scalar(t); got != c.unresolved {
				t.Errorf("%s: Unresolved = %v, want %v", c.scenario, got, c.unresolved)
			}
			if got := a["High or critical"].scalar(t); got != c.highOrCritical {
				t.Errorf("%s: High or critical = %v, want %v", c.scenario, got, c.highOrCritical)
			}
			if got := len(a["Lifecycle"].rows); got != c.lifecycle {
				t.Errorf("%s: lifecycle has %d emissions, want %d", c.scenario, got, c.lifecycle)
			}
		}
		all := f["all"]
		list := all["Incident list"]
		for i, id := range strs(list.column(t, "incident_id")) {
			n := toFloat(t, list.rows[i][list.col("emissions")])
			if want := map[string]float64{"inc-auth": 2, "inc-heavy": 2, "inc-fleet": 1}[id]; n != want {
				t.Errorf("%s: %v emissions, want %v", id, n, want)
			}
		}
		if got := all["Median time anomalous"].scalar(t); got != 1800 {
			t.Errorf("median time anomalous = %v s, want 1800", got)
		}
		dets := strs(all["variable "+varDetector].column(t, "detector"))
		if !slices.Equal(dets, []string{detect.DetectorAuthFailures, detect.DetectorFleetAuth, detect.DetectorVolume}) {
			t.Errorf("detector list %v", dets)
		}
		lc := all["Lifecycle"]
		if st := strs(lc.column(t, "status")); !slices.Equal(st, []string{"open", "update", "open", "open", "resolved"}) {
			t.Errorf("lifecycle statuses %v, want each incident's emissions in order", st)
		}
	})
	return answers
}

// adminHost is the host of the one endpoint requiring authentication.
const adminHost = "admin.example.com"

// writeTestEndpoints stores two snapshots of the endpoint inventory:
// an early one in which GET /v1/orders/{id} had one request, then the
// inventory learnt from testEvents (orders first seen before the range,
// search and login in it) plus an admin endpoint first seen in the range
// that requires authentication and a legacy one last seen before it.
func writeTestEndpoints(t *testing.T, ctx context.Context, w *storage.Writer) {
	t.Helper()
	inv := inventory.New(inventory.Options{})
	evs := testEvents()
	for i := range evs {
		inv.Observe(&evs[i])
	}
	eps := inv.Endpoints()
	early := slices.Clone(eps[:1])
	early[0].Requests = 1
	if err := w.WriteEndpoints(ctx, from.Add(-30*time.Minute), early); err != nil {
		t.Fatal(err)
	}
	eps = append(eps,
		inventory.Endpoint{Host: adminHost, Method: "GET", Route: "/admin/users", Requests: 12, Clients: 2,
			Status: inventory.StatusMix{S2xx: 4, S4xx: 8, S401403: 8}, AuthRequired: true, BytesP50: 300, BytesP95: 900,
			FirstSeen: t0.Add(30 * time.Minute), LastSeen: t0.Add(40 * time.Minute), Versions: []string{}},
		inventory.Endpoint{Host: "api.example.com", Method: "GET", Route: "/v0/legacy", Requests: 5, Clients: 1,
			Status: inventory.StatusMix{S2xx: 5}, FirstSeen: from.Add(-3 * time.Hour), LastSeen: from.Add(-2 * time.Hour)},
	)
	if err := w.WriteEndpoints(ctx, to.Add(-time.Minute), eps); err != nil {
		t.Fatal(err)
	}
}

// checkEndpointPanels checks the endpoints dashboard: the endpoints
// called in the range read from their newest snapshot, the new ones, the
// host filter.
func checkEndpointPanels(t *testing.T, answers map[string]map[string]result) {
	t.Helper()
	a := answers["all"]
	for title, want := range map[string]float64{"Endpoints": 4, "New endpoints": 3, "Requiring authentication": 1, "Hosts": 2} {
		if got := a[title].scalar(t); got != want {
			t.Errorf("all hosts: %s = %v, want %v", title, got, want)
		}
	}
	list := a["API endpoints"]
	if routes := strs(list.column(t, "route")); !slices.Equal(routes, []string{"/v1/orders/{id}", "/v1/search", "/v1/login", "/admin/users"}) {
		t.Errorf("API endpoints %v, want the 4 called in the range, busiest first", routes)
	}
	// orders: heavy's 300, flaky's 60, quiet's 10, and outside's 1000
	// before the range: the inventory's total, from the newest snapshot.
	if n := toFloat(t, list.rows[0][list.col("requests")]); n != 1370 {
		t.Errorf("orders: %v requests, want 1370 (the newest snapshot's)", n)
	}
	if got := toFloat(t, list.rows[0][list.col("pct_5xx")]); math.Abs(got-100*30.0/1370) > 0.05 {
		t.Errorf("orders: 5xx %v%%, want %.1f", got, 100*30.0/1370)
	}
	if auth := strs(list.column(t, "auth")); !slices.Equal(auth, []string{"no", "no", "no", "yes"}) {
		t.Errorf("auth column %v", auth)
	}
	if routes := strs(a["New endpoints, newest first"].column(t, "route")); !slices.Equal(routes, []string{"/admin/users", "/v1/search", "/v1/login"}) {
		t.Errorf("new endpoints %v, want admin, search, login (newest first)", routes)
	}
	if got := sumSeries(t, a["New endpoints over time"], "endpoints"); got != 3 {
		t.Errorf("new endpoints over time sum to %v, want 3", got)
	}
	if hosts := strs(a["variable "+varHost].column(t, "host")); !slices.Equal(hosts, []string{adminHost, "api.example.com"}) {
		t.Errorf("host list %v", hosts)
	}
	admin := answers["admin"]
	if got := admin["Endpoints"].scalar(t); got != 1 {
		t.Errorf("admin: Endpoints = %v, want 1", got)
	}
	if routes := strs(admin["API endpoints"].column(t, "route")); !slices.Equal(routes, []string{"/admin/users"}) {
		t.Errorf("admin: API endpoints %v", routes)
	}
	if got := answers["quote in host"]["Endpoints"].scalar(t); got != 0 {
		t.Errorf("unknown host with a quote: Endpoints = %v, want 0", got)
	}
}

// checkTimeSeries checks what the plugin needs to draw a long frame as
// series: a DateTime first column, rows in time order.
func checkTimeSeries(t *testing.T, where string, r result) {
	t.Helper()
	var last time.Time
	for _, row := range r.rows {
		ts, ok := row[0].(time.Time)
		if !ok {
			t.Errorf("%s: first column is %T, want a DateTime", where, row[0])
			return
		}
		if ts.Before(last) {
			t.Errorf("%s: rows not in time order (%v after %v)", where, ts, last)
			return
		}
		last = ts
	}
}

func sumSeries(t *testing.T, r result, col string) float64 {
	t.Helper()
	var s float64
	for _, v := range r.column(t, col) {
		s += toFloat(t, v)
	}
	return s
}

// TestHarnessCatchesOldServerSQL shows the harness above fails a query
// that 18.16 cannot run: the plugin's own $__timeInterval expands to
// toStartOfInterval, which 18.16 lacks.
func TestHarnessCatchesOldServerSQL(t *testing.T) {
	db, conn := testStorage(t)
	if db.Version().AtLeast(19, 1) {
		t.Skipf("ClickHouse %s has toStartOfInterval", db.Version())
	}
	sql, err := Expand("SELECT $__timeInterval(time) AS t, count() FROM ${database}.events WHERE $__timeFilter(time) GROUP BY t",
		Expansion{From: from, To: to, Interval: time.Minute, Vars: map[string][]string{varDatabase: {db.Database()}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := run(ctx, conn, sql); err == nil {
		t.Fatalf("ClickHouse %s ran %q; the panel test would not notice SQL the server lacks", db.Version(), sql)
	}
}
