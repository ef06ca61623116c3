package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/dashboards/report"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/demo"
	"github.com/gatewatch/gatewatch/ingest/simulate"
	"github.com/gatewatch/gatewatch/internal/human"
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
  gatewatch demo --report demo.html     # and open demo.html in a browser
  gatewatch demo --write-log demo.log   # also write the traffic as an nginx log
                                        # (then: gatewatch analyze demo.log)

--report FILE writes the same self-contained HTML page as "gatewatch analyze
--report": the incidents with each client's band, the traffic overview.`

func (c *cli) demo(ctx context.Context, args []string) error {
	fs := c.newFlags("demo", "[flags]", demoHelp)
	clients := fs.Int("clients", 3000, "normal simulated clients")
	hours := fs.Float64("hours", 3, "simulated hours of traffic (attacks start one hour before the end)")
	seed := fs.Uint64("seed", 1, "random seed: the same seed replays the same traffic")
	output := fs.String("output", "text", "findings as text or json")
	speed := fs.Float64("speed", 0, "simulated seconds per real second; 0 runs as fast as possible")
	writeLog := fs.String("write-log", "", "also write the simulated traffic to this file as an nginx combined log")
	reportPath := fs.String("report", "", "also write a self-contained HTML report (incidents, each client's band, traffic) to this file")
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
	scen, err := demo.Scenario(*seed, *clients, duration)
	if err != nil {
		return err
	}
	if *writeLog != "" {
		if err := writeDemoLog(ctx, scen, *writeLog); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "demo: wrote the simulated traffic to %s\n", *writeLog)
	}
	fmt.Fprintf(c.stderr, "demo: %d normal clients, %.1f h of traffic from %s; attacks start at %s\n",
		*clients, *hours, scen.Start().Format(time.RFC3339), scen.Start().Add(duration-time.Hour).Format("15:04"))
	fmt.Fprintf(c.stderr, "demo: findings print as they fire (open, then resolved); the scorecard follows at the end\n")
	dopts := demo.Options{Scenario: scen, Detect: cfg.DetectOptions(), Speed: *speed,
		OnFinding: func(f detect.Finding) error {
			if f.Status == detect.StatusUpdate && *output == "text" {
				return nil // keep the terminal readable: open and resolve only
			}
			return out.Write(f)
		},
		Progress: func(at time.Time, events, clients int) {
			fmt.Fprintf(c.stderr, "demo: simulated %s, %s events, %d clients\n", at.Format("15:04"), human.Count(float64(events)), clients)
		}}
	var rep *report.Collector
	if *reportPath != "" {
		rep = report.New(report.Options{Title: fmt.Sprintf("gatewatch demo (%d clients, %.1f h, seed %d)", *clients, *hours, *seed), Window: dopts.Detect.Window})
		dopts.Recorder = rep
	}
	res, err := demo.Run(ctx, dopts)
	if err != nil {
		return err
	}
	fmt.Fprint(c.stderr, res.Score.Card(*clients, res.Events, res.Elapsed))
	if rep == nil {
		return nil
	}
	n := int64(res.Events)
	rep.Input(report.InputStats{Lines: n, Events: n, Inputs: []report.InputCount{{Name: "simulated traffic", Format: "demo", Events: n}}})
	size, err := writeReportFile(*reportPath, rep.Data())
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "demo: report written to %s (%s)\n", *reportPath, human.Bytes(float64(size)))
	return nil
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
