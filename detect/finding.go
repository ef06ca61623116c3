package detect

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Detector names, as they appear in Finding.Detector.
const (
	DetectorVolume       = "volume"
	DetectorErrorRatio   = "error_ratio"
	DetectorAuthFailures = "auth_failures"
	DetectorScanning     = "scanning"
	DetectorEnumeration  = "enumeration"
	DetectorInjection    = "injection"
	DetectorExfiltration = "exfiltration"
	DetectorSharing      = "credential_sharing"
	DetectorFleetVolume  = "fleet_volume"
	DetectorFleetAuth    = "fleet_auth_failures"
	DetectorBruteForce   = "brute_force"
	DetectorCampaign     = "campaign"
	// DetectorContract names the incidents of requests outside the API's
	// learnt contract (detect/contract); the engine does not raise them.
	DetectorContract = "contract"
)

// FleetClient is the Client of the fleet-wide findings (fleet_volume,
// fleet_auth_failures); their TopClients name the clients behind them.
const FleetClient = "*fleet*"

// detector indexes the detectors; the per-client ones come first.
type detector uint8

const (
	detVolume detector = iota
	detErrors
	detAuth
	detScan
	detEnum
	detProbe
	detExfil
	detShare
	detBrute
	detFleetVolume
	detFleetAuth
	detCampaign
	numDetectors

	// numClientDetectors counts the per-client detectors, which come
	// before the fleet-wide ones.
	numClientDetectors = detFleetVolume
)

var detectorNames = [numDetectors]string{DetectorVolume, DetectorErrorRatio, DetectorAuthFailures,
	DetectorScanning, DetectorEnumeration, DetectorInjection, DetectorExfiltration, DetectorSharing,
	DetectorBruteForce, DetectorFleetVolume, DetectorFleetAuth, DetectorCampaign}

// detectorPreference ranks the per-client detectors for naming an
// incident that several of them flagged: the most specific first, so a
// Nikto run is a scanning incident (with injection among its detectors),
// not a volume one.
var detectorPreference = [numDetectors]uint8{detScan: 0, detBrute: 1, detProbe: 2, detEnum: 3, detAuth: 4,
	detExfil: 5, detShare: 6, detErrors: 7, detVolume: 8, detFleetVolume: 9, detFleetAuth: 10, detCampaign: 11}

// String is the detector's name, as in Finding.Detector.
func (d detector) String() string { return detectorNames[d] }

// Status is where a finding stands in its incident's life.
type Status string

// Incident statuses.
const (
	StatusOpen     Status = "open"     // the first anomalous window of an incident
	StatusUpdate   Status = "update"   // the incident got worse, or is still going on
	StatusResolved Status = "resolved" // ResolveAfter quiet windows passed, or the input ended
)

// Severity grades a finding; see severityFor for the rule.
type Severity string

// Severities, least severe first.
const (
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Rank orders severities from 0 (low) to 3 (critical); unknown ones
// rank lowest.
func (s Severity) Rank() int { return s.rank() }

// rank orders severities; unknown ones rank lowest.
func (s Severity) rank() int {
	switch s {
	case SeverityMedium:
		return 1
	case SeverityHigh:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// Baseline kinds, as they appear in Finding.Baseline.
const (
	BaselineOwn        = "own"        // the client's own history
	BaselinePopulation = "population" // the other clients, for a client without enough history
	BaselineNone       = "none"       // injection: a count over a floor, no baseline
)

// Finding is one emission of an incident: a client behaving unlike its
// baseline for one detector, over one or more windows. All emissions of
// an incident share its IncidentID; Observed, Expected and the figures
// after them describe the incident's worst window so far.
//
// Its JSON form is the output schema of `gatewatch analyze`.
type Finding struct {
	IncidentID string `json:"incident_id"`
	Status     Status `json:"status"`      // "open" | "update" | "resolved"
	Client     string `json:"client"`      // the client key as text; an IP-keyed client is the IP itself
	ClientKind string `json:"client_kind"` // how the key was derived: "ip", "api_key", "jwt_sub", ...
	// Detector is the incident's main detector, the most specific that
	// flagged it (docs/findings.md; the Detector constants): per client
	// "volume", "error_ratio", "auth_failures", "scanning", "enumeration",
	// "injection", "exfiltration", "credential_sharing" or "brute_force";
	// fleet-wide (Client FleetClient) "fleet_volume" or
	// "fleet_auth_failures"; "campaign" for one attack from many clients.
	Detector    string    `json:"detector"`
	WindowStart time.Time `json:"window_start"` // start of the incident's first anomalous window
	WindowEnd   time.Time `json:"window_end"`   // end of its last anomalous window so far
	Windows     int       `json:"windows"`      // anomalous windows in the incident
	Observed    float64   `json:"observed"`     // in the incident's worst window
	Expected    float64   `json:"expected"`     // what the baseline expected for that window
	Spread      float64   `json:"spread"`       // ± around Expected (standard deviation)
	Unit        string    `json:"unit"`         // "req/min", "5xx ratio", "auth failures/min", ...
	Score       float64   `json:"score"`        // in [0,1): -log10(p) / (-log10(p) - log10(PValue option))
	PValue      float64   `json:"p_value"`      // the worst window's tail probability (0 when below float64 range)
	Severity    Severity  `json:"severity"`     // "low" | "medium" | "high" | "critical"
	Baseline    string    `json:"baseline"`     // "own" | "population" | "none"
	History     int       `json:"history"`      // windows of the client's own history; below MinHistory Expected is the population's
	Summary     string    `json:"summary"`      // one line for a human

	// Explanation (added in schema 2; empty fields are left out).
	Why        string   `json:"why,omitempty"`         // how expected was derived and why observed is anomalous
	Requests   float64  `json:"requests,omitempty"`    // requests in the worst window
	Routes     []string `json:"routes,omitempty"`      // route templates involved
	Samples    []string `json:"samples,omitempty"`     // a few redacted sample requests
	TopClients []string `json:"top_clients,omitempty"` // fleet findings: the clients contributing most

	// Incidents (added in schema 3; empty fields are left out).
	Detectors   []string `json:"detectors,omitempty"`    // every detector that flagged the incident, when more than one
	Campaign    string   `json:"campaign,omitempty"`     // campaigns: the probe signature, "login <route>" or "route <route>"
	Clients     []string `json:"clients,omitempty"`      // campaigns: the heaviest participating clients, heaviest first (at most 20)
	ClientCount int      `json:"client_count,omitempty"` // campaigns: distinct participating clients
	Totals      *Totals  `json:"totals,omitempty"`       // summed over the incident's anomalous windows
}

// Totals are an incident's tallies summed over its anomalous windows
// (for a campaign, over its participants' windows).
type Totals struct {
	Requests      float64 `json:"requests"`
	Failures      float64 `json:"failures"`       // 5xx, 401 and 403 answers
	Bytes         float64 `json:"bytes"`          // response bytes
	DistinctPaths float64 `json:"distinct_paths"` // distinct 404/403 paths, summed per window
}

// verdict is one detector's judgement of one client window.
type verdict struct {
	anomalous  bool
	suspect    bool    // p below the square root of PValue: kept out of the baseline's spread
	observed   float64 // in the finding's unit
	expected   float64
	spread     float64
	logP       float64 // ln of the tail probability
	effect     float64 // observed/expected, on the scale the floors use
	population bool    // judged against the population
	history    int     // own windows behind expected
	requests   float64 // requests in the window, for ratio summaries
	hits       float64 // errors or auth failures in the window
	refHigh    float64 // population volume: the fleet's 99th percentile
	prior      bool    // judged against the built-in prior (no population measured yet)
	rule       bool    // a plausibility rule, not a test: exempt from FDR control
	tool       bool    // the rule: refused requests under an attack tool's user agent
	span       int     // a sweep (sweep.go): windows of the run so far; observed counts over all of them
	seasonal   bool    // expected includes an hour-of-day factor
	ex         *explain
}

// explain is the evidence a verdict that becomes a finding carries:
// routes, samples and, for fleet findings, the top clients. Built only
// for anomalous windows, so judging allocates nothing.
type explain struct {
	routes, samples, top []string
}

// perWindow names the window length in a unit: "min" for one minute,
// otherwise the duration in Go's short form ("5m", "30s", "1h").
func perWindow(w time.Duration) string {
	switch w {
	case time.Minute:
		return "min"
	case time.Second:
		return "s"
	case time.Hour:
		return "h"
	}
	s := w.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// summary is the one-line description of a finding.
func summary(d detector, status Status, client string, v *verdict, per string, windows int) string {
	var b strings.Builder
	if d >= numClientDetectors {
		b.WriteString("the fleet")
	} else {
		b.WriteString("client ")
		b.WriteString(client)
	}
	writeObserved(&b, d, v, per)
	writeBaseline(&b, d, v)
	switch status {
	case StatusUpdate:
		b.WriteString("; ongoing for ")
		b.WriteString(strconv.Itoa(windows))
		b.WriteString(" windows")
	case StatusResolved:
		b.WriteString("; resolved after ")
		b.WriteString(strconv.Itoa(windows))
		b.WriteString(" anomalous windows")
	}
	return b.String()
}

// writeObserved writes what detector d saw in v, per window of length
// per (see perWindow), as the predicate of a summary: " sent 1,240
// req/min".
func writeObserved(b *strings.Builder, d detector, v *verdict, per string) {
	switch d {
	case detScan:
		b.WriteString(" got 404/403 on ~")
		b.WriteString(formatCount(math.Round(v.observed)))
		if v.span > 0 {
			b.WriteString(" distinct paths over " + spanOf(v.span, per))
			break
		}
		b.WriteString(" distinct paths/" + per)
	case detEnum:
		b.WriteString(" requested ~")
		b.WriteString(formatCount(math.Round(v.observed)))
		b.WriteString(" distinct object ids/" + per)
	case detProbe:
		b.WriteString(" sent ")
		b.WriteString(formatCount(v.observed))
		b.WriteString(" injection probes/" + per)
	case detExfil:
		b.WriteString(" received ")
		b.WriteString(formatCount(v.observed * v.requests))
		b.WriteString(" bytes in ")
		b.WriteString(formatCount(v.requests))
		b.WriteString(" requests (")
		b.WriteString(formatCount(v.observed))
		b.WriteString(" bytes/request)")
	case detShare:
		b.WriteString(" was used from ~")
		b.WriteString(formatCount(math.Round(v.observed)))
		b.WriteString(" networks/" + per)
	case detFleetVolume:
		b.WriteString(" sent ")
		b.WriteString(formatCount(v.observed))
		b.WriteString(" req/" + per)
	case detFleetAuth:
		b.WriteString(" had ")
		b.WriteString(formatCount(v.observed))
		b.WriteString(" auth failures/" + per + " from failure-dominated clients")
	case detVolume:
		b.WriteString(" sent ")
		b.WriteString(formatCount(v.observed))
		b.WriteString(" req/" + per)
	case detBrute:
		b.WriteString(" made ")
		b.WriteString(formatCount(v.observed))
		b.WriteString(" login attempts/" + per)
	case detErrors:
		b.WriteString(" got 5xx on ")
		b.WriteString(formatPercent(v.observed))
		b.WriteString(" of ")
		b.WriteString(formatCount(v.requests))
		b.WriteString(" requests")
	case detAuth:
		b.WriteString(" had ")
		b.WriteString(formatCount(v.observed))
		b.WriteString(" auth failures/" + per + " (")
		b.WriteString(formatPercent(v.hits / math.Max(v.requests, 1)))
		b.WriteString(" of ")
		b.WriteString(formatCount(v.requests))
		b.WriteString(" requests)")
	}
}

// writeBaseline writes what v was judged against, as a summary's second
// clause: ", baseline 48±6", the population's (with its 99th percentile
// for volume), or for injection, which has no baseline, ", floor-based".
func writeBaseline(b *strings.Builder, d detector, v *verdict) {
	if v.span > 0 {
		b.WriteString(", " + formatPercent(math.Min(1, v.observed/math.Max(v.requests, 1))) + " of its requests; no habit of misses before")
		return
	}
	switch {
	case d == detProbe:
		b.WriteString(", floor-based")
	case v.population:
		b.WriteString(", new client; population baseline ")
	default:
		b.WriteString(", baseline ")
	}
	switch {
	case d == detProbe:
	case d == detErrors:
		b.WriteString(formatPercent(v.expected))
		b.WriteString("±")
		b.WriteString(formatPercent(v.spread))
	default:
		b.WriteString(formatCount(v.expected))
		b.WriteString("±")
		b.WriteString(formatCount(v.spread))
	}
	if v.population && d == detVolume {
		b.WriteString(" (p99 ")
		b.WriteString(formatCount(v.refHigh))
		b.WriteString(")")
	}
}

// formatCount renders a count for people: thousands separated, small
// non-integers with one decimal ("1,240", "48", "2.5").
func formatCount(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	if x < 10 && x != math.Trunc(x) {
		return strconv.FormatFloat(x, 'f', 1, 64)
	}
	s := strconv.FormatFloat(math.Round(x), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatPercent renders a ratio as a percentage with sensible precision.
func formatPercent(r float64) string {
	p := 100 * r
	switch {
	case p >= 10:
		return strconv.FormatFloat(p, 'f', 0, 64) + "%"
	case p >= 1:
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 2, 64) + "%"
}

// spanOf renders n windows of length per: "29 min", "3 windows of 5m".
func spanOf(n int, per string) string {
	if per == "min" || per == "s" || per == "h" {
		return strconv.Itoa(n) + " " + per
	}
	return plural(n, "window") + " of " + per
}
