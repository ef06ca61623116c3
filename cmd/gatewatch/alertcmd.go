package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewatch/gatewatch/alert/sinks"
	"github.com/gatewatch/gatewatch/alert/slack"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/config"
)

const alertHelp = `
Deliver findings from the findings topic to the sinks of the config's alert
section: Slack (one message per incident, edited as it grows), syslog
(RFC 5424, CEF, LEEF over UDP, TCP or TLS), Splunk HEC, OpenSearch (ECS),
webhooks and Kafka topics. Each sink reads the topic in a consumer group of
its own (gatewatch-alert-NAME) and commits a finding only once the sink took
it, so a slow SIEM never delays Slack and a restart loses nothing. Retries
back off and honour Retry-After; what a receiver refuses for good is kept in
STATE_DIR/alert-dead.jsonl. /metrics has per-sink queue depth, retries,
429s, drops and last success; /healthz fails when a sink keeps failing.

  gatewatch alert --config gatewatch.yaml
  gatewatch alert test --config gatewatch.yaml --sink slack   # send a sample finding
`

// alert runs the alert stage on the findings topic, or "alert test".
func (c *cli) alert(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "test" {
		return c.alertTest(ctx, args[1:])
	}
	fs := c.newFlags("alert", "[test] [flags]", alertHelp)
	configPath := fs.String("config", "", "config file (default $GATEWATCH_CONFIG)")
	listen := fs.String("listen", "", "address for /metrics, /healthz and /slack/interactions (default from config)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*configPath)
	if err != nil {
		return err
	}
	if flagSet(fs, "listen") {
		cfg.HTTP.Listen = *listen
	}
	if cfg.Alert.Empty() {
		return errors.New("no sink configured in the alert section (see gatewatch config)")
	}
	log := c.logger(cfg.LogLevel)
	kc, err := c.kafkaConfig(cfg)
	if err != nil {
		return err
	}
	chart, closeChart := c.storeChart(cfg, log)
	defer closeChart()
	svc, err := sinks.New(sinks.Options{Config: cfg.Alert, Deps: alertDeps(cfg, kc, log, chart), FindingsTopic: cfg.Kafka.Topics.Findings})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(sinks.NewCollector(svc.Stats))
	srv, err := serveOps(cfg.HTTP, reg, svc.Healthy, log, interactions(svc)...)
	if err != nil {
		return err
	}
	log.Info("gatewatch alert running", "sinks", len(svc.Stats()), "topic", cfg.Kafka.Topics.Findings)
	err = svc.Run(ctx)
	shutdown(srv)
	return err
}

// alertTest sends one sample finding through one sink.
func (c *cli) alertTest(ctx context.Context, args []string) error {
	fs := c.newFlags("alert test", "--sink NAME [flags]", "Send a sample finding (labelled as a test) to one configured sink and say what happened.")
	configPath := fs.String("config", "", "config file (default $GATEWATCH_CONFIG)")
	sink := fs.String("sink", "", "the sink's name (slack, syslog, hec, opensearch, webhook, kafka, or its configured name)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*configPath)
	if err != nil {
		return err
	}
	kcfg, err := c.kafkaConfig(cfg)
	if err != nil && len(cfg.Alert.Kafka) > 0 {
		return err
	}
	res, err := sinks.SendTest(ctx, cfg.Alert, alertDeps(cfg, kcfg, c.logger(cfg.LogLevel), nil), *sink)
	if err != nil {
		return err
	}
	if res.Err != nil {
		return fmt.Errorf("sink %s: not delivered after %d attempts in %s (retryable: %v): %w",
			res.Sink, res.Attempts, res.Elapsed.Round(time.Millisecond), res.Retryable, res.Err)
	}
	fmt.Fprintf(c.stdout, "sink %s: delivered in %s (%d attempt(s)), delivery id %s\n",
		res.Sink, res.Elapsed.Round(time.Millisecond), res.Attempts, res.DeliveryID)
	return nil
}

// alertDeps are the sinks' dependencies for cfg; chart draws the PNG of
// a resolved incident's Slack thread (nil: none).
func alertDeps(cfg config.Config, kc transport.Config, log *slog.Logger, chart slack.Charter) sinks.Deps {
	return sinks.Deps{Kafka: kc, StateDir: cfg.AlertStateDir(), Log: log, Chart: chart}
}

// interactions mounts Slack's buttons endpoint when configured.
func interactions(svc *sinks.Service) []opsRoute {
	if h := svc.Interactions(); h != nil {
		return []opsRoute{{pattern: "POST /slack/interactions", h: h, own: true}}
	}
	return nil
}

// startAlerts starts the embedded pipeline's alert stage when sinks are
// configured (nil otherwise), its metrics registered on reg; Slack's
// charts come from the live report, if any.
func (c *cli) startAlerts(ctx context.Context, cfg config.Config, reg *prometheus.Registry, log *slog.Logger,
	live *liveReport) (*sinks.Embedded, error) {
	if cfg.Alert.Empty() {
		return nil, nil
	}
	var kc transport.Config
	if len(cfg.Alert.Kafka) > 0 {
		var err error
		if kc, err = c.kafkaConfig(cfg); err != nil {
			return nil, err
		}
	}
	e, err := sinks.StartEmbedded(ctx, cfg.Alert, alertDeps(cfg, kc, log, liveChart(live)))
	if err != nil {
		return nil, err
	}
	reg.MustRegister(sinks.NewCollector(e.Service.Stats))
	return e, nil
}

// shutdown stops the ops server, if any.
func shutdown(srv *http.Server) {
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}
