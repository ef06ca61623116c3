package contract

import (
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// Learning period defaults of a Checker.
const (
	DefaultLearnFor   = 24 * time.Hour
	DefaultMinLearned = 10_000
)

// CheckerOptions configure a Checker. The zero value learns for
// DefaultLearnFor of event time and at least DefaultMinLearned events.
type CheckerOptions struct {
	// Contract configures the model.
	Contract Options
	// LearnFor is how much event time, from the first event, is learnt
	// before requests are checked; MinLearned is how many events at
	// least. The learning period ends once both have passed.
	LearnFor   time.Duration
	MinLearned int64
	// Model, when set, is where to start: a frozen model (learnt earlier,
	// see Save) is checked against from the first event; one still
	// learning goes on learning.
	Model *Model
}

// Checker learns the contract from a stream of events during a learning
// period, then checks every later event against it: what the embedded
// pipeline runs beside the detectors. It is not safe for concurrent use.
type Checker struct {
	opts    CheckerOptions
	m       *Model
	start   time.Time // first event's time
	learned int64
}

// NewChecker returns a Checker.
func NewChecker(opts CheckerOptions) *Checker {
	if opts.LearnFor <= 0 {
		opts.LearnFor = DefaultLearnFor
	}
	if opts.MinLearned <= 0 {
		opts.MinLearned = DefaultMinLearned
	}
	m := opts.Model
	if m == nil {
		m = New(opts.Contract)
	}
	return &Checker{opts: opts, m: m}
}

// Observe learns ev during the learning period; after it, it appends to
// out the ways ev falls outside the contract and returns it.
func (c *Checker) Observe(ev *ingest.Event, out []Violation) []Violation {
	if c.m.frozen {
		return c.m.Check(ev, out)
	}
	if c.start.IsZero() || ev.Time.Before(c.start) {
		c.start = ev.Time
	}
	if c.learned < c.opts.MinLearned || ev.Time.Sub(c.start) < c.opts.LearnFor {
		c.m.Learn(ev)
		c.learned++
		return out
	}
	c.m.Freeze()
	return c.m.Check(ev, out)
}

// Learning reports whether the learning period is still on.
func (c *Checker) Learning() bool { return !c.m.frozen }

// Learned is how many events were learnt from in this run.
func (c *Checker) Learned() int64 { return c.learned }

// Model returns the model: to save, or to list its routes.
func (c *Checker) Model() *Model { return c.m }

// ReportOf is the audit-trail record of ev and its violations.
func ReportOf(ev *ingest.Event, vs []Violation) Report {
	return Report{Time: ev.Time, Client: ev.ClientKey, ClientKind: ev.ClientKind.String(), Host: ev.Host, Method: ev.Method,
		Route: ev.Route, Path: ev.Path, Status: ev.Status, RequestID: ev.RequestID, Violations: append([]Violation(nil), vs...)}
}
