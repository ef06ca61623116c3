// Package sinks assembles the alert stage from configuration: it knows
// every sink package (Slack, syslog, Splunk HEC, OpenSearch, webhooks, a
// Kafka topic), builds the configured ones, and runs them behind one
// alert.Dispatcher fed either by the embedded pipeline's outbox (`gatewatch
// run`) or by one consumer group per sink on the findings topic
// (`gatewatch alert`). Secrets are read from files, never from the YAML.
package sinks

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatewatch/gatewatch/alert"
)

// FeedbackFile is the name, in the state directory, of the JSON-lines
// file of what people answered from Slack's buttons (alert.Feedback): the
// audit trail, the silences, and the false positives the detectors read
// (detect/feedback).
const FeedbackFile = "alert-feedback.jsonl"

// Config is the `alert:` section of gatewatch's configuration. The zero
// value configures no sink: findings still go to stdout and files.
type Config struct {
	// Host is the name gatewatch reports itself as (syslog HOSTNAME,
	// ECS observer.hostname); empty means the machine's hostname.
	Host string `yaml:"host"`
	// Routes decide which sinks get which findings; none sends every
	// finding to every sink.
	Routes []alert.Route `yaml:"routes"`
	// FailAfter is how long a sink may keep failing before /healthz
	// reports it (10m when 0).
	FailAfter time.Duration `yaml:"fail_after"`
	// RetryInitial and RetryMax bound the exponential backoff between
	// retries of a failed delivery (1s and 5m when 0); a receiver's
	// Retry-After, when longer, wins.
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// StateDir holds the outbox, cursors, Slack's incident map, the dead
	// letter and the feedback file (the run's state directory when empty).
	StateDir string `yaml:"state_dir"`

	Slack      *SlackConfig       `yaml:"slack"`
	Syslog     []SyslogConfig     `yaml:"syslog"`
	HEC        []HECConfig        `yaml:"hec"`
	OpenSearch []OpenSearchConfig `yaml:"opensearch"`
	Webhook    []WebhookConfig    `yaml:"webhook"`
	Kafka      []KafkaConfig      `yaml:"kafka"`
}

// Pace tunes one sink's worker (alert.SinkOptions).
type Pace struct {
	// Rate is notifications per second (0 = the sink's default);
	// Burst how many may go at once.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// Linger is how long to gather a batch after its first finding.
	Linger time.Duration `yaml:"linger"`
}

// SlackConfig configures the Slack sink.
type SlackConfig struct {
	Name string `yaml:"name"` // "slack" when empty
	// TokenFile holds the bot token (xoxb-…): one message per incident,
	// edited as it changes, buttons.
	TokenFile string `yaml:"token_file"`
	// Channel is the channel bot mode posts to ("#api-security" or C…).
	Channel string `yaml:"channel"`
	// APIURL is Slack's Web API base URL; empty means Slack's own.
	APIURL string `yaml:"api_url"`
	// WebhookURLFile holds an incoming webhook URL (the simple mode, used
	// without a token: open and resolved only).
	WebhookURLFile string `yaml:"webhook_url_file"`
	// SigningSecretFile holds the app's signing secret: with it, the
	// buttons' interaction endpoint (/slack/interactions) is served.
	SigningSecretFile string `yaml:"signing_secret_file"`
	// GrafanaURL is a link template ({{client}}, {{detector}},
	// {{incident}}, {{from}}, {{to}}) for the client dashboard.
	GrafanaURL string `yaml:"grafana_url"`
	// DigestOver: more new incidents than this in one batch become one
	// digest message (5 when 0; negative never).
	DigestOver int `yaml:"digest_over"`
	Pace       `yaml:",inline"`
}

// SyslogConfig configures one syslog destination.
type SyslogConfig struct {
	Name      string `yaml:"name"`      // "syslog", "syslog-2", … when empty
	Address   string `yaml:"address"`   // host:port
	Transport string `yaml:"transport"` // udp | tcp | tls (tcp and tls use octet counting)
	Format    string `yaml:"format"`    // rfc5424 | cef | leef
	CAFile    string `yaml:"ca_file"`
	CertFile  string `yaml:"cert_file"`
	KeyFile   string `yaml:"key_file"`
	// ServerName is the name verified in the receiver's certificate.
	ServerName string `yaml:"server_name"`
	Pace       `yaml:",inline"`
}

// HECConfig configures one Splunk HTTP Event Collector.
type HECConfig struct {
	Name       string `yaml:"name"` // "hec", "hec-2", … when empty
	URL        string `yaml:"url"`  // https://splunk:8088
	TokenFile  string `yaml:"token_file"`
	Index      string `yaml:"index"`
	Sourcetype string `yaml:"sourcetype"`
	Format     string `yaml:"format"` // ecs (default) | ocsf | cef | leef | json
	Ack        bool   `yaml:"ack"`    // wait for indexer acknowledgement
	CAFile     string `yaml:"ca_file"`
	Pace       `yaml:",inline"`
}

// OpenSearchConfig configures one OpenSearch or Elasticsearch cluster
// receiving ECS documents through _bulk.
type OpenSearchConfig struct {
	Name         string `yaml:"name"` // "opensearch", … when empty
	URL          string `yaml:"url"`
	Index        string `yaml:"index"` // gatewatch-findings when empty
	IndexDaily   bool   `yaml:"index_daily"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	APIKeyFile   string `yaml:"api_key_file"`
	CAFile       string `yaml:"ca_file"`
	Template     *bool  `yaml:"template"` // install the index template (default true)
	Pace         `yaml:",inline"`
}

// WebhookConfig configures one generic HTTPS webhook.
type WebhookConfig struct {
	Name       string `yaml:"name"` // "webhook", … when empty
	URL        string `yaml:"url"`
	Format     string `yaml:"format"`      // json (default) | ecs | ocsf
	SecretFile string `yaml:"secret_file"` // HMAC key signing each request
	TokenFile  string `yaml:"token_file"`  // bearer token
	CAFile     string `yaml:"ca_file"`
	AllowHTTP  bool   `yaml:"allow_http"` // a plain-http receiver on loopback
	Pace       `yaml:",inline"`
}

// KafkaConfig configures one Kafka topic receiving notifications, on
// the cluster of gatewatch's kafka section.
type KafkaConfig struct {
	Name   string `yaml:"name"` // "kafka", … when empty
	Topic  string `yaml:"topic"`
	Format string `yaml:"format"` // json (default) | ecs | ocsf
	Pace   `yaml:",inline"`
}

// Empty reports whether no sink is configured.
func (c Config) Empty() bool {
	return c.Slack == nil && len(c.Syslog)+len(c.HEC)+len(c.OpenSearch)+len(c.Webhook)+len(c.Kafka) == 0
}

// Validate checks what can be checked without reading files or dialling:
// required fields, known transports and formats, routes naming sinks
// that exist.
func (c Config) Validate() error {
	names, err := c.names()
	if err != nil {
		return err
	}
	for _, r := range c.Routes {
		if err := r.Validate(); err != nil {
			return err
		}
		for _, s := range r.Sinks {
			if !names[s] {
				return fmt.Errorf("alert route: no sink named %q", s)
			}
		}
	}
	return nil
}

// names returns every sink's name (defaults applied), refusing
// duplicates and sinks missing their required fields.
func (c Config) names() (map[string]bool, error) {
	names := map[string]bool{}
	add := func(name string, missing ...string) error {
		for _, m := range missing {
			if m != "" {
				return fmt.Errorf("alert sink %s: %s", name, m)
			}
		}
		if names[name] {
			return fmt.Errorf("alert: two sinks named %q (give them names)", name)
		}
		names[name] = true
		return nil
	}
	var errs []error
	if s := c.Slack; s != nil {
		errs = append(errs, add(nameOr(s.Name, "slack", 0), need(s.TokenFile != "" || s.WebhookURLFile != "", "token_file or webhook_url_file"),
			need(s.TokenFile == "" || s.Channel != "", "channel (bot mode)")))
	}
	for i, s := range c.Syslog {
		errs = append(errs, add(nameOr(s.Name, "syslog", i), need(s.Address != "", "address"), oneOf("transport", s.Transport, "udp", "tcp", "tls"),
			oneOf("format", s.Format, "rfc5424", "cef", "leef")))
	}
	for i, s := range c.HEC {
		errs = append(errs, add(nameOr(s.Name, "hec", i), need(s.URL != "", "url"), need(s.TokenFile != "", "token_file"),
			oneOf("format", s.Format, "", "ecs", "ocsf", "cef", "leef", "json")))
	}
	for i, s := range c.OpenSearch {
		errs = append(errs, add(nameOr(s.Name, "opensearch", i), need(s.URL != "", "url")))
	}
	for i, s := range c.Webhook {
		errs = append(errs, add(nameOr(s.Name, "webhook", i), need(s.URL != "", "url"), oneOf("format", s.Format, "", "json", "ecs", "ocsf")))
	}
	for i, s := range c.Kafka {
		errs = append(errs, add(nameOr(s.Name, "kafka", i), need(s.Topic != "", "topic"), oneOf("format", s.Format, "", "json", "ecs", "ocsf")))
	}
	return names, errors.Join(errs...)
}

// nameOr is a sink's configured name, or kind (the first of its kind)
// or kind-N.
func nameOr(name, kind string, i int) string {
	switch {
	case name != "":
		return name
	case i == 0:
		return kind
	}
	return fmt.Sprintf("%s-%d", kind, i+1)
}

func need(ok bool, what string) string {
	if ok {
		return ""
	}
	return what + " is required"
}

func oneOf(key, v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return ""
		}
	}
	return fmt.Sprintf("%s %q: want one of %q", key, v, allowed)
}
