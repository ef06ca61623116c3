package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

const demoHelp = `
Run the embedded pipeline (no Kafka, no ClickHouse) on simulated API-gateway
traffic: thousands of normal clients with heavy-tailed rates, plus injected
attacks (a quiet client's volume spike, credential stuffing, auth-failure and
error-ratio jumps, a flood) and traps that must not alert (a steady heavy
client, slow organic growth, a fleet-wide burst of 401s at token refresh).

Findings print as they fire; at the end a scorecard says which attacks were
found, how fast, and whether anything normal was flagged.

Examples:
  gatewatch demo
  gatewatch demo --clients 5000 --hours 4 --seed 7
  gatewatch demo --output json | jq .summary
  gatewatch demo --write-log demo.log   # also write the traffic as an nginx log
                                        # (then: gatewatch analyze demo.log)`

func (c *cli) demo(ctx context.Context, args []string) error {
	fs := c.newFlags("demo", "[flags]", demoHelp)
	clients := fs.Int("clients", 3000, "normal simulated clients")
	hours := fs.Float64("hours", 3, "simulated hours of traffic (attacks start one hour before the end)")
	seed := fs.Uint64("seed", 1, "random seed: the same seed replays the same traffic")
	output := fs.String("output", "text", "findings as text or json")
	speed := fs.Float64("speed", 0, "simulated seconds per real second; 0 runs as fast as possible")
	writeLog := fs.String("write-log", "", "also write the simulated traffic to this file as an nginx combined log")
	configPath := fs.String("config", "", "config file for detector settings (default $GATEWATCH_CONFIG; none is fine)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *clients < 10 || *hours < 1.5 {
		return fmt.Errorf("--clients must be at least 10 and --hours at least 1.5 (baselines need history before the attacks)")
	}
	cfg, err := c.loadConfig(*configPath)
	if err != nil {
		return err
	}
	out, err := alert.NewWriter(c.stdout, *output)
	if err != nil {
		return err
	}
	duration := time.Duration(*hours * float64(time.Hour))
	scen, err := demoScenario(*seed, *clients, duration)
	if err != nil {
		return err
	}
	if *writeLog != "" {
		if err := writeDemoLog(ctx, scen, *writeLog); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "demo: wrote the simulated traffic to %s\n", *writeLog)
	}
	score := newScoreboard(scen.Labels())
	var writeErr error
	opts := cfg.detectOptions()
	opts.Emit = func(f detect.Finding) {
		score.record(f)
		if f.Status == detect.StatusUpdate && *output == "text" {
			return // keep the terminal readable: open and resolve only
		}
		if err := out.Write(f); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	engine := detect.New(opts)
	fmt.Fprintf(c.stderr, "demo: %d normal clients, %.1f h of traffic from %s; attacks start at %s\n",
		*clients, *hours, scen.Start().Format(time.RFC3339), scen.Start().Add(duration-time.Hour).Format("15:04"))
	fmt.Fprintf(c.stderr, "demo: findings print as they fire (open, then resolved); the scorecard follows at the end\n")
	wallStart := time.Now()
	events, err := c.replayDemo(ctx, scen, engine, *speed, func() error { return writeErr })
	if err != nil {
		return err
	}
	engine.Flush()
	if writeErr != nil {
		return writeErr
	}
	fmt.Fprint(c.stderr, score.card(*clients, events, time.Since(wallStart)))
	return nil
}

// demoScenario is the demo's traffic: every attack and trap the simulator
// knows, the attacks in the last hour.
func demoScenario(seed uint64, clients int, duration time.Duration) (*simulate.Scenario, error) {
	kinds := slices.Concat(simulate.AttackKinds(), simulate.ExtendedAttackKinds(), simulate.TrapKinds(), simulate.ExtendedTrapKinds())
	return simulate.New(simulate.Config{Seed: seed, Duration: duration, Clients: clients, AttackAt: duration - time.Hour, Attacks: kinds})
}

// replayDemo feeds the scenario's events to engine, at speed simulated
// seconds per real second (0: as fast as possible), with a progress line
// every simulated half hour; it stops at stop's first error.
func (c *cli) replayDemo(ctx context.Context, scen *simulate.Scenario, engine *detect.Engine, speed float64, stop func() error) (int, error) {
	wallStart := time.Now()
	var simStart, lastReport time.Time
	events := 0
	err := scen.Run(ctx, func(ev *ingest.Event) error {
		if simStart.IsZero() {
			simStart, lastReport = ev.Time, ev.Time
		}
		events++
		engine.Observe(ev)
		if ev.Time.Sub(lastReport) >= 30*time.Minute {
			lastReport = ev.Time
			fmt.Fprintf(c.stderr, "demo: simulated %s, %s events, %d clients\n",
				ev.Time.Format("15:04"), human(float64(events)), engine.Stats().ActiveClients)
		}
		if speed > 0 {
			due := wallStart.Add(time.Duration(float64(ev.Time.Sub(simStart)) / speed))
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

func writeDemoLog(ctx context.Context, scen *simulate.Scenario, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := scen.WriteNginx(ctx, f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// scoreboard compares the findings with the scenario's labels.
type scoreboard struct {
	labels        []simulate.Label
	byClient      map[string]simulate.Label
	members       map[string]bool           // clients taking part in a fleet-wide attack
	first         map[string]detect.Finding // first finding per labelled client
	normalFlagged map[string]bool
	fleetTrapHits []detect.Finding // findings during a fleet-wide trap (no client of its own)
}

func newScoreboard(labels []simulate.Label) *scoreboard {
	s := &scoreboard{labels: labels, byClient: map[string]simulate.Label{}, members: map[string]bool{},
		first: map[string]detect.Finding{}, normalFlagged: map[string]bool{}}
	for _, l := range labels {
		s.byClient[l.Client] = l
		for _, m := range l.Members {
			s.members[m] = true
		}
	}
	return s
}

// record scores one finding.
func (s *scoreboard) record(f detect.Finding) {
	if f.ClientKind == "campaign" {
		// A campaign flags each client it names.
		for _, c := range f.Clients {
			if _, labelled := s.byClient[c]; !labelled && !s.members[c] {
				s.normalFlagged[c] = true
			}
		}
	} else if _, labelled := s.byClient[f.Client]; labelled {
		if _, seen := s.first[f.Client]; !seen {
			s.first[f.Client] = f
		}
	} else if !s.members[f.Client] {
		s.normalFlagged[f.Client] = true
	}
	for _, l := range s.labels {
		if l.Client == "" && f.Status == detect.StatusOpen && f.WindowStart.Before(l.End) && f.WindowEnd.After(l.Start) {
			s.fleetTrapHits = append(s.fleetTrapHits, f)
		}
	}
}

// card tells how the detectors did against the scenario's labels.
func (s *scoreboard) card(clients, events int, elapsed time.Duration) string {
	labels := slices.Clone(s.labels)
	sort.Slice(labels, func(i, j int) bool { return labels[i].Kind < labels[j].Kind })
	var b strings.Builder
	fmt.Fprintf(&b, "\ndemo: %s events in %s (%s events/s)\n", human(float64(events)), elapsed.Round(time.Millisecond), human(float64(events)/elapsed.Seconds()))
	found, attacks := 0, 0
	for _, l := range labels {
		f, hit := s.first[l.Client]
		trap := len(l.Detectors) == 0
		if l.Client == "" { // fleet-wide: judged by what fired while it lasted
			hit = len(s.fleetTrapHits) > 0
			if hit {
				f = s.fleetTrapHits[0]
			}
		}
		switch {
		case trap && !hit:
			who := l.Client
			if who == "" {
				who = "(whole fleet)"
			}
			fmt.Fprintf(&b, "  ok    trap %-22s %-16s no alert, as it should be\n", l.Kind, who)
		case trap:
			fmt.Fprintf(&b, "  FAIL  trap %-22s %-16s alerted: %s\n", l.Kind, f.Client, f.Summary)
		case hit:
			attacks++
			found++
			delay := f.WindowEnd.Sub(l.Start).Round(time.Second)
			fmt.Fprintf(&b, "  ok    %-27s %-16s found by %s %s after it began\n", l.Kind, l.Client, f.Detector, delay)
		default:
			attacks++
			fmt.Fprintf(&b, "  MISS  %-27s %-16s not found\n", l.Kind, l.Client)
		}
	}
	fmt.Fprintf(&b, "  %d/%d attacks found; %d of %d normal clients flagged (%.2f%%)\n",
		found, attacks, len(s.normalFlagged), clients, 100*float64(len(s.normalFlagged))/float64(clients))
	return b.String()
}
