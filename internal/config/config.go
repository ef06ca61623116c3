// Package config is the gatewatch configuration file: its schema (every
// setting a YAML key), the defaults, loading (file, then environment
// overrides), validation, and the conversion of its sections into the
// libraries' options (detect.Options, ingest.NormalizerOptions).
// "gatewatch config" prints Example, which a test keeps equal to Default.
//
// cmd/gatewatch loads a Config and wires the libraries from it; the
// settings that need the process's secrets or connections (the HMAC key,
// Kafka and ClickHouse credentials) are resolved there.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/gatewatch/gatewatch/alert/sinks"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/storage"
)

// Example is the example config file "gatewatch config" prints: every
// setting, what it does, and its default. A test checks that it parses and
// matches Default, so the documentation cannot drift.
//
//go:embed gatewatch.example.yaml
var Example []byte

// Config is the gatewatch configuration file. Every field has a default
// (Default); the file, then environment variables, then flags
// override it.
type Config struct {
	DataDir  string        `yaml:"data_dir"`
	LogLevel string        `yaml:"log_level"`
	Ingest   IngestConfig  `yaml:"ingest"`
	Detect   DetectConfig  `yaml:"detect"`
	Output   OutputConfig  `yaml:"output"`
	HTTP     HTTPConfig    `yaml:"http"`
	Kafka    KafkaConfig   `yaml:"kafka"`
	Collect  CollectConfig `yaml:"collect"`
	Storage  StorageConfig `yaml:"clickhouse"`
	Alert    sinks.Config  `yaml:"alert"`
}

// StorageConfig says where events, client windows and findings are stored
// (ClickHouse, native protocol) and for how long.
type StorageConfig struct {
	// Addr is host:port of the native protocol (9000; 9440 with TLS).
	// Empty turns storage off for "run"; "store", "migrate" and "query"
	// need it.
	Addr         string            `yaml:"addr"`
	Database     string            `yaml:"database"`
	Username     string            `yaml:"username"`
	PasswordFile string            `yaml:"password_file"`
	TLS          StorageTLSConfig  `yaml:"tls"`
	Migrate      bool              `yaml:"migrate"` // apply migrations at startup
	Retention    storage.Retention `yaml:"retention_days"`
	BatchRows    int               `yaml:"batch_rows"`
	FlushEvery   time.Duration     `yaml:"flush_interval"`
	// Group names the consumer groups of "gatewatch store": each topic is
	// read as group "<group>.<topic>" (storage.StoreGroupID).
	Group string `yaml:"group"`
	// CreateTopics lets "store" create a topic it reads when missing, with
	// TopicPartitions partitions (0: as many as the events topic, else the
	// broker's default); without it, "store" waits for the topic.
	CreateTopics    bool `yaml:"create_topics"`
	TopicPartitions int  `yaml:"topic_partitions"`
	// HealthEvery is how often "store" and "run" write their own metrics
	// to the pipeline_health table; 0 turns it off.
	HealthEvery time.Duration `yaml:"health_interval"`
}

// StorageTLSConfig is TLS to ClickHouse.
type StorageTLSConfig struct {
	Enabled    bool   `yaml:"enabled"`
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// KafkaConfig says how collectors and detectors reach Kafka.
type KafkaConfig struct {
	Brokers     []string        `yaml:"brokers"`
	ClientID    string          `yaml:"client_id"`
	TLS         KafkaTLSConfig  `yaml:"tls"`
	SASL        KafkaSASLConfig `yaml:"sasl"`
	Compression string          `yaml:"compression"`
	// Wire is how events are encoded on the events topic: "binary"
	// (default, docs/event.proto) or "json" (docs/wire-format.md, for
	// topics that tools without the schema read). Readers take both.
	Wire        string      `yaml:"wire"`
	Topics      KafkaTopics `yaml:"topics"`
	DetectGroup string      `yaml:"detect_group"`
	// AllowPlaintextSASL lets SASL run without TLS (a test broker on
	// loopback); otherwise SASL without tls.enabled is a config error.
	AllowPlaintextSASL bool `yaml:"allow_plaintext_sasl"`
}

// KafkaTLSConfig is TLS to the brokers.
type KafkaTLSConfig struct {
	Enabled    bool   `yaml:"enabled"`
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// KafkaSASLConfig is SASL authentication; the password comes from a file
// or $GATEWATCH_KAFKA_PASSWORD, never from the config file itself.
type KafkaSASLConfig struct {
	Mechanism    string `yaml:"mechanism"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

// KafkaTopics names the topics gatewatch uses.
type KafkaTopics struct {
	Events      string `yaml:"events"`
	DeadLetter  string `yaml:"dead_letter"`
	Findings    string `yaml:"findings"`
	DetectState string `yaml:"detect_state"`
	Raw         string `yaml:"raw"`
	Windows     string `yaml:"windows"`
	// Contract receives the requests outside the API's contract
	// (contract.Report as JSON, keyed by client) from "detect", for the
	// store's contract_violations; "" is off.
	Contract string `yaml:"contract"`
}

// CollectConfig is what "gatewatch collect" listens on besides files.
type CollectConfig struct {
	SyslogUDP     string            `yaml:"syslog_udp"`
	SyslogTCP     string            `yaml:"syslog_tcp"`
	SyslogTLS     CollectSyslogTLS  `yaml:"syslog_tls"`
	SyslogFormat  string            `yaml:"syslog_format"`
	HTTP          CollectHTTPConfig `yaml:"http"`
	Raw           CollectRawConfig  `yaml:"raw"`
	PositionsFile string            `yaml:"positions_file"`
	// SyslogMaxConns bounds the open TCP and TLS syslog connections; when
	// all are open, a new source's connection takes the place of the
	// longest-idle one of the source holding the most.
	SyslogMaxConns int `yaml:"syslog_max_conns"`
	// SyslogMaxConnsPerSource bounds the connections of one sender
	// address (IPv6: one /64).
	SyslogMaxConnsPerSource int `yaml:"syslog_max_conns_per_source"`
	// SyslogFirstFrameTimeout closes a connection that has completed no
	// message (TLS handshake included) this long after it was accepted.
	SyslogFirstFrameTimeout time.Duration `yaml:"syslog_first_frame_timeout"`
	// SyslogIdleTimeout closes a connection silent this long after a
	// message.
	SyslogIdleTimeout time.Duration `yaml:"syslog_idle_timeout"`
}

// CollectSyslogTLS is the syslog-over-TLS listener (RFC 5425 framing).
type CollectSyslogTLS struct {
	Listen       string `yaml:"listen"`
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"` // when set, senders need a certificate it signed
}

// CollectRawConfig turns on the raw-lines topic: plain access-log lines that
// third-party shippers (rsyslog omkafka, Vector, Fluent Bit) write to
// kafka.topics.raw are parsed and normalised like the collector's own
// inputs, then published to the events topic.
type CollectRawConfig struct {
	Enabled bool   `yaml:"enabled"`
	Format  string `yaml:"format"` // of the lines, unless a message's gatewatch-format header names one
	Group   string `yaml:"group"`  // consumer group of the collectors reading the raw topic
}

// CollectHTTPConfig is the authenticated HTTP ingest endpoint.
type CollectHTTPConfig struct {
	Listen       string             `yaml:"listen"`
	TLSCertFile  string             `yaml:"tls_cert_file"`
	TLSKeyFile   string             `yaml:"tls_key_file"`
	Tokens       []CollectHTTPToken `yaml:"tokens"`
	TokenKeyFile string             `yaml:"token_key_file"`
	Rate         float64            `yaml:"rate"`
	MaxBodyBytes int64              `yaml:"max_body_bytes"`
	// ClientCAFile, when set, admits only senders presenting a client
	// certificate it signed (needs tls_cert_file); the certificate's
	// subject is then the sender's identity, and tokens become optional.
	ClientCAFile string `yaml:"client_ca_file"`
	// AllowPlainHTTP lets bearer tokens travel over plain HTTP on a
	// non-loopback listen address; without it that is a config error.
	AllowPlainHTTP bool `yaml:"allow_plain_http"`
}

// CollectHTTPToken is one accepted bearer token: a file holding it, or its
// HMAC (gatewatch never needs the token itself in its config).
type CollectHTTPToken struct {
	Name string `yaml:"name"`
	File string `yaml:"file"`
	Hash string `yaml:"hash"`
}

// IngestConfig says where logs come from and how events are normalised.
type IngestConfig struct {
	HMACKeyFile     string         `yaml:"hmac_key_file"`
	TrustedProxies  []string       `yaml:"trusted_proxies"`
	SensitiveParams []string       `yaml:"sensitive_params"`
	Identity        IdentityConfig `yaml:"identity"`
	Workers         int            `yaml:"workers"`
	Sources         []SourceConfig `yaml:"sources"`
}

// IdentityConfig says when a JWT subject or a Basic-auth user found in a
// request may name the client (ingest.IdentityOptions). By default it may
// not: anyone can send a token naming anyone, so such requests are keyed
// by IP and the claim is kept only as an HMAC.
type IdentityConfig struct {
	// VerifiedField names the log field or request header the gateway
	// sets once it verified the caller (e.g. x-jwt-verified, or
	// x-authenticated-user holding the user name).
	VerifiedField string `yaml:"verified_field"`
	// TrustClaims trusts the claims of every request the gateway did not
	// reject, for gateways that verify every credential they pass on.
	TrustClaims bool `yaml:"trust_claims"`
}

// SourceConfig is one log input of "gatewatch run".
type SourceConfig struct {
	Name      string `yaml:"name"`
	Path      string `yaml:"path"`
	Format    string `yaml:"format"`
	LogFormat string `yaml:"log_format"`
	FromStart bool   `yaml:"from_start"`
}

// DetectConfig tunes the detectors.
type DetectConfig struct {
	Window          time.Duration `yaml:"window"`
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	MinHistory      int           `yaml:"min_history"`
	HalfLife        int           `yaml:"half_life"`
	PValue          float64       `yaml:"p_value"`
	MinRequests     int           `yaml:"min_requests"`
	MinErrors       int           `yaml:"min_errors"`
	MinAuthFailures int           `yaml:"min_auth_failures"`
	MinRatio        float64       `yaml:"min_ratio"`
	ResolveAfter    int           `yaml:"resolve_after"`
	IdleAfter       time.Duration `yaml:"idle_after"`
	MaxClients      int           `yaml:"max_clients"`
	Volume          Switch        `yaml:"volume"`
	ErrorRatio      Switch        `yaml:"error_ratio"`
	AuthFailures    Switch        `yaml:"auth_failures"`

	Scanning          Tuned `yaml:"scanning"`
	Enumeration       Tuned `yaml:"enumeration"`
	Injection         Tuned `yaml:"injection"`
	Exfiltration      Tuned `yaml:"exfiltration"`
	CredentialSharing Tuned `yaml:"credential_sharing"`
	FleetVolume       Tuned `yaml:"fleet_volume"`
	FleetAuthFailures Tuned `yaml:"fleet_auth_failures"`
	BruteForce        Tuned `yaml:"brute_force"`
	Probes            Tuned `yaml:"probes"`
	Routes            Tuned `yaml:"routes"`

	LoginRoutes []string      `yaml:"login_routes"`
	CampaignGap time.Duration `yaml:"campaign_gap"`

	// Contract is the API contract check of "run" and "detect"
	// (detect/contract).
	Contract ContractConfig `yaml:"contract"`

	// Inventory is the endpoint inventory of "run" (detect/inventory).
	Inventory InventoryConfig `yaml:"inventory"`

	// FalsePositivesFile is the alert stage's feedback file, whose false
	// positives (Slack's button) the baselines absorb as ordinary windows
	// instead of reporting them (default: alert-feedback.jsonl in the
	// alert state directory; "off" ignores feedback).
	FalsePositivesFile string `yaml:"false_positives_file"`

	FDR          float64       `yaml:"fdr"`
	AllowClients []string      `yaml:"allow_clients"`
	AllowRoutes  []string      `yaml:"allow_routes"`
	Maintenance  []Maintenance `yaml:"maintenance"`
}

// Switch turns one detector on or off.
type Switch struct {
	Enabled bool `yaml:"enabled"`
}

// ContractConfig is the API contract check: learnt from traffic for a
// learning period, then every request checked against it.
type ContractConfig struct {
	Enabled bool `yaml:"enabled"`
	// LearnFor (event time) and MinLearned (events) bound the learning
	// period; it ends once both have passed.
	LearnFor   time.Duration `yaml:"learn_for"`
	MinLearned int64         `yaml:"min_learned"`
	// IncidentGap is how long a client may stay quiet and its requests
	// outside the contract still be one incident.
	IncidentGap time.Duration `yaml:"incident_gap"`
	// MinClients is how many distinct clients must show a route,
	// parameter, kind, character class or length before the contract
	// takes it (2 or 3).
	MinClients int `yaml:"min_clients"`
	// ModelFile is where the learnt contract is saved (every few minutes
	// and on shutdown) and loaded from at start, so a restart neither
	// learns again nor forgets: default contract-model.json in the data
	// directory; "off" keeps it in memory only.
	ModelFile string `yaml:"model_file"`
}

// InventoryConfig is the endpoint inventory "run" keeps of the traffic:
// saved to a file and, with ClickHouse, stored as snapshots (the
// endpoints table, the Grafana endpoints dashboard).
type InventoryConfig struct {
	Enabled bool `yaml:"enabled"`
	// MaxEndpoints bounds the endpoints kept; beyond, the least used are
	// evicted.
	MaxEndpoints int `yaml:"max_endpoints"`
	// File is where it is saved every 5 minutes and on shutdown, and
	// loaded from at start: default endpoints.json in the data directory;
	// "off" keeps it in memory only.
	File string `yaml:"file"`
}

// Tuned turns one of the wider detectors on or off and sets its floor and
// minimum observed/expected ratio.
type Tuned struct {
	Enabled  bool    `yaml:"enabled"`
	Floor    float64 `yaml:"floor"`
	MinRatio float64 `yaml:"min_ratio"`
}

// Maintenance is a span of time without findings (RFC 3339 times).
type Maintenance struct {
	Start time.Time `yaml:"start"`
	End   time.Time `yaml:"end"`
}

// OutputConfig says where findings go.
type OutputConfig struct {
	Format string `yaml:"format"` // json or text, on standard output
	Stdout bool   `yaml:"stdout"`
	Dir    string `yaml:"dir"` // daily JSON-lines files; default DATA_DIR/findings
}

// HTTPConfig is the operational endpoint of "gatewatch run".
type HTTPConfig struct {
	Listen string `yaml:"listen"` // serves /metrics and /healthz; empty disables
	// TokenFile, when set, names a file holding a bearer token every
	// request but /healthz must carry (Authorization: Bearer TOKEN).
	TokenFile string `yaml:"token_file"`
	// Report serves the live HTML report of "gatewatch run" at / (default
	// true).
	Report bool `yaml:"report"`
	// Rate caps the requests per second of every route but /healthz
	// (burst: twice as many); beyond it the answer is 429 (default 20).
	Rate float64 `yaml:"rate"`
	// TLSCertFile and TLSKeyFile, when set, serve HTTPS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// AllowPlainHTTP lets the token travel over plain HTTP on a
	// non-loopback listen address; without it that is a config error.
	AllowPlainHTTP bool `yaml:"allow_plain_http"`
}

// Syslog reports whether any syslog listener is configured.
func (c CollectConfig) Syslog() bool {
	return c.SyslogUDP != "" || c.SyslogTCP != "" || c.SyslogTLS.Listen != ""
}

// validateTransport checks the settings that guard gatewatch's own
// network endpoints and connections: the syslog connection limits, HTTP
// ingest and ops authentication over plain HTTP, SASL without TLS.
func (cfg *Config) validateTransport() []error {
	var errs []error
	cc := cfg.Collect
	if cc.SyslogMaxConns < 0 || cc.SyslogMaxConnsPerSource < 0 || cc.SyslogFirstFrameTimeout < 0 || cc.SyslogIdleTimeout < 0 {
		errs = append(errs, errors.New("collect.syslog_max_conns, syslog_max_conns_per_source, syslog_first_frame_timeout, syslog_idle_timeout: must not be negative (0: the default)"))
	}
	if h := cc.HTTP; h.Listen != "" {
		if (h.TLSCertFile == "") != (h.TLSKeyFile == "") {
			errs = append(errs, errors.New("collect.http: tls_cert_file and tls_key_file go together"))
		}
		if h.ClientCAFile != "" && h.TLSCertFile == "" {
			errs = append(errs, errors.New("collect.http.client_ca_file: client certificates need TLS (tls_cert_file, tls_key_file)"))
		}
		if len(h.Tokens) == 0 && h.ClientCAFile == "" {
			errs = append(errs, errors.New("collect.http: no tokens and no client_ca_file: an unauthenticated ingest endpoint is not offered"))
		}
		if len(h.Tokens) > 0 && h.TLSCertFile == "" && !h.AllowPlainHTTP && !ingest.IsLoopbackListen(h.Listen) {
			errs = append(errs, fmt.Errorf("collect.http: bearer tokens over plain HTTP on %s would cross the network in clear: "+
				"set tls_cert_file and tls_key_file, listen on loopback, or allow_plain_http: true", h.Listen))
		}
	}
	if h := cfg.HTTP; h.Listen != "" {
		if (h.TLSCertFile == "") != (h.TLSKeyFile == "") {
			errs = append(errs, errors.New("http: tls_cert_file and tls_key_file go together"))
		}
		if h.TokenFile != "" && h.TLSCertFile == "" && !h.AllowPlainHTTP && !ingest.IsLoopbackListen(h.Listen) {
			errs = append(errs, fmt.Errorf("http.token_file: the token over plain HTTP on %s would cross the network in clear: "+
				"set http.tls_cert_file and tls_key_file, listen on loopback, or allow_plain_http: true", h.Listen))
		}
	}
	if k := cfg.Kafka; k.SASL.Mechanism != "" && !k.TLS.Enabled && !k.AllowPlaintextSASL {
		errs = append(errs, errors.New("kafka.sasl: refusing SASL without TLS (credentials and events would cross the network in clear): "+
			"set kafka.tls.enabled, or kafka.allow_plaintext_sasl: true for a test broker on loopback"))
	}
	if _, err := ingest.ParseWireEncoding(cfg.Kafka.Wire); err != nil {
		errs = append(errs, fmt.Errorf("kafka.wire: %w", err))
	}
	return errs
}
