package dashboards

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/internal/chdbtest"
	"github.com/gatewatch/gatewatch/storage"
)

// chdbSchemas are the schemas the chdb tests run the panels on: the one
// a current server gets, and the one 18.16 made (a server upgraded in
// place keeps its tables).
var chdbSchemas = []struct {
	name, db string
	features *storage.Features
}{
	{"current schema", "gwdash_current", nil},
	{"18.16 schema", "gwdash_v18", &storage.Features{}},
}

// chdbStorage is storage on chdb, in database name, migrated.
func chdbStorage(t *testing.T, s *chdbtest.Session, name string, f *storage.Features) (*storage.DB, *chdbtest.Conn) {
	t.Helper()
	conn, err := chdbtest.NewConn(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := storage.OpenConn(ctx, conn, storage.Options{Database: name, Features: f})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate on ClickHouse %s: %v", db.Version(), err)
	}
	return db, conn
}

// TestChdbPanels is TestPanelsOnClickHouse on a current ClickHouse: chdb
// (26.9, deploy/chdb) through chdbtest.Conn. storage migrates and writes
// the same rows, and every query of every dashboard (panel targets and
// query variables, from All) runs expanded as Grafana and the plugin
// would, under the same variable settings, with the same checks of the
// answers, on both chdbSchemas.
func TestChdbPanels(t *testing.T) {
	s := chdbtest.Start(t)
	for _, sc := range chdbSchemas {
		t.Run(sc.name, func(t *testing.T) {
			db, conn := chdbStorage(t, s, sc.db, sc.features)
			answers := testPanels(t, db, conn)
			queries, runs := 0, 0
			for _, d := range answers {
				most := 0
				for _, a := range d {
					most, runs = max(most, len(a)), runs+len(a)
				}
				queries += most
			}
			t.Logf("%d dashboards, %d queries (panel targets and query variables), %d runs under the variable settings", len(answers), queries, runs)
		})
	}
}

// TestChdbPanelsMatchClickHouse runs the panels on the ClickHouse server
// of the integration tests (18.16 in CI) and on chdb, over the same rows,
// and compares every answer cell by cell: a query a current server
// answers differently fails here even where testPanels checks nothing.
// Only the columns made of the insert time (emitted_at) are left out.
func TestChdbPanelsMatchClickHouse(t *testing.T) {
	s := chdbtest.Start(t)
	db, conn := testStorage(t)
	want := testPanels(t, db, conn)
	if t.Failed() {
		t.FailNow()
	}
	for _, sc := range chdbSchemas {
		t.Run(sc.name, func(t *testing.T) {
			cdb, cconn := chdbStorage(t, s, sc.db, sc.features)
			got := testPanels(t, cdb, cconn)
			compared := compareAnswers(t, db.Version().String(), want, got)
			t.Logf("compared %d answers of ClickHouse %s and %s", compared, db.Version(), cdb.Version())
		})
	}
}

// volatileColumns hold the time of the insert, which differs between two
// runs.
var volatileColumns = map[string]bool{"emitted_at": true, "first_emitted": true, "last_emitted": true}

// compareAnswers reports every answer of got that differs from want's,
// and returns how many it compared.
func compareAnswers(t *testing.T, server string, want, got map[string]map[string]map[string]result) int {
	t.Helper()
	n := 0
	for uid, scs := range want {
		for scName, panels := range scs {
			for where, w := range panels {
				g, ok := got[uid][scName][where]
				if !ok {
					t.Errorf("%s [%s] %s: no answer from chdb", uid, scName, where)
					continue
				}
				n++
				if diff := diffResult(w, g); diff != "" {
					t.Errorf("%s [%s] %s: ClickHouse %s and chdb differ: %s", uid, scName, where, server, diff)
				}
			}
		}
	}
	return n
}

// diffResult describes the first difference between two answers, "" when
// they agree (numbers to 1e-9 relative, times to the nanosecond).
func diffResult(want, got result) string {
	if !reflect.DeepEqual(want.cols, got.cols) {
		return fmt.Sprintf("columns %v, chdb %v", want.cols, got.cols)
	}
	if len(want.rows) != len(got.rows) {
		return fmt.Sprintf("%d rows, chdb %d", len(want.rows), len(got.rows))
	}
	for i := range want.rows {
		for j, c := range want.cols {
			if volatileColumns[c] {
				continue
			}
			w, g := cell(want.rows[i][j]), cell(got.rows[i][j])
			if !sameCell(w, g) {
				return fmt.Sprintf("row %d column %s: %v, chdb %v", i, c, w, g)
			}
		}
	}
	return ""
}

// cell is a value in a form both drivers' types compare in: numbers as
// float64, times as UTC, addresses and lists as text.
func cell(v any) any {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return nil
	}
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		return cell(rv.Elem().Interface())
	}
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case netip.Addr:
		return x.Unmap().String()
	case fmt.Stringer:
		return x.String()
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.Slice:
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(cell(rv.Index(i).Interface()))
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return v
}

func sameCell(w, g any) bool {
	wf, ok1 := w.(float64)
	gf, ok2 := g.(float64)
	if ok1 && ok2 {
		return wf == gf || math.Abs(wf-gf) <= 1e-9*math.Max(math.Abs(wf), math.Abs(gf))
	}
	return reflect.DeepEqual(w, g)
}
