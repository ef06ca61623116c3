package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DB is a connection pool to one ClickHouse server and gatewatch's
// database on it. It is safe for concurrent use.
type DB struct {
	conn     driver.Conn
	opts     Options
	version  ServerVersion
	features Features
	ddl      ddl
}

// Open connects to the server, checks the credentials with a round trip
// and detects the server version. It does not create or migrate the
// database: call Migrate.
func Open(ctx context.Context, opts Options) (*DB, error) {
	opts.setDefaults()
	if !validIdent(opts.Database) {
		return nil, fmt.Errorf("storage: database name %q: use letters, digits and underscores", opts.Database)
	}
	var comp *clickhouse.Compression
	if opts.Compression == CompressLZ4 || opts.Compression == CompressAuto && !loopback(opts.Addr) {
		comp = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol: clickhouse.Native,
		Addr:     []string{opts.Addr},
		Auth: clickhouse.Auth{
			// Queries name the database explicitly; connecting to "default"
			// lets Open succeed before Migrate has created ours.
			Database: "default",
			Username: opts.Username,
			Password: opts.Password,
		},
		TLS:          opts.TLS,
		DialTimeout:  opts.DialTimeout,
		ReadTimeout:  opts.ReadTimeout,
		Compression:  comp,
		MaxOpenConns: 8,
		MaxIdleConns: 4,
		ClientInfo: clickhouse.ClientInfo{Products: []struct{ Name, Version string }{
			{Name: "gatewatch", Version: "1"},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("storage: connect %s: %w", opts.Addr, err)
	}
	db, err := OpenConn(ctx, conn, opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return db, nil
}

// Version is the server's release, detected at Open.
func (db *DB) Version() ServerVersion { return db.version }

// Features are the server capabilities in use.
func (db *DB) Features() Features { return db.features }

// Database is the name of gatewatch's database.
func (db *DB) Database() string { return db.opts.Database }

// Ping checks the server answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.conn.Ping(ctx); err != nil {
		return fmt.Errorf("storage: ping: %w", err)
	}
	return nil
}

// Close releases the connections.
func (db *DB) Close() error { return db.conn.Close() }

// table is the qualified name of one of gatewatch's tables.
func (db *DB) table(name string) string { return db.ddl.table(name) }

// loopback reports whether addr (host:port) names this machine, where
// CompressAuto sends blocks uncompressed: on this project's 2-core test
// box LZ4 was about a quarter of the client's CPU per inserted row
// (docs/storage.md).
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ErrClosed is returned by writers used after Close.
var ErrClosed = errors.New("storage: writer closed")
