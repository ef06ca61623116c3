package storage

import (
	"fmt"
	"strings"
)

// Table names. They are constants, never taken from input, so the SQL
// that names them is built by formatting without any injection risk; the
// database name is validated by validIdent before use.
const (
	tableMigrations = "schema_migrations"
	tableEvents     = "events"
	tableWindows    = "client_windows"
	tableFindings   = "findings"
	tableHealth     = "pipeline_health"
	tableViolations = "contract_violations"
	tableEndpoints  = "endpoints"
)

// migration is one step of the schema. Every statement is idempotent, so
// a migration that failed half way can be applied again.
type migration struct {
	Version    uint32
	Name       string
	Statements []statement
}

// statement is one DDL statement of a migration. CREATE ... IF NOT EXISTS
// is idempotent by itself; 18.16 has no ADD COLUMN IF NOT EXISTS, so an
// added column names itself in Table/Column and the migrator skips the
// statement when system.columns already lists it.
type statement struct {
	SQL           string
	Table, Column string // set for ADD COLUMN: skip when it exists
}

// ddl turns the server features into column types and table clauses, so
// the 18.16 path and the newer path come out of the same table
// definitions.
type ddl struct {
	f   Features
	db  string
	ret Retention
}

// str is the type of a low-cardinality string column: method, route,
// source and the like, a few thousand distinct values at most.
func (d ddl) str() string {
	if d.f.LowCardinality {
		return "LowCardinality(String)"
	}
	return "String"
}

// eventTime is the type of events.time.
func (d ddl) eventTime() string {
	if d.f.DateTime64 {
		return "DateTime64(6, 'UTC')"
	}
	return "DateTime('UTC')"
}

func (d ddl) ip() string {
	if d.f.IPv6Type {
		return "IPv6"
	}
	return "FixedString(16)"
}

// zstd adds a stronger codec to long free-text columns when the server
// has codecs; LZ4 (the default) elsewhere keeps inserts cheap.
func (d ddl) zstd() string {
	if d.f.Codecs {
		return " CODEC(ZSTD(1))"
	}
	return ""
}

// ttl is the TTL clause for a table whose rows expire days after expr, or
// "" when the server has no TTL (EnforceRetention does the work) or the
// retention is unlimited.
func (d ddl) ttl(expr string, days int) string {
	if !d.f.TTL || days <= 0 {
		return ""
	}
	return fmt.Sprintf("\nTTL %s + INTERVAL %d DAY", expr, days)
}

// settings is the SETTINGS clause shared by the tables. With insert
// deduplication a retried block that already landed is dropped.
func (d ddl) settings() string {
	s := "\nSETTINGS index_granularity = 8192"
	if d.f.InsertDedup {
		s += ", non_replicated_deduplication_window = 1000"
	}
	return s
}

func (d ddl) table(name string) string { return quoteIdent(d.db) + "." + name }

type column struct{ name, typ string }

func (d ddl) create(table string, cols []column, engine, partition, order, ttl string) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS ")
	b.WriteString(d.table(table))
	b.WriteString("\n(\n")
	for i, c := range cols {
		b.WriteString("    ")
		b.WriteString(c.name)
		b.WriteByte(' ')
		b.WriteString(c.typ)
		if i < len(cols)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(")\nENGINE = ")
	b.WriteString(engine)
	if partition != "" {
		b.WriteString("\nPARTITION BY ")
		b.WriteString(partition)
	}
	b.WriteString("\nORDER BY ")
	b.WriteString(order)
	b.WriteString(ttl)
	b.WriteString(d.settings())
	return b.String()
}

// eventColumns lists events' columns in insert order. The writer's
// columnar buffers (eventBatch) follow the same order.
func (d ddl) eventColumns() []column {
	s, z := d.str(), d.zstd()
	return []column{
		{"event_id", "UInt64"},
		{"time", d.eventTime()},
		// Microseconds past the second: on servers without DateTime64 it keeps
		// the order of events within one second and the exact time; on newer
		// ones it is redundant but costs almost nothing compressed, and keeps
		// one column list (and one insert path) for every server.
		{"time_us", "UInt32"},
		{"source", s},
		{"format", s},
		{"client", "String"},
		{"client_kind", s},
		{"ip", d.ip()},
		{"method", s},
		{"host", s},
		{"path", "String" + z},
		{"route", s},
		{"query", "String" + z},
		{"status", "UInt16"},
		{"bytes_in", "UInt64"},
		{"bytes_out", "UInt64"},
		{"latency_us", "UInt64"},
		{"user_agent", s},
		{"referer", "String" + z},
		{"auth", s},
		{"scheme", s},
		{"tls_version", s},
		{"api_version", s},
		{"request_id", "String" + z},
	}
}

// windowColumns are client_windows' columns in insert order
// (DB.InsertWindows): the ones migration 1 created, then the spreads
// migration 7 added.
func (d ddl) windowColumns() []column {
	return append(d.windowColumnsV1(), windowSpreadColumns()...)
}

// windowSpreadColumns hold detect.WindowStats' spreads: one standard
// deviation around each expectation, in its unit, the band a chart draws
// around the expected line. A window stored before migration 7 reads
// them as 0 (no band).
func windowSpreadColumns() []column {
	return []column{
		{"spread_requests", "Float64 DEFAULT 0"},
		{"spread_error_ratio", "Float64 DEFAULT 0"},
		{"spread_auth_failures", "Float64 DEFAULT 0"},
	}
}

func (d ddl) windowColumnsV1() []column {
	return []column{
		{"client", "String"},
		{"client_kind", d.str()},
		{"window_start", "DateTime('UTC')"},
		{"window_end", "DateTime('UTC')"},
		{"requests", "UInt64"},
		{"errors", "UInt64"},
		{"auth_failures", "UInt64"},
		{"bytes_out", "UInt64"},
		{"distinct_routes", "UInt32"},
		{"distinct_paths", "UInt32"},
		{"expected_requests", "Float64"},
		{"expected_error_ratio", "Float64"},
		{"expected_auth_failures", "Float64"},
		{"inserted_at", "DateTime('UTC')"},
	}
}

// findingColumns are the findings table's columns in insert order: the
// ones migration 1 created, then the explanation migration 3 added, then
// the incident columns of migration 4.
func (d ddl) findingColumns() []column {
	cols := append(d.findingColumnsV1(), d.findingExplanationColumns()...)
	return append(cols, d.findingIncidentColumns()...)
}

// findingIncidentColumns hold detect.Finding's incident fields
// (docs/findings.md, schema 3 of the findings JSON): the detectors of a
// multi-detector incident, a campaign's name and clients, and the totals
// (all 0 when the finding has none: fleet findings).
func (d ddl) findingIncidentColumns() []column {
	return []column{
		{"detectors", "Array(String)"},
		{"campaign", d.str()},
		{"clients", "Array(String)"},
		{"client_count", "UInt32"},
		{"total_requests", "Float64"},
		{"total_failures", "Float64"},
		{"total_bytes", "Float64"},
		{"total_distinct_paths", "Float64"},
	}
}

// findingExplanationColumns hold detect.Finding's explanation fields
// (docs/findings.md, schema 2 of the findings JSON).
func (d ddl) findingExplanationColumns() []column {
	return []column{
		{"why", "String"},
		{"requests", "Float64"},
		{"routes", "Array(String)"},
		{"samples", "Array(String)"},
		{"top_clients", "Array(String)"},
	}
}

func (d ddl) findingColumnsV1() []column {
	s := d.str()
	return []column{
		{"incident_id", "String"},
		{"status", s},
		{"client", "String"},
		{"client_kind", s},
		{"detector", s},
		{"window_start", "DateTime('UTC')"},
		{"window_end", "DateTime('UTC')"},
		{"windows", "UInt32"},
		{"observed", "Float64"},
		{"expected", "Float64"},
		{"spread", "Float64"},
		{"unit", s},
		{"score", "Float64"},
		{"p_value", "Float64"},
		{"severity", s},
		{"baseline", s},
		{"history", "UInt32"},
		{"summary", "String"},
		{"emitted_at", "DateTime('UTC')"},
	}
}

// violationColumns are contract_violations' columns in insert order
// (violationRow.values): one row per request outside the API's contract
// (contract.Report), its violations as parallel arrays, element i of each
// describing violation i. time and time_us split the request's time as in
// events; violation_id is the dedup key, made as events' event_id is.
func (d ddl) violationColumns() []column {
	s, z := d.str(), d.zstd()
	return []column{
		{"violation_id", "UInt64"},
		{"time", d.eventTime()},
		{"time_us", "UInt32"},
		{"client", "String"},
		{"client_kind", s},
		{"host", s},
		{"method", s},
		{"route", s},
		{"path", "String" + z},
		{"status", "UInt16"},
		{"request_id", "String" + z},
		{"reasons", "Array(String)"},
		{"params", "Array(String)"},
		{"expected", "Array(String)"},
		{"got", "Array(String)"},
	}
}

// endpointColumns are endpoints' columns in insert order
// (endpointRow.values): one row per endpoint per inventory snapshot, the
// fields of inventory.Endpoint but MemoryBytes (the memory of the process
// that learnt it, meaningless once stored). The status mix is stored as
// counts, as the inventory keeps it; shares are a division in the query.
// Times are to the second on every server: a snapshot is taken minutes
// apart, and first/last seen need no more.
func (d ddl) endpointColumns() []column {
	s := d.str()
	return []column{
		{"snapshot", "DateTime('UTC')"},
		{"host", s},
		{"method", s},
		{"route", s},
		{"requests", "UInt64"},
		{"clients", "UInt64"},
		{"status_2xx", "UInt64"},
		{"status_3xx", "UInt64"},
		{"status_4xx", "UInt64"},
		{"status_5xx", "UInt64"},
		{"status_401_403", "UInt64"},
		{"status_404", "UInt64"},
		{"auth_required", "UInt8"},
		{"bytes_p50", "UInt64"},
		{"bytes_p95", "UInt64"},
		{"first_seen", "DateTime('UTC')"},
		{"last_seen", "DateTime('UTC')"},
		{"versions", "Array(String)"},
	}
}

func (d ddl) healthColumns() []column {
	return []column{
		{"time", "DateTime('UTC')"},
		{"component", d.str()},
		{"instance", "String"},
		{"metric", d.str()},
		{"value", "Float64"},
	}
}

// timeTTL is the expression TTL compares with: TTL needs a Date or
// DateTime, not a DateTime64.
func (d ddl) timeTTL() string {
	if d.f.DateTime64 {
		return "toDateTime(time)"
	}
	return "time"
}

// migrations returns the schema's steps, oldest first. Never edit a step
// that shipped: add a new one (in migrationsFrom7; the list is split only
// to keep each function short).
func (d ddl) migrations() []migration {
	return append(d.migrationsTo6(), d.migrationsFrom7()...)
}

// migrationsTo6 are the steps up to version 6.
func (d ddl) migrationsTo6() []migration {
	return []migration{
		{
			Version: 1,
			Name:    "events, client_windows, findings",
			Statements: []statement{
				// ReplacingMergeTree keyed by event_id: a batch inserted twice
				// (a crash between the insert and the offset commit) collapses
				// to one copy at merge time; reads that must be exact use FINAL.
				// Sorted by client then time: a client's timeline reads one
				// narrow range; time-range scans prune by day partition.
				{SQL: d.create(tableEvents, d.eventColumns(), "ReplacingMergeTree()",
					"toYYYYMMDD(time)", "(client, time, event_id)", d.ttl(d.timeTTL(), d.ret.Events))},
				// One row per client per window; a window written again (a
				// replay) replaces the older row, the newest inserted_at wins.
				{SQL: d.create(tableWindows, d.windowColumnsV1(), "ReplacingMergeTree(inserted_at)",
					"toYYYYMMDD(window_start)", "(client, window_start)", d.ttl("window_start", d.ret.Windows))},
				// Every emission of an incident is a row (open, update...,
				// resolved): the lifecycle is the audit. The key makes a replayed
				// emission collapse onto the first copy.
				{SQL: d.create(tableFindings, d.findingColumnsV1(), "ReplacingMergeTree()",
					"toYYYYMMDD(window_end)", "(client, incident_id, window_end, windows, status)", d.ttl("window_end", d.ret.Findings))},
			},
		},
		{
			Version: 2,
			Name:    "pipeline_health",
			Statements: []statement{
				{SQL: d.create(tableHealth, d.healthColumns(), "MergeTree()",
					"toYYYYMMDD(time)", "(component, metric, time)", d.ttl("time", d.ret.Health))},
			},
		},
		{
			Version:    3,
			Name:       "findings explanation",
			Statements: d.addColumns(tableFindings, "summary", d.findingExplanationColumns()),
		},
		{
			Version:    4,
			Name:       "findings incidents and campaigns",
			Statements: d.addColumns(tableFindings, "top_clients", d.findingIncidentColumns()),
		},
		{
			Version: 5,
			Name:    "contract_violations",
			Statements: []statement{
				// The request audit trail, laid out as events: by client then
				// time, day partitions (EnforceRetention drops them on 18.16),
				// and a dedup key last so a batch stored again after a crash
				// collapses onto the first copy.
				{SQL: d.create(tableViolations, d.violationColumns(), "ReplacingMergeTree()",
					"toYYYYMMDD(time)", "(client, time, violation_id)", d.ttl(d.timeTTL(), d.ret.Violations))},
			},
		},
		{
			Version:    6,
			Name:       "endpoints",
			Statements: []statement{{SQL: d.endpointsTable()}},
		},
	}
}

// migrationsFrom7 are the steps from version 7 on.
func (d ddl) migrationsFrom7() []migration {
	return []migration{
		{
			// The band around each expectation, for `gatewatch explain` and
			// the incident charts (dashboards/bandplot). After the last
			// expectation, so each spread sits by what it spreads around.
			Version:    7,
			Name:       "client_windows spreads",
			Statements: d.addColumns(tableWindows, "expected_auth_failures", windowSpreadColumns()),
		},
	}
}

// endpointsTable is the endpoint inventory's table (migration 6). Each
// snapshot of the inventory inserts every endpoint it holds, with the
// snapshot time as the Replacing engine's version, so within a partition
// the latest snapshot of an endpoint is the row that survives merges.
// Partitions are UTC days of the snapshot, like every other table's: the
// table so keeps one row per endpoint per day once merged (at most
// MaxEndpoints times the retained days, 900k rows for 10k endpoints and
// 90 days: a daily history of the inventory for free), and
// EnforceRetention drops its old days with the code every table uses
// (month partitions would keep fewer rows but need a second retention
// path). Reads never rely on the merge: they take each endpoint's newest
// row with LIMIT 1 BY (DB.Endpoints). The sort key is the endpoint, route
// before method as the inventory sorts, so a route's methods sit together.
func (d ddl) endpointsTable() string {
	return d.create(tableEndpoints, d.endpointColumns(), "ReplacingMergeTree(snapshot)",
		"toYYYYMMDD(snapshot)", "(host, route, method)", d.ttl("snapshot", d.ret.Endpoints))
}

// addColumns adds columns to a table, the first after the column named
// after, each after the previous, so they sit beside their kin. Columns
// added later than after's successors (emitted_at, inserted_at) stay
// last, so a migrated table's order differs from a new one's: every
// INSERT names its columns, which makes the order irrelevant.
func (d ddl) addColumns(table, after string, cols []column) []statement {
	out := make([]statement, 0, len(cols))
	for _, c := range cols {
		ifNotExists := ""
		if d.f.TTL { // 20.1+: the server checks itself too
			ifNotExists = "IF NOT EXISTS "
		}
		out = append(out, statement{
			SQL:    fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s%s %s AFTER %s", d.table(table), ifNotExists, c.name, c.typ, after),
			Table:  table,
			Column: c.name,
		})
		after = c.name
	}
	return out
}

// migrationsTable is created before any migration; it is the record of
// which ones ran.
func (d ddl) migrationsTable() string {
	return "CREATE TABLE IF NOT EXISTS " + d.table(tableMigrations) + `
(
    version UInt32,
    name String,
    applied_at DateTime('UTC'),
    server_version String
)
ENGINE = MergeTree()
ORDER BY version`
}

// columnList is "(a, b, c)" for an INSERT: every INSERT names its columns
// (18.16's native insert needs them, and it keeps old writers working when
// a migration adds a column).
func columnList(cols []column) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.name)
	}
	b.WriteByte(')')
	return b.String()
}

// validIdent reports whether s can name a database: ASCII letters, digits
// and underscores, not starting with a digit. Anything else is refused
// rather than escaped.
func validIdent(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func quoteIdent(s string) string { return "`" + s + "`" }
