package tlsfiles

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/internal/testpki"
)

// TestHandshake: a server and a client built from the same files complete
// a mutually authenticated handshake, and a client without a certificate
// is refused.
func TestHandshake(t *testing.T) {
	t.Parallel()
	f := testpki.New(t).WriteFiles(t, t.TempDir())
	srv, err := Files{CAFile: f.CA, CertFile: f.ServerCert, KeyFile: f.ServerKey}.Server()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	dial := func(files Files) error {
		cfg, err := files.Client()
		if err != nil {
			return err
		}
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 1)) // TLS 1.3 reports a refused client certificate on the first read
		if err != nil && !strings.Contains(err.Error(), "EOF") {
			return err
		}
		return nil
	}
	if err := dial(Files{CAFile: f.CA, CertFile: f.ClientCert, KeyFile: f.ClientKey, ServerName: "localhost"}); err != nil {
		t.Errorf("client with certificate: %v", err)
	}
	if err := dial(Files{CAFile: f.CA, ServerName: "localhost"}); err == nil {
		t.Errorf("a client without a certificate was accepted")
	}
	if err := dial(Files{}); err == nil {
		t.Errorf("a client trusting only the system roots accepted the test CA's server")
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := testpki.New(t).WriteFiles(t, dir)
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		server bool
		files  Files
		want   string // in the error; "" for none
	}{
		{"zero client", false, Files{}, ""},
		{"missing ca", false, Files{CAFile: filepath.Join(dir, "nope.pem")}, "read ca file"},
		{"ca without pem", false, Files{CAFile: junk}, "no PEM certificate"},
		{"key without cert", false, Files{KeyFile: f.ClientKey}, "client certificate"},
		{"server without key", true, Files{CertFile: f.ServerCert}, "needs cert_file and key_file"},
		{"server mismatched pair", true, Files{CertFile: f.ServerCert, KeyFile: f.ClientKey}, "server certificate"},
		{"server bad client ca", true, Files{CertFile: f.ServerCert, KeyFile: f.ServerKey, CAFile: junk}, "no PEM certificate"},
		{"server", true, Files{CertFile: f.ServerCert, KeyFile: f.ServerKey}, ""},
	}
	for _, tt := range tests {
		var cfg *tls.Config
		var err error
		if tt.server {
			cfg, err = tt.files.Server()
		} else {
			cfg, err = tt.files.Client()
		}
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want == "" && cfg.MinVersion != tls.VersionTLS12:
			t.Errorf("%s: MinVersion %x, want TLS 1.2", tt.name, cfg.MinVersion)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}
