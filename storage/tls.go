package storage

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/gatewatch/gatewatch/internal/tlsfiles"
)

// TLSFiles names the PEM files for TLS to ClickHouse's secure native port
// (tcp_port_secure, 9440 by default): the configuration file's view of
// Options.TLS.
type TLSFiles struct {
	CAFile     string // CAs to trust instead of the system roots
	CertFile   string // client certificate, for servers that require one
	KeyFile    string
	ServerName string // name to verify; default the host dialled
}

// Config reads the files and returns the crypto/tls configuration.
func (f TLSFiles) Config() (*tls.Config, error) {
	cfg, err := tlsfiles.Files{CAFile: f.CAFile, CertFile: f.CertFile, KeyFile: f.KeyFile, ServerName: f.ServerName}.Client()
	if err != nil {
		return nil, fmt.Errorf("clickhouse tls: %w", err)
	}
	return cfg, nil
}

// String describes the options with the password redacted, so Options can
// be logged whole.
func (o Options) String() string {
	pw := ""
	if o.Password != "" {
		pw = " password=REDACTED"
	}
	return fmt.Sprintf("clickhouse://%s@%s/%s tls=%t%s", o.Username, o.Addr, o.Database, o.TLS != nil, pw)
}

// LogValue implements slog.LogValuer, without the password.
func (o Options) LogValue() slog.Value { return slog.StringValue(o.String()) }
