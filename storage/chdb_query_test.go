package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/detect/inventory"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/chdbtest"
)

// chdbProbe is one call of a query function on the sample, and what it
// must answer.
type chdbProbe struct {
	name  string
	run   func(ctx context.Context, db *DB, sd *chdbSample) (any, error)
	check func(t *testing.T, db *DB, sd *chdbSample, got any, err error)
}

// chdbProbes are every query function's calls, checked against the
// sample. TestChdbQueries checks that, together with the writes and
// Migrate, they run every function of the package that sends SQL.
func chdbProbes() []chdbProbe {
	return slices.Concat(eventProbes(), rankingProbes(), detectProbes(), inventoryProbes(), askProbes())
}

// want fails the probe on an error or an answer other than want.
func want(w func(db *DB, sd *chdbSample) any) func(t *testing.T, db *DB, sd *chdbSample, got any, err error) {
	return func(t *testing.T, db *DB, sd *chdbSample, got any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if wv := w(db, sd); !reflect.DeepEqual(got, wv) {
			t.Errorf("got\n%s\nwant\n%s", jsonText(got), jsonText(wv))
		}
	}
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func eventProbes() []chdbProbe {
	timeline := func(limit int) func(ctx context.Context, db *DB, sd *chdbSample) (any, error) {
		return func(ctx context.Context, db *DB, sd *chdbSample) (any, error) {
			evs, err := db.ClientTimeline(ctx, TimelineQuery{Client: "k:alice", From: sd.yday.Add(-time.Hour), To: sd.tday.Add(24 * time.Hour), Limit: limit})
			return timelineKeys(evs), err
		}
	}
	wantTimeline := func(n int) func(db *DB, sd *chdbSample) any {
		return func(_ *DB, sd *chdbSample) any { return eventKeys(sd.events("k:alice"))[:n] }
	}
	return []chdbProbe{
		{"ClientTimeline", timeline(0), want(wantTimeline(30 + 30))},
		{"ClientTimeline limit", timeline(7), want(wantTimeline(7))},
		{"ClientTimeline of a key with a quote", func(ctx context.Context, db *DB, sd *chdbSample) (any, error) {
			evs, err := db.ClientTimeline(ctx, TimelineQuery{Client: `k:o'brien\`, From: sd.yday, To: sd.tday.Add(time.Hour)})
			return timelineKeys(evs), err
		}, want(func(*DB, *chdbSample) any { return []string{} })},
		{"Replay", func(ctx context.Context, db *DB, sd *chdbSample) (any, error) {
			var got []string
			_, err := db.Replay(ctx, ReplayQuery{From: sd.yday.Add(-time.Hour), To: sd.tday.Add(2 * time.Hour), Chunk: time.Hour},
				func(ev *ingest.Event) error { got = append(got, eventKey(ev)); return nil })
			return got, err
		}, want(func(_ *DB, sd *chdbSample) any { return eventKeys(sd.events("")) })},
	}
}

// eventKey is what the tests compare of an event read back: its time to
// the microsecond, client, address, request, answer and authentication.
func eventKey(ev *ingest.Event) string {
	return strings.Join([]string{ev.Time.UTC().Format(time.RFC3339Nano), ev.ClientKey, ev.ClientKind.String(), ev.RemoteIP.String(),
		ev.Method, ev.Path, ev.Route, itoa(ev.Status), ev.Auth.String(), itoa(int(ev.BytesOut)), ev.RequestID}, " ")
}

func eventKeys(evs []ingest.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = eventKey(&evs[i])
	}
	return out
}

func timelineKeys(evs []StoredEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = strings.Join([]string{e.Time.UTC().Format(time.RFC3339Nano), e.Client, e.ClientKind, e.IP.String(),
			e.Method, e.Path, e.Route, itoa(int(e.Status)), e.Auth, itoa(int(e.BytesOut)), e.RequestID}, " ")
	}
	return out
}

// rankingProbes rank the clients over yesterday (a settled day, read
// plainly) and today (read FINAL, one batch stored twice).
func rankingProbes() []chdbProbe {
	out := []chdbProbe{{"TopClients of a settled day", func(ctx context.Context, db *DB, sd *chdbSample) (any, error) {
		return db.TopClients(ctx, TopQuery{From: sd.yday.Add(-time.Hour), To: sd.yday.Add(time.Hour)})
	}, want(func(db *DB, sd *chdbSample) any {
		settledOnly := &chdbSample{settled: sd.settled}
		return settledOnly.clientStats(ByRequests, !db.features.DateTime64)
	})}}
	for _, by := range []RankBy{ByRequests, ByErrors, ByAuthFailures} {
		out = append(out, chdbProbe{"TopClients by " + string(by),
			func(ctx context.Context, db *DB, sd *chdbSample) (any, error) {
				return db.TopClients(ctx, TopQuery{From: sd.yday.Add(-time.Hour), To: sd.tday.Add(24 * time.Hour), By: by})
			},
			want(func(db *DB, sd *chdbSample) any { return sd.clientStats(by, !db.features.DateTime64) })})
	}
	return out
}

func detectProbes() []chdbProbe {
	return []chdbProbe{
		{"ClientWindows", func(ctx context.Context, db *DB, sd *chdbSample) (any, error) {
			return db.ClientWindows(ctx, ClientWindowsQuery{Client: "k:alice", From: sd.yday, To: sd.tday.Add(time.Hour)})
		}, want(func(_ *DB, sd *chdbSample) any {
			var out []detect.WindowStats
			for _, w := range sd.windows {
				out = append(out, detect.WindowStats{Client: w.Client, ClientKind: w.ClientKind, Start: w.WindowStart, End: w.WindowEnd,
					Requests: w.Requests, Errors: w.Errors, AuthFailures: w.AuthFailures, BytesOut: w.BytesOut,
					ExpectedRequests: w.ExpectedRequests, ExpectedErrorRatio: w.ExpectedErrorRatio, ExpectedAuthFailures: w.ExpectedAuthFailures,
					SpreadRequests: w.SpreadRequests})
			}
			return out
		})},
		// The latest emission of each unresolved incident, most severe first.
		{"OpenFindings", func(ctx context.Context, db *DB, sd *chdbSample) (any, error) {
			return db.OpenFindings(ctx, FindingsQuery{Since: sd.yday})
		}, want(func(_ *DB, sd *chdbSample) any { return []detect.Finding{sd.findings[1], sd.findings[4]} })},
		{"Finding resolved", func(ctx context.Context, db *DB, _ *chdbSample) (any, error) {
			return db.Finding(ctx, "inc-b")
		}, want(func(_ *DB, sd *chdbSample) any { return sd.findings[3] })},
		{"Finding unknown", func(ctx context.Context, db *DB, _ *chdbSample) (any, error) {
			return db.Finding(ctx, "inc-none")
		}, func(t *testing.T, _ *DB, _ *chdbSample, _ any, err error) {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("Finding of an unknown incident: %v, want ErrNotFound", err)
			}
		}},
	}
}

func inventoryProbes() []chdbProbe {
	violations := func(client string) func(ctx context.Context, db *DB, sd *chdbSample) (any, error) {
		return func(ctx context.Context, db *DB, sd *chdbSample) (any, error) {
			return db.ContractViolations(ctx, ViolationsQuery{Client: client, From: sd.yday, To: sd.tday.Add(time.Hour)})
		}
	}
	newestFirst := func(client string) func(*DB, *chdbSample) any {
		return func(_ *DB, sd *chdbSample) any {
			var out []contract.Report
			for _, r := range slices.Backward(sd.reports) {
				if client == "" || r.Client == client {
					out = append(out, r)
				}
			}
			return out
		}
	}
	endpoints := func(q func(sd *chdbSample) EndpointsQuery) func(ctx context.Context, db *DB, sd *chdbSample) (any, error) {
		return func(ctx context.Context, db *DB, sd *chdbSample) (any, error) { return db.Endpoints(ctx, q(sd)) }
	}
	stored := func(snap func(sd *chdbSample) time.Time, eps func(sd *chdbSample) []inventory.Endpoint) func(*DB, *chdbSample) any {
		return func(_ *DB, sd *chdbSample) any {
			var out []inventory.Endpoint
			for _, e := range eps(sd) {
				r := endpointRowOf(snap(sd), &e)
				out = append(out, r.endpoint())
			}
			slices.SortFunc(out, func(a, b inventory.Endpoint) int { return strings.Compare(a.Host, b.Host) })
			return out
		}
	}
	snap1 := func(sd *chdbSample) time.Time { return sd.snap1 }
	snap2 := func(sd *chdbSample) time.Time { return sd.snap2 }
	return []chdbProbe{
		{"ContractViolations", violations(""), want(newestFirst(""))},
		{"ContractViolations of a client", violations("k:alice"), want(newestFirst("k:alice"))},
		{"Endpoints", endpoints(func(*chdbSample) EndpointsQuery { return EndpointsQuery{} }),
			want(stored(snap2, func(sd *chdbSample) []inventory.Endpoint { return sd.eps2 }))},
		{"Endpoints as of the first snapshot", endpoints(func(sd *chdbSample) EndpointsQuery { return EndpointsQuery{AsOf: sd.snap1.Add(time.Minute)} }),
			want(stored(snap1, func(sd *chdbSample) []inventory.Endpoint { return sd.eps1 }))},
		{"Endpoints of a host", endpoints(func(*chdbSample) EndpointsQuery { return EndpointsQuery{Host: "admin.example.com"} }),
			want(stored(snap2, func(sd *chdbSample) []inventory.Endpoint { return sd.eps2[1:] }))},
	}
}

// askProbes ask every question of "gatewatch query" and print the
// answers as tables.
func askProbes() []chdbProbe {
	var out []chdbProbe
	for _, q := range []Question{
		{Name: "timeline", Args: []string{"k:bob"}}, {Name: "top", By: ByErrors}, {Name: "findings"},
		{Name: "contract", Args: []string{"k:bob"}}, {Name: "endpoints", Args: []string{"api.example.com"}},
	} {
		out = append(out, chdbProbe{"Ask " + q.Name, func(ctx context.Context, db *DB, sd *chdbSample) (any, error) {
			q.From, q.To = sd.yday.Add(-time.Hour), sd.tday.Add(24*time.Hour)
			a, err := db.Ask(ctx, q)
			if err != nil {
				return nil, err
			}
			var b bytes.Buffer
			if err := a.WriteTable(&b); err != nil {
				return nil, err
			}
			return a.Rows, nil
		}, func(t *testing.T, _ *DB, _ *chdbSample, got any, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if n := reflect.ValueOf(got).Len(); n == 0 {
				t.Errorf("no rows")
			}
		}})
	}
	return out
}

// TestChdbQueries stores the sample with storage's writers on chdb, for
// each schema, and runs every query function on it (chdbProbes), checking
// the answers; then drops every day with EnforceRetention. Every function
// of the package that sends SQL must have run (sqlFuncs reads them from
// the code), and every statement must have been accepted.
func TestChdbQueries(t *testing.T) {
	s := chdbtest.Start(t)
	for _, sc := range chdbSchemas {
		t.Run(sc.name, func(t *testing.T) {
			db, conn := chdbOpen(t, s, chdbName("gw_queries", sc.name), sc.features)
			sd := newChdbSample(time.Now())
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			sd.store(t, db)
			checkSettled(t, db, sd)
			for _, p := range chdbProbes() {
				t.Run(p.name, func(t *testing.T) {
					got, err := p.run(ctx, db, sd)
					p.check(t, db, sd, got, err)
				})
			}
			checkTopClientsBranches(t, conn)
			checkRetention(t, db, sd)
			texts := checkChdbCoverage(t, conn)
			t.Logf("%d probes, %d distinct SQL texts of the package run on ClickHouse %s", len(chdbProbes()), texts, db.Version())
		})
	}
}

// checkSettled checks the sample's days are what TopClients' split needs:
// yesterday one merged part, today not.
func checkSettled(t *testing.T, db *DB, sd *chdbSample) {
	t.Helper()
	days, err := db.partitionDays(context.Background(), tableEvents)
	if err != nil {
		t.Fatal(err)
	}
	want := []partitionDay{{sd.yday.Truncate(24 * time.Hour), true}, {sd.tday.Truncate(24 * time.Hour), false}}
	if !reflect.DeepEqual(days, want) {
		t.Errorf("partition days %+v, want %+v", days, want)
	}
}

// checkTopClientsBranches checks TopClients read the settled day plainly
// and today with FINAL, in one query.
func checkTopClientsBranches(t *testing.T, conn *chdbtest.Conn) {
	t.Helper()
	for _, c := range conn.Calls() {
		if strings.HasSuffix(c.Func, ".(*DB).TopClients") && strings.Contains(c.SQL, " UNION ALL ") && strings.Contains(c.SQL, " FINAL ") {
			return
		}
	}
	t.Error("no TopClients query read a settled day plainly and another with FINAL")
}

// checkRetention drops every day of the sample with EnforceRetention 400
// days on: each table's days go, and nothing is left.
func checkRetention(t *testing.T, db *DB, sd *chdbSample) {
	t.Helper()
	dropped, err := db.EnforceRetention(context.Background(), sd.now.AddDate(0, 0, 400))
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]bool{}
	for _, d := range dropped {
		tables[d.Table] = true
	}
	for table := range chdbTables(db.ddl) {
		if !tables[table] {
			t.Errorf("EnforceRetention dropped nothing of %s: %+v", table, dropped)
		}
		if n := count(t, db, "SELECT count() FROM "+db.table(table)); n != 0 {
			t.Errorf("%s keeps %d rows after EnforceRetention", table, n)
		}
	}
}

// fraction is the sub-second part of the times in a JSON answer.
var fraction = regexp.MustCompile(`(T\d\d:\d\d:\d\d)\.\d+`)

// TestChdbQueriesMatchClickHouse runs chdbProbes on the ClickHouse
// server of the integration tests (18.16 in CI) and on chdb over the same
// sample, and compares the answers: with the same schema they must be
// the same; with the current schema's microsecond times, the same to the
// second.
func TestChdbQueriesMatchClickHouse(t *testing.T) {
	s := chdbtest.Start(t)
	real := migrated(t, testClickHouse(t, func(o *Options) { o.Retention = chdbRetention }))
	sd := newChdbSample(time.Now())
	sd.store(t, real)
	want := chdbAnswers(t, real, sd)
	for _, sc := range []struct {
		name     string
		features *Features
	}{{"same schema", &real.features}, {"current schema", nil}} {
		t.Run(sc.name, func(t *testing.T) {
			db, _ := chdbOpen(t, s, chdbName("gw_match", strings.ReplaceAll(sc.name, " ", "_")), sc.features)
			if _, err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			sd.store(t, db)
			got := chdbAnswers(t, db, sd)
			for name, w := range want {
				g := got[name]
				if db.features.DateTime64 != real.features.DateTime64 {
					w, g = fraction.ReplaceAllString(w, "$1"), fraction.ReplaceAllString(g, "$1")
				}
				if g != w {
					t.Errorf("%s: ClickHouse %s answers\n%s\nchdb (%s)\n%s", name, real.Version(), w, db.Version(), g)
				}
			}
			t.Logf("compared %d answers of ClickHouse %s and %s", len(want), real.Version(), db.Version())
		})
	}
}

// chdbAnswers are the probes' answers (or errors) as JSON.
func chdbAnswers(t *testing.T, db *DB, sd *chdbSample) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range chdbProbes() {
		got, err := p.run(context.Background(), db, sd)
		if err != nil {
			got = "error: " + errors.Unwrap(err).Error()
		}
		out[p.name] = jsonText(got)
	}
	return out
}
