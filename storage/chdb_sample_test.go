package storage

import (
	"cmp"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/detect/inventory"
	"github.com/gatewatch/gatewatch/ingest"
)

// chdbSample is what the TestChdb query tests store in every table, and
// what the queries must answer about it. Times are relative to now: on a
// current server TTL drops rows older than the retention as they land.
type chdbSample struct {
	now, yday, tday time.Time
	// Events: yesterday's, in two inserts merged into one part (a settled
	// day); today's, one batch stored twice (a replay after a crash);
	// today's heavy client's, through a Writer.
	settled, replayed, written []ingest.Event
	windows                    []ClientWindow
	findings                   []detect.Finding
	reports                    []contract.Report
	snap1, snap2               time.Time
	eps1, eps2                 []inventory.Endpoint
	health                     []HealthSample
}

func newChdbSample(now time.Time) *chdbSample {
	today := now.UTC().Truncate(24 * time.Hour)
	sd := &chdbSample{now: now, yday: today.Add(-14 * time.Hour), tday: today.Add(30 * time.Minute)}
	sd.settled = sampleEvents(90, sd.yday.Add(123*time.Microsecond), "k:alice", "k:bob", "k:carol")
	sd.replayed = sampleEvents(60, sd.tday.Add(456*time.Microsecond), "k:alice", "k:dave")
	sd.written = sampleEvents(150, sd.tday.Add(time.Minute+789*time.Microsecond), "k:heavy")
	for i := range 3 {
		start := sd.tday.Add(time.Duration(i) * time.Minute)
		sd.windows = append(sd.windows, ClientWindow{Client: "k:alice", ClientKind: "api_key", WindowStart: start,
			WindowEnd: start.Add(time.Minute), Requests: uint64(10 + i), Errors: uint64(i), AuthFailures: 1, BytesOut: 5000,
			ExpectedRequests: 8.5, ExpectedErrorRatio: 0.01, ExpectedAuthFailures: 0.2, SpreadRequests: 1.5 + float64(i)})
	}
	sd.findings = chdbFindings(sd.tday)
	for i, c := range []string{"k:alice", "k:bob", "k:alice"} {
		sd.reports = append(sd.reports, sampleReport(sd.tday.Add(5*time.Minute+time.Duration(i)*time.Second+250*time.Microsecond), c, i))
	}
	// Two snapshots of one endpoint on one day are one row once merged,
	// and on a current server at once when one INSERT holds both
	// (optimize_on_insert): the past is known by the day.
	sd.snap1, sd.snap2 = sd.yday.Add(time.Hour), sd.tday.Add(20*time.Minute)
	orders := sampleEndpoint()
	orders.Requests, orders.MemoryBytes = 5, 0
	admin := inventory.Endpoint{Host: "admin.example.com", Method: "DELETE", Route: "/admin/users/{id}", Requests: 3, Clients: 1,
		Status: inventory.StatusMix{S4xx: 3, S401403: 3}, AuthRequired: true, FirstSeen: sd.tday, LastSeen: sd.tday.Add(time.Minute), Versions: []string{}}
	sd.eps1 = []inventory.Endpoint{orders}
	orders.Requests = 9
	sd.eps2 = []inventory.Endpoint{orders, admin}
	for i, v := range []float64{0, 600, 1800} {
		sd.health = append(sd.health, HealthSample{Time: sd.tday.Add(time.Duration(i) * time.Minute), Component: "store",
			Instance: "h1", Metric: `gatewatch_store_rows_total{table="events"}`, Value: v})
	}
	return sd
}

// chdbFindings are three incidents: one updated to critical, one
// resolved, one fleet-wide.
func chdbFindings(t0 time.Time) []detect.Finding {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	f := func(id string, st detect.Status, client, det string, end, windows int, sev detect.Severity) detect.Finding {
		return detect.Finding{IncidentID: id, Status: st, Client: client, ClientKind: "api_key", Detector: det,
			WindowStart: at(0), WindowEnd: at(end), Windows: windows, Observed: 40, Expected: 0.5, Spread: 0.7,
			Unit: "auth failures/min", Score: 0.9, PValue: 1e-9, Severity: sev, Baseline: detect.BaselineOwn,
			History: 30, Summary: id + " summary", Why: id + " why", Requests: 50,
			Routes: []string{"/v1/login"}, Samples: []string{"POST /v1/login 401"}}
	}
	update := f("inc-a", detect.StatusUpdate, "k:alice", detect.DetectorAuthFailures, 20, 2, detect.SeverityCritical)
	update.Detectors, update.Totals = []string{detect.DetectorAuthFailures, detect.DetectorBruteForce}, &detect.Totals{Requests: 90, Failures: 80}
	fleet := f("inc-c", detect.StatusOpen, detect.FleetClient, detect.DetectorFleetAuth, 30, 1, detect.SeverityMedium)
	fleet.TopClients = []string{"k:alice", "k:bob"}
	return []detect.Finding{
		f("inc-a", detect.StatusOpen, "k:alice", detect.DetectorAuthFailures, 10, 1, detect.SeverityHigh), update,
		f("inc-b", detect.StatusOpen, "k:bob", detect.DetectorVolume, 10, 1, detect.SeverityLow),
		f("inc-b", detect.StatusResolved, "k:bob", detect.DetectorVolume, 30, 3, detect.SeverityMedium),
		fleet,
	}
}

// store writes the sample with the code's own writers.
func (sd *chdbSample) store(t *testing.T, db *DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	insertBatch(t, db, sd.settled[:45], "settled-1", 1)
	insertBatch(t, db, sd.settled[45:], "settled-2", 1)
	if err := db.conn.Exec(ctx, "OPTIMIZE TABLE "+db.table(tableEvents)+" PARTITION "+sd.yday.Format("20060102")+" FINAL"); err != nil {
		t.Fatal(err)
	}
	insertBatch(t, db, sd.replayed, "replayed", 2)
	w := NewWriter(db, WriterOptions{})
	for _, err := range []error{
		w.Write(ctx, sd.written), w.WriteWindows(ctx, sd.windows), w.WriteFindings(ctx, sd.findings),
		w.WriteViolations(ctx, sd.reports), w.WriteEndpoints(ctx, sd.snap1, sd.eps1), w.WriteEndpoints(ctx, sd.snap2, sd.eps2),
		w.Close(ctx), db.InsertHealth(ctx, sd.health),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// events are every event stored, each once, in time order.
func (sd *chdbSample) events(client string) []ingest.Event {
	var out []ingest.Event
	for _, ev := range slices.Concat(sd.settled, sd.replayed, sd.written) {
		if client == "" || ev.ClientKey == client {
			out = append(out, ev)
		}
	}
	slices.SortStableFunc(out, func(a, b ingest.Event) int { return a.Time.Compare(b.Time) })
	return out
}

// clientStats are TopClients' answer for all the events, ranked by, with
// times to the precision of the schema's time column.
func (sd *chdbSample) clientStats(by RankBy, seconds bool) []ClientStat {
	m := map[string]*ClientStat{}
	routes := map[string]map[string]bool{}
	for _, ev := range sd.events("") {
		c := m[ev.ClientKey]
		if c == nil {
			c = &ClientStat{Client: ev.ClientKey, ClientKind: ev.ClientKind.String(), First: ev.Time.UTC()}
			m[ev.ClientKey], routes[ev.ClientKey] = c, map[string]bool{}
		}
		c.Requests++
		if ev.Status >= 500 && ev.Status < 600 {
			c.Errors++
		}
		if ev.Auth.Failure() {
			c.AuthFailures++
		}
		c.BytesOut += uint64(ev.BytesOut)
		routes[ev.ClientKey][ev.Route] = true
		c.Routes, c.Last = uint64(len(routes[ev.ClientKey])), ev.Time.UTC()
	}
	var out []ClientStat
	for _, c := range m {
		if seconds {
			c.First, c.Last = c.First.Truncate(time.Second), c.Last.Truncate(time.Second)
		}
		out = append(out, *c)
	}
	key := map[RankBy]func(ClientStat) uint64{
		ByRequests: func(c ClientStat) uint64 { return c.Requests }, ByErrors: func(c ClientStat) uint64 { return c.Errors },
		ByAuthFailures: func(c ClientStat) uint64 { return c.AuthFailures },
	}[by]
	slices.SortFunc(out, func(a, b ClientStat) int { return cmp.Or(cmp.Compare(key(b), key(a)), cmp.Compare(a.Client, b.Client)) })
	return out
}
