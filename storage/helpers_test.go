package storage

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// Integration tests talk to the server deploy/clickhouse/clickhouse.sh
// starts; `eval "$(bash deploy/clickhouse/clickhouse.sh env DIR)"` exports:
//
//	GATEWATCH_TEST_CLICKHOUSE           127.0.0.1:19000 (native, plain)
//	GATEWATCH_TEST_CLICKHOUSE_TLS       127.0.0.1:19440 (native over TLS)
//	GATEWATCH_TEST_CLICKHOUSE_CA        DIR/ca.pem
//	GATEWATCH_TEST_CLICKHOUSE_USER      default
//	GATEWATCH_TEST_CLICKHOUSE_PASSWORD  the password
//	GATEWATCH_TEST_CLICKHOUSE_DIR       DIR (not needed by these tests)
//
// TestOutage starts a private server of its own with the same script.

// testOptions returns the options for the test server, or skips (fails
// under CI=true) when there is none.
func testOptions(t testing.TB) Options {
	t.Helper()
	addr := testenv.Getenv(t, "ClickHouse server", "GATEWATCH_TEST_CLICKHOUSE")[0]
	return Options{
		Addr:     addr,
		Username: os.Getenv("GATEWATCH_TEST_CLICKHOUSE_USER"),
		Password: os.Getenv("GATEWATCH_TEST_CLICKHOUSE_PASSWORD"),
		Database: testDatabase(t),
	}
}

// testDatabase is a database name of its own for each test, so tests run
// in parallel against one server without seeing each other's rows.
func testDatabase(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return "gwtest_" + name + "_" + hex.EncodeToString(b[:])
}

// testClickHouse opens a fresh, migrated database on the test server and
// drops it when the test ends.
func testClickHouse(t testing.TB, mod ...func(*Options)) *DB {
	t.Helper()
	opts := testOptions(t)
	for _, m := range mod {
		m(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := Open(ctx, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := db.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(db.Database())); err != nil {
			t.Errorf("drop test database: %v", err)
		}
		db.Close()
	})
	return db
}

func migrated(t testing.TB, db *DB) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// testTLSConfig trusts the test CA, or skips when the env has no TLS port.
func testTLSConfig(t testing.TB) (string, *tls.Config) {
	t.Helper()
	env := testenv.Getenv(t, "ClickHouse TLS port", "GATEWATCH_TEST_CLICKHOUSE_TLS", "GATEWATCH_TEST_CLICKHOUSE_CA")
	addr, ca := env[0], env[1]
	cfg, err := TLSFiles{CAFile: ca}.Config()
	if err != nil {
		t.Fatal(err)
	}
	return addr, cfg
}

// count runs a SELECT count() style query and returns its single number.
func count(t testing.TB, db *DB, sql string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := db.conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// sampleEvents makes n varied events starting at start, one per 10ms,
// over the given clients. Every 7th is a 5xx, every 11th an auth failure.
func sampleEvents(n int, start time.Time, clients ...string) []ingest.Event {
	if len(clients) == 0 {
		clients = []string{"k:alice", "k:bob", "k:carol"}
	}
	routes := []string{"/v1/orders/{id}", "/v1/users/{id}", "/v1/search", "/health"}
	evs := make([]ingest.Event, n)
	for i := range evs {
		ev := &evs[i]
		ev.Time = start.Add(time.Duration(i) * 10 * time.Millisecond)
		ev.Source = "edge-nginx"
		ev.Format = "nginx_combined"
		ev.ClientKey = clients[i%len(clients)]
		ev.ClientKind = ingest.ClientAPIKey
		ev.RemoteIP = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if i%5 == 0 {
			ev.RemoteIP = netip.MustParseAddr("2001:db8::1")
		}
		ev.Method = "GET"
		ev.Host = "api.example.com"
		ev.Route = routes[i%len(routes)]
		ev.Path = strings.Replace(ev.Route, "{id}", itoa(i), 1)
		ev.Query = "q=REDACTED&page=2"
		ev.Status = 200
		if i%7 == 0 {
			ev.Status = 503
		}
		ev.Auth = ingest.AuthOK
		if i%11 == 0 {
			ev.Auth, ev.Status = ingest.AuthFailed, 401
		}
		ev.BytesIn = int64(100 + i%50)
		ev.BytesOut = int64(1000 + i%1000)
		ev.Latency = time.Duration(1000+i%5000) * time.Microsecond
		ev.UserAgent = "curl/8.5.0"
		ev.Referer = ""
		ev.Scheme = "https"
		ev.TLSVersion = "TLSv1.3"
		ev.APIVersion = "v1"
		ev.RequestID = "req-" + itoa(i)
	}
	return evs
}

func itoa(i int) string { return strconv.Itoa(i) }

// insertBatch stores evs as one Kafka batch of topic (dedup keys by
// offset), times times: twice is a batch replayed after a crash between
// the insert and the offset commit.
func insertBatch(t testing.TB, db *DB, evs []ingest.Event, topic string, times int) {
	t.Helper()
	b := newEventBatch(len(evs))
	for i := range evs {
		b.add(&evs[i], EventID(topic, 0, int64(i)))
	}
	for range times {
		if err := db.insertEvents(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
}
