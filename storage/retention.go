package storage

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Dropped is one partition EnforceRetention removed.
type Dropped struct {
	Table     string
	Partition string // YYYYMMDD
}

// EnforceRetention drops the day partitions of each table that lie wholly
// before now minus the table's retention. Every table is partitioned by
// day, so this removes exactly the expired days at the cost of a metadata
// operation, with no row-level DELETE. It runs on every server: where the
// server has TTL it only removes what TTL has not yet merged away.
func (db *DB) EnforceRetention(ctx context.Context, now time.Time) ([]Dropped, error) {
	var dropped []Dropped
	for _, t := range []struct {
		name string
		days int
	}{
		{tableEvents, db.opts.Retention.Events},
		{tableWindows, db.opts.Retention.Windows},
		{tableFindings, db.opts.Retention.Findings},
		{tableHealth, db.opts.Retention.Health},
		{tableViolations, db.opts.Retention.Violations},
		{tableEndpoints, db.opts.Retention.Endpoints},
	} {
		if t.days <= 0 {
			continue
		}
		// A partition holds one UTC day; it is expired when that whole day
		// is older than the cut-off.
		cut := now.UTC().AddDate(0, 0, -t.days)
		cutDay, _ := strconv.Atoi(cut.Format("20060102"))
		parts, err := db.partitions(ctx, t.name)
		if err != nil {
			return dropped, err
		}
		for _, p := range parts {
			if p >= cutDay {
				continue
			}
			// p is an integer we parsed and range-checked, never input text.
			q := fmt.Sprintf("ALTER TABLE %s DROP PARTITION %d", db.table(t.name), p)
			if err := db.conn.Exec(ctx, q); err != nil {
				return dropped, fmt.Errorf("storage: drop partition %d of %s: %w", p, t.name, err)
			}
			dropped = append(dropped, Dropped{Table: t.name, Partition: strconv.Itoa(p)})
		}
	}
	return dropped, nil
}

// partitions lists the active day partitions of a table as YYYYMMDD
// integers.
func (db *DB) partitions(ctx context.Context, table string) ([]int, error) {
	rows, err := db.conn.Query(ctx,
		"SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active",
		db.opts.Database, table)
	if err != nil {
		return nil, fmt.Errorf("storage: list partitions of %s: %w", table, err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("storage: list partitions of %s: %w", table, err)
		}
		p, err := strconv.Atoi(s)
		if err != nil || p < 19700101 || p > 99991231 {
			continue // not one of our day partitions; leave it alone
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: list partitions of %s: %w", table, err)
	}
	return out, nil
}

// RetentionLoop runs EnforceRetention at once and then every interval
// (default 1h) until ctx ends, for a long-running `gatewatch store`.
// report, when set, sees each run's outcome; errors do not stop the loop
// (the next run retries).
func (db *DB) RetentionLoop(ctx context.Context, every time.Duration, report func([]Dropped, error)) {
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		dropped, err := db.EnforceRetention(ctx, time.Now())
		if report != nil && ctx.Err() == nil {
			report(dropped, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
