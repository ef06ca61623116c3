package storage

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/internal/chdbtest"
)

// The TestChdb tests run storage's own code (Migrate, the writers, every
// query function) on chdb, ClickHouse 26.9 in process (deploy/chdb,
// internal/chdbtest), through a driver.Conn that sends chdb exactly the
// SQL clickhouse-go would send a server. They skip without
// GATEWATCH_TEST_CHDB, and fail without it under CI=true.

// chdbRetention turns every table's TTL on where the schema has TTL, long
// enough to keep the sample rows (TTL drops expired rows as they are
// inserted on a current server).
var chdbRetention = Retention{Events: 30, Windows: 90, Findings: 365, Health: 7, Violations: 90, Endpoints: 90}

// chdbSchemas are the feature sets the schema is made with on chdb: what
// a current server gets (nil: FeaturesFor(26.9)), and the tables 19.9 and
// 18.16 made, which a server upgraded in place keeps.
var chdbSchemas = []struct {
	name     string
	features *Features
}{
	{"current", nil},
	{"19.9", &Features{LowCardinality: true}},
	{"18.16", &Features{}},
}

// chdbOpen is a DB on chdb (a Conn of its own on s), in database name,
// not migrated.
func chdbOpen(t *testing.T, s *chdbtest.Session, name string, f *Features) (*DB, *chdbtest.Conn) {
	t.Helper()
	conn, err := chdbtest.NewConn(s)
	if err != nil {
		t.Fatal(err)
	}
	db, err := OpenConn(context.Background(), conn, Options{Database: name, Retention: chdbRetention, Features: f})
	if err != nil {
		t.Fatal(err)
	}
	if !db.Version().AtLeast(24, 8) {
		t.Fatalf("chdb reports ClickHouse %s: the tests want a current server (24.8+)", db.Version())
	}
	return db, conn
}

// chdbName is a database name for one schema of a test.
func chdbName(prefix, schema string) string {
	return prefix + "_" + strings.ReplaceAll(schema, ".", "_")
}

// TestChdbMigrations applies every migration on chdb for each schema,
// checks the tables the server made against the DDL, and that Migrate is
// then a no-op; and brings a database up from each older version.
func TestChdbMigrations(t *testing.T) {
	s := chdbtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, sc := range chdbSchemas {
		t.Run(sc.name, func(t *testing.T) {
			db, _ := chdbOpen(t, s, chdbName("gw_migrate", sc.name), sc.features)
			all := db.ddl.migrations()
			applied, err := db.Migrate(ctx)
			if err != nil {
				t.Fatalf("Migrate on ClickHouse %s: %v", db.Version(), err)
			}
			if len(applied) != len(all) {
				t.Fatalf("applied %d migrations, want %d", len(applied), len(all))
			}
			checkChdbSchema(t, db)
			if again, err := db.Migrate(ctx); err != nil || len(again) != 0 {
				t.Errorf("second Migrate applied %v, %v: want nothing", again, err)
			}
			ms, err := db.Migrations(ctx)
			if err != nil || len(ms) != len(all) || slices.ContainsFunc(ms, func(m Migration) bool { return !m.Applied }) {
				t.Errorf("Migrations() = %+v, %v: want all %d applied", ms, err, len(all))
			}
			t.Logf("%d migrations, %d tables on ClickHouse %s", len(all), len(chdbTables(db.ddl)), db.Version())
		})
	}
	t.Run("from each version", func(t *testing.T) {
		for _, m := range (ddl{f: FeaturesFor(ServerVersion{26, 9, 0})}).migrations() {
			db, _ := chdbOpen(t, s, "gw_from_"+itoa(int(m.Version)), nil)
			if _, err := db.migrateTo(ctx, m.Version); err != nil {
				t.Fatalf("migrate to %d: %v", m.Version, err)
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatalf("Migrate from %d: %v", m.Version, err)
			}
			checkChdbSchema(t, db)
		}
	})
}

// TestChdbGoldenSchema runs testdata/schema_24.8.sql, the reviewed DDL of
// a current server, statement by statement as written.
func TestChdbGoldenSchema(t *testing.T) {
	s := chdbtest.Start(t)
	b, err := os.ReadFile(filepath.Join("testdata", "schema_24.8.sql"))
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"CREATE DATABASE IF NOT EXISTS `gatewatch`"}
	for _, st := range strings.Split(string(b), ";\n") {
		var lines []string
		for _, l := range strings.Split(st, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		if sql := strings.TrimSpace(strings.Join(lines, "\n")); sql != "" {
			stmts = append(stmts, sql)
		}
	}
	for i, sql := range stmts {
		if err := s.Exec(sql); err != nil {
			t.Errorf("statement %d of schema_24.8.sql: %v\n%s", i, err, sql)
		}
	}
	db, _ := chdbOpen(t, s, "gatewatch", nil)
	db.ddl.ret = Retention{Events: 30, Windows: 90, Findings: 365, Health: 7, Violations: 90, Endpoints: 90}
	checkChdbSchema(t, db)
}

// chdbTables are gatewatch's tables and their columns in insert order.
func chdbTables(d ddl) map[string][]column {
	return map[string][]column{
		tableEvents: d.eventColumns(), tableWindows: d.windowColumns(), tableFindings: d.findingColumns(),
		tableHealth: d.healthColumns(), tableViolations: d.violationColumns(), tableEndpoints: d.endpointColumns(),
	}
}

// checkChdbSchema compares the tables the server made with the DDL:
// every column with its type, default and codec (by name: columns a
// migration added sit where AFTER put them, not in insert order, on every
// server); the TTL and the dedup window where the schema has them.
func checkChdbSchema(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	for table, cols := range chdbTables(db.ddl) {
		var got []string
		rows, err := db.conn.Query(ctx, "SELECT name, type, default_expression, compression_codec FROM system.columns"+
			" WHERE database = ? AND table = ? ORDER BY name", db.Database(), table)
		if err != nil {
			t.Fatalf("columns of %s: %v", table, err)
		}
		for rows.Next() {
			var name, typ, def, codec string
			if err := rows.Scan(&name, &typ, &def, &codec); err != nil {
				t.Fatal(err)
			}
			got = append(got, strings.Join(slices.DeleteFunc([]string{name, typ, chdbOptional("DEFAULT", def), codec},
				func(s string) bool { return s == "" }), " "))
		}
		var want []string
		for _, c := range cols {
			want = append(want, c.name+" "+c.typ)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s.%s columns:\n got %q\nwant %q", db.Database(), table, got, want)
		}
		var engine string
		if err := db.conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?",
			db.Database(), table).Scan(&engine); err != nil {
			t.Fatalf("engine of %s: %v", table, err)
		}
		if has := strings.Contains(engine, " TTL "); has != db.features.TTL {
			t.Errorf("%s: TTL %v, want %v: %s", table, has, db.features.TTL, engine)
		}
		if has := strings.Contains(engine, "non_replicated_deduplication_window = 1000"); has != db.features.InsertDedup {
			t.Errorf("%s: insert dedup %v, want %v: %s", table, has, db.features.InsertDedup, engine)
		}
	}
}

func chdbOptional(keyword, v string) string {
	if v == "" {
		return ""
	}
	return keyword + " " + v
}

// conn calls sending SQL, as the code writes them: db.conn.Query(...),
// w.db.conn.PrepareBatch(...).
var sqlMethods = map[string]bool{"Query": true, "QueryRow": true, "Exec": true, "PrepareBatch": true, "Select": true, "AsyncInsert": true}

// sqlFuncs lists the functions of this package's non-test files that send
// SQL through a conn, by the name the runtime gives them ("(*DB).TopClients",
// "EnforceRetention"): what the TestChdb tests must have run, read from
// the code so a new query cannot be missed.
func sqlFuncs(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if ok && fd.Body != nil && sendsSQL(fd.Body) {
				out = append(out, funcName(fd))
			}
		}
	}
	slices.Sort(out)
	return out
}

// sendsSQL reports whether body calls X.conn.M for an SQL method M.
func sendsSQL(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return !found
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sqlMethods[sel.Sel.Name] {
			if x, ok := sel.X.(*ast.SelectorExpr); ok && x.Sel.Name == "conn" {
				found = true
			}
		}
		return !found
	})
	return found
}

// funcName is fd's name as runtime.FuncForPC gives it, less the package.
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	typ := fd.Recv.List[0].Type
	star := ""
	if st, ok := typ.(*ast.StarExpr); ok {
		star, typ = "*", st.X
	}
	switch x := typ.(type) {
	case *ast.IndexExpr:
		typ = x.X
	case *ast.IndexListExpr:
		typ = x.X
	}
	id, _ := typ.(*ast.Ident)
	if star != "" {
		return "(*" + id.Name + ")." + fd.Name.Name
	}
	return id.Name + "." + fd.Name.Name
}

// closureSuffix is what the runtime appends to a closure's or generic
// function's name.
var closureSuffix = regexp.MustCompile(`(\.func\d+(\.\d+)*|\[\.\.\.\])+$`)

// shortFunc turns a runtime function name of this package into
// funcName's form; "" for other packages.
func shortFunc(full string) string {
	const pkg = "github.com/gatewatch/gatewatch/storage."
	if !strings.HasPrefix(full, pkg) {
		return ""
	}
	return closureSuffix.ReplaceAllString(strings.TrimPrefix(full, pkg), "")
}

// checkChdbCoverage fails for every function of sqlFuncs that sent no SQL
// through conn, and for every statement chdb rejected; it returns how
// many distinct SQL texts the package's own code sent.
func checkChdbCoverage(t *testing.T, conn *chdbtest.Conn) int {
	t.Helper()
	ran := map[string]bool{}
	texts := map[string]bool{}
	for _, c := range conn.Calls() {
		f := shortFunc(c.Func)
		if f == "" || c.FromTest() {
			continue // the test's own SQL
		}
		ran[f] = true
		texts[c.SQL] = true
		if c.Err != "" {
			t.Errorf("%s: ClickHouse 26.9 rejects: %s\n%s", f, c.Err, c.Bound)
		}
	}
	funcs := sqlFuncs(t)
	for _, f := range funcs {
		if !ran[f] {
			t.Errorf("%s sends SQL but ran none on chdb: add it to the TestChdb queries", f)
		}
	}
	t.Logf("%d functions sending SQL, all run; %d distinct SQL texts", len(funcs), len(texts))
	return len(texts)
}
