// Package tlsfiles turns the PEM files a configuration names into a
// crypto/tls configuration: for gatewatch's clients (Kafka, ClickHouse,
// SIEMs) and its servers (the syslog TLS listener, HTTP ingest). Every TLS
// configuration gatewatch builds comes from here, so all of them require
// TLS 1.2 or later and read certificates the same way.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Files names PEM files. The zero value is a client configuration that
// trusts the system roots and presents no certificate.
type Files struct {
	// CAFile holds the certificates to trust: for a client, the server's
	// CAs instead of the system roots; for a server, the CAs a client's
	// certificate must chain to (a client certificate is then required).
	CAFile string
	// CertFile and KeyFile are the certificate presented: a client's,
	// for servers that require one, or a server's own (required).
	CertFile, KeyFile string
	// ServerName is the name a client verifies; default the host dialled.
	ServerName string
	// InsecureSkipVerify turns verification off, for a client in a lab.
	InsecureSkipVerify bool
}

// Client reads the files and returns a client configuration.
func (f Files) Client() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         f.ServerName,
		InsecureSkipVerify: f.InsecureSkipVerify, //nolint:gosec // opt-in, documented as lab-only
	}
	if f.CAFile != "" {
		pool, err := readPool(f.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.CertFile != "" || f.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Server reads the files and returns a server configuration; with CAFile
// set, clients must present a certificate it signed.
func (f Files) Server() (*tls.Config, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("a TLS listener needs cert_file and key_file")
	}
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		pool, err := readPool(f.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// readPool reads a PEM bundle of CA certificates.
func readPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ca file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca file %s: no PEM certificate found", path)
	}
	return pool, nil
}
