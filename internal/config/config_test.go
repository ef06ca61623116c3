package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestDeployConfigsLoad keeps the configs shipped under deploy/ (compose
// and the Kubernetes ConfigMap) valid for the strict config decoder.
func TestDeployConfigsLoad(t *testing.T) {
	t.Parallel()
	configs := map[string][]byte{}
	b, err := os.ReadFile("../../deploy/gatewatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	configs["deploy/gatewatch.yaml"] = b
	k8s, err := os.ReadFile("../../deploy/k8s/gatewatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(k8s))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if doc.Kind == "ConfigMap" {
			configs["deploy/k8s ConfigMap"] = []byte(doc.Data["gatewatch.yaml"])
		}
	}
	if len(configs) != 2 {
		t.Fatalf("found %d configs, want 2", len(configs))
	}
	for name, b := range configs {
		cfg := Default()
		if err := Decode(b, &cfg); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDetectConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"fdr too high", "detect: {fdr: 1.5}", "detect.fdr"},
		{"fdr negative", "detect: {fdr: -0.1}", "detect.fdr"},
		{"maintenance backwards", "detect: {maintenance: [{start: 2026-12-01T04:00:00Z, end: 2026-12-01T02:00:00Z}]}", "detect.maintenance[0]"},
		{"bad CIDR", "detect: {allow_clients: [10.0.0.0/99]}", "detect.allow_clients"},
		{"unknown detector key", "detect: {scaning: {enabled: false}}", "scaning"},
		{"fine", "detect: {fdr: 0, scanning: {enabled: false}, allow_clients: [10.0.0.0/8, k_abc], maintenance: [{start: 2026-12-01T02:00:00Z, end: 2026-12-01T04:00:00Z}]}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Default()
			err := Decode([]byte(tt.yaml), &cfg)
			if err == nil {
				err = cfg.Validate()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
			}
			if tt.wantErr == "" {
				o := cfg.DetectOptions()
				if !o.Scanning.Disabled || o.FDR >= 0 || len(o.Maintenance) != 1 || len(o.AllowClients) != 2 || o.Enumeration.Disabled {
					t.Errorf("detectOptions = scanning %+v, fdr %g, maintenance %v, allow %v", o.Scanning, o.FDR, o.Maintenance, o.AllowClients)
				}
			}
		})
	}
}

// TestExampleIsTheDefault keeps gatewatch.example.yaml (what "gatewatch
// config" prints) identical to the built-in defaults.
func TestExampleIsTheDefault(t *testing.T) {
	t.Parallel()
	var got Config
	if err := Decode(Example, &got); err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("example config differs from defaults:\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GATEWATCH_KAFKA_BROKERS": "k1:9092,k2:9092", "GATEWATCH_CLICKHOUSE_ADDR": "ch:9000", "GATEWATCH_DATA_DIR": "/d"}
	cfg, err := Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Kafka.Brokers) != 2 || cfg.Storage.Addr != "ch:9000" || cfg.DataDir != "/d" || cfg.HTTP.Listen != Default().HTTP.Listen {
		t.Fatalf("Load with environment = brokers %v, clickhouse %q, data dir %q, listen %q", cfg.Kafka.Brokers, cfg.Storage.Addr, cfg.DataDir, cfg.HTTP.Listen)
	}
}

// TestStoreTopicSettings: "store" creates its missing topics by default;
// topic_partitions must not be negative.
func TestStoreTopicSettings(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, yaml, wantErr string
		create              bool
		partitions          int
	}{
		{"default", "", "", true, 0},
		{"wait, 6 partitions", "clickhouse: {create_topics: false, topic_partitions: 6}", "", false, 6},
		{"negative partitions", "clickhouse: {topic_partitions: -1}", "clickhouse.topic_partitions", true, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Default()
			err := Decode([]byte(tt.yaml), &cfg)
			if err == nil {
				err = cfg.Validate()
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if cfg.Storage.CreateTopics != tt.create || cfg.Storage.TopicPartitions != tt.partitions {
				t.Errorf("create_topics %v, topic_partitions %d; want %v, %d", cfg.Storage.CreateTopics, cfg.Storage.TopicPartitions, tt.create, tt.partitions)
			}
		})
	}
}

// validateYAML decodes y over the defaults and validates it.
func validateYAML(y string) error {
	cfg := Default()
	if err := Decode([]byte(y), &cfg); err != nil {
		return err
	}
	return cfg.Validate()
}

// checkValidation runs validateYAML over cases: wantErr "" means valid,
// else a substring of the error.
func checkValidation(t *testing.T, cases [][2]string) {
	t.Helper()
	for _, c := range cases {
		err := validateYAML(c[0])
		if c[1] == "" && err != nil || c[1] != "" && (err == nil || !strings.Contains(err.Error(), c[1])) {
			t.Errorf("%s: err = %v, want %q", c[0], err, c[1])
		}
	}
}

// TestSecurityBearerOverPlainHTTP: bearer tokens over plain HTTP on an
// address other than loopback are a config error, for HTTP ingest
// (collect.http.tokens) and the ops listener (http.token_file), unless
// TLS is served or allow_plain_http says it is meant; loopback is fine.
func TestSecurityBearerOverPlainHTTP(t *testing.T) {
	t.Parallel()
	tok := "tokens: [{name: edge, file: /t}]"
	checkValidation(t, [][2]string{
		{"collect: {http: {listen: '0.0.0.0:8443', " + tok + "}}", "collect.http: bearer tokens over plain HTTP"},
		{"collect: {http: {listen: ':8443', " + tok + "}}", "collect.http: bearer tokens over plain HTTP"},
		{"collect: {http: {listen: 'ingest.example:8443', " + tok + "}}", "collect.http: bearer tokens over plain HTTP"},
		{"collect: {http: {listen: '0.0.0.0:8443', allow_plain_http: true, " + tok + "}}", ""},
		{"collect: {http: {listen: '0.0.0.0:8443', tls_cert_file: c, tls_key_file: k, " + tok + "}}", ""},
		{"collect: {http: {listen: '127.0.0.1:8443', " + tok + "}}", ""},
		{"collect: {http: {listen: '[::1]:8443', " + tok + "}}", ""},
		{"collect: {http: {listen: 'localhost:8443', " + tok + "}}", ""},
		{"collect: {http: {listen: '127.0.0.1:8443'}}", "no tokens and no client_ca_file"},
		{"collect: {http: {listen: '0.0.0.0:8443', tls_cert_file: c, " + tok + "}}", "go together"},
		{"http: {listen: '0.0.0.0:9107', token_file: /t}", "http.token_file: the token over plain HTTP"},
		{"http: {listen: '0.0.0.0:9107', token_file: /t, allow_plain_http: true}", ""},
		{"http: {listen: '0.0.0.0:9107', token_file: /t, tls_cert_file: c, tls_key_file: k}", ""},
		{"http: {listen: '127.0.0.1:9107', token_file: /t}", ""},
		{"http: {listen: '0.0.0.0:9107'}", ""}, // no token: nothing to leak (deploy/k8s)
	})
}

// TestSecurityHTTPClientCertConfig: collect.http.client_ca_file needs TLS
// and stands in for tokens.
func TestSecurityHTTPClientCertConfig(t *testing.T) {
	t.Parallel()
	checkValidation(t, [][2]string{
		{"collect: {http: {listen: '0.0.0.0:8443', tls_cert_file: c, tls_key_file: k, client_ca_file: ca}}", ""},
		{"collect: {http: {listen: '127.0.0.1:8443', client_ca_file: ca}}", "client certificates need TLS"},
	})
}

// TestSecuritySASLPlainNeedsTLS: SASL without kafka.tls.enabled is a config
// error unless kafka.allow_plaintext_sasl is set.
func TestSecuritySASLPlainNeedsTLS(t *testing.T) {
	t.Parallel()
	checkValidation(t, [][2]string{
		{"kafka: {sasl: {mechanism: plain, username: u, password_file: /p}}", "kafka.sasl: refusing SASL without TLS"},
		{"kafka: {sasl: {mechanism: scram-sha-512, username: u, password_file: /p}}", "kafka.sasl: refusing SASL without TLS"},
		{"kafka: {sasl: {mechanism: plain, username: u, password_file: /p}, allow_plaintext_sasl: true}", ""},
		{"kafka: {sasl: {mechanism: plain, username: u, password_file: /p}, tls: {enabled: true}}", ""},
	})
}

// TestSyslogLimitsConfig: the syslog connection limits default to the
// library's and must not be negative.
func TestSyslogLimitsConfig(t *testing.T) {
	t.Parallel()
	if c := Default().Collect; c.SyslogMaxConnsPerSource != 16 || c.SyslogMaxConns != 1024 || c.SyslogFirstFrameTimeout != 10*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	checkValidation(t, [][2]string{
		{"collect: {syslog_max_conns_per_source: -1}", "must not be negative"},
		{"collect: {syslog_first_frame_timeout: -1s}", "must not be negative"},
		{"collect: {syslog_max_conns_per_source: 4, syslog_first_frame_timeout: 3s, syslog_max_conns: 0}", ""},
	})
}
