package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/config"
)

// The config file's schema, defaults and validation are internal/config's;
// what needs the process's environment (secrets, the data dir) is here.

// loadConfig reads the config file named by path, or by $GATEWATCH_CONFIG
// when path is empty, over the defaults, then applies environment
// overrides. No file at all is fine: the defaults run.
func (c *cli) loadConfig(path string) (config.Config, error) {
	return config.Load(path, c.getenv)
}

// hmacKey returns the key for hashing API keys and tokens: from
// $GATEWATCH_HMAC_KEY (hex or text), else the key file, else (persist) a
// key generated once and kept in the data dir so client keys stay stable
// across restarts, else nil (a random key per process).
func (c *cli) hmacKey(cfg config.Config, persist bool) ([]byte, error) {
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

// kafkaConfig turns the config file's kafka section into a transport
// config; the SASL password comes from $GATEWATCH_KAFKA_PASSWORD or the
// password file.
func (c *cli) kafkaConfig(cfg config.Config) (transport.Config, error) {
	k := cfg.Kafka
	tc := transport.Config{
		Brokers:  k.Brokers,
		ClientID: k.ClientID,
		TLS: transport.TLSConfig{
			Enabled: k.TLS.Enabled, CAFile: k.TLS.CAFile, CertFile: k.TLS.CertFile,
			KeyFile: k.TLS.KeyFile, ServerName: k.TLS.ServerName,
		},
		SASL:               transport.SASLConfig{Mechanism: k.SASL.Mechanism, Username: k.SASL.Username, PasswordFile: k.SASL.PasswordFile},
		AllowPlaintextSASL: k.AllowPlaintextSASL,
	}
	if v := c.getenv("GATEWATCH_KAFKA_PASSWORD"); v != "" {
		tc.SASL.Password, tc.SASL.PasswordFile = transport.Secret(v), ""
	}
	if err := tc.Validate(); err != nil {
		return tc, fmt.Errorf("kafka: %w", err)
	}
	return tc, nil
}
