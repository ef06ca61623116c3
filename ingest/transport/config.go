package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/gatewatch/gatewatch/internal/tlsfiles"
)

// DefaultBroker is the broker used when Config.Brokers is empty.
const DefaultBroker = "localhost:9092"

// DefaultDialTimeout bounds connecting (TCP, TLS and SASL) to one broker.
const DefaultDialTimeout = 10 * time.Second

// SASL mechanism names accepted in SASLConfig.Mechanism (case-insensitive).
const (
	MechanismPlain       = "plain"
	MechanismSCRAMSHA256 = "scram-sha-256"
	MechanismSCRAMSHA512 = "scram-sha-512"
)

// Config says how to reach a Kafka cluster. The zero value connects over
// PLAINTEXT to DefaultBroker.
//
// Config prints with its password redacted (String, LogValue), so it is safe
// to log as a whole.
type Config struct {
	// Brokers are bootstrap "host:port" addresses; DefaultBroker when empty.
	Brokers []string
	// TLS configures encryption; off unless TLS.Enabled.
	TLS TLSConfig
	// SASL configures authentication; off unless SASL.Mechanism is set.
	// It needs TLS unless AllowPlaintextSASL is set.
	SASL SASLConfig
	// AllowPlaintextSASL lets SASL run without TLS, for a test broker on
	// loopback only: PLAIN sends the password in clear, and with any
	// mechanism the stream after the handshake is neither private nor
	// protected from tampering.
	AllowPlaintextSASL bool
	// ClientID is sent to the brokers (it shows up in their logs and
	// quotas); kafka-go's default when empty.
	ClientID string
	// DialTimeout bounds connecting to one broker, TLS and SASL included;
	// DefaultDialTimeout when zero.
	DialTimeout time.Duration
}

// TLSConfig configures TLS to the brokers.
type TLSConfig struct {
	// Enabled turns TLS on. The file fields are an error without it, so a
	// half-written configuration does not silently fall back to PLAINTEXT.
	Enabled bool
	// CAFile is a PEM bundle of CAs to trust instead of the system roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key, for
	// brokers that authenticate clients by certificate (mTLS). Both or none.
	CertFile string
	KeyFile  string
	// ServerName overrides the name checked in the broker's certificate;
	// by default the host of the address dialled.
	ServerName string
	// InsecureSkipVerify disables certificate verification. For a lab
	// only: it makes TLS useless against an active attacker.
	InsecureSkipVerify bool
}

// SASLConfig configures SASL authentication.
type SASLConfig struct {
	// Mechanism is "plain", "scram-sha-256" or "scram-sha-512"; empty
	// disables SASL.
	Mechanism string
	Username  string
	// Password, or PasswordFile naming a file holding it (a trailing
	// newline is ignored). Exactly one when Mechanism is set.
	Password     Secret
	PasswordFile string
}

// Secret is a string that never prints: String, GoString, LogValue and
// MarshalText all give "REDACTED" (or "" when empty), so a secret cannot
// leak through %v, %#v, slog or a JSON/YAML dump of a configuration.
type Secret string

const redacted = "REDACTED"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts %#v too.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts encoders (JSON, YAML) as well.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret itself, for the code that must use it.
func (s Secret) Reveal() string { return string(s) }

// String describes c with the password redacted.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "brokers=%s", strings.Join(c.brokers(), ","))
	if c.TLS.Enabled {
		fmt.Fprintf(&b, " tls=on ca_file=%q cert_file=%q server_name=%q insecure_skip_verify=%t",
			c.TLS.CAFile, c.TLS.CertFile, c.TLS.ServerName, c.TLS.InsecureSkipVerify)
	} else {
		b.WriteString(" tls=off")
	}
	if c.SASL.Mechanism != "" {
		fmt.Fprintf(&b, " sasl=%s username=%q password=%s password_file=%q",
			c.SASL.Mechanism, c.SASL.Username, c.SASL.Password.String(), c.SASL.PasswordFile)
		if c.AllowPlaintextSASL {
			b.WriteString(" allow_plaintext_sasl=true")
		}
	}
	if c.ClientID != "" {
		fmt.Fprintf(&b, " client_id=%q", c.ClientID)
	}
	return b.String()
}

// LogValue implements slog.LogValuer with the password redacted.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("brokers", strings.Join(c.brokers(), ",")),
		slog.Bool("tls", c.TLS.Enabled),
	}
	if c.TLS.Enabled {
		attrs = append(attrs, slog.String("ca_file", c.TLS.CAFile), slog.String("cert_file", c.TLS.CertFile),
			slog.String("server_name", c.TLS.ServerName), slog.Bool("insecure_skip_verify", c.TLS.InsecureSkipVerify))
	}
	if c.SASL.Mechanism != "" {
		attrs = append(attrs, slog.String("sasl", c.SASL.Mechanism), slog.String("username", c.SASL.Username),
			slog.String("password", c.SASL.Password.String()), slog.String("password_file", c.SASL.PasswordFile))
	}
	if c.ClientID != "" {
		attrs = append(attrs, slog.String("client_id", c.ClientID))
	}
	return slog.GroupValue(attrs...)
}

func (c Config) brokers() []string {
	if len(c.Brokers) == 0 {
		return []string{DefaultBroker}
	}
	return c.Brokers
}

func (c Config) dialTimeout() time.Duration {
	if c.DialTimeout > 0 {
		return c.DialTimeout
	}
	return DefaultDialTimeout
}

// Validate reports configuration mistakes without touching the network or
// the files it names.
func (c Config) Validate() error {
	var errs []error
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("broker %q: want host:port: %w", b, err))
		}
	}
	if c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("dial timeout %v is negative", c.DialTimeout))
	}
	t := c.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify) {
		errs = append(errs, errors.New("tls: options set but tls is not enabled"))
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert file and key file go together"))
	}
	s := c.SASL
	if s.Mechanism == "" {
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			errs = append(errs, errors.New("sasl: credentials set but no mechanism"))
		}
	} else {
		if _, err := canonicalMechanism(s.Mechanism); err != nil {
			errs = append(errs, err)
		}
		if s.Username == "" {
			errs = append(errs, errors.New("sasl: username is empty"))
		}
		switch {
		case s.Password != "" && s.PasswordFile != "":
			errs = append(errs, errors.New("sasl: set password or password file, not both"))
		case s.Password == "" && s.PasswordFile == "":
			errs = append(errs, errors.New("sasl: no password or password file"))
		}
		if !t.Enabled && !c.AllowPlaintextSASL {
			errs = append(errs, ErrPlaintextSASL)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kafka config: %w", err)
	}
	return nil
}

// ErrPlaintextSASL is Validate's error for SASL without TLS (and without
// AllowPlaintextSASL).
var ErrPlaintextSASL = errors.New("sasl: refusing to authenticate without TLS (credentials and data would cross the network in clear): " +
	"enable tls, or allow_plaintext_sasl for a test broker on loopback")

func canonicalMechanism(m string) (string, error) {
	switch l := strings.ToLower(m); l {
	case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		return l, nil
	}
	return "", fmt.Errorf("sasl: unknown mechanism %q (want %s, %s or %s)",
		m, MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512)
}

// TLSConfig returns the crypto/tls configuration for c, nil when TLS is off.
// It reads the CA and certificate files.
func (c Config) TLSConfig() (*tls.Config, error) {
	t := c.TLS
	if !t.Enabled {
		return nil, nil
	}
	cfg, err := tlsfiles.Files{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}.Client()
	if err != nil {
		return nil, fmt.Errorf("kafka tls: %w", err)
	}
	return cfg, nil
}

// SASLMechanism returns the kafka-go SASL mechanism for c, nil when SASL is
// off. It reads the password file.
func (c Config) SASLMechanism() (sasl.Mechanism, error) {
	s := c.SASL
	if s.Mechanism == "" {
		return nil, nil
	}
	mech, err := canonicalMechanism(s.Mechanism)
	if err != nil {
		return nil, fmt.Errorf("kafka %w", err)
	}
	password := s.Password.Reveal()
	if s.PasswordFile != "" {
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("kafka sasl: read password file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	if password == "" {
		return nil, errors.New("kafka sasl: empty password")
	}
	switch mech {
	case MechanismPlain:
		return plain.Mechanism{Username: s.Username, Password: password}, nil
	case MechanismSCRAMSHA256:
		m, err := scram.Mechanism(scram.SHA256, s.Username, password)
		if err != nil {
			return nil, fmt.Errorf("kafka sasl: %w", err)
		}
		return m, nil
	default:
		m, err := scram.Mechanism(scram.SHA512, s.Username, password)
		if err != nil {
			return nil, fmt.Errorf("kafka sasl: %w", err)
		}
		return m, nil
	}
}

func (c Config) security() (*tls.Config, sasl.Mechanism, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	tlsCfg, err := c.TLSConfig()
	if err != nil {
		return nil, nil, err
	}
	mech, err := c.SASLMechanism()
	if err != nil {
		return nil, nil, err
	}
	return tlsCfg, mech, nil
}

// Dialer returns a kafka-go Dialer for c, for Readers and Conns.
func (c Config) Dialer() (*kafka.Dialer, error) {
	tlsCfg, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{
		ClientID:      c.ClientID,
		Timeout:       c.dialTimeout(),
		DualStack:     true,
		TLS:           tlsCfg,
		SASLMechanism: mech,
	}, nil
}

// Transport returns a kafka-go Transport for c, for Writers and Clients.
func (c Config) Transport() (*kafka.Transport, error) {
	tlsCfg, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{
		DialTimeout: c.dialTimeout(),
		ClientID:    c.ClientID,
		TLS:         tlsCfg,
		SASL:        mech,
	}, nil
}

// Addr returns the bootstrap brokers as a net.Addr for kafka-go.
func (c Config) Addr() net.Addr { return kafka.TCP(c.brokers()...) }

// Ping connects to the first bootstrap broker that answers, TLS and SASL
// included, and asks it for the cluster's brokers. It turns a bad address,
// certificate or password into an error at startup instead of a stream of
// write retries later.
func (c Config) Ping(ctx context.Context) error {
	d, err := c.Dialer()
	if err != nil {
		return err
	}
	var errs []error
	for _, addr := range c.brokers() {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("connect %s: %w", addr, err))
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		_, err = conn.Brokers()
		conn.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata from %s: %w", addr, err))
			continue
		}
		return nil
	}
	return fmt.Errorf("kafka ping: %w", errors.Join(errs...))
}
