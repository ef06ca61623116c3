package contract

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// DefaultIncidentGap is how long a client may send nothing outside the
// contract and still be in the same incident.
const DefaultIncidentGap = 10 * time.Minute

// maxIncidentRoutes and maxIncidentSamples bound what an incident names.
const (
	maxIncidentRoutes  = 5
	maxIncidentSamples = 5
)

// Incident is one client's requests outside the contract, from the first
// to the last with no quiet gap longer than the incident gap: what a
// person acts on, where Report is the audit trail.
type Incident struct {
	Client    string         `json:"client"`
	First     time.Time      `json:"first"`
	Last      time.Time      `json:"last"`
	Requests  int            `json:"requests"` // requests outside the contract
	Reasons   map[Reason]int `json:"reasons"`  // violations by reason
	Routes    []string       `json:"routes"`   // the first few distinct "METHOD route"
	Samples   []Sample       `json:"samples"`  // the first few violations of distinct reasons or parameters
	FirstLine int64          `json:"first_line"`
	Input     string         `json:"input"` // of the first request
	Summary   string         `json:"summary"`

	kind   string // the client's kind
	sure   bool   // a violation of a reason that is an attack by itself
	opened bool   // OnOpen was called
}

// OpenAfter is how many requests outside the contract open an incident,
// unless one of them is an attack by itself (a traversal, a probe for a
// file): one odd request is a typo, three are a pattern. (An injection
// is not enough alone: libinjection takes the odd search for "h&m
// women's" for SQL.)
const OpenAfter = 3

// sureReason reports whether a violation of reason r is an attack by
// itself.
func sureReason(r Reason) bool { return r == Traversal || r == ProbeFile }

// Located is a Report with where it was read: the input and line (both
// empty for a live stream).
type Located struct {
	Report
	Input string
	Line  int64
}

// Sample is one violation of an incident, with where it was.
type Sample struct {
	Line  int64  `json:"line"`
	Route string `json:"route"`
	Violation
}

// Incidents groups reports into Incidents per client. It is not safe for
// concurrent use.
type Incidents struct {
	// OnOpen, when set, is called once per incident, when it reaches
	// OpenAfter requests or has a violation that is an attack by itself.
	OnOpen func(*Incident) error

	gap  time.Duration
	open map[string]*Incident
	emit func(*Incident) error
	// newest report time, and how many reports since the last sweep of
	// incidents quiet for longer than gap.
	newest time.Time
	since  int
}

// NewIncidents returns an empty grouping calling emit with each incident
// that ended (gap 0: DefaultIncidentGap).
func NewIncidents(gap time.Duration, emit func(*Incident) error) *Incidents {
	return &Incidents{gap: cmp.Or(gap, DefaultIncidentGap), open: map[string]*Incident{}, emit: emit}
}

// Add folds one report into its client's incident, ending the incident
// first when the client was quiet for longer than the gap. The incident
// keeps copies of the report's strings, not the report.
func (g *Incidents) Add(r *Located) error {
	in := g.open[r.Client]
	if in != nil && r.Time.Sub(in.Last) > g.gap {
		if err := g.end(r.Client, in); err != nil {
			return err
		}
		in = nil
	}
	if in == nil {
		// The report's strings may alias a reader's reused buffers: what
		// the incident keeps is copied.
		in = &Incident{Client: strings.Clone(r.Client), First: r.Time, Last: r.Time, Reasons: map[Reason]int{},
			FirstLine: r.Line, Input: r.Input}
		g.open[in.Client] = in
	}
	in.fold(r)
	if !in.opened && (in.Requests >= OpenAfter || in.sure) {
		in.opened = true
		if g.OnOpen != nil {
			if err := g.OnOpen(in); err != nil {
				return err
			}
		}
	}
	if r.Time.After(g.newest) {
		g.newest = r.Time
	}
	if g.since++; g.since >= 4096 {
		g.since = 0
		return g.Sweep(g.newest.Add(-g.gap))
	}
	return nil
}

// fold adds r to the incident.
func (in *Incident) fold(r *Located) {
	in.Requests++
	if r.Time.Before(in.First) {
		in.First = r.Time
	}
	if r.Time.After(in.Last) {
		in.Last = r.Time
	}
	route := r.Method + " " + r.Route
	if len(in.Routes) < maxIncidentRoutes && !slices.Contains(in.Routes, route) {
		in.Routes = append(in.Routes, route)
	}
	in.kind = r.ClientKind
	for _, v := range r.Violations {
		in.sure = in.sure || sureReason(v.Reason)
		in.Reasons[v.Reason]++
		if len(in.Samples) < maxIncidentSamples && !slices.ContainsFunc(in.Samples, func(s Sample) bool {
			return s.Reason == v.Reason && s.Param == v.Param
		}) {
			v.Param, v.Expected, v.Got = strings.Clone(v.Param), strings.Clone(v.Expected), strings.Clone(v.Got)
			in.Samples = append(in.Samples, Sample{Line: r.Line, Route: route, Violation: v})
		}
	}
}

// Sweep ends the incidents whose last request is before t.
func (g *Incidents) Sweep(t time.Time) error {
	var done []*Incident
	for _, in := range g.open {
		if in.Last.Before(t) {
			done = append(done, in)
		}
	}
	return g.endAll(done)
}

// Flush ends every open incident.
func (g *Incidents) Flush() error {
	done := make([]*Incident, 0, len(g.open))
	for _, in := range g.open {
		done = append(done, in)
	}
	return g.endAll(done)
}

// endAll ends incidents in the order they started.
func (g *Incidents) endAll(done []*Incident) error {
	slices.SortFunc(done, func(a, b *Incident) int {
		return cmp.Or(a.First.Compare(b.First), strings.Compare(a.Client, b.Client))
	})
	for _, in := range done {
		if err := g.end(in.Client, in); err != nil {
			return err
		}
	}
	return nil
}

func (g *Incidents) end(client string, in *Incident) error {
	delete(g.open, client)
	in.Summary = in.summary()
	return g.emit(in)
}

// Opened reports whether the incident reached the threshold that opens
// it (OnOpen was called).
func (in *Incident) Opened() bool { return in.opened }

// Finding is the incident as a finding of detector "contract": status
// open when it opens, resolved when it ends.
func (in *Incident) Finding(status detect.Status) detect.Finding {
	in.Summary = in.summary()
	sev := detect.SeverityMedium
	if in.sure {
		sev = detect.SeverityHigh
	}
	samples := make([]string, len(in.Samples))
	for i, s := range in.Samples {
		samples[i] = s.Route + ": " + s.text()
	}
	return detect.Finding{
		IncidentID: incidentID(in.Client, in.First), Status: status, Client: in.Client, ClientKind: in.kind,
		Detector: detect.DetectorContract, WindowStart: in.First, WindowEnd: in.Last, Windows: 1,
		Observed: float64(in.Requests), Requests: float64(in.Requests), Unit: "requests outside the contract",
		Severity: sev, Baseline: detect.BaselineNone, Summary: in.Summary, Routes: in.Routes, Samples: samples,
		Why: "requests unlike anything the API was seen to accept (route, parameters, value kinds, characters, lengths " +
			"learnt from traffic; docs/contract.md)",
	}
}

// Summarized fills in the incident's Summary and returns it: the form
// written as JSON by an audit (analyze --requests --by-client).
func (in *Incident) Summarized() *Incident {
	in.Summary = in.summary()
	return in
}

// incidentID is the stable id of client's incident starting at first.
func incidentID(client string, first time.Time) string {
	h := fnv.New64a()
	h.Write([]byte(client))
	h.Write([]byte{0, 'c'})
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(first.UnixNano()))
	h.Write(b[:])
	return "inc-" + hex.EncodeToString(h.Sum(b[:0]))
}

// summary says what happened in one line: the client, how many requests
// and why, where, and the first sample.
func (in *Incident) summary() string {
	reasons := make([]Reason, 0, len(in.Reasons))
	for r := range in.Reasons {
		reasons = append(reasons, r)
	}
	slices.SortFunc(reasons, func(a, b Reason) int {
		return cmp.Or(in.Reasons[b]-in.Reasons[a], strings.Compare(string(a), string(b)))
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%d %s", in.Reasons[r], r)
	}
	s := fmt.Sprintf("client %s: %d requests outside the API contract (%s) on %s", in.Client, in.Requests,
		strings.Join(parts, ", "), strings.Join(in.Routes, ", "))
	if len(in.Samples) > 0 {
		s += "; e.g. " + in.Samples[0].text()
	}
	return s
}

// text is a sample in words: "`qty` is integer; got "4' OR 1=1"".
func (s Sample) text() string {
	switch {
	case s.Param != "" && s.Expected != "":
		return fmt.Sprintf("%s is %s; got %s", s.Param, s.Expected, s.Got)
	case s.Param != "":
		return fmt.Sprintf("%s %s (%s)", s.Reason, s.Param, s.Got)
	}
	return fmt.Sprintf("%s %s", s.Reason, s.Got)
}
