package alert

import (
	"fmt"
	"path"

	"github.com/gatewatch/gatewatch/detect"
)

// Route sends the findings it matches to its sinks. Every condition that
// is set must hold; an empty condition matches everything. Patterns are
// path.Match globs ("api_key:*", "/admin/*").
type Route struct {
	// Sinks are the names of the sinks the route delivers to.
	Sinks []string `yaml:"sinks" json:"sinks"`
	// MinSeverity is the least severity delivered ("" = every finding).
	MinSeverity detect.Severity `yaml:"min_severity" json:"min_severity,omitempty"`
	// Detectors are the detector names delivered (Finding.Detector).
	Detectors []string `yaml:"detectors" json:"detectors,omitempty"`
	// Clients are glob patterns over the client key.
	Clients []string `yaml:"clients" json:"clients,omitempty"`
	// Routes are glob patterns over the finding's route templates: one
	// matching route is enough.
	Routes []string `yaml:"routes" json:"routes,omitempty"`
	// Statuses are the emissions delivered: open, update, resolved.
	Statuses []detect.Status `yaml:"statuses" json:"statuses,omitempty"`
}

// Validate reports a route that can never work: no sink, an unknown
// severity or status, a malformed pattern.
func (r Route) Validate() error {
	if len(r.Sinks) == 0 {
		return fmt.Errorf("alert route: no sinks")
	}
	switch r.MinSeverity {
	case "", detect.SeverityLow, detect.SeverityMedium, detect.SeverityHigh, detect.SeverityCritical:
	default:
		return fmt.Errorf("alert route: unknown min_severity %q (low, medium, high or critical)", r.MinSeverity)
	}
	for _, s := range r.Statuses {
		switch s {
		case detect.StatusOpen, detect.StatusUpdate, detect.StatusResolved:
		default:
			return fmt.Errorf("alert route: unknown status %q (open, update or resolved)", s)
		}
	}
	for _, p := range append(append([]string(nil), r.Clients...), r.Routes...) {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("alert route: pattern %q: %w", p, err)
		}
	}
	return nil
}

// Match reports whether f passes every condition of r.
func (r Route) Match(f detect.Finding) bool {
	if r.MinSeverity != "" && f.Severity.Rank() < r.MinSeverity.Rank() {
		return false
	}
	if len(r.Statuses) > 0 && !contains(r.Statuses, f.Status) {
		return false
	}
	if len(r.Detectors) > 0 && !contains(r.Detectors, f.Detector) {
		return false
	}
	if len(r.Clients) > 0 && !globAny(r.Clients, f.Client) {
		return false
	}
	if len(r.Routes) > 0 && !anyRoute(r.Routes, f.Routes) {
		return false
	}
	return true
}

// Routing decides which sinks get a finding: the sinks of every route
// that matches it. With no routes at all, every sink gets every finding.
type Routing []Route

// To reports whether sink gets f.
func (rs Routing) To(sink string, f detect.Finding) bool {
	if len(rs) == 0 {
		return true
	}
	for _, r := range rs {
		if contains(r.Sinks, sink) && r.Match(f) {
			return true
		}
	}
	return false
}

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func globAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

func anyRoute(patterns, routes []string) bool {
	for _, r := range routes {
		if globAny(patterns, r) {
			return true
		}
	}
	return false
}
