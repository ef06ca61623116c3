package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// ReplayQuery selects the stored events Replay reads.
type ReplayQuery struct {
	From, To time.Time // [From, To); a zero To is now
	// Chunk is how much time is read at a time (default one hour): the
	// server sorts one chunk by time, never the whole range, so a week of
	// history costs the memory of an hour's.
	Chunk time.Duration
	// Progress, if set, is called after each chunk with the end of the
	// time read so far and the events passed to fn.
	Progress func(through time.Time, events int64)
}

// Replay passes the events stored in [q.From, q.To) to fn in time order
// (to the microsecond; events within one microsecond come in an
// arbitrary but repeatable order). Rows a writer stored twice (a batch retried after a crash)
// are read once: each chunk is read FINAL. Client keys come back as the
// collectors made them, so the events can seed detector baselines
// without the HMAC key (gatewatch detect --backfill --from-store). fn
// must not keep ev, which is reused; an error from fn stops the replay
// and is returned. Replay returns how many events it passed to fn.
func (db *DB) Replay(ctx context.Context, q ReplayQuery, fn func(ev *ingest.Event) error) (int64, error) {
	if q.To.IsZero() {
		q.To = time.Now()
	}
	if q.Chunk <= 0 {
		q.Chunk = time.Hour
	}
	if !q.From.Before(q.To) {
		return 0, fmt.Errorf("storage: replay: empty range %v to %v", q.From, q.To)
	}
	sql := "SELECT time, time_us, source, format, client, client_kind, IPv6NumToString(ip), method, host, path, route, query," +
		" status, bytes_in, bytes_out, latency_us, user_agent, referer, auth, scheme, tls_version, api_version, request_id" +
		" FROM " + db.table(tableEvents) + " FINAL" +
		" WHERE time >= ? AND time < ?" +
		" ORDER BY time, time_us, event_id"
	// Only the span that holds events is read chunk by chunk: a range
	// given as "since 2000" must not cost a query per empty hour.
	first, last, err := db.storedSpan(ctx, q.From, q.To)
	if err != nil || first.IsZero() {
		return 0, err
	}
	if first.After(q.From) {
		q.From = first
	}
	if end := last.Add(time.Second); end.Before(q.To) {
		q.To = end
	}
	var (
		n  int64
		ev ingest.Event
	)
	// Chunks start on whole seconds: 18.16's time column has no finer
	// resolution, and a boundary inside a second would read its events
	// twice or not at all.
	for from := q.From.Truncate(time.Second); from.Before(q.To); from = from.Add(q.Chunk) {
		to := from.Add(q.Chunk)
		if to.After(q.To) {
			to = q.To.Add(time.Second - 1).Truncate(time.Second)
		}
		read, err := db.replayChunk(ctx, sql, from, to, q.From, q.To, &ev, fn)
		n += read
		if err != nil {
			return n, err
		}
		if q.Progress != nil {
			q.Progress(to, n)
		}
	}
	return n, nil
}

// replayChunk reads the stored events in [from, to) by whole seconds and
// passes those in [lo, hi) to fn.
func (db *DB) replayChunk(ctx context.Context, sql string, from, to, lo, hi time.Time, ev *ingest.Event, fn func(*ingest.Event) error) (int64, error) {
	rows, err := db.conn.Query(ctx, sql, db.timeArg(from), db.timeArg(to))
	if err != nil {
		return 0, fmt.Errorf("storage: replay %v to %v: %w", from, to, err)
	}
	defer rows.Close()
	var (
		n            int64
		tus          uint32
		ip           string
		kind, auth   string
		status       uint16
		in, out, lat uint64
	)
	for rows.Next() {
		ev.Reset()
		if err := rows.Scan(&ev.Time, &tus, &ev.Source, &ev.Format, &ev.ClientKey, &kind, &ip,
			&ev.Method, &ev.Host, &ev.Path, &ev.Route, &ev.Query, &status, &in, &out,
			&lat, &ev.UserAgent, &ev.Referer, &auth, &ev.Scheme, &ev.TLSVersion, &ev.APIVersion, &ev.RequestID); err != nil {
			return n, fmt.Errorf("storage: replay %v to %v: %w", from, to, err)
		}
		ev.Time = ev.Time.UTC().Truncate(time.Second).Add(time.Duration(tus) * time.Microsecond)
		if ev.Time.Before(lo) || !ev.Time.Before(hi) {
			continue
		}
		ev.ClientKind, ev.Auth = ingest.ParseClientKind(kind), ingest.ParseAuthOutcome(auth)
		ev.RemoteIP = parseStoredIP(ip)
		ev.Status, ev.BytesIn, ev.BytesOut = int(status), int64(min(in, 1<<62)), int64(min(out, 1<<62))
		ev.Latency = time.Duration(min(lat, 1<<62/1000)) * time.Microsecond
		if err := fn(ev); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("storage: replay %v to %v: %w", from, to, err)
	}
	return n, nil
}

// storedSpan returns the whole seconds of the first and last events
// stored in [from, to); zero times when there are none.
func (db *DB) storedSpan(ctx context.Context, from, to time.Time) (first, last time.Time, err error) {
	var n uint64
	row := db.conn.QueryRow(ctx, "SELECT count(), min(toUInt32(toDateTime(time))), max(toUInt32(toDateTime(time))) FROM "+db.table(tableEvents)+
		" WHERE time >= ? AND time < ?", db.timeArg(from.Truncate(time.Second)), db.timeArg(to.Add(time.Second-1).Truncate(time.Second)))
	var lo, hi uint32
	if err := row.Scan(&n, &lo, &hi); err != nil {
		return first, last, fmt.Errorf("storage: replay: span of stored events: %w", err)
	}
	if n == 0 {
		return first, last, nil
	}
	return time.Unix(int64(lo), 0).UTC(), time.Unix(int64(hi), 0).UTC(), nil
}
