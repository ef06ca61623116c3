package sinks

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/alert/encode"
	"github.com/gatewatch/gatewatch/alert/hec"
	"github.com/gatewatch/gatewatch/alert/kafkatopic"
	"github.com/gatewatch/gatewatch/alert/opensearch"
	"github.com/gatewatch/gatewatch/alert/slack"
	"github.com/gatewatch/gatewatch/alert/syslog"
	"github.com/gatewatch/gatewatch/alert/webhook"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/tlsfiles"
)

// Built is one configured sink and how its worker is paced.
type Built struct {
	Sink alert.Sink
	Pace alert.SinkOptions
}

// Deps are what the sinks need from the rest of gatewatch.
type Deps struct {
	// Kafka is the cluster of gatewatch's kafka section (Kafka sinks).
	Kafka transport.Config
	// StateDir is where Slack keeps its incident map (Config.StateDir
	// wins when set).
	StateDir string
	Log      *slog.Logger
	// Chart draws the PNG a resolved incident's Slack thread gets; nil
	// attaches none.
	Chart slack.Charter
}

// Build constructs every configured sink, reading their secret files.
func Build(c Config, d Deps) ([]Built, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var out []Built
	var errs []error
	keep := func(s alert.Sink, p alert.SinkOptions, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		out = append(out, Built{Sink: s, Pace: p})
	}
	if c.Slack != nil {
		s, err := buildSlack(*c.Slack, c.stateDir(d), d.Log, d.Chart)
		keep(s, slackPace(c.Slack.Pace), err)
	}
	for i, sc := range c.Syslog {
		s, err := buildSyslog(sc, nameOr(sc.Name, "syslog", i))
		keep(s, sc.Pace.options(0, 0), err)
	}
	for i, hc := range c.HEC {
		s, err := buildHEC(hc, nameOr(hc.Name, "hec", i))
		keep(s, hc.Pace.options(0, 0), err)
	}
	for i, oc := range c.OpenSearch {
		s, err := buildOpenSearch(oc, nameOr(oc.Name, "opensearch", i))
		keep(s, oc.Pace.options(0, 0), err)
	}
	for i, wc := range c.Webhook {
		s, err := buildWebhook(wc, nameOr(wc.Name, "webhook", i))
		keep(s, wc.Pace.options(0, 0), err)
	}
	for i, kc := range c.Kafka {
		s, err := buildKafka(kc, nameOr(kc.Name, "kafka", i), d.Kafka)
		keep(s, kc.Pace.options(0, 0), err)
	}
	return out, errors.Join(errs...)
}

// stateDir is where the alert stage keeps its files.
func (c Config) stateDir(d Deps) string {
	if c.StateDir != "" {
		return c.StateDir
	}
	return d.StateDir
}

// options turns a Pace into worker options, with the sink's defaults.
func (p Pace) options(rate float64, burst int) alert.SinkOptions {
	if p.Rate > 0 {
		rate = p.Rate
	}
	if p.Burst > 0 {
		burst = p.Burst
	}
	return alert.SinkOptions{Rate: rate, Burst: burst, Linger: p.Linger}
}

// slackPace: about one message a second per channel with small bursts,
// and a few seconds of linger so an incident's quick updates become one
// edit.
func slackPace(p Pace) alert.SinkOptions {
	o := p.options(1, 3)
	if o.Linger <= 0 {
		o.Linger = 3 * time.Second
	}
	return o
}

func buildSlack(c SlackConfig, stateDir string, log *slog.Logger, chart slack.Charter) (alert.Sink, error) {
	o := slack.Options{Name: nameOr(c.Name, "slack", 0), Channel: c.Channel, APIURL: c.APIURL,
		GrafanaURL: c.GrafanaURL, DigestOver: c.DigestOver, Logger: log, Chart: chart}
	if stateDir != "" {
		o.StateDir = filepath.Join(stateDir, "slack-"+o.Name)
	}
	var err error
	if c.TokenFile != "" {
		o.Token, err = ReadSecret(c.TokenFile)
	} else {
		o.WebhookURL, err = ReadSecret(c.WebhookURLFile)
	}
	if err != nil {
		return nil, fmt.Errorf("alert sink %s: %w", o.Name, err)
	}
	return slack.New(o)
}

func buildSyslog(c SyslogConfig, name string) (alert.Sink, error) {
	enc, err := encode.ByName(map[string]string{"rfc5424": "rfc5424", "cef": "syslog-cef", "leef": "syslog-leef"}[c.Format])
	if err != nil {
		return nil, fmt.Errorf("alert sink %s: %w", name, err)
	}
	return syslog.New(syslog.Options{Name: name, Address: c.Address, Transport: c.Transport, Encoder: enc,
		CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile, ServerName: c.ServerName})
}

func buildHEC(c HECConfig, name string) (alert.Sink, error) {
	token, err := ReadSecret(c.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("alert sink %s: %w", name, err)
	}
	enc, err := encoder(c.Format, "ecs")
	if err != nil {
		return nil, fmt.Errorf("alert sink %s: %w", name, err)
	}
	return hec.New(hec.Options{Name: name, URL: c.URL, Token: token, Index: c.Index, Sourcetype: c.Sourcetype,
		Encoder: enc, CAFile: c.CAFile, Ack: c.Ack})
}

func buildOpenSearch(c OpenSearchConfig, name string) (alert.Sink, error) {
	o := opensearch.Options{Name: name, URL: c.URL, Index: c.Index, IndexDaily: c.IndexDaily, Username: c.Username,
		CAFile: c.CAFile, Encoder: encode.ECS, Template: c.Template == nil || *c.Template}
	var err error
	if c.PasswordFile != "" {
		o.Password, err = ReadSecret(c.PasswordFile)
	}
	if err == nil && c.APIKeyFile != "" {
		o.APIKey, err = ReadSecret(c.APIKeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("alert sink %s: %w", name, err)
	}
	return opensearch.New(o)
}

func buildWebhook(c WebhookConfig, name string) (alert.Sink, error) {
	o := webhook.Options{Name: name, URL: c.URL, AllowHTTP: c.AllowHTTP, TLS: tlsfiles.Files{CAFile: c.CAFile}}
	var err error
	o.Encoder, err = encoder(c.Format, "json")
	if err == nil && c.SecretFile != "" {
		var s string
		s, err = ReadSecret(c.SecretFile)
		o.Secret = []byte(s)
	}
	if err == nil && c.TokenFile != "" {
		o.Token, err = ReadSecret(c.TokenFile)
	}
	if err != nil {
		return nil, fmt.Errorf("alert sink %s: %w", name, err)
	}
	return webhook.New(o)
}

func buildKafka(c KafkaConfig, name string, kc transport.Config) (alert.Sink, error) {
	enc, err := encoder(c.Format, "json")
	if err != nil {
		return nil, fmt.Errorf("alert sink %s: %w", name, err)
	}
	return kafkatopic.New(kafkatopic.Options{Name: name, Kafka: kc, Topic: c.Topic, Encoder: enc})
}

// encoder returns the named format's encoder; "json" (the finding's own
// JSON) is nil, which every JSON sink takes as its default.
func encoder(format, def string) (alert.Encoder, error) {
	if format == "" {
		format = def
	}
	if format == "json" {
		return nil, nil
	}
	return encode.ByName(format)
}

// ReadSecret reads a token, password or URL from a file, without its
// surrounding whitespace. An empty file is an error, so a secret that
// failed to mount is not taken as "no authentication".
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return s, nil
}
