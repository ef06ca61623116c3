package storage

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
)

// StoredEvent is an event as read back from the events table.
type StoredEvent struct {
	EventID    uint64     `json:"event_id"`
	Time       time.Time  `json:"time"`
	Source     string     `json:"source,omitempty"`
	Format     string     `json:"format,omitempty"`
	Client     string     `json:"client"`
	ClientKind string     `json:"client_kind"`
	IP         netip.Addr `json:"ip"`
	Method     string     `json:"method,omitempty"`
	Host       string     `json:"host,omitempty"`
	Path       string     `json:"path,omitempty"`
	Route      string     `json:"route,omitempty"`
	Query      string     `json:"query,omitempty"`
	Status     uint16     `json:"status"`
	BytesIn    uint64     `json:"bytes_in"`
	BytesOut   uint64     `json:"bytes_out"`
	LatencyUS  uint64     `json:"latency_us"`
	UserAgent  string     `json:"user_agent,omitempty"`
	Referer    string     `json:"referer,omitempty"`
	Auth       string     `json:"auth,omitempty"`
	Scheme     string     `json:"scheme,omitempty"`
	TLSVersion string     `json:"tls_version,omitempty"`
	APIVersion string     `json:"api_version,omitempty"`
	RequestID  string     `json:"request_id,omitempty"`
}

// TimelineQuery selects one client's events in [From, To).
type TimelineQuery struct {
	Client   string
	From, To time.Time
	Limit    int // default 1000
}

// ClientTimeline returns a client's events in time order. It reads with
// FINAL, so an event stored twice (a crash replay not yet merged) shows
// once; the client prefix of the sort key keeps that cheap.
func (db *DB) ClientTimeline(ctx context.Context, q TimelineQuery) ([]StoredEvent, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	sql := "SELECT event_id, time, time_us, source, format, client, client_kind, IPv6NumToString(ip), method, host, path, route, query," +
		" status, bytes_in, bytes_out, latency_us, user_agent, referer, auth, scheme, tls_version, api_version, request_id" +
		" FROM " + db.table(tableEvents) + " FINAL" +
		" WHERE client = ? AND time >= ? AND time < ?" +
		" ORDER BY time, time_us, event_id LIMIT ?"
	rows, err := db.conn.Query(ctx, sql, q.Client, db.timeArg(q.From), db.timeArg(q.To), uint64(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("storage: timeline of %q: %w", q.Client, err)
	}
	defer rows.Close()
	var out []StoredEvent
	for rows.Next() {
		var (
			e   StoredEvent
			ip  string
			tus uint32
		)
		if err := rows.Scan(&e.EventID, &e.Time, &tus, &e.Source, &e.Format, &e.Client, &e.ClientKind, &ip,
			&e.Method, &e.Host, &e.Path, &e.Route, &e.Query, &e.Status, &e.BytesIn, &e.BytesOut,
			&e.LatencyUS, &e.UserAgent, &e.Referer, &e.Auth, &e.Scheme, &e.TLSVersion, &e.APIVersion, &e.RequestID); err != nil {
			return nil, fmt.Errorf("storage: timeline of %q: %w", q.Client, err)
		}
		e.IP = parseStoredIP(ip)
		e.Time = e.Time.UTC().Truncate(time.Second).Add(time.Duration(tus) * time.Microsecond)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: timeline of %q: %w", q.Client, err)
	}
	return out, nil
}

// parseStoredIP turns IPv6NumToString's text back into an address: IPv4
// comes back as ::ffff:a.b.c.d and is unmapped; :: means unknown.
func parseStoredIP(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a.Unmap()
}

// timeArg binds a time for comparison with events.time. clickhouse-go
// binds time.Time as a DateTime in the server's zone; UTC seconds are
// what both column types compare with.
func (db *DB) timeArg(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// RankBy is what TopClients ranks by.
type RankBy string

// Rankings.
const (
	ByRequests     RankBy = "requests"
	ByErrors       RankBy = "errors"        // 5xx responses
	ByAuthFailures RankBy = "auth_failures" // auth "failed" or "forbidden"
)

// TopQuery selects the busiest clients in [From, To).
type TopQuery struct {
	From, To time.Time
	By       RankBy // default ByRequests
	Limit    int    // default 20
}

// ClientStat is one client's totals over a time range.
type ClientStat struct {
	Client       string    `json:"client"`
	ClientKind   string    `json:"client_kind"`
	Requests     uint64    `json:"requests"`
	Errors       uint64    `json:"errors"`
	AuthFailures uint64    `json:"auth_failures"`
	BytesOut     uint64    `json:"bytes_out"`
	Routes       uint64    `json:"routes"` // distinct routes (approximate, uniq)
	First        time.Time `json:"first"`
	Last         time.Time `json:"last"`
}

// TopClients ranks clients by requests, 5xx errors or auth failures over
// a time range, from the events table, counting every event once even
// while a replayed batch (a crash between an insert and its Kafka commit)
// is not yet merged away.
//
// Reading all of events with FINAL would be exact but 3 to 4 times
// slower (3 to 3.5 s instead of 0.7 to 1 s over 10M events here), and
// deduplicating with a GROUP BY on the sort key 15 times slower. But a copy can only
// hide in a day partition with more than one part, or with a part not
// produced by a merge: a partition whose single part is a merge of
// everything it holds has been deduplicated by the Replacing engine. So
// the days are split: those settled into one merged part are aggregated
// plainly, the others (in practice today's, which keeps receiving
// inserts, and any day a replay touched) with FINAL, and the partial
// aggregates are combined.
func (db *DB) TopClients(ctx context.Context, q TopQuery) ([]ClientStat, error) {
	if q.Limit <= 0 {
		q.Limit = 20
	}
	// The ORDER BY column is picked from a fixed set, never from input.
	var order string
	switch q.By {
	case "", ByRequests:
		order = "requests"
	case ByErrors:
		order = "errors"
	case ByAuthFailures:
		order = "auth_failures"
	default:
		return nil, fmt.Errorf("storage: top clients: unknown ranking %q (requests, errors, auth_failures)", q.By)
	}
	from, to := db.timeArg(q.From), db.timeArg(q.To)
	days, err := db.partitionDays(ctx, tableEvents)
	if err != nil {
		return nil, fmt.Errorf("storage: top clients: %w", err)
	}
	plain, final := splitRange(from, to, days)
	// Each branch aggregates per client; uniqState keeps the distinct
	// routes mergeable across them. Inner names differ from the outer
	// aliases, which ClickHouse would otherwise take as cyclic.
	branch := func(modifier string, ranges []timeRange, args *[]any) string {
		var cond strings.Builder
		for i, r := range ranges {
			if i > 0 {
				cond.WriteString(" OR ")
			}
			cond.WriteString("(time >= ? AND time < ?)")
			*args = append(*args, r.from, r.to)
		}
		return "SELECT client, any(client_kind) AS k, count() AS r," +
			" countIf(status >= 500 AND status < 600) AS e," +
			" countIf(auth IN ('failed', 'forbidden')) AS a," +
			" sum(bytes_out) AS b, uniqState(route) AS u, min(time) AS f, max(time) AS l" +
			" FROM " + db.table(tableEvents) + modifier +
			" WHERE " + cond.String() + " GROUP BY client"
	}
	var (
		args     []any
		branches []string
	)
	if len(plain) > 0 {
		branches = append(branches, branch("", plain, &args))
	}
	if len(final) > 0 {
		branches = append(branches, branch(" FINAL", final, &args))
	}
	if len(branches) == 0 {
		return nil, nil
	}
	sql := "SELECT client, any(k), sum(r) AS requests, sum(e) AS errors, sum(a) AS auth_failures," +
		" sum(b), uniqMerge(u), min(f), max(l)" +
		" FROM (" + strings.Join(branches, " UNION ALL ") + ")" +
		" GROUP BY client ORDER BY " + order + " DESC, client LIMIT ?"
	args = append(args, uint64(q.Limit))
	rows, err := db.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: top clients: %w", err)
	}
	defer rows.Close()
	var out []ClientStat
	for rows.Next() {
		var c ClientStat
		if err := rows.Scan(&c.Client, &c.ClientKind, &c.Requests, &c.Errors, &c.AuthFailures,
			&c.BytesOut, &c.Routes, &c.First, &c.Last); err != nil {
			return nil, fmt.Errorf("storage: top clients: %w", err)
		}
		c.First, c.Last = c.First.UTC(), c.Last.UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: top clients: %w", err)
	}
	return out, nil
}

// timeRange is [from, to).
type timeRange struct{ from, to time.Time }

// partitionDay is one UTC day partition of a table.
type partitionDay struct {
	day time.Time // midnight
	// settled: a single part made by a merge, so the Replacing engine has
	// collapsed every duplicate in it.
	settled bool
}

// partitionDays lists table's day partitions in order.
func (db *DB) partitionDays(ctx context.Context, table string) ([]partitionDay, error) {
	rows, err := db.conn.Query(ctx, "SELECT partition, count(), toUInt64(min(level)) FROM system.parts"+
		" WHERE database = ? AND table = ? AND active GROUP BY partition ORDER BY partition",
		db.opts.Database, table)
	if err != nil {
		return nil, fmt.Errorf("list parts of %s: %w", table, err)
	}
	defer rows.Close()
	var days []partitionDay
	for rows.Next() {
		var (
			partition     string
			parts, minLvl uint64
		)
		if err := rows.Scan(&partition, &parts, &minLvl); err != nil {
			return nil, fmt.Errorf("list parts of %s: %w", table, err)
		}
		// The partition key is toYYYYMMDD: the id is the day's number.
		// Anything else (a table partitioned by hand?) settles nothing:
		// everything is read with FINAL, slower but exact.
		day, err := time.Parse("20060102", partition)
		if err != nil {
			return nil, nil
		}
		days = append(days, partitionDay{day: day, settled: parts == 1 && minLvl > 0})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list parts of %s: %w", table, err)
	}
	return days, nil
}

// splitRange cuts [from, to) into the ranges to read plainly (settled
// days) and with FINAL (the others); together they cover [from, to)
// exactly. Empty days before a partition go with it, and everything
// after the last partition with FINAL (rows may be arriving there), so
// consecutive days of one kind form one range: usually one of each.
func splitRange(from, to time.Time, days []partitionDay) (plain, final []timeRange) {
	if !from.Before(to) {
		return nil, nil
	}
	add := func(list *[]timeRange, r timeRange) {
		if n := len(*list); n > 0 && (*list)[n-1].to.Equal(r.from) {
			(*list)[n-1].to = r.to
			return
		}
		*list = append(*list, r)
	}
	cur := from
	for _, d := range days {
		end := minTime(d.day.Add(24*time.Hour), to)
		if !end.After(cur) {
			continue // before the range
		}
		if !d.day.Before(to) {
			break
		}
		list := &final
		if d.settled {
			list = &plain
		}
		add(list, timeRange{cur, end})
		cur = end
	}
	if cur.Before(to) {
		add(&final, timeRange{cur, to})
	}
	return plain, final
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// FindingsQuery selects incidents.
type FindingsQuery struct {
	// Since limits the scan to incidents with an emission ending at or
	// after it; zero scans everything.
	Since time.Time
	Limit int // default 100
}

// OpenFindings returns the latest emission of every incident that has
// not been resolved, most severe and most recent first.
func (db *DB) OpenFindings(ctx context.Context, q FindingsQuery) ([]detect.Finding, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	// The latest emission of each incident is its row with the greatest
	// (window_end, windows), a resolved one ranking last among equals so an
	// incident resolved in the same window as its last update counts as
	// resolved. LIMIT 1 BY keeps that row; it is several times faster here
	// than argMax over every column. Every emission carries the incident's
	// first window start, so the latest row has everything.
	sql := "SELECT " + findingSelect +
		" FROM (SELECT * FROM " + db.table(tableFindings) + " WHERE window_end >= ?" +
		" ORDER BY incident_id, " + latestEmission + " LIMIT 1 BY incident_id)" +
		" WHERE status != 'resolved'" +
		" ORDER BY multiIf(severity = 'critical', 3, severity = 'high', 2, severity = 'medium', 1, 0) DESC, window_end DESC, incident_id" +
		" LIMIT ?"
	rows, err := db.conn.Query(ctx, sql, q.Since.UTC().Truncate(time.Second), uint64(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("storage: open findings: %w", err)
	}
	defer rows.Close()
	var out []detect.Finding
	for rows.Next() {
		f, err := scanFinding(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: open findings: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: open findings: %w", err)
	}
	return out, nil
}

// ErrNotFound is wrapped by the errors of lookups that found nothing
// (DB.Finding): test for it with errors.Is.
var ErrNotFound = errors.New("not found")

// Finding returns the latest emission of one incident: the row with the
// greatest window end and window count, a resolved one winning a tie
// (the same order OpenFindings uses). An incident with no stored
// emission is an error wrapping ErrNotFound. The findings table is
// sorted by client first, so this reads the incident_id column of every
// day; incidents are few next to events, and it is an interactive
// lookup (`gatewatch explain`).
func (db *DB) Finding(ctx context.Context, incidentID string) (detect.Finding, error) {
	sql := "SELECT " + findingSelect + " FROM " + db.table(tableFindings) +
		" WHERE incident_id = ? ORDER BY " + latestEmission + " LIMIT 1"
	rows, err := db.conn.Query(ctx, sql, incidentID)
	if err != nil {
		return detect.Finding{}, fmt.Errorf("storage: finding %q: %w", incidentID, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return detect.Finding{}, fmt.Errorf("storage: finding %q: %w", incidentID, err)
		}
		return detect.Finding{}, fmt.Errorf("storage: finding %q: %w (no emission of that incident is stored)", incidentID, ErrNotFound)
	}
	f, err := scanFinding(rows)
	if err != nil {
		return detect.Finding{}, fmt.Errorf("storage: finding %q: %w", incidentID, err)
	}
	return f, nil
}

// findingSelect lists the findings columns scanFinding reads, in its
// order.
const findingSelect = "incident_id, status, client, client_kind, detector, window_start, window_end, windows," +
	" observed, expected, spread, unit, score, p_value, severity, baseline, history, summary," +
	" why, requests, routes, samples, top_clients," +
	" detectors, campaign, clients, client_count, total_requests, total_failures, total_bytes, total_distinct_paths"

// latestEmission orders an incident's emissions latest first: greatest
// (window_end, windows), a resolved one first among equals so an
// incident resolved in the same window as its last update reads as
// resolved.
const latestEmission = "window_end DESC, windows DESC, status = 'resolved' DESC"

// scanFinding reads one row of findingSelect.
func scanFinding(rows driver.Rows) (detect.Finding, error) {
	var (
		f                             detect.Finding
		status, severity              string
		windows, history, clientCount uint32
		tot                           detect.Totals
	)
	if err := rows.Scan(&f.IncidentID, &status, &f.Client, &f.ClientKind, &f.Detector,
		&f.WindowStart, &f.WindowEnd, &windows, &f.Observed, &f.Expected, &f.Spread, &f.Unit,
		&f.Score, &f.PValue, &severity, &f.Baseline, &history, &f.Summary,
		&f.Why, &f.Requests, &f.Routes, &f.Samples, &f.TopClients,
		&f.Detectors, &f.Campaign, &f.Clients, &clientCount,
		&tot.Requests, &tot.Failures, &tot.Bytes, &tot.DistinctPaths); err != nil {
		return f, err
	}
	f.Status, f.Severity = detect.Status(status), detect.Severity(severity)
	f.Windows, f.History, f.ClientCount = int(windows), int(history), int(clientCount)
	f.WindowStart, f.WindowEnd = f.WindowStart.UTC(), f.WindowEnd.UTC()
	f.Routes, f.Samples, f.TopClients = nilIfEmpty(f.Routes), nilIfEmpty(f.Samples), nilIfEmpty(f.TopClients)
	f.Detectors, f.Clients = nilIfEmpty(f.Detectors), nilIfEmpty(f.Clients)
	if tot != (detect.Totals{}) {
		// A finding without totals (fleet findings, rows stored before
		// migration 4) reads back as all zeros.
		f.Totals = &tot
	}
	return f, nil
}

// ClientWindowsQuery selects one client's windows starting in [From, To).
type ClientWindowsQuery struct {
	Client   string
	From, To time.Time
	Limit    int // default 10000: a week of one-minute windows
}

// ClientWindows returns a client's windows in time order: its tallies
// and what its baselines expected, with the spread around each
// expectation (0 for windows stored before migration 7). It reads with
// FINAL, so a window stored twice (a replay) shows once, the newest
// copy; the client prefix of the sort key keeps that a narrow read.
func (db *DB) ClientWindows(ctx context.Context, q ClientWindowsQuery) ([]detect.WindowStats, error) {
	if q.Limit <= 0 {
		q.Limit = 10_000
	}
	sql := "SELECT client, client_kind, window_start, window_end, requests, errors, auth_failures, bytes_out," +
		" expected_requests, expected_error_ratio, expected_auth_failures," +
		" spread_requests, spread_error_ratio, spread_auth_failures" +
		" FROM " + db.table(tableWindows) + " FINAL" +
		" WHERE client = ? AND window_start >= ? AND window_start < ?" +
		" ORDER BY window_start LIMIT ?"
	rows, err := db.conn.Query(ctx, sql, q.Client, db.timeArg(q.From), db.timeArg(q.To), uint64(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("storage: windows of %q: %w", q.Client, err)
	}
	defer rows.Close()
	var out []detect.WindowStats
	for rows.Next() {
		var w detect.WindowStats
		if err := rows.Scan(&w.Client, &w.ClientKind, &w.Start, &w.End, &w.Requests, &w.Errors, &w.AuthFailures, &w.BytesOut,
			&w.ExpectedRequests, &w.ExpectedErrorRatio, &w.ExpectedAuthFailures,
			&w.SpreadRequests, &w.SpreadErrorRatio, &w.SpreadAuthFailures); err != nil {
			return nil, fmt.Errorf("storage: windows of %q: %w", q.Client, err)
		}
		w.Start, w.End = w.Start.UTC(), w.End.UTC()
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: windows of %q: %w", q.Client, err)
	}
	return out, nil
}

// nilIfEmpty matches detect's JSON: an absent list is nil, not empty.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// ViolationsQuery selects requests outside the API's contract in
// [From, To), of one client when Client is set.
type ViolationsQuery struct {
	Client   string // "" for every client
	From, To time.Time
	Limit    int // default 100
}

// ContractViolations returns the requests outside the API's contract in
// a time range, newest first, as the contract.Report each was stored
// from. It reads with FINAL, so a batch stored twice (a crash replay not
// yet merged) shows once; with a client, the sort key's client prefix
// keeps that a narrow read.
func (db *DB) ContractViolations(ctx context.Context, q ViolationsQuery) ([]contract.Report, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	where := "time >= ? AND time < ?"
	args := []any{db.timeArg(q.From), db.timeArg(q.To)}
	if q.Client != "" {
		where += " AND client = ?"
		args = append(args, q.Client)
	}
	sql := "SELECT time, time_us, client, client_kind, host, method, route, path, status, request_id," +
		" reasons, params, expected, got" +
		" FROM " + db.table(tableViolations) + " FINAL" +
		" WHERE " + where +
		" ORDER BY time DESC, time_us DESC, client, violation_id LIMIT ?"
	rows, err := db.conn.Query(ctx, sql, append(args, uint64(q.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("storage: contract violations: %w", err)
	}
	defer rows.Close()
	var out []contract.Report
	for rows.Next() {
		var (
			r                              contract.Report
			tus                            uint32
			status                         uint16
			reasons, params, expected, got []string
		)
		if err := rows.Scan(&r.Time, &tus, &r.Client, &r.ClientKind, &r.Host, &r.Method, &r.Route, &r.Path,
			&status, &r.RequestID, &reasons, &params, &expected, &got); err != nil {
			return nil, fmt.Errorf("storage: contract violations: %w", err)
		}
		r.Time = r.Time.UTC().Truncate(time.Second).Add(time.Duration(tus) * time.Microsecond)
		r.Status = int(status)
		r.Violations = reportViolations(reasons, params, expected, got)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: contract violations: %w", err)
	}
	return out, nil
}
