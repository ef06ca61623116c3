// Package syslog is the syslog sink: each notification rendered by an
// alert.Encoder (RFC 5424 with gatewatch's structured data, or CEF/LEEF
// in an RFC 5424 envelope, from package alert/encode) and sent to a
// syslog receiver (rsyslog, syslog-ng, a SIEM's collector) over UDP
// (RFC 5426), TCP (RFC 6587 §3.4.1) or TLS (RFC 5425).
//
// # Framing and sizes
//
// Over TCP and TLS every message is framed by octet counting:
// "<length> <message>", so a message may hold newlines (rsyslog shows
// them as #012). Over UDP each message is one datagram. A message longer
// than Options.MaxMessage is cut at a UTF-8 character boundary; the
// encoders put the header and structured data first, so a cut shortens
// the free-text MSG part. A single trailing newline from an encoder is
// dropped: the frame, not a newline, ends a message.
//
// # Connections
//
// The sink holds one connection, dialled on the first Notify and reused.
// A failed dial (refused, timed out, a TLS handshake error) or a failed
// write closes it and reports retry=true; the dispatcher retries after a
// backoff and the next Notify dials again. A notification the encoder
// cannot render is refused for good (retry=false): the dispatcher
// dead-letters it.
//
// # Delivery guarantees
//
// Syslog has no acknowledgements. A successful Notify means the frames
// were handed to the kernel's send buffer, not that the receiver read
// them: delivery is at least once up to that buffer. Before each write
// the sink checks whether the receiver has closed the connection (its
// FIN or TLS close_notify arrived) and dials again if so, so a receiver
// restart between two notifications loses nothing; a close that crosses
// a write (the FIN not yet here when the batch goes out) loses that
// batch, as syslog over TCP has no way to tell. A half-dead peer
// (a receiver host that vanished without closing, a middlebox that
// dropped the flow) is only noticed when a later write fails: the
// batches written into the dead connection before that are lost. On
// Linux TCP_USER_TIMEOUT (set to WriteTimeout) and TCP keepalive probes
// (after 15 s idle, 3 probes 5 s apart) bound how long that takes. When a
// write fails the whole batch is reported retry=true, and the
// dispatcher's retry sends all of it again on a new connection, so a
// receiver may see a message twice; the delivery id in the message
// (the RFC 5424 SD parameter delivery_id, CEF externalId) identifies
// the duplicate. UDP gives no guarantee at all beyond the local send.
//
// A TLS 1.3 receiver refuses a client certificate only after the
// client's side of the handshake has ended; when the receiver asks for
// one, the dial waits briefly (twice the dial's duration) for such a
// refusal, so that it fails the Notify instead of swallowing a batch.
package syslog

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/internal/tlsfiles"
)

// Defaults of Options.
const (
	DefaultName         = "syslog"
	DefaultTransport    = "tls"
	DefaultDialTimeout  = 5 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	// DefaultMaxUDP is the largest UDP message: 2048 octets, the size
	// RFC 5426 §3.2 says receivers SHOULD accept. It exceeds a 1500-byte
	// Ethernet MTU, so a long message travels in IP fragments; set
	// MaxMessage to 1180 (or 480 for any IPv4 path) where fragments get
	// dropped.
	DefaultMaxUDP = 2048
	// DefaultMaxStream is the largest TCP or TLS message: 64 KiB. rsyslog
	// accepts 8 KiB unless its global maxMessageSize is raised.
	DefaultMaxStream = 64 << 10
	// MaxBatch is how many notifications one Notify takes.
	MaxBatch = 100
)

// Options configure a Sink. Address and Encoder are required; every other
// zero value has a working default.
type Options struct {
	// Name is the sink's name in routes and metrics ("syslog" when empty).
	Name string
	// Address is the receiver's host:port. Without a port, 514 for udp
	// and tcp, 6514 for tls.
	Address string
	// Transport is "udp", "tcp" or "tls" ("tls" when empty).
	Transport string
	// Encoder renders one notification as a syslog message
	// (encode.RFC5424, encode.SyslogCEF, encode.SyslogLEEF).
	Encoder alert.Encoder
	// CAFile holds the CAs trusted to sign the receiver's certificate
	// (the system roots when empty). TLS only.
	CAFile string
	// CertFile and KeyFile are a client certificate, for receivers that
	// require one. TLS only.
	CertFile, KeyFile string
	// ServerName is the name verified in the receiver's certificate
	// (the host of Address when empty). TLS only.
	ServerName string
	// DialTimeout bounds a dial including the TLS handshake (5 s when 0).
	DialTimeout time.Duration
	// WriteTimeout bounds one write of a batch (10 s when 0).
	WriteTimeout time.Duration
	// MaxMessage is the most octets of one message, without the octet
	// count; longer ones are cut at a UTF-8 boundary. 0 means
	// DefaultMaxUDP for udp and DefaultMaxStream for tcp and tls.
	MaxMessage int
}

// Sink sends notifications to one syslog receiver over one connection.
// It is safe for concurrent use, though the dispatcher calls it from one
// goroutine at a time.
type Sink struct {
	opts Options
	tls  *tls.Config // nil unless Transport is "tls"

	mu      sync.Mutex
	conn    *conn  // nil until the first Notify and after a failure
	frames  []byte // reused: the batch's frames, back to back
	ends    []int  // where each frame in frames ends
	scratch []byte // reused: one encoded message
}

var (
	_ alert.Sink    = (*Sink)(nil)
	_ alert.Batcher = (*Sink)(nil)
)

// New checks opts, fills in the defaults and returns a Sink. It does not
// dial: the first Notify does.
func New(opts Options) (*Sink, error) {
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.Encoder == nil {
		return nil, fmt.Errorf("syslog sink %s: an encoder is required", opts.Name)
	}
	if opts.Transport == "" {
		opts.Transport = DefaultTransport
	}
	addr, err := address(opts.Address, opts.Transport)
	if err != nil {
		return nil, fmt.Errorf("syslog sink %s: %w", opts.Name, err)
	}
	opts.Address = addr
	s := &Sink{opts: opts}
	if opts.Transport == "tls" {
		files := tlsfiles.Files{CAFile: opts.CAFile, CertFile: opts.CertFile, KeyFile: opts.KeyFile, ServerName: opts.ServerName}
		if s.tls, err = files.Client(); err != nil {
			return nil, fmt.Errorf("syslog sink %s: %w", opts.Name, err)
		}
	} else if opts.CAFile != "" || opts.CertFile != "" || opts.KeyFile != "" || opts.ServerName != "" {
		return nil, fmt.Errorf("syslog sink %s: ca_file, cert_file, key_file and server_name need transport tls, not %s", opts.Name, opts.Transport)
	}
	s.setDefaults()
	return s, nil
}

// setDefaults fills in the zero durations and sizes.
func (s *Sink) setDefaults() {
	o := &s.opts
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = DefaultMaxStream
		if o.Transport == "udp" {
			o.MaxMessage = DefaultMaxUDP
		}
	}
}

// address checks the transport and returns addr with the default port of
// the transport added when it has none.
func address(addr, transport string) (string, error) {
	var port string
	switch transport {
	case "udp", "tcp":
		port = "514"
	case "tls":
		port = "6514"
	default:
		return "", fmt.Errorf("transport %q: want udp, tcp or tls", transport)
	}
	if addr == "" {
		return "", errors.New("an address (host:port) is required")
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: a bare host name or IP address (IPv6 in brackets or not).
		host, p = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"), port
		if strings.ContainsAny(host, "[]") || (strings.Count(host, ":") == 1) {
			return "", fmt.Errorf("address %q: %w", addr, err)
		}
	}
	if host == "" {
		return "", fmt.Errorf("address %q: no host", addr)
	}
	if p == "" {
		p = port
	}
	return net.JoinHostPort(host, p), nil
}

// Name returns the sink's name.
func (s *Sink) Name() string { return s.opts.Name }

// MaxBatch returns how many notifications one Notify takes.
func (s *Sink) MaxBatch() int { return MaxBatch }

// Close releases the connection. The sink stays usable: a later Notify
// dials again.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.close()
	s.conn = nil
	return err
}
