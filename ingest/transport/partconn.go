package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/segmentio/kafka-go"
)

// capturing returns a copy of d that keeps the connection it dials in
// r.raw, where the PartitionReader sends its fetches: kafka-go's Conn,
// which still asks for offsets and does the SASL handshake, does not hand
// its connection out. The copy does the TLS handshake itself (as kafka-go
// would, naming the host dialled when the config names none), so that
// what it keeps is the connection after TLS.
func (r *PartitionReader) capturing(d *kafka.Dialer) *kafka.Dialer {
	c := *d
	dial := d.DialFunc
	if dial == nil {
		dial = (&net.Dialer{LocalAddr: d.LocalAddr, FallbackDelay: d.FallbackDelay, KeepAlive: d.KeepAlive}).DialContext
	}
	tlsCfg := d.TLS
	c.TLS = nil
	c.DialFunc = func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		if tlsCfg != nil {
			if conn, err = clientTLS(ctx, conn, tlsCfg, address); err != nil {
				return nil, err
			}
		}
		r.raw = conn
		return conn, nil
	}
	return &c
}

// clientTLS does the TLS handshake on conn, closing it when that fails.
func clientTLS(ctx context.Context, conn net.Conn, cfg *tls.Config, address string) (net.Conn, error) {
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			host = address
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// dialLeader connects to the partition's leader, which it asks broker for.
func (r *PartitionReader) dialLeader(ctx context.Context, broker string) (*kafka.Conn, error) {
	p, err := r.base.LookupPartition(ctx, "tcp", broker, r.opts.Topic, r.opts.Partition)
	if err != nil {
		return nil, err
	}
	r.raw = nil
	c, err := r.dialer.DialPartition(ctx, "tcp", broker, p)
	if err != nil {
		return nil, err
	}
	if r.raw == nil {
		c.Close()
		return nil, errors.New("the connection to the leader was not kept") // a kafka-go that dials elsewhere
	}
	return c, nil
}

// checkFetchVersion makes sure the leader answers the fetches a
// PartitionReader sends.
func (r *PartitionReader) checkFetchVersion() error {
	vs, err := r.conn.ApiVersions()
	if err != nil {
		return fmt.Errorf("api versions: %w", err)
	}
	for _, v := range vs {
		if v.ApiKey == apiKeyFetch {
			if v.MinVersion > fetchVersion || v.MaxVersion < fetchVersion {
				return fmt.Errorf("the broker answers fetch versions %d-%d, not %d", v.MinVersion, v.MaxVersion, fetchVersion)
			}
			return nil
		}
	}
	return errors.New("the broker does not answer fetches")
}
