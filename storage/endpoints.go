package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detect/inventory"
)

// endpointRow is one endpoints row: an inventory.Endpoint at a snapshot,
// as endpointColumns lists it. It owns everything it holds, so the
// Endpoint it came from may be reused.
type endpointRow struct {
	snapshot               time.Time
	host, method, route    string
	requests, clients      uint64
	s2xx, s3xx, s4xx, s5xx uint64
	s401403, s404          uint64
	authRequired           uint8
	bytesP50, bytesP95     uint64
	firstSeen, lastSeen    time.Time
	versions               []string
}

// errNoSnapshot refuses endpoints without the time of their snapshot: it
// is the version that decides which row is an endpoint's latest.
var errNoSnapshot = errors.New("storage: endpoints: snapshot time is zero")

// endpointRowOf is the row of e at snapshot: times in UTC to the second
// (a zero first or last seen, an endpoint whose requests had no time, as
// the epoch, which reads back as zero), negative counts as 0, and copies
// of every string and of the versions, so the caller may reuse e.
func endpointRowOf(snapshot time.Time, e *inventory.Endpoint) endpointRow {
	c := strings.Clone
	row := endpointRow{
		snapshot: storedTime(snapshot), host: c(e.Host), method: c(e.Method), route: c(e.Route),
		requests: nonNeg(e.Requests), clients: nonNeg(e.Clients),
		s2xx: nonNeg(e.Status.S2xx), s3xx: nonNeg(e.Status.S3xx), s4xx: nonNeg(e.Status.S4xx),
		s5xx: nonNeg(e.Status.S5xx), s401403: nonNeg(e.Status.S401403), s404: nonNeg(e.Status.NotFound),
		bytesP50: nonNeg(e.BytesP50), bytesP95: nonNeg(e.BytesP95),
		firstSeen: storedTime(e.FirstSeen), lastSeen: storedTime(e.LastSeen),
		versions: make([]string, len(e.Versions)),
	}
	if e.AuthRequired {
		row.authRequired = 1
	}
	for i, v := range e.Versions {
		row.versions[i] = c(v)
	}
	return row
}

// storedTime is t as a DateTime column holds it: UTC seconds, the zero
// time (and anything before 1970, which DateTime cannot hold) as the
// epoch.
func storedTime(t time.Time) time.Time {
	if t.Unix() <= 0 {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC().Truncate(time.Second)
}

// readTime undoes storedTime for a time read back: the epoch is zero.
func readTime(t time.Time) time.Time {
	if t.Unix() <= 0 {
		return time.Time{}
	}
	return t.UTC()
}

// values are the row's columns in endpointColumns order, for Append.
func (r *endpointRow) values() []any {
	return []any{r.snapshot, r.host, r.method, r.route, r.requests, r.clients,
		r.s2xx, r.s3xx, r.s4xx, r.s5xx, r.s401403, r.s404, r.authRequired,
		r.bytesP50, r.bytesP95, r.firstSeen, r.lastSeen, r.versions}
}

// endpointRows are the rows of eps at snapshot, or errNoSnapshot.
func endpointRows(snapshot time.Time, eps []inventory.Endpoint) ([]endpointRow, error) {
	if snapshot.IsZero() {
		return nil, errNoSnapshot
	}
	rows := make([]endpointRow, len(eps))
	for i := range eps {
		rows[i] = endpointRowOf(snapshot, &eps[i])
	}
	return rows, nil
}

// InsertEndpoints writes one snapshot of the endpoint inventory
// (inventory.Inventory.Endpoints, taken at snapshot) in one INSERT,
// without batching or retries (Writer.WriteEndpoints adds both). The
// snapshot time must not be zero: the newest snapshot of an endpoint is
// its current state. Inserting the same snapshot again is harmless: the
// Replacing engine keeps one row per endpoint and version.
func (db *DB) InsertEndpoints(ctx context.Context, snapshot time.Time, eps []inventory.Endpoint) error {
	rows, err := endpointRows(snapshot, eps)
	if err != nil {
		return err
	}
	return db.insertEndpoints(ctx, rows)
}

// insertEndpoints writes rows in one INSERT.
func (db *DB) insertEndpoints(ctx context.Context, rows []endpointRow) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := db.conn.PrepareBatch(insertContext(ctx), "INSERT INTO "+db.table(tableEndpoints)+" "+columnList(db.ddl.endpointColumns()))
	if err != nil {
		return fmt.Errorf("storage: insert endpoints: %w", err)
	}
	defer batch.Close()
	for i := range rows {
		if err := batch.Append(rows[i].values()...); err != nil {
			return fmt.Errorf("storage: insert endpoints: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("storage: insert %d endpoints: %w", len(rows), err)
	}
	return nil
}

// WriteEndpoints queues one snapshot of the endpoint inventory
// (inventory.Inventory.Endpoints, taken at snapshot, which must not be
// zero); it goes out with the next batch, into endpoints. It copies what
// it keeps, so the caller may reuse eps (and their Versions) at once.
func (w *Writer) WriteEndpoints(ctx context.Context, snapshot time.Time, eps []inventory.Endpoint) error {
	rows, err := endpointRows(snapshot, eps)
	if err != nil {
		return err
	}
	return queueRows(ctx, w, &w.endpoints, rows)
}

// EndpointsQuery selects endpoints from the stored inventory snapshots.
type EndpointsQuery struct {
	Host string // "" for every host
	// AsOf reads the inventory as it was then: each endpoint's newest
	// snapshot at or before AsOf. Zero reads the newest. Older days keep
	// one snapshot per day once merged, so the past is known by the day.
	AsOf  time.Time
	Limit int // default inventory.DefaultMaxEndpoints
}

// LatestEndpointsSQL is a query of each endpoint's newest row among the
// rows of table (the endpoints table, qualified) matching where: every
// column of endpoints under its own name, one row per host, method and
// route, in no particular order. The newest row is the one of the latest
// snapshot; of two snapshots in the same second, the one with more
// requests, then the later last seen. The dashboards read the inventory
// through it too, so both pick the same row. table and where are spliced
// into the SQL as they are: constants and validated names only, values
// bound with ? (or, in a dashboard, quoted by Grafana's sqlstring).
//
// One argMax over a tuple of the row's columns keeps one whole row
// (argMax per column could mix two snapshots of the same second) and, on
// 18.16 with 10k endpoints over 90 days (900k rows), took 0.22 s where
// LIMIT 1 BY, which sorts every row, took 0.5 to 0.6 s. FINAL is no
// help: it would still leave one row per day partition, and merges lag.
func LatestEndpointsSQL(table, where string) string {
	var latest []string
	for _, c := range (ddl{}).endpointColumns() {
		if c.name != "host" && c.name != "method" && c.name != "route" {
			latest = append(latest, c.name)
		}
	}
	var b strings.Builder
	b.WriteString("SELECT host, method, route")
	for i, name := range latest {
		fmt.Fprintf(&b, ", e.%d AS %s", i+1, name)
	}
	b.WriteString(" FROM (SELECT host, method, route, argMax((" + strings.Join(latest, ", ") +
		"), (snapshot, requests, last_seen)) AS e FROM " + table + " WHERE " + where + " GROUP BY host, method, route)")
	return b.String()
}

// Endpoints returns the stored endpoint inventory: each endpoint's newest
// snapshot (as of q.AsOf when set), of one host when q.Host is set,
// sorted as inventory.Inventory.Endpoints sorts (host, route, method), at
// most q.Limit. MemoryBytes is 0 (it is not stored); times are to the
// second.
func (db *DB) Endpoints(ctx context.Context, q EndpointsQuery) ([]inventory.Endpoint, error) {
	if q.Limit <= 0 {
		q.Limit = inventory.DefaultMaxEndpoints
	}
	where, args := "1", []any{}
	if q.Host != "" {
		where += " AND host = ?"
		args = append(args, q.Host)
	}
	if !q.AsOf.IsZero() {
		where += " AND snapshot <= ?"
		args = append(args, db.timeArg(q.AsOf))
	}
	sql := "SELECT host, method, route, requests, clients," +
		" status_2xx, status_3xx, status_4xx, status_5xx, status_401_403, status_404," +
		" auth_required, bytes_p50, bytes_p95, first_seen, last_seen, versions" +
		" FROM (" + LatestEndpointsSQL(db.table(tableEndpoints), where) + ")" +
		" ORDER BY host, route, method LIMIT ?"
	rows, err := db.conn.Query(ctx, sql, append(args, uint64(q.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("storage: endpoints: %w", err)
	}
	defer rows.Close()
	var out []inventory.Endpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: endpoints: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: endpoints: %w", err)
	}
	return out, nil
}

// scanner is the Scan of a driver's rows.
type scanner interface{ Scan(dest ...any) error }

// scanEndpoint reads one row of Endpoints' query.
func scanEndpoint(rows scanner) (inventory.Endpoint, error) {
	var (
		r    endpointRow
		auth uint8
	)
	if err := rows.Scan(&r.host, &r.method, &r.route, &r.requests, &r.clients,
		&r.s2xx, &r.s3xx, &r.s4xx, &r.s5xx, &r.s401403, &r.s404,
		&auth, &r.bytesP50, &r.bytesP95, &r.firstSeen, &r.lastSeen, &r.versions); err != nil {
		return inventory.Endpoint{}, err
	}
	r.authRequired = auth
	return r.endpoint(), nil
}

// endpoint is the row as the inventory.Endpoint it was stored from, less
// MemoryBytes; Versions is empty, not nil, as the inventory returns it.
func (r *endpointRow) endpoint() inventory.Endpoint {
	e := inventory.Endpoint{
		Host: r.host, Method: r.method, Route: r.route,
		Requests: clampInt64(r.requests), Clients: clampInt64(r.clients),
		Status: inventory.StatusMix{S2xx: clampInt64(r.s2xx), S3xx: clampInt64(r.s3xx), S4xx: clampInt64(r.s4xx),
			S5xx: clampInt64(r.s5xx), S401403: clampInt64(r.s401403), NotFound: clampInt64(r.s404)},
		AuthRequired: r.authRequired != 0,
		BytesP50:     clampInt64(r.bytesP50), BytesP95: clampInt64(r.bytesP95),
		FirstSeen: readTime(r.firstSeen), LastSeen: readTime(r.lastSeen),
		Versions: slices.Clip(r.versions),
	}
	if e.Versions == nil {
		e.Versions = []string{}
	}
	return e
}

// clampInt64 is v as an int64, the largest one when v does not fit.
func clampInt64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}
