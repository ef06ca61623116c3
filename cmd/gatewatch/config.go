package main

import (
	"bytes"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/storage"
)

// exampleConfig is printed by "gatewatch config"; a test checks that it
// parses and matches defaultConfig, so the documentation cannot drift.
//
//go:embed gatewatch.example.yaml
var exampleConfig []byte

// Config is the gatewatch configuration file. Every field has a default
// (defaultConfig); the file, then environment variables, then flags
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
	Group        string            `yaml:"group"` // consumer group of "gatewatch store"
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
	Topics      KafkaTopics     `yaml:"topics"`
	DetectGroup string          `yaml:"detect_group"`
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
	Workers         int            `yaml:"workers"`
	Sources         []SourceConfig `yaml:"sources"`
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

	LoginRoutes []string      `yaml:"login_routes"`
	CampaignGap time.Duration `yaml:"campaign_gap"`

	FDR          float64       `yaml:"fdr"`
	AllowClients []string      `yaml:"allow_clients"`
	AllowRoutes  []string      `yaml:"allow_routes"`
	Maintenance  []Maintenance `yaml:"maintenance"`
}

// Switch turns one detector on or off.
type Switch struct {
	Enabled bool `yaml:"enabled"`
}

// Tuned turns one of the wider detectors on or off and sets its floor and
// minimum observed/expected ratio.
type Tuned struct {
	Enabled  bool    `yaml:"enabled"`
	Floor    float64 `yaml:"floor"`
	MinRatio float64 `yaml:"min_ratio"`
}

func (t Tuned) tuning() detect.Tuning {
	return detect.Tuning{Disabled: !t.Enabled, Floor: t.Floor, MinRatio: t.MinRatio}
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
}

func defaultConfig() Config {
	return Config{
		DataDir:  "gatewatch-data",
		LogLevel: "info",
		Ingest: IngestConfig{
			TrustedProxies:  []string{},
			Sources:         []SourceConfig{},
			SensitiveParams: append([]string(nil), ingest.DefaultSensitiveParams...),
		},
		Detect: DetectConfig{
			Window:          detect.DefaultWindow,
			AllowedLateness: detect.DefaultAllowedLateness,
			MinHistory:      detect.DefaultMinHistory,
			HalfLife:        detect.DefaultHalfLife,
			PValue:          detect.DefaultPValue,
			MinRequests:     detect.DefaultMinRequests,
			MinErrors:       detect.DefaultMinErrors,
			MinAuthFailures: detect.DefaultMinAuthFailures,
			MinRatio:        detect.DefaultMinRatio,
			ResolveAfter:    detect.DefaultResolveAfter,
			IdleAfter:       detect.DefaultIdleAfter,
			MaxClients:      detect.DefaultMaxClients,
			Volume:          Switch{Enabled: true},
			ErrorRatio:      Switch{Enabled: true},
			AuthFailures:    Switch{Enabled: true},

			Scanning:          Tuned{Enabled: true, Floor: detect.DefaultScanFloor, MinRatio: detect.DefaultScanMinRatio},
			Enumeration:       Tuned{Enabled: true, Floor: detect.DefaultEnumFloor, MinRatio: detect.DefaultEnumMinRatio},
			Injection:         Tuned{Enabled: true, Floor: detect.DefaultProbeFloor},
			Exfiltration:      Tuned{Enabled: true, Floor: detect.DefaultExfilFloor, MinRatio: detect.DefaultExfilMinRatio},
			CredentialSharing: Tuned{Enabled: true, Floor: detect.DefaultShareFloor, MinRatio: detect.DefaultShareMinRatio},
			FleetVolume:       Tuned{Enabled: true, Floor: detect.DefaultFleetFloor, MinRatio: detect.DefaultFleetMinRatio},
			FleetAuthFailures: Tuned{Enabled: true, Floor: detect.DefaultFleetAuthFloor, MinRatio: detect.DefaultFleetAuthMinRatio},
			BruteForce:        Tuned{Enabled: true, Floor: detect.DefaultBruteFloor, MinRatio: detect.DefaultBruteMinRatio},
			Probes:            Tuned{Enabled: true, Floor: detect.DefaultProbeCampaign, MinRatio: 1},
			LoginRoutes:       []string{},
			CampaignGap:       detect.DefaultCampaignGap,
			FDR:               detect.DefaultFDR,
			AllowClients:      []string{},
			AllowRoutes:       []string{},
			Maintenance:       []Maintenance{},
		},
		Output: OutputConfig{Format: "json", Stdout: true},
		HTTP:   HTTPConfig{Listen: "127.0.0.1:9107"},
		Kafka: KafkaConfig{
			Brokers:     []string{"localhost:9092"},
			ClientID:    "gatewatch",
			Compression: "zstd",
			Topics: KafkaTopics{Events: "gatewatch.events", DeadLetter: "gatewatch.deadletter",
				Findings: "gatewatch.findings", DetectState: "gatewatch.detect-state", Raw: "gatewatch.raw", Windows: "gatewatch.windows"},
			DetectGroup: "gatewatch-detect",
		},
		Collect: CollectConfig{SyslogFormat: "auto", HTTP: CollectHTTPConfig{
			Tokens: []CollectHTTPToken{}, Rate: 50, MaxBodyBytes: 10 << 20,
		}, Raw: CollectRawConfig{Format: "auto", Group: "gatewatch-collect-raw"}},
		Storage: StorageConfig{
			Database: "gatewatch", Username: "default", Migrate: true,
			Retention: storage.Retention{Events: 30, Windows: 180, Findings: 730, Health: 30},
			BatchRows: 100_000, FlushEvery: time.Second, Group: "gatewatch-store", HealthEvery: time.Minute,
		},
	}
}

// loadConfig reads the config file named by path, or by $GATEWATCH_CONFIG
// when path is empty, over the defaults, then applies environment
// overrides. No file at all is fine: the defaults run.
func (c *cli) loadConfig(path string) (Config, error) {
	cfg := defaultConfig()
	if path == "" {
		path = c.getenv("GATEWATCH_CONFIG")
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		if err := decodeConfig(b, &cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if v := c.getenv("GATEWATCH_DATA_DIR"); v != "" {
		cfg.DataDir = v
	}
	if v := c.getenv("GATEWATCH_HTTP_LISTEN"); v != "" {
		cfg.HTTP.Listen = v
	}
	if v := c.getenv("GATEWATCH_LOG_LEVEL"); v != "" {
		cfg.LogLevel = v
	}
	if v := c.getenv("GATEWATCH_KAFKA_BROKERS"); v != "" {
		cfg.Kafka.Brokers = strings.Split(v, ",")
	}
	if v := c.getenv("GATEWATCH_CLICKHOUSE_ADDR"); v != "" {
		cfg.Storage.Addr = v
	}
	return cfg, cfg.validate()
}

func decodeConfig(b []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a typo in a setting is an error, not a silent default
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func (cfg *Config) validate() error {
	var errs []error
	if cfg.Detect.Window < time.Second {
		errs = append(errs, fmt.Errorf("detect.window %v: must be at least 1s", cfg.Detect.Window))
	}
	if cfg.Detect.AllowedLateness < 0 {
		errs = append(errs, fmt.Errorf("detect.allowed_lateness %v: must not be negative", cfg.Detect.AllowedLateness))
	}
	if p := cfg.Detect.PValue; p <= 0 || p >= 1 {
		errs = append(errs, fmt.Errorf("detect.p_value %g: must be in (0,1)", p))
	}
	if q := cfg.Detect.FDR; q < 0 || q >= 1 {
		errs = append(errs, fmt.Errorf("detect.fdr %g: must be in [0,1) (0 turns false-discovery control off)", q))
	}
	for i, m := range cfg.Detect.Maintenance {
		if !m.End.After(m.Start) {
			errs = append(errs, fmt.Errorf("detect.maintenance[%d]: end %v is not after start %v", i, m.End, m.Start))
		}
	}
	for _, c := range cfg.Detect.AllowClients {
		if strings.Contains(c, "/") {
			if _, err := netip.ParsePrefix(c); err != nil {
				errs = append(errs, fmt.Errorf("detect.allow_clients %q: %w", c, err))
			}
		}
	}
	if _, err := cfg.trustedProxies(); err != nil {
		errs = append(errs, err)
	}
	switch cfg.Output.Format {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("output.format %q: want json or text", cfg.Output.Format))
	}
	for i, s := range cfg.Ingest.Sources {
		if s.Path == "" {
			errs = append(errs, fmt.Errorf("ingest.sources[%d]: path is required (a file, or - for stdin)", i))
		}
	}
	return errors.Join(errs...)
}

func (cfg *Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range cfg.Ingest.TrustedProxies {
		if !strings.Contains(s, "/") {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("ingest.trusted_proxies: %q is neither an address nor a CIDR prefix", s)
			}
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("ingest.trusted_proxies: %q: %v", s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// hmacKey returns the key for hashing API keys and tokens: from
// $GATEWATCH_HMAC_KEY (hex or text), else the key file, else (persist) a
// key generated once and kept in the data dir so client keys stay stable
// across restarts, else nil (a random key per process).
func (c *cli) hmacKey(cfg Config, persist bool) ([]byte, error) {
	if v := c.getenv("GATEWATCH_HMAC_KEY"); v != "" {
		if b, err := hex.DecodeString(v); err == nil && len(b) >= 16 {
			return b, nil
		}
		return []byte(v), nil
	}
	path := cfg.Ingest.HMACKeyFile
	if path == "" && persist {
		path = filepath.Join(cfg.DataDir, "hmac.key")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
				return nil, fmt.Errorf("data dir: %w", err)
			}
			n, err := ingest.NewNormalizer(ingest.NormalizerOptions{})
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, []byte(hex.EncodeToString(n.Key())+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("hmac key: %w", err)
			}
		}
	}
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hmac key: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) >= 16 {
		return k, nil
	}
	if len(s) < 16 {
		return nil, fmt.Errorf("hmac key in %s is too short: use at least 16 bytes", path)
	}
	return []byte(s), nil
}

func (cfg *Config) normalizerOptions(key []byte) (ingest.NormalizerOptions, error) {
	proxies, err := cfg.trustedProxies()
	if err != nil {
		return ingest.NormalizerOptions{}, err
	}
	return ingest.NormalizerOptions{
		HMACKey:         key,
		TrustedProxies:  proxies,
		SensitiveParams: cfg.Ingest.SensitiveParams,
	}, nil
}

func (cfg *Config) detectOptions() detect.Options {
	d := cfg.Detect
	var o detect.Options
	o.Window = d.Window
	o.AllowedLateness = d.AllowedLateness
	o.MinHistory = d.MinHistory
	o.HalfLife = d.HalfLife
	o.PValue = d.PValue
	o.MinRequests = d.MinRequests
	o.MinErrors = d.MinErrors
	o.MinAuthFailures = d.MinAuthFailures
	o.MinRatio = d.MinRatio
	o.ResolveAfter = d.ResolveAfter
	o.IdleAfter = d.IdleAfter
	o.MaxClients = d.MaxClients
	o.Volume.Disabled = !d.Volume.Enabled
	o.ErrorRatio.Disabled = !d.ErrorRatio.Enabled
	o.AuthFailures.Disabled = !d.AuthFailures.Enabled
	o.Scanning = d.Scanning.tuning()
	o.Enumeration = d.Enumeration.tuning()
	o.Injection = d.Injection.tuning()
	o.Exfiltration = d.Exfiltration.tuning()
	o.CredentialSharing = d.CredentialSharing.tuning()
	o.FleetVolume = d.FleetVolume.tuning()
	o.FleetAuth = d.FleetAuthFailures.tuning()
	o.BruteForce = d.BruteForce.tuning()
	o.Probes = d.Probes.tuning()
	o.LoginRoutes = d.LoginRoutes
	o.CampaignGap = d.CampaignGap
	o.FDR = d.FDR
	if d.FDR == 0 {
		o.FDR = -1 // 0 in the file means off; detect's zero means the default
	}
	o.AllowClients = d.AllowClients
	o.AllowRoutes = d.AllowRoutes
	for _, m := range d.Maintenance {
		o.Maintenance = append(o.Maintenance, detect.TimeRange{Start: m.Start, End: m.End})
	}
	return o
}

// kafkaConfig turns the config file's kafka section into a transport
// config; the SASL password comes from $GATEWATCH_KAFKA_PASSWORD or the
// password file.
func (c *cli) kafkaConfig(cfg Config) (transport.Config, error) {
	k := cfg.Kafka
	tc := transport.Config{
		Brokers:  k.Brokers,
		ClientID: k.ClientID,
		TLS: transport.TLSConfig{
			Enabled: k.TLS.Enabled, CAFile: k.TLS.CAFile, CertFile: k.TLS.CertFile,
			KeyFile: k.TLS.KeyFile, ServerName: k.TLS.ServerName,
		},
		SASL: transport.SASLConfig{Mechanism: k.SASL.Mechanism, Username: k.SASL.Username, PasswordFile: k.SASL.PasswordFile},
	}
	if v := c.getenv("GATEWATCH_KAFKA_PASSWORD"); v != "" {
		tc.SASL.Password, tc.SASL.PasswordFile = transport.Secret(v), ""
	}
	if err := tc.Validate(); err != nil {
		return tc, fmt.Errorf("kafka: %w", err)
	}
	return tc, nil
}
