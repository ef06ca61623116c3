package main

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/dashboards/report"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/storage"
)

// chartT0 is when the charts' test traffic starts.
var chartT0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

// chartMinute is the start of window m of the charts' test traffic.
func chartMinute(m int) time.Time { return chartT0.Add(time.Duration(m) * time.Minute) }

// chartWindow is k:alice's one-minute window m with req requests, a
// tenth of them 5xx, against a band of 100 ± 6.
func chartWindow(m int, req uint64) detect.WindowStats {
	return detect.WindowStats{Client: "k:alice", ClientKind: "api_key", Start: chartMinute(m), End: chartMinute(m + 1),
		Requests: req, Errors: req / 10, AuthFailures: 2, ExpectedRequests: 100, SpreadRequests: 6,
		ExpectedErrorRatio: 0.01, SpreadErrorRatio: 0.004, ExpectedAuthFailures: 1, SpreadAuthFailures: 1}
}

// chartFinding is an emission of k:alice's incident id by detector,
// anomalous over windows 20 to 22.
func chartFinding(id, detector string, st detect.Status) detect.Finding {
	return detect.Finding{IncidentID: id, Status: st, Client: "k:alice", ClientKind: "api_key", Detector: detector,
		WindowStart: chartMinute(20), WindowEnd: chartMinute(23), Windows: 3, Observed: 900, Expected: 100, Spread: 6,
		Unit: "req/min", Severity: detect.SeverityHigh, Baseline: detect.BaselineOwn, History: 20}
}

// checkPNGBytes decodes b as a PNG image of explain's size.
func checkPNGBytes(t *testing.T, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG image (%d bytes): %v", len(b), err)
	}
	if r := img.Bounds(); r.Dx() != 900 || r.Dy() != 360 {
		t.Errorf("image is %dx%d, want 900x360", r.Dx(), r.Dy())
	}
}

// TestReportCharter: the live report's series of a client incident
// draws its band, with the detector's metric; a campaign, an incident
// the report does not hold and a run without a live report draw none.
func TestReportCharter(t *testing.T) {
	t.Parallel()
	rep := report.New(report.Options{Window: time.Minute, Context: 10})
	for m := range 40 {
		req := uint64(100)
		if m >= 20 && m < 23 {
			req = 900
		}
		rep.Window(chartWindow(m, req))
		switch m {
		case 20:
			rep.Finding(chartFinding("inc-vol", detect.DetectorVolume, detect.StatusOpen))
			rep.Finding(chartFinding("inc-err", detect.DetectorErrorRatio, detect.StatusOpen))
		case 30:
			rep.Finding(chartFinding("inc-vol", detect.DetectorVolume, detect.StatusResolved))
		}
	}
	camp := chartFinding("inc-camp", detect.DetectorCampaign, detect.StatusResolved)
	camp.Client, camp.ClientKind = "campaign:env-file", "campaign"
	rep.Finding(camp)
	for _, tt := range []struct {
		name    string
		charter reportCharter
		f       detect.Finding
		want    bool
	}{
		{"volume", reportCharter{rep}, chartFinding("inc-vol", detect.DetectorVolume, detect.StatusResolved), true},
		{"error ratio", reportCharter{rep}, chartFinding("inc-err", detect.DetectorErrorRatio, detect.StatusResolved), true},
		{"campaign", reportCharter{rep}, camp, false},
		{"not in the report", reportCharter{rep}, chartFinding("inc-gone", detect.DetectorVolume, detect.StatusResolved), false},
		{"no live report", reportCharter{}, chartFinding("inc-vol", detect.DetectorVolume, detect.StatusResolved), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.charter.Chart(context.Background(), tt.f)
			if err != nil || (b != nil) != tt.want {
				t.Fatalf("Chart = %d bytes, %v; want an image: %v", len(b), err, tt.want)
			}
			if tt.want {
				checkPNGBytes(t, b)
			}
		})
	}
	if liveChart(nil) != nil {
		t.Error("liveChart(nil) is not nil: the sink would chart without a live report")
	}
}

// TestMetricPoint: a live report's point gives what the same window
// gives explain, for every detector.
func TestMetricPoint(t *testing.T) {
	t.Parallel()
	w := chartWindow(0, 200)
	p := report.SeriesPoint{Start: w.Start, End: w.End, Windows: 1, Requests: 200, Errors: 20, AuthFailures: 2,
		ExpectedRequests: 100, SpreadRequests: 6, ExpectedErrorRatio: 0.01, SpreadErrorRatio: 0.004,
		ExpectedAuthFailures: 1, SpreadAuthFailures: 1}
	for _, d := range []string{detect.DetectorVolume, detect.DetectorErrorRatio, detect.DetectorAuthFailures,
		detect.DetectorBruteForce, detect.DetectorScanning, detect.DetectorInjection} {
		m := metricFor(d)
		o1, e1, s1 := m.value(w)
		o2, e2, s2 := m.point(p)
		if o1 != o2 || e1 != e2 || s1 != s2 {
			t.Errorf("%s: window %v %v %v, point %v %v %v", d, o1, e1, s1, o2, e2, s2)
		}
	}
	if obs, _, _ := metricFor(detect.DetectorErrorRatio).point(report.SeriesPoint{}); obs == obs {
		t.Errorf("5xx ratio of a point without requests = %v, want NaN", obs)
	}
}

// fakeWindows is a windowSource serving ws, counting its queries and
// closes.
type fakeWindows struct {
	ws      []detect.WindowStats
	queries []storage.ClientWindowsQuery
	closed  int
}

func (f *fakeWindows) ClientWindows(_ context.Context, q storage.ClientWindowsQuery) ([]detect.WindowStats, error) {
	f.queries = append(f.queries, q)
	var out []detect.WindowStats
	for _, w := range f.ws {
		if w.Client == q.Client && !w.Start.Before(q.From) && w.Start.Before(q.To) {
			out = append(out, w)
		}
	}
	return out, nil
}

func (f *fakeWindows) Close() error { f.closed++; return nil }

// TestStoreCharter: the stored windows 30 minutes either side of the
// incident draw its band; a failed connection is retried at the next
// chart; a campaign needs no connection; no windows is an error.
func TestStoreCharter(t *testing.T) {
	t.Parallel()
	src := &fakeWindows{}
	for m := range 60 {
		src.ws = append(src.ws, chartWindow(m, 100))
	}
	connects := 0
	sc := &storeCharter{connect: func(context.Context) (windowSource, error) {
		if connects++; connects == 1 {
			return nil, errors.New("storage: ping ch:9000: connection refused")
		}
		return src, nil
	}}
	ctx := context.Background()
	f := chartFinding("inc-vol", detect.DetectorVolume, detect.StatusResolved)
	camp := f
	camp.Detector, camp.Client = detect.DetectorCampaign, "campaign:x"
	if b, err := sc.Chart(ctx, camp); b != nil || err != nil || connects != 0 {
		t.Fatalf("campaign: %d bytes, %v, %d connections; want nothing", len(b), err, connects)
	}
	if _, err := sc.Chart(ctx, f); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("down ClickHouse: err %v", err)
	}
	b, err := sc.Chart(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	checkPNGBytes(t, b)
	q := src.queries[0]
	if q.Client != "k:alice" || !q.From.Equal(chartMinute(-10)) || !q.To.Equal(chartMinute(53)) {
		t.Errorf("query %+v; want k:alice from minute -10 to 53", q)
	}
	gone := f
	gone.Client = "k:bob"
	if _, err := sc.Chart(ctx, gone); err == nil || !strings.Contains(err.Error(), "no windows") {
		t.Errorf("no windows: err %v", err)
	}
	if err := sc.Close(); err != nil || src.closed != 1 || connects != 2 {
		t.Errorf("Close: %v, %d closes, %d connections; want one close after two connections", err, src.closed, connects)
	}
}

// TestStoreChart: without ClickHouse "gatewatch alert" attaches no chart.
func TestStoreChart(t *testing.T) {
	t.Parallel()
	c := &cli{stderr: io.Discard, getenv: func(string) string { return "" }}
	cfg, err := c.loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.Addr = ""
	ch, done := c.storeChart(cfg, slog.New(slog.DiscardHandler))
	done()
	if ch != nil {
		t.Errorf("charter %T without clickhouse.addr", ch)
	}
}
