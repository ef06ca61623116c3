package storage

import (
	"crypto/tls"
	"time"
)

// Options configure Open. The zero value connects to 127.0.0.1:9000 as
// the default user without a password and uses the "gatewatch" database.
type Options struct {
	// Addr is host:port of the server's native protocol port (9000, or
	// 9440 with TLS). clickhouse-go's HTTP transport does not work with
	// 18.16, so only the native protocol is offered.
	Addr string
	// Database holds gatewatch's tables; Migrate creates it. Letters,
	// digits and underscores only. Default "gatewatch".
	Database string
	Username string // default "default"
	Password string
	// TLS, when set, speaks the native protocol over TLS (tcp_port_secure).
	TLS *tls.Config

	DialTimeout time.Duration // default 10s
	ReadTimeout time.Duration // per query; default 5m (long scans on big tables)

	// Compression of the blocks sent; the zero value picks by address.
	Compression Compression

	// Retention in days per table; 0 keeps rows forever.
	Retention Retention

	// Features, when not nil, replaces what the server's version implies.
	// For tests of the newer DDL path and for servers that misreport.
	Features *Features
}

// Compression is how blocks travel to the server.
type Compression int

// Compressions.
const (
	// CompressAuto is LZ4, except to a loopback address (127.0.0.0/8,
	// ::1, localhost): there it only spends CPU on both ends, which share
	// the machine's cores, to shrink a memory copy.
	CompressAuto Compression = iota
	CompressLZ4
	CompressNone
)

// Retention is how many days of each table to keep; 0 keeps forever.
type Retention struct {
	Events   int `yaml:"events" json:"events"`
	Windows  int `yaml:"windows" json:"windows"`
	Findings int `yaml:"findings" json:"findings"`
	Health   int `yaml:"health" json:"health"`
	// Violations is contract_violations, the requests outside the API's
	// contract.
	Violations int `yaml:"violations" json:"violations"`
	// Endpoints is the endpoint inventory's snapshots (the endpoints
	// table); DefaultEndpointRetentionDays is a sensible value.
	Endpoints int `yaml:"endpoints" json:"endpoints"`
}

// DefaultEndpointRetentionDays is the retention suggested for the
// endpoints table: inventories are small (one row per endpoint per day
// once merged), and an endpoint no snapshot has listed for 90 days is
// gone from the API.
const DefaultEndpointRetentionDays = 90

func (o *Options) setDefaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:9000"
	}
	if o.Database == "" {
		o.Database = "gatewatch"
	}
	if o.Username == "" {
		o.Username = "default"
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 5 * time.Minute
	}
}
