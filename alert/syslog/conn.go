package syslog

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// keepAlive probes an idle TCP connection after 15 s, every 5 s, and
// gives up after 3 unanswered probes: a receiver that vanished without
// closing is noticed within about half a minute of silence.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}

// conn is the sink's connection to the receiver.
type conn struct {
	net.Conn
	raw    net.Conn      // the TCP connection (under TLS), for the liveness check
	stream bool          // TCP or TLS, not UDP
	dead   chan struct{} // closed when the receiver closed the connection or it failed (streams)
	err    error         // why, once dead is closed
}

// dial connects to the receiver: for TLS, including the handshake. For
// stream transports a goroutine reads the connection until it ends, so
// that the receiver's FIN or close_notify is seen (and TLS session
// tickets are consumed).
func (s *Sink) dial(ctx context.Context) (*conn, error) {
	d := &net.Dialer{Timeout: s.opts.DialTimeout, KeepAliveConfig: keepAlive, Control: control(s.opts.WriteTimeout)}
	var c *conn
	switch s.opts.Transport {
	case "udp":
		nc, err := d.DialContext(ctx, "udp", s.opts.Address)
		if err != nil {
			return nil, err
		}
		return &conn{Conn: nc, raw: nc}, nil
	case "tls":
		return s.dialTLS(ctx, d)
	default:
		nc, err := d.DialContext(ctx, "tcp", s.opts.Address)
		if err != nil {
			return nil, err
		}
		c = &conn{Conn: nc, raw: nc}
	}
	c.start()
	return c, nil
}

// dialTLS connects and completes the TLS handshake. In TLS 1.3 the
// client's handshake ends before the server has checked the client's
// certificate: when the receiver asked for one, dialTLS waits twice as
// long as dialling took (at least 20 ms, at most DialTimeout) for the
// alert of a receiver that refuses it, which would otherwise close the
// connection only after the first batch was written into it.
func (s *Sink) dialTLS(ctx context.Context, d *net.Dialer) (*conn, error) {
	cfg := s.tls.Clone()
	asked := false
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		asked = true
		for i := range s.tls.Certificates { // what crypto/tls does without this hook
			if cri.SupportsCertificate(&s.tls.Certificates[i]) == nil {
				return &s.tls.Certificates[i], nil
			}
		}
		return new(tls.Certificate), nil
	}
	start := time.Now()
	nc, err := (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", s.opts.Address)
	if err != nil {
		return nil, err
	}
	tc := nc.(*tls.Conn)
	c := &conn{Conn: tc, raw: tc.NetConn()}
	c.start()
	if asked && tc.ConnectionState().Version >= tls.VersionTLS13 {
		wait := min(max(2*time.Since(start), 20*time.Millisecond), s.opts.DialTimeout)
		select {
		case <-c.dead:
			c.close()
			return nil, fmt.Errorf("receiver closed the connection after the TLS handshake: %w", c.err)
		case <-time.After(wait):
		}
	}
	return c, nil
}

// start marks c a stream and starts its drain goroutine.
func (c *conn) start() {
	c.stream, c.dead = true, make(chan struct{})
	go c.drain()
}

// drain reads and discards whatever the receiver sends (syslog receivers
// send nothing but TLS records) until the connection ends, and leaves
// the error that ended it in c.err.
func (c *conn) drain() {
	defer close(c.dead)
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			c.err = err
			return
		}
	}
}

// alive reports whether the connection looks usable: the receiver has
// not closed it. It cannot tell a half-dead peer from a live one.
func (c *conn) alive() bool {
	if !c.stream {
		return true
	}
	select {
	case <-c.dead:
		return false
	default:
	}
	switch peek(c.raw) {
	case peerClosed:
		return false
	case peerSent:
		// Bytes wait to be read, most likely a TLS close_notify just
		// before the FIN: give the reader a moment to see it.
		select {
		case <-c.dead:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// write sends the frames, frames[:ends[0]], frames[ends[0]:ends[1]], ...:
// over a stream in one write, over UDP one datagram each. The write
// stops at timeout or when ctx ends, whichever is first.
func (c *conn) write(ctx context.Context, timeout time.Duration, frames []byte, ends []int) error {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.SetWriteDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	err := c.writeFrames(frames, ends)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// writeFrames writes the frames without a deadline of its own.
func (c *conn) writeFrames(frames []byte, ends []int) error {
	if c.stream {
		_, err := c.Write(frames)
		return err
	}
	start := 0
	for _, end := range ends {
		if _, err := c.Write(frames[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// close closes the connection; the reader, if any, ends with it.
func (c *conn) close() error {
	return c.Conn.Close()
}
