package storage

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// OpenConn is Open over a connection the caller made: it checks the
// server answers and detects its version, as Open does, and the DB's
// Close closes conn. Of opts, only Database, Retention and Features are
// used (Addr only names the server in errors). Open calls it; the tests
// that run gatewatch's SQL on chdb (ClickHouse 26.9 in process,
// internal/chdbtest) pass it a connection of their own.
func OpenConn(ctx context.Context, conn driver.Conn, opts Options) (*DB, error) {
	opts.setDefaults()
	if !validIdent(opts.Database) {
		return nil, fmt.Errorf("storage: database name %q: use letters, digits and underscores", opts.Database)
	}
	if err := conn.Ping(ctx); err != nil {
		return nil, fmt.Errorf("storage: ping %s: %w", opts.Addr, err)
	}
	sv, err := conn.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("storage: server version of %s: %w", opts.Addr, err)
	}
	v := ServerVersion{Major: sv.Version.Major, Minor: sv.Version.Minor, Patch: sv.Version.Patch}
	f := FeaturesFor(v)
	if opts.Features != nil {
		f = *opts.Features
	}
	return &DB{
		conn:     conn,
		opts:     opts,
		version:  v,
		features: f,
		ddl:      ddl{f: f, db: opts.Database, ret: opts.Retention},
	}, nil
}
