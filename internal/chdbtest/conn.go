package chdbtest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// Call is one statement a Conn ran: the function that sent it (the first
// caller outside this package and clickhouse-go, e.g.
// "github.com/gatewatch/gatewatch/storage.(*DB).ClientTimeline") and its
// file, the SQL as given and as bound, and the server's error ("" when it
// ran).
type Call struct {
	Func, File, SQL, Bound, Err string
}

// FromTest reports whether a test file sent the statement (a test's own
// SQL, not the code's).
func (c Call) FromTest() bool { return strings.HasSuffix(c.File, "_test.go") }

// Conn is a clickhouse-go connection to a chdb Session: Query, QueryRow,
// Exec and PrepareBatch run there, the arguments bound as clickhouse-go
// binds them for the native protocol. A batch's rows go out as one
// INSERT ... VALUES on Send (as the native protocol's blocks of one
// INSERT make one part). It records every statement (Calls). The methods
// gatewatch does not use are left to the embedded nil driver.Conn, so
// calling one panics.
type Conn struct {
	driver.Conn
	s       *Session
	version proto.Version
	tz      *time.Location

	mu    sync.Mutex
	calls []Call
}

// NewConn connects a Conn to s and reads the server's version and zone.
func NewConn(s *Session) (*Conn, error) {
	c := &Conn{s: s, tz: time.UTC}
	t, err := c.table("version", "SELECT version(), timezone()")
	if err != nil {
		return nil, err
	}
	if len(t.Values) != 1 {
		return nil, errors.New("chdbtest: no version")
	}
	c.version = proto.ParseVersion(text(t.Values[0][0]))
	if c.tz, err = time.LoadLocation(text(t.Values[0][1])); err != nil {
		return nil, err
	}
	return c, nil
}

// Calls are the statements run so far, in order.
func (c *Conn) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// Session is the chdb session c runs on.
func (c *Conn) Session() *Session { return c.s }

// Location is the server's time zone.
func (c *Conn) Location() *time.Location { return c.tz }

// ServerVersion is chdb's ClickHouse release and zone.
func (c *Conn) ServerVersion() (*driver.ServerVersion, error) {
	return &driver.ServerVersion{Name: "chDB", DisplayName: "chdb", Version: c.version, Timezone: c.tz}, nil
}

// Ping always succeeds: the session is in process.
func (c *Conn) Ping(context.Context) error { return nil }

// Close does nothing; the Session ends with the test.
func (c *Conn) Close() error { return nil }

// Stats is zero: there is no pool.
func (c *Conn) Stats() driver.Stats { return driver.Stats{} }

// Exec runs a statement.
func (c *Conn) Exec(_ context.Context, query string, args ...any) error {
	_, err := c.run(caller(), query, args...)
	return err
}

// Query runs a query and returns its rows.
func (c *Conn) Query(_ context.Context, query string, args ...any) (driver.Rows, error) {
	t, err := c.run(caller(), query, args...)
	if err != nil {
		return nil, err
	}
	return &rows{t: t, tz: c.tz, i: -1}, nil
}

// QueryRow runs a query for its first row.
func (c *Conn) QueryRow(_ context.Context, query string, args ...any) driver.Row {
	t, err := c.run(caller(), query, args...)
	return &row{rows: rows{t: t, tz: c.tz, i: -1}, err: err}
}

// run binds and runs one statement, and records it for fn.
func (c *Conn) run(fn frame, query string, args ...any) (Table, error) {
	bound, err := Bind(c.tz, query, args...)
	call := Call{Func: fn.fn, File: fn.file, SQL: query, Bound: bound}
	var t Table
	if err == nil {
		t, err = c.table(fn.fn, bound)
	}
	if err != nil {
		call.Err = err.Error()
	}
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	return t, err
}

// table runs sql on the session and reads its answer.
func (c *Conn) table(name, sql string) (Table, error) {
	r, err := c.s.Run(Step{Name: name, SQL: sql})
	if err != nil {
		return Table{}, err
	}
	if !r.OK {
		return Table{}, &ServerError{Message: r.Error}
	}
	return ParseTable(r)
}

// ServerError is a statement chdb rejected.
type ServerError struct{ Message string }

func (e *ServerError) Error() string { return "chdb: " + e.Message }

// frame is a function and its file.
type frame struct{ fn, file string }

// caller is the function that called into the Conn: the first frame
// outside this package and clickhouse-go.
func caller() frame {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		own := strings.Contains(f.Function, "/internal/chdbtest.") && !strings.HasSuffix(f.File, "_test.go")
		if !own && !strings.Contains(f.Function, "clickhouse-go") {
			return frame{f.Function, f.File}
		}
		if !more {
			return frame{}
		}
	}
}

// Table is a result in the default format: names, types, rows of values
// as JSON decoded them (numbers as json.Number).
type Table struct {
	Cols, Types []string
	Values      [][]any
}

// ParseTable reads a Result of the default format.
func ParseTable(r Result) (Table, error) {
	var t Table
	for i, raw := range r.Rows {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		var vals []any
		if err := dec.Decode(&vals); err != nil {
			return Table{}, fmt.Errorf("chdbtest: row %d: %w", i, err)
		}
		switch i {
		case 0:
			t.Cols = strs(vals)
		case 1:
			t.Types = strs(vals)
		default:
			t.Values = append(t.Values, vals)
		}
	}
	return t, nil
}

func strs(vs []any) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = text(v)
	}
	return out
}

// rows are a Table as driver.Rows.
type rows struct {
	driver.Rows // unused methods: nil, they panic
	t           Table
	tz          *time.Location
	i           int
	err         error
}

func (r *rows) Next() bool        { r.i++; return r.err == nil && r.i < len(r.t.Values) }
func (r *rows) Columns() []string { return r.t.Cols }
func (r *rows) Close() error      { return nil }
func (r *rows) Err() error        { return r.err }
func (r *rows) HasData() bool     { return len(r.t.Values) > 0 }

func (r *rows) ColumnTypes() []driver.ColumnType {
	out := make([]driver.ColumnType, len(r.t.Cols))
	for i := range out {
		out[i] = columnType{name: r.t.Cols[i], typ: r.t.Types[i]}
	}
	return out
}

// Scan stores the current row in dest, pointers as clickhouse-go takes.
func (r *rows) Scan(dest ...any) error {
	if r.i < 0 || r.i >= len(r.t.Values) {
		return errors.New("chdbtest: Scan without a row")
	}
	row := r.t.Values[r.i]
	if len(dest) != len(row) {
		return fmt.Errorf("chdbtest: Scan into %d values, the row has %d", len(dest), len(row))
	}
	for i, d := range dest {
		dv := reflect.ValueOf(d)
		if dv.Kind() != reflect.Pointer || dv.IsNil() {
			return fmt.Errorf("chdbtest: Scan destination %d is %T, not a pointer", i, d)
		}
		if err := assign(dv.Elem(), row[i], r.t.Types[i], r.tz); err != nil {
			return fmt.Errorf("chdbtest: column %s (%s): %w", r.t.Cols[i], r.t.Types[i], err)
		}
	}
	return nil
}

// row is QueryRow's answer.
type row struct {
	driver.Row
	rows rows
	err  error
}

func (r *row) Err() error { return r.err }

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if !r.rows.Next() {
		return sql.ErrNoRows
	}
	return r.rows.Scan(dest...)
}
