package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Migration describes one schema step, for `gatewatch migrate` to print.
type Migration struct {
	Version uint32
	Name    string
	Applied bool
}

// Migrate creates the database if needed and applies every migration not
// yet recorded in schema_migrations, in order. Applying it again is a
// no-op; a run that failed half way resumes, because each statement is
// idempotent and a step is recorded only after all of its statements
// succeeded. It returns the steps it applied.
func (db *DB) Migrate(ctx context.Context) ([]Migration, error) {
	return db.migrateTo(ctx, ^uint32(0))
}

// migrateTo applies the migrations up to and including version max. Tests
// use it to build an older schema.
func (db *DB) migrateTo(ctx context.Context, max uint32) ([]Migration, error) {
	if db.features.LowCardinality && !db.version.AtLeast(19, 9) {
		// Options.Features asked for LowCardinality on a server that has it
		// only as an experiment (18.16): CREATE needs the setting.
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
			"allow_experimental_low_cardinality_type": 1,
		}))
	}
	if err := db.conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(db.opts.Database)); err != nil {
		return nil, fmt.Errorf("storage: create database %s: %w", db.opts.Database, err)
	}
	if err := db.conn.Exec(ctx, db.ddl.migrationsTable()); err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", tableMigrations, err)
	}
	done, err := db.appliedVersions(ctx)
	if err != nil {
		return nil, err
	}
	var applied []Migration
	for _, m := range db.ddl.migrations() {
		if m.Version > max || done[m.Version] {
			continue
		}
		for i, stmt := range m.Statements {
			if stmt.Column != "" {
				n, err := db.columnExists(ctx, stmt.Table, stmt.Column)
				if err != nil {
					return applied, fmt.Errorf("storage: migration %d (%s): %w", m.Version, m.Name, err)
				}
				if n {
					continue
				}
			}
			if err := db.conn.Exec(ctx, stmt.SQL); err != nil {
				return applied, fmt.Errorf("storage: migration %d (%s), statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		if err := db.recordMigration(ctx, m); err != nil {
			return applied, err
		}
		applied = append(applied, Migration{Version: m.Version, Name: m.Name, Applied: true})
	}
	return applied, nil
}

// Migrations lists every migration this build knows and whether the
// database has it.
func (db *DB) Migrations(ctx context.Context) ([]Migration, error) {
	done, err := db.appliedVersions(ctx)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, m := range db.ddl.migrations() {
		out = append(out, Migration{Version: m.Version, Name: m.Name, Applied: done[m.Version]})
	}
	return out, nil
}

func (db *DB) appliedVersions(ctx context.Context) (map[uint32]bool, error) {
	rows, err := db.conn.Query(ctx, "SELECT DISTINCT version FROM "+db.table(tableMigrations))
	if err != nil {
		return nil, fmt.Errorf("storage: read %s: %w", tableMigrations, err)
	}
	defer rows.Close()
	done := make(map[uint32]bool)
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("storage: read %s: %w", tableMigrations, err)
		}
		done[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: read %s: %w", tableMigrations, err)
	}
	return done, nil
}

func (db *DB) columnExists(ctx context.Context, table, column string) (bool, error) {
	var n uint64
	if err := db.conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?",
		db.opts.Database, table, column).Scan(&n); err != nil {
		return false, fmt.Errorf("look up column %s.%s: %w", table, column, err)
	}
	return n > 0, nil
}

func (db *DB) recordMigration(ctx context.Context, m migration) error {
	b, err := db.conn.PrepareBatch(insertContext(ctx), "INSERT INTO "+db.table(tableMigrations)+" (version, name, applied_at, server_version)")
	if err != nil {
		return fmt.Errorf("storage: record migration %d: %w", m.Version, err)
	}
	defer b.Close()
	if err := b.Append(m.Version, m.Name, time.Now().UTC(), db.version.String()); err != nil {
		return fmt.Errorf("storage: record migration %d: %w", m.Version, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("storage: record migration %d: %w", m.Version, err)
	}
	return nil
}
