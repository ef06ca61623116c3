package report

import (
	"bytes"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// FuzzRender renders reports whose log strings are arbitrary: Render
// must not fail or panic, and the page must keep its structure
// (checkPage: two script elements, a data block that is JSON with no
// way out of its element, a well-formed document, no raw control byte).
// golang.org/x/net/html is not in go.mod, so the document is checked as
// XML, which the page is written to be.
func FuzzRender(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, s, s, 1.5)
	}
	f.Add("10.0.0.1", "/api/{id}", "client 10.0.0.1 sent 50 req/min", 0.0)
	f.Fuzz(func(t *testing.T, client, route, summary string, x float64) {
		d := fuzzData(client, route, summary, x)
		var buf bytes.Buffer
		if err := Render(&buf, d, RenderOptions{Refresh: time.Second}); err != nil {
			t.Fatal(err)
		}
		if err := checkPage(buf.String()); err != nil {
			t.Fatal(err)
		}
	})
}

// fuzzData is a report with the fuzzer's strings in every field from a
// log, and x in its numbers.
func fuzzData(client, route, summary string, x float64) Data {
	f := detect.Finding{IncidentID: client + route, Client: client, Detector: summary, Severity: detect.Severity(route),
		Status: detect.Status(summary), Summary: summary, Why: route, Unit: summary, Routes: []string{route},
		Samples: []string{summary, "request id " + client}, Detectors: []string{route}, Campaign: summary,
		Clients: []string{client, route}, TopClients: []string{summary}, Observed: x, Expected: x, Spread: x, Score: x,
		WindowStart: t0.Add(time.Duration(x) * time.Minute), WindowEnd: t0.Add(time.Hour), Totals: &detect.Totals{Requests: x, Bytes: x}}
	pt := SeriesPoint{Start: t0, End: t0.Add(time.Minute), Windows: 1, Requests: x, Errors: x, AuthFailures: x,
		ExpectedRequests: x, SpreadRequests: x, ExpectedErrorRatio: x, SpreadErrorRatio: x}
	return Data{
		Title: summary, Window: time.Minute, Context: 30, First: t0, Last: t0.Add(time.Hour),
		Input:      InputStats{Lines: 10, Events: 5, Rejects: 5, Inputs: []InputCount{{Name: route, Format: client}}},
		Overview:   Overview{Start: t0, Step: time.Minute, Points: []Bucket{{Requests: 3}, {Requests: 1, Status5xx: 1}}},
		TopClients: []Top{{Key: client, Requests: 3}}, TopRoutes: []Top{{Key: route, Requests: 3}},
		Status: StatusMix{Classes: [6]uint64{1, 0, 2, 0, 0, 1}, Codes: []CodeCount{{Code: 200, Count: 2}}},
		Incidents: []Incident{
			{Finding: f, Series: []SeriesPoint{pt}, SeriesFrom: t0, SeriesTo: t0.Add(2 * time.Hour)},
			{Finding: f, Activity: []ActivityRow{{Client: client, From: t0, Spans: []ActiveSpan{{Start: t0, End: t0.Add(time.Minute), Requests: 2}}}}},
			{Finding: f},
		},
		Severity: map[detect.Severity]int{detect.Severity(route): 3},
	}
}
