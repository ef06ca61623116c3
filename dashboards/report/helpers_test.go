package report

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

// t0 is when the synthetic traffic starts.
var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

// minute is the start of window m.
func minute(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

// windowOf is a WindowStats of client at minute m with req requests and
// a volume band of 10 ± 3.
func windowOf(client string, m int, req uint64) detect.WindowStats {
	return detect.WindowStats{
		Client: client, ClientKind: "ip", Start: minute(m), End: minute(m + 1),
		Requests: req, Errors: req / 10, AuthFailures: req / 5, BytesOut: req * 1000,
		ExpectedRequests: 10, SpreadRequests: 3, ExpectedErrorRatio: 0.02, SpreadErrorRatio: 0.01,
		ExpectedAuthFailures: 1, SpreadAuthFailures: 1,
	}
}

// findingOf is an emission of incident id about client, anomalous from
// minute m0 to m1 (exclusive).
func findingOf(id, client, det string, sev detect.Severity, st detect.Status, m0, m1 int) detect.Finding {
	return detect.Finding{
		IncidentID: id, Status: st, Client: client, ClientKind: "ip", Detector: det,
		WindowStart: minute(m0), WindowEnd: minute(m1), Windows: m1 - m0,
		Observed: 120, Expected: 10, Spread: 3, Unit: "req/min", Score: 0.9, PValue: 1e-9,
		Severity: sev, Baseline: detect.BaselineOwn, History: 60,
		Summary: "client " + client + " sent 120 req/min, baseline 10±3",
		Why:     "expected from the client's own 60 windows; 120 is far above",
		Routes:  []string{"/api/orders/{id}", "/login"},
		Samples: []string{"GET /api/orders/1 200", "request id req-" + id + " (5xx)"},
		Totals:  &detect.Totals{Requests: 600, Failures: 12, Bytes: 5e6, DistinctPaths: 3},
	}
}

var detectorCycle = []string{detect.DetectorVolume, detect.DetectorErrorRatio, detect.DetectorAuthFailures,
	detect.DetectorScanning, detect.DetectorBruteForce, detect.DetectorInjection}

var severityCycle = []detect.Severity{detect.SeverityLow, detect.SeverityMedium, detect.SeverityHigh, detect.SeverityCritical}

// scenario is a synthetic run: events over minutes, client windows,
// and incidents, fed to a Collector.
type scenario struct {
	events    int // spread evenly over minutes
	minutes   int
	clients   int // distinct clients in the events (Zipf-like)
	incidents int // one per client "inc-client-N"; every tenth a campaign
	seed      uint64
}

// run feeds sc to c and returns the incident ids.
func (sc scenario) run(c *Collector) []string {
	rng := rand.New(rand.NewPCG(sc.seed, 7))
	keys := make([]string, sc.clients)
	for i := range keys {
		keys[i] = fmt.Sprintf("198.51.%d.%d", i/250, i%250)
	}
	routes := make([]string, 200)
	for i := range routes {
		routes[i] = "/api/v1/resource" + strconv.Itoa(i) + "/{id}"
	}
	var ev ingest.Event
	perMin := max(sc.events/max(sc.minutes, 1), 1)
	statuses := []int{200, 200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404, 500, 503}
	for i := range sc.events {
		ev.Time = t0.Add(time.Duration(i/perMin)*time.Minute + time.Duration(i%perMin)*time.Millisecond)
		ev.ClientKey = keys[int(float64(len(keys))*rng.Float64()*rng.Float64())]
		ev.Route = routes[rng.IntN(len(routes))]
		ev.Status = statuses[rng.IntN(len(statuses))]
		ev.BytesOut = int64(rng.IntN(5000))
		c.Event(&ev)
	}
	return sc.feedIncidents(c, rng)
}

// feedIncidents feeds, per incident, its client's windows around it and
// its emissions (open, update, resolved), interleaved in time order.
func (sc scenario) feedIncidents(c *Collector, rng *rand.Rand) []string {
	ids := make([]string, sc.incidents)
	type planned struct {
		id, client, det string
		m0, m1          int
		sev             detect.Severity
		camp            bool
	}
	plan := make([]planned, sc.incidents)
	for i := range plan {
		m0 := 40 + rng.IntN(max(sc.minutes-100, 1))
		p := planned{id: fmt.Sprintf("inc-%04d", i), client: fmt.Sprintf("client-%04d", i), det: detectorCycle[i%len(detectorCycle)],
			m0: m0, m1: m0 + 1 + rng.IntN(5), sev: severityCycle[i%len(severityCycle)], camp: i%10 == 9}
		if p.camp {
			p.det, p.client = detect.DetectorCampaign, "campaign:probe-"+strconv.Itoa(i)
		}
		plan[i], ids[i] = p, p.id
	}
	for m := range sc.minutes {
		for i := range plan {
			p := &plan[i]
			if m < p.m0-35 || m > p.m1+35 {
				continue
			}
			names := []string{p.client}
			if p.camp {
				names = []string{p.client + "-a", p.client + "-b", p.client + "-c"}
			}
			for _, n := range names {
				req := uint64(8 + rng.IntN(5))
				if m >= p.m0 && m < p.m1 {
					req = 120
				}
				c.Window(windowOf(n, m, req))
			}
			f := findingOf(p.id, p.client, p.det, p.sev, detect.StatusOpen, p.m0, min(m+1, p.m1))
			if p.camp {
				f.Clients, f.ClientCount, f.Campaign = names, 3, "probe /.env"
			}
			switch {
			case m == p.m0:
				c.Finding(f)
			case m > p.m0 && m < p.m1:
				f.Status = detect.StatusUpdate
				c.Finding(f)
			case m == p.m1+3:
				f.Status = detect.StatusResolved
				c.Finding(f)
			}
		}
	}
	return ids
}

// events are test events.
type events []ingest.Event

// eventsOf is one event of client s on route s.
func eventsOf(s string) events {
	return events{{Time: minute(10), ClientKey: s, Route: s, Path: s, Status: 401, BytesOut: 10}}
}

// repeat is n copies of e's first event, over an hour.
func (e events) repeat(n int) events {
	out := make(events, n)
	for i := range out {
		out[i] = e[0]
		out[i].Time = minute(i % 60)
	}
	return out
}
