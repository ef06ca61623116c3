package encode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/gatewatch/gatewatch/detect"
)

// number is a float64 that encodes NaN and the infinities as null, which
// encoding/json refuses to encode as numbers.
type number float64

// MarshalJSON implements json.Marshaler.
func (x number) MarshalJSON() ([]byte, error) {
	if !finite(float64(x)) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(x), 'g', -1, 64), nil
}

// appendJSON appends v as one line of JSON without a trailing newline
// and without escaping '<', '>' and '&' (no one embeds it in HTML).
func appendJSON(dst []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, fmt.Errorf("encode JSON: %w", err)
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil // Encode's newline
}

// gatewatchFields are the finding's own fields, as docs/findings.md
// names them: ECS's gatewatch object, OCSF's unmapped one.
type gatewatchFields struct {
	IncidentID  string   `json:"incident_id"`
	Status      string   `json:"status"`
	Detector    string   `json:"detector"`
	Detectors   []string `json:"detectors,omitempty"`
	Client      string   `json:"client"`
	ClientKind  string   `json:"client_kind"`
	Severity    string   `json:"severity"`
	WindowStart string   `json:"window_start,omitempty"`
	WindowEnd   string   `json:"window_end,omitempty"`
	Windows     int      `json:"windows"`
	Observed    number   `json:"observed"`
	Expected    number   `json:"expected"`
	Spread      number   `json:"spread"`
	Unit        string   `json:"unit,omitempty"`
	Score       number   `json:"score"`
	PValue      number   `json:"p_value"`
	Baseline    string   `json:"baseline,omitempty"`
	History     int      `json:"history"`
	Requests    number   `json:"requests,omitempty"`
	Routes      []string `json:"routes,omitempty"`
	Samples     []string `json:"samples,omitempty"`
	TopClients  []string `json:"top_clients,omitempty"`
	Campaign    string   `json:"campaign,omitempty"`
	Clients     []string `json:"clients,omitempty"`
	ClientCount int      `json:"client_count,omitempty"`
	Totals      *totals  `json:"totals,omitempty"`
}

// totals are detect.Totals with NaN-safe numbers.
type totals struct {
	Requests      number `json:"requests"`
	Failures      number `json:"failures"`
	Bytes         number `json:"bytes"`
	DistinctPaths number `json:"distinct_paths"`
}

// newGatewatchFields returns the fields of f.
func newGatewatchFields(f *detect.Finding) *gatewatchFields {
	g := &gatewatchFields{
		IncidentID: f.IncidentID, Status: string(f.Status), Detector: f.Detector, Detectors: f.Detectors,
		Client: f.Client, ClientKind: f.ClientKind, Severity: string(f.Severity),
		WindowStart: isoTime(f.WindowStart), WindowEnd: isoTime(f.WindowEnd), Windows: f.Windows,
		Observed: number(f.Observed), Expected: number(f.Expected), Spread: number(f.Spread),
		Unit: f.Unit, Score: number(f.Score), PValue: number(f.PValue), Baseline: f.Baseline,
		History: f.History, Requests: number(f.Requests), Routes: f.Routes, Samples: f.Samples,
		TopClients: f.TopClients, Campaign: f.Campaign, Clients: f.Clients, ClientCount: f.ClientCount,
	}
	if t := f.Totals; t != nil {
		g.Totals = &totals{number(t.Requests), number(t.Failures), number(t.Bytes), number(t.DistinctPaths)}
	}
	return g
}
