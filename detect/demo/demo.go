// Package demo runs the detectors on simulated API-gateway traffic
// (ingest/simulate: normal clients, injected attacks, traps that must not
// alert) and scores their findings against the scenario's labels: which
// attacks were found and how fast, and whether anything normal was
// flagged. "gatewatch demo" prints what Run reports; tests use the
// Scoreboard to judge the detectors end to end.
package demo

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// Scenario is the demo's traffic: clients normal clients for duration,
// and every attack and trap the simulator knows, the attacks in the last
// hour. The same seed replays the same traffic.
func Scenario(seed uint64, clients int, duration time.Duration) (*simulate.Scenario, error) {
	kinds := slices.Concat(simulate.AttackKinds(), simulate.ExtendedAttackKinds(), simulate.TrapKinds(), simulate.ExtendedTrapKinds())
	return simulate.New(simulate.Config{Seed: seed, Duration: duration, Clients: clients, AttackAt: duration - time.Hour, Attacks: kinds})
}

// Options configure Run.
type Options struct {
	// Scenario is the traffic. Required.
	Scenario *simulate.Scenario
	// Detect configures the detectors; Run sets Emit.
	Detect detect.Options
	// Speed is simulated seconds per real second; 0 runs as fast as
	// possible.
	Speed float64
	// OnFinding, when set, takes each finding emission; its first error
	// stops the run.
	OnFinding func(f detect.Finding) error
	// Progress, when set, hears every simulated half hour the simulated
	// time, the events so far and the clients the detectors hold.
	Progress func(simulated time.Time, events, clients int)
	// Recorder, when set, sees every event, closed window and finding
	// emission, in the order the detectors do (for an HTML report).
	Recorder Recorder
}

// Recorder sees what a run feeds and finds; *report.Collector in
// dashboards/report is one. Its methods are called from Run's goroutine.
type Recorder interface {
	Event(ev *ingest.Event)
	Window(ws detect.WindowStats)
	Finding(f detect.Finding)
}

// Result is what a run did: its events, its wall time (from the first
// event to the last finding) and its scoreboard.
type Result struct {
	Events  int
	Elapsed time.Duration
	Score   *Scoreboard
}

// Run replays the scenario through the detectors, then closes their open
// windows. It stops at ctx's end or OnFinding's first error.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Scenario == nil {
		return Result{}, errors.New("demo: a scenario is required")
	}
	score := NewScoreboard(opts.Scenario.Labels())
	var emitErr error
	dopts := opts.Detect
	rec := opts.Recorder
	if rec != nil {
		next := dopts.OnWindow
		dopts.OnWindow = func(ws detect.WindowStats) {
			rec.Window(ws)
			if next != nil {
				next(ws)
			}
		}
	}
	dopts.Emit = func(f detect.Finding) {
		score.Record(f)
		if rec != nil {
			rec.Finding(f)
		}
		if opts.OnFinding == nil {
			return
		}
		if err := opts.OnFinding(f); err != nil && emitErr == nil {
			emitErr = err
		}
	}
	engine := detect.New(dopts)
	wallStart := time.Now()
	events, err := replay(ctx, opts, engine, func() error { return emitErr })
	if err != nil {
		return Result{}, err
	}
	engine.Flush()
	if emitErr != nil {
		return Result{}, emitErr
	}
	return Result{Events: events, Elapsed: time.Since(wallStart), Score: score}, nil
}

// replay feeds the scenario's events to engine, at opts.Speed, with
// progress every simulated half hour; it stops at stop's first error.
func replay(ctx context.Context, opts Options, engine *detect.Engine, stop func() error) (int, error) {
	wallStart := time.Now()
	var simStart, lastReport time.Time
	events := 0
	err := opts.Scenario.Run(ctx, func(ev *ingest.Event) error {
		if simStart.IsZero() {
			simStart, lastReport = ev.Time, ev.Time
		}
		events++
		if opts.Recorder != nil {
			opts.Recorder.Event(ev)
		}
		engine.Observe(ev)
		if ev.Time.Sub(lastReport) >= 30*time.Minute {
			lastReport = ev.Time
			if opts.Progress != nil {
				opts.Progress(ev.Time, events, engine.Stats().ActiveClients)
			}
		}
		if opts.Speed > 0 {
			due := wallStart.Add(time.Duration(float64(ev.Time.Sub(simStart)) / opts.Speed))
			if d := time.Until(due); d > 10*time.Millisecond {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return stop()
	})
	return events, err
}
