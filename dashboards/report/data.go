package report

import (
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// Data is a snapshot of a Collector: everything Render shows, as plain
// JSON-serialisable values. Strings from logs are kept as they came;
// Render escapes them.
type Data struct {
	Title   string        `json:"title"`
	Window  time.Duration `json:"window"`  // the detectors' window
	Context int           `json:"context"` // windows of context around an incident
	// First and Last are the earliest and latest event times seen.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Events counts the events passed to Event; Untimed those without a
	// usable time (outside the overview); Bytes their response bytes.
	Events  uint64     `json:"events"`
	Untimed uint64     `json:"untimed"`
	Bytes   uint64     `json:"bytes"`
	Input   InputStats `json:"input"`
	// Overview is the traffic per bucket.
	Overview Overview `json:"overview"`
	// TopClients and TopRoutes rank clients and routes by requests.
	TopClients []Top      `json:"top_clients"`
	TopRoutes  []Top      `json:"top_routes"`
	Status     StatusMix  `json:"status"`
	Incidents  []Incident `json:"incidents"` // most severe first
	// Severity counts every incident by severity, listed or not.
	Severity map[detect.Severity]int `json:"severity"`
	// Omitted counts the incidents dropped from the list (MaxListed).
	Omitted int `json:"omitted"`
	// Clients counts what the series tracking held and dropped.
	Clients ClientStats `json:"clients"`
}

// InputStats are what the inputs gave; analyze.Summary holds them
// (Lines, Events, Rejects, Future, Late and, per input, Name, Format,
// Events and Rejects).
type InputStats struct {
	Inputs []InputCount `json:"inputs,omitempty"`
	// Lines counts the lines read, Events the events they gave, Rejects
	// those that did not parse, Future those timed in the future.
	Lines   int64 `json:"lines"`
	Events  int64 `json:"events"`
	Rejects int64 `json:"rejects"`
	Future  int64 `json:"future"`
	// Late counts the events that came later than the detectors allow.
	Late uint64 `json:"late"`
}

// InputCount is what one input gave.
type InputCount struct {
	Name    string `json:"name"`
	Format  string `json:"format"`
	Events  int64  `json:"events"`
	Rejects int64  `json:"rejects"`
}

// Overview is the traffic over time: Points[i] covers
// [Start+i×Step, Start+(i+1)×Step).
type Overview struct {
	Start  time.Time     `json:"start"`
	Step   time.Duration `json:"step"`
	Points []Bucket      `json:"points"`
}

// Bucket is the traffic of one overview step.
type Bucket struct {
	Requests     uint64 `json:"requests"`
	Status4xx    uint64 `json:"status_4xx"`
	Status5xx    uint64 `json:"status_5xx"`
	AuthFailures uint64 `json:"auth_failures"` // 401 and 403
	Bytes        uint64 `json:"bytes"`
}

// Top is one ranked client or route. Counts are Space-Saving estimates:
// Requests overstates by at most Error; the other tallies count from when
// the key was last admitted, so they may understate.
type Top struct {
	Key          string `json:"key"`
	Requests     uint64 `json:"requests"`
	Error        uint64 `json:"error"`
	Status4xx    uint64 `json:"status_4xx"`
	Status5xx    uint64 `json:"status_5xx"`
	AuthFailures uint64 `json:"auth_failures"`
	Bytes        uint64 `json:"bytes"`
}

// StatusMix counts responses by status.
type StatusMix struct {
	// Classes counts by class: [1] 1xx … [5] 5xx, [0] anything else.
	Classes [6]uint64 `json:"classes"`
	// Codes are the most frequent codes, most frequent first.
	Codes []CodeCount `json:"codes"`
}

// CodeCount is how often a status code was answered.
type CodeCount struct {
	Code  int    `json:"code"`
	Count uint64 `json:"count"`
}

// ClientStats count the clients the series tracking held.
type ClientStats struct {
	Tracked int    `json:"tracked"` // held now
	Dropped uint64 `json:"dropped"` // windows of clients not tracked (MaxClients full)
}

// Incident is one incident: its newest emission and the data to chart
// it.
type Incident struct {
	Finding   detect.Finding `json:"finding"`
	Emissions int            `json:"emissions"` // emissions seen
	// Series holds the client's windows around the incident (per-client
	// incidents with a series slot). It is complete over [SeriesFrom,
	// SeriesTo): a window of that span without a point had no requests.
	Series     []SeriesPoint `json:"series,omitempty"`
	SeriesFrom time.Time     `json:"series_from,omitzero"`
	SeriesTo   time.Time     `json:"series_to,omitzero"`
	// Activity is, for campaign and fleet incidents, when the clients
	// they name were active.
	Activity []ActivityRow `json:"activity,omitempty"`
}

// SeriesPoint is one client window, or the average of Windows
// consecutive ones when a long series was coarsened.
type SeriesPoint struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Windows int       `json:"windows"`
	// Observed tallies, per window.
	Requests     float64 `json:"requests"`
	Errors       float64 `json:"errors"` // 5xx
	AuthFailures float64 `json:"auth_failures"`
	Bytes        float64 `json:"bytes"`
	// What the baselines expected, and the spread (one standard
	// deviation) around it.
	ExpectedRequests     float64 `json:"expected_requests"`
	SpreadRequests       float64 `json:"spread_requests"`
	ExpectedErrorRatio   float64 `json:"expected_error_ratio"`
	SpreadErrorRatio     float64 `json:"spread_error_ratio"`
	ExpectedAuthFailures float64 `json:"expected_auth_failures"`
	SpreadAuthFailures   float64 `json:"spread_auth_failures"`
}

// ActivityRow is when one client of a campaign or fleet incident was
// active; it was watched from From.
type ActivityRow struct {
	Client string       `json:"client"`
	From   time.Time    `json:"from"`
	Spans  []ActiveSpan `json:"spans"`
}

// ActiveSpan is a run of windows in which a client sent Requests.
type ActiveSpan struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Requests uint64    `json:"requests"`
}
