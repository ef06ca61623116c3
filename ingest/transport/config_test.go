package transport

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" means valid
	}{
		{name: "zero value", cfg: Config{}},
		{name: "brokers", cfg: Config{Brokers: []string{"a:9092", "[::1]:9093"}}},
		{name: "bad broker", cfg: Config{Brokers: []string{"kafka"}}, wantErr: `broker "kafka"`},
		{name: "negative dial timeout", cfg: Config{DialTimeout: -time.Second}, wantErr: "negative"},
		{name: "tls on", cfg: Config{TLS: TLSConfig{Enabled: true, CAFile: "ca.pem"}}},
		{name: "tls options without tls", cfg: Config{TLS: TLSConfig{CAFile: "ca.pem"}}, wantErr: "tls is not enabled"},
		{name: "cert without key", cfg: Config{TLS: TLSConfig{Enabled: true, CertFile: "c.pem"}}, wantErr: "go together"},
		{name: "scram", cfg: Config{TLS: TLSConfig{Enabled: true}, SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}}},
		{name: "plain with file", cfg: Config{TLS: TLSConfig{Enabled: true}, SASL: SASLConfig{Mechanism: "plain", Username: "u", PasswordFile: "f"}}},
		{name: "plain allowed without tls", cfg: Config{AllowPlaintextSASL: true, SASL: SASLConfig{Mechanism: "plain", Username: "u", Password: "p"}}},
		{name: "unknown mechanism", cfg: Config{SASL: SASLConfig{Mechanism: "gssapi", Username: "u", Password: "p"}}, wantErr: `unknown mechanism "gssapi"`},
		{name: "no username", cfg: Config{SASL: SASLConfig{Mechanism: "plain", Password: "p"}}, wantErr: "username is empty"},
		{name: "no password", cfg: Config{SASL: SASLConfig{Mechanism: "plain", Username: "u"}}, wantErr: "no password"},
		{name: "both passwords", cfg: Config{SASL: SASLConfig{Mechanism: "plain", Username: "u", Password: "p", PasswordFile: "f"}}, wantErr: "not both"},
		{name: "credentials without mechanism", cfg: Config{SASL: SASLConfig{Username: "u", Password: "p"}}, wantErr: "no mechanism"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

// writeCA writes a self-signed CA certificate and returns its path.
func writeCA(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDialerAndTransport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := writeCA(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyPW := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyPW, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		cfg      Config
		wantErr  string
		wantTLS  bool
		wantMech string
	}{
		{name: "plaintext", cfg: Config{}},
		{name: "tls with ca", cfg: Config{TLS: TLSConfig{Enabled: true, CAFile: ca}}, wantTLS: true},
		{name: "tls system roots", cfg: Config{TLS: TLSConfig{Enabled: true}}, wantTLS: true},
		{name: "missing ca file", cfg: Config{TLS: TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "nope.pem")}}, wantErr: "read ca file"},
		{name: "ca file not pem", cfg: Config{TLS: TLSConfig{Enabled: true, CAFile: notPEM}}, wantErr: "no PEM certificate"},
		{name: "bad client cert", cfg: Config{TLS: TLSConfig{Enabled: true, CertFile: notPEM, KeyFile: notPEM}}, wantErr: "client certificate"},
		{name: "plain", cfg: Config{AllowPlaintextSASL: true, SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "p"}}, wantMech: "PLAIN"},
		{name: "scram-sha-256", cfg: Config{AllowPlaintextSASL: true, SASL: SASLConfig{Mechanism: "scram-sha-256", Username: "u", Password: "p"}}, wantMech: "SCRAM-SHA-256"},
		{name: "scram-sha-512 password file", cfg: Config{AllowPlaintextSASL: true, SASL: SASLConfig{Mechanism: "scram-sha-512", Username: "u", PasswordFile: pwFile}}, wantMech: "SCRAM-SHA-512"},
		{name: "missing password file", cfg: Config{AllowPlaintextSASL: true, SASL: SASLConfig{Mechanism: "plain", Username: "u", PasswordFile: filepath.Join(dir, "nope")}}, wantErr: "read password file"},
		{name: "empty password file", cfg: Config{AllowPlaintextSASL: true, SASL: SASLConfig{Mechanism: "plain", Username: "u", PasswordFile: emptyPW}}, wantErr: "empty password"},
		{name: "unknown mechanism", cfg: Config{AllowPlaintextSASL: true, SASL: SASLConfig{Mechanism: "oauthbearer", Username: "u", Password: "p"}}, wantErr: "unknown mechanism"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, derr := tc.cfg.Dialer()
			tr, terr := tc.cfg.Transport()
			if tc.wantErr != "" {
				for _, err := range []error{derr, terr} {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
					}
				}
				return
			}
			if derr != nil || terr != nil {
				t.Fatalf("Dialer() error %v, Transport() error %v", derr, terr)
			}
			if (d.TLS != nil) != tc.wantTLS || (tr.TLS != nil) != tc.wantTLS {
				t.Errorf("TLS set = %v/%v, want %v", d.TLS != nil, tr.TLS != nil, tc.wantTLS)
			}
			if tc.wantTLS && (d.TLS.InsecureSkipVerify || d.TLS.MinVersion == 0) {
				t.Errorf("TLS config %+v: want verification on and a minimum version", d.TLS)
			}
			gotMech := ""
			if d.SASLMechanism != nil {
				gotMech = d.SASLMechanism.Name()
			}
			if gotMech != tc.wantMech || (tr.SASL == nil) != (tc.wantMech == "") {
				t.Errorf("SASL mechanism = %q, want %q", gotMech, tc.wantMech)
			}
			if d.Timeout != DefaultDialTimeout || tr.DialTimeout != DefaultDialTimeout {
				t.Errorf("dial timeouts %v/%v, want %v", d.Timeout, tr.DialTimeout, DefaultDialTimeout)
			}
		})
	}
}

func TestPasswordRedacted(t *testing.T) {
	t.Parallel()
	const password = "hunter2-very-secret"
	cfg := Config{
		Brokers:  []string{"kafka:9093"},
		TLS:      TLSConfig{Enabled: true, CAFile: "/etc/ca.pem"},
		SASL:     SASLConfig{Mechanism: "scram-sha-512", Username: "gatewatch", Password: password},
		ClientID: "gw",
	}
	var logText, logJSON bytes.Buffer
	slog.New(slog.NewTextHandler(&logText, nil)).Info("kafka", "config", cfg, "sasl", cfg.SASL, "pw", cfg.SASL.Password)
	slog.New(slog.NewJSONHandler(&logJSON, nil)).Info("kafka", "config", cfg, "sasl", cfg.SASL)
	jsonDump, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":         fmt.Sprintf("%v", cfg),
		"%+v":        fmt.Sprintf("%+v", cfg),
		"%#v":        fmt.Sprintf("%#v", cfg),
		"%s":         fmt.Sprintf("%s", cfg),
		"%v sasl":    fmt.Sprintf("%v", cfg.SASL),
		"%+v sasl":   fmt.Sprintf("%+v", cfg.SASL),
		"%#v sasl":   fmt.Sprintf("%#v", cfg.SASL),
		"%v ptr":     fmt.Sprintf("%v", &cfg),
		"slog text":  logText.String(),
		"slog json":  logJSON.String(),
		"json":       string(jsonDump),
		"String()":   cfg.String(),
		"LogValue()": cfg.LogValue().String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, password) {
			t.Errorf("%s leaks the password: %s", name, out)
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s does not show the password as REDACTED: %s", name, out)
		}
	}
	for _, want := range []string{"kafka:9093", "gatewatch", "scram-sha-512"} {
		if !strings.Contains(logText.String(), want) {
			t.Errorf("slog output %q lacks %q", logText.String(), want)
		}
	}
	if got := cfg.SASL.Password.Reveal(); got != password {
		t.Errorf("Reveal() = %q, want the password", got)
	}
	if got := fmt.Sprint(Secret("")); got != "" {
		t.Errorf("empty secret prints %q, want empty", got)
	}
}

// TestSecuritySASLPlainNeedsTLS: SASL (PLAIN, and SCRAM too) without TLS
// is a configuration error unless AllowPlaintextSASL says it is meant, and
// no dialer is built for it.
func TestSecuritySASLPlainNeedsTLS(t *testing.T) {
	t.Parallel()
	for _, mech := range []string{MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512} {
		cfg := Config{SASL: SASLConfig{Mechanism: mech, Username: "u", Password: "p"}}
		if err := cfg.Validate(); !errors.Is(err, ErrPlaintextSASL) {
			t.Errorf("%s without TLS: Validate() = %v, want ErrPlaintextSASL", mech, err)
		}
		if _, err := cfg.Dialer(); err == nil {
			t.Errorf("%s without TLS: Dialer() succeeded", mech)
		}
		if _, err := cfg.Transport(); err == nil {
			t.Errorf("%s without TLS: Transport() succeeded", mech)
		}
		tls := cfg
		tls.TLS.Enabled = true
		if err := tls.Validate(); err != nil {
			t.Errorf("%s over TLS: %v", mech, err)
		}
		allowed := cfg
		allowed.AllowPlaintextSASL = true
		if err := allowed.Validate(); err != nil {
			t.Errorf("%s with AllowPlaintextSASL: %v", mech, err)
		}
		if s := allowed.String(); !strings.Contains(s, "allow_plaintext_sasl=true") {
			t.Errorf("String() hides the opt-out: %s", s)
		}
	}
}
