package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/detect/inventory"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/storage"
)

// Default is the configuration without a file: every setting's default.
func Default() Config {
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
			Routes:            Tuned{Enabled: true, Floor: detect.DefaultRouteClients, MinRatio: detect.DefaultRouteMinRatio},
			LoginRoutes:       []string{},
			CampaignGap:       detect.DefaultCampaignGap,
			FDR:               detect.DefaultFDR,
			AllowClients:      []string{},
			AllowRoutes:       []string{},
			Maintenance:       []Maintenance{},
			Contract: ContractConfig{Enabled: true, LearnFor: contract.DefaultLearnFor, MinLearned: contract.DefaultMinLearned,
				IncidentGap: contract.DefaultIncidentGap, MinClients: 2},
			Inventory: InventoryConfig{Enabled: true, MaxEndpoints: inventory.DefaultMaxEndpoints},
		},
		Output: OutputConfig{Format: "json", Stdout: true},
		HTTP:   HTTPConfig{Listen: "127.0.0.1:9107", Report: true, Rate: 20},
		Kafka: KafkaConfig{
			Brokers:     []string{"localhost:9092"},
			ClientID:    "gatewatch",
			Compression: "lz4",
			Wire:        "binary",
			Topics: KafkaTopics{Events: "gatewatch.events", DeadLetter: "gatewatch.deadletter",
				Findings: "gatewatch.findings", DetectState: "gatewatch.detect-state", Raw: "gatewatch.raw", Windows: "gatewatch.windows",
				Contract: "gatewatch.contract"},
			DetectGroup: "gatewatch-detect",
		},
		Collect: CollectConfig{SyslogFormat: "auto", HTTP: CollectHTTPConfig{
			Tokens: []CollectHTTPToken{}, Rate: 50, MaxBodyBytes: 10 << 20,
		}, Raw: CollectRawConfig{Format: "auto", Group: "gatewatch-collect-raw"},
			SyslogMaxConns: ingest.DefaultSyslogMaxConns, SyslogMaxConnsPerSource: ingest.DefaultSyslogMaxConnsPerSource,
			SyslogFirstFrameTimeout: ingest.DefaultSyslogFirstFrameTimeout, SyslogIdleTimeout: ingest.DefaultSyslogIdleTimeout},
		Storage: StorageConfig{
			Database: "gatewatch", Username: "default", Migrate: true,
			Retention: storage.Retention{Events: 30, Windows: 180, Findings: 730, Health: 30, Violations: 30,
				Endpoints: storage.DefaultEndpointRetentionDays},
			BatchRows: storage.DefaultBatchRows, FlushEvery: time.Second, Group: "gatewatch-store", CreateTopics: true, HealthEvery: time.Minute,
		},
	}
}

// Load reads the config file named by path, or by $GATEWATCH_CONFIG when
// path is empty, over the defaults, then applies the environment overrides
// getenv returns, and validates the result. No file at all is fine: the
// defaults run.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path == "" {
		path = getenv("GATEWATCH_CONFIG")
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		if err := Decode(b, &cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if v := getenv("GATEWATCH_DATA_DIR"); v != "" {
		cfg.DataDir = v
	}
	if v := getenv("GATEWATCH_HTTP_LISTEN"); v != "" {
		cfg.HTTP.Listen = v
	}
	if v := getenv("GATEWATCH_LOG_LEVEL"); v != "" {
		cfg.LogLevel = v
	}
	if v := getenv("GATEWATCH_KAFKA_BROKERS"); v != "" {
		cfg.Kafka.Brokers = strings.Split(v, ",")
	}
	if v := getenv("GATEWATCH_CLICKHOUSE_ADDR"); v != "" {
		cfg.Storage.Addr = v
	}
	return cfg, cfg.Validate()
}

// Decode reads a config file b over cfg. Unknown keys are errors.
func Decode(b []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a typo in a setting is an error, not a silent default
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Validate returns every problem of cfg, joined; nil when it is usable.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Detect.Window < time.Second {
		errs = append(errs, fmt.Errorf("detect.window %v: must be at least 1s", cfg.Detect.Window))
	}
	if cfg.Storage.TopicPartitions < 0 {
		errs = append(errs, fmt.Errorf("clickhouse.topic_partitions %d: must not be negative (0: as many as the events topic)", cfg.Storage.TopicPartitions))
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
	if _, err := cfg.TrustedProxies(); err != nil {
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
	if err := cfg.Alert.Validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, cfg.validateTransport()...)
	return errors.Join(errs...)
}

// TrustedProxies parses ingest.trusted_proxies: addresses and CIDR
// prefixes.
func (cfg *Config) TrustedProxies() ([]netip.Prefix, error) {
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
