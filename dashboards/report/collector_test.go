package report

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

// TestOverviewCounts checks the per-minute overview, the status mix and
// the input span.
func TestOverviewCounts(t *testing.T) {
	type ev struct {
		min, status int
		bytes       int64
	}
	for _, tc := range []struct {
		name    string
		events  []ev
		want    []Bucket // from the first event's minute
		untimed uint64
	}{
		{"one minute", []ev{{0, 200, 10}, {0, 404, 5}, {0, 503, 1}, {0, 401, 0}}, []Bucket{{Requests: 4, Status4xx: 2, Status5xx: 1, AuthFailures: 1, Bytes: 16}}, 0},
		{"gap", []ev{{0, 200, 0}, {3, 403, 0}}, []Bucket{{Requests: 1}, {}, {}, {Requests: 1, Status4xx: 1, AuthFailures: 1}}, 0},
		{"out of order", []ev{{5, 200, 0}, {2, 500, 0}, {5, 200, 0}}, []Bucket{{Requests: 1, Status5xx: 1}, {}, {}, {Requests: 2}}, 0},
		{"untimed", []ev{{0, 200, 0}, {-1, 200, 0}}, []Bucket{{Requests: 1}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Options{})
			for _, e := range tc.events {
				x := ingest.Event{ClientKey: "k", Route: "/r", Status: e.status, BytesOut: e.bytes}
				if e.min >= 0 {
					x.Time = minute(e.min).Add(time.Second)
				}
				c.Event(&x)
			}
			d := c.Data()
			if !slices.Equal(d.Overview.Points, tc.want) {
				t.Errorf("overview %+v, want %+v", d.Overview.Points, tc.want)
			}
			if d.Events != uint64(len(tc.events)) || d.Untimed != tc.untimed {
				t.Errorf("events %d untimed %d, want %d and %d", d.Events, d.Untimed, len(tc.events), tc.untimed)
			}
			if d.Overview.Step != time.Minute {
				t.Errorf("step %v, want a minute", d.Overview.Step)
			}
			var sum uint64
			for _, n := range d.Status.Classes {
				sum += n
			}
			if sum != d.Events {
				t.Errorf("status classes sum to %d, want %d", sum, d.Events)
			}
		})
	}
}

// TestOverviewCoarsens checks a span longer than MaxBuckets doubles the
// bucket, keeping every count.
func TestOverviewCoarsens(t *testing.T) {
	c := New(Options{MaxBuckets: 16})
	for m := range 100 {
		c.Event(&ingest.Event{Time: minute(m), ClientKey: "k", Status: 200})
	}
	d := c.Data()
	if len(d.Overview.Points) > 16 || d.Overview.Step != 8*time.Minute {
		t.Errorf("%d buckets of %v, want ≤16 of 8m", len(d.Overview.Points), d.Overview.Step)
	}
	var sum uint64
	for _, b := range d.Overview.Points {
		sum += b.Requests
	}
	if sum != 100 || !d.First.Equal(minute(0)) || !d.Last.Equal(minute(99)) {
		t.Errorf("%d requests over %v..%v, want 100 over %v..%v", sum, d.First, d.Last, minute(0), minute(99))
	}
}

// TestTopN checks the Space-Saving ranking: the heavy keys come first,
// exactly or within their error, with a bounded number of counters.
func TestTopN(t *testing.T) {
	c := New(Options{TopN: 3, TopCapacity: 50}) // error at most 20,000/50 = 400
	heavy := map[string]uint64{}
	for i := range 20_000 {
		key := fmt.Sprintf("noise-%d", i) // each seen once
		switch {
		case i%4 == 0:
			key = "big" // 5,000
		case i%8 == 1:
			key = "mid" // 2,500
		case i%16 == 3:
			key = "small" // 1,250
		}
		heavy[key]++
		c.Event(&ingest.Event{Time: minute(0), ClientKey: key, Route: key, Status: 200})
	}
	d := c.Data()
	if len(d.TopClients) != 3 || len(d.TopRoutes) != 3 {
		t.Fatalf("%d top clients, %d routes, want 3", len(d.TopClients), len(d.TopRoutes))
	}
	for i, want := range []string{"big", "mid", "small"} {
		got := d.TopClients[i]
		if got.Key != want || got.Requests < heavy[want] || got.Requests-got.Error > heavy[want] || got.Error > 400 {
			t.Errorf("top %d: %+v, want %s with %d requests within its error", i, got, want, heavy[want])
		}
	}
	if n := len(c.st.clients.items); n > 50 || len(c.st.clients.index) != n {
		t.Errorf("%d counters (%d indexed), want at most 50", n, len(c.st.clients.index))
	}
}

// TestSeriesAroundIncident checks the ring and pinning: the series covers
// Context windows before the incident, the incident, and Context windows
// after it resolved, and recording then stops.
func TestSeriesAroundIncident(t *testing.T) {
	const ctx = 10
	c := New(Options{Context: ctx})
	for m := range 200 {
		req := uint64(10)
		if m >= 100 && m < 103 {
			req = 500
		}
		c.Window(windowOf("a", m, req))
		c.Window(windowOf(fmt.Sprint("other-", m%7), m, 5))
		switch m {
		case 100:
			c.Finding(findingOf("i1", "a", detect.DetectorVolume, detect.SeverityHigh, detect.StatusOpen, 100, 101))
		case 105:
			c.Finding(findingOf("i1", "a", detect.DetectorVolume, detect.SeverityHigh, detect.StatusResolved, 100, 103))
		}
	}
	d := c.Data()
	if len(d.Incidents) != 1 {
		t.Fatalf("%d incidents, want 1", len(d.Incidents))
	}
	inc := d.Incidents[0]
	if inc.Emissions != 2 || inc.Finding.Status != detect.StatusResolved {
		t.Errorf("incident kept %d emissions, status %s; want 2, resolved", inc.Emissions, inc.Finding.Status)
	}
	first, last := inc.Series[0], inc.Series[len(inc.Series)-1]
	if !first.Start.Equal(minute(100-ctx)) || !last.Start.Equal(minute(103+ctx-1)) || len(inc.Series) != 3+2*ctx {
		t.Errorf("series of %d points %v..%v, want %d from %v to %v", len(inc.Series), first.Start, last.Start,
			3+2*ctx, minute(100-ctx), minute(103+ctx-1))
	}
	if !inc.SeriesFrom.Equal(minute(100-ctx)) || !inc.SeriesTo.Equal(minute(103+ctx)) {
		t.Errorf("series complete over %v..%v", inc.SeriesFrom, inc.SeriesTo)
	}
	if tr := c.st.tracks["a"]; tr.pin != nil {
		t.Errorf("pin still recording %d points after the context", len(tr.pin.pts))
	}
	if p := inc.Series[10]; p.Requests != 500 || p.ExpectedRequests != 10 || p.SpreadRequests != 3 {
		t.Errorf("anomalous point %+v", p)
	}
}

// TestSeriesOfIdleClient checks that windows without requests count as
// such: a client idle before its incident has a series complete from the
// first window the collector saw.
func TestSeriesOfIdleClient(t *testing.T) {
	c := New(Options{Context: 10})
	for m := range 50 {
		c.Window(windowOf("busy", m, 5))
	}
	c.Window(windowOf("quiet", 50, 300))
	c.Finding(findingOf("q", "quiet", detect.DetectorVolume, detect.SeverityCritical, detect.StatusOpen, 50, 51))
	inc := c.Data().Incidents[0]
	if len(inc.Series) != 1 || !inc.SeriesFrom.Equal(minute(40)) {
		t.Errorf("series of %d points complete from %v, want 1 from %v", len(inc.Series), inc.SeriesFrom, minute(40))
	}
	lc := seriesChart(&inc, time.Minute, 240)
	if len(lc.obs) != 11 || lc.obs[0] != 0 || lc.obs[10] != 300 {
		t.Errorf("chart values %v, want ten zeros then 300", lc.obs)
	}
}

// TestReset checks Reset forgets everything but the options.
func TestReset(t *testing.T) {
	c := New(Options{Title: "kept", Context: 5})
	scenario{events: 1000, minutes: 60, clients: 10, incidents: 3, seed: 1}.run(c)
	c.Input(InputStats{Lines: 5})
	c.Reset()
	d := c.Data()
	if d.Events != 0 || len(d.Incidents) != 0 || len(d.Overview.Points) != 0 || len(d.TopClients) != 0 ||
		d.Input.Lines != 0 || d.Clients.Tracked != 0 || len(d.Status.Codes) != 0 {
		t.Errorf("after Reset: %+v", d)
	}
	if d.Title != "kept" || d.Context != 5 {
		t.Errorf("Reset lost the options: %q, %d", d.Title, d.Context)
	}
}

// TestMaxClients checks the tracked clients stay bounded, and idle
// ones make room once they are older than any incident's context.
func TestMaxClients(t *testing.T) {
	c := New(Options{MaxClients: 100, Context: 5})
	for i := range 1000 {
		c.Window(windowOf(fmt.Sprint("c", i), 0, 1))
	}
	d := c.Data()
	if d.Clients.Tracked != 100 || d.Clients.Dropped != 900 {
		t.Errorf("tracked %d, dropped %d; want 100 and 900", d.Clients.Tracked, d.Clients.Dropped)
	}
	for i := range 50 {
		c.Window(windowOf(fmt.Sprint("late", i), 20, 1))
	}
	if n := len(c.st.tracks); n != 50 {
		t.Errorf("%d tracks after the idle ones were swept, want 50", n)
	}
	c.Finding(findingOf("x", "untracked", detect.DetectorVolume, detect.SeverityLow, detect.StatusOpen, 20, 21))
	if c.st.tracks["untracked"] == nil || c.st.tracks["untracked"].pin == nil {
		t.Error("a client with an incident is not tracked beyond MaxClients")
	}
}

// TestMaxIncidents checks series slots go to the most severe incidents,
// and the list is bounded by MaxListed.
func TestMaxIncidents(t *testing.T) {
	c := New(Options{MaxIncidents: 4, MaxListed: 8})
	for i := range 20 {
		client := fmt.Sprint("c", i)
		c.Window(windowOf(client, i, 50))
		sev := detect.SeverityLow
		if i%5 == 4 {
			sev = detect.SeverityCritical
		}
		c.Finding(findingOf(fmt.Sprintf("i%02d", i), client, detect.DetectorVolume, sev, detect.StatusOpen, i, i+1))
	}
	d := c.Data()
	if len(d.Incidents) > 10 || len(d.Incidents)+d.Omitted != 20 {
		t.Errorf("%d listed, %d omitted; want ≤10 listed of 20", len(d.Incidents), d.Omitted)
	}
	withSeries := 0
	for _, inc := range d.Incidents {
		if len(inc.Series) > 0 {
			withSeries++
			if inc.Finding.Severity != detect.SeverityCritical {
				t.Errorf("%s (%s) holds a series slot over a critical one", inc.Finding.IncidentID, inc.Finding.Severity)
			}
		}
	}
	if withSeries != 4 || d.Severity[detect.SeverityCritical] != 4 || d.Severity[detect.SeverityLow] != 16 {
		t.Errorf("%d with series, severities %v; want 4, 4 critical, 16 low", withSeries, d.Severity)
	}
}

// TestCampaignActivity checks a campaign's clients are recorded as
// activity rows, seeded from their rings and extended while watched.
func TestCampaignActivity(t *testing.T) {
	c := New(Options{Context: 5})
	for m := range 30 {
		for _, cl := range []string{"p1", "p2", "p3"} {
			if cl != "p3" || m >= 20 {
				c.Window(windowOf(cl, m, 2))
			}
		}
		f := findingOf("camp", "campaign:probe", detect.DetectorCampaign, detect.SeverityHigh, detect.StatusOpen, 10, m+1)
		f.Clients, f.ClientCount = []string{"p1", "p2"}, 2
		if m >= 20 {
			f.Clients, f.ClientCount = []string{"p3", "p1", "p2"}, 3
		}
		if m >= 10 {
			c.Finding(f)
		}
	}
	inc := c.Data().Incidents[0]
	if len(inc.Activity) != 3 || inc.Activity[0].Client != "p3" {
		t.Fatalf("activity rows %+v, want p3, p1, p2", inc.Activity)
	}
	for _, row := range inc.Activity {
		var n uint64
		for _, sp := range row.Spans {
			n += sp.Requests
		}
		want := uint64(2 * (30 - 5 - 1 + 1)) // from the ring (Context+1 windows) at minute 10
		if row.Client == "p3" {
			want = 20
		}
		if n != want {
			t.Errorf("%s: %d requests recorded, want %d", row.Client, n, want)
		}
	}
}

// TestZeroAndNilCollector checks the zero Collector works and a nil one
// ignores everything.
func TestZeroAndNilCollector(t *testing.T) {
	var z Collector
	z.Event(&ingest.Event{Time: minute(0), ClientKey: "k", Status: 200})
	z.Window(windowOf("k", 0, 1))
	z.Finding(findingOf("i", "k", detect.DetectorVolume, detect.SeverityLow, detect.StatusOpen, 0, 1))
	if d := z.Data(); d.Events != 1 || len(d.Incidents) != 1 || d.Title != DefaultTitle {
		t.Errorf("zero Collector: %+v", d)
	}
	var n *Collector
	n.Event(&ingest.Event{})
	n.Events(nil)
	n.Window(detect.WindowStats{})
	n.Finding(detect.Finding{IncidentID: "x"})
	n.Input(InputStats{})
	n.Reset()
	var buf bytes.Buffer
	if err := Render(&buf, n.Data(), RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := checkPage(buf.String()); err != nil {
		t.Error(err)
	}
}

// TestConcurrentData reads snapshots and renders them while the
// pipeline feeds the collector (run with -race).
func TestConcurrentData(t *testing.T) {
	c := New(Options{})
	var wg sync.WaitGroup
	wg.Add(2)
	done := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(done)
		scenario{events: 50_000, minutes: 200, clients: 200, incidents: 20, seed: 8}.run(c)
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			var buf bytes.Buffer
			if err := Render(&buf, c.Data(), RenderOptions{}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 20 {
		c.Input(InputStats{Lines: 1})
		_ = c.Data()
	}
	wg.Wait()
	if d := c.Data(); len(d.Incidents) != 20 {
		t.Errorf("%d incidents, want 20", len(d.Incidents))
	}
}
