package chdbtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// insertRe reads the INSERTs gatewatch prepares: INSERT INTO table
// (a, b, c), the columns always named.
var insertRe = regexp.MustCompile(`(?is)^\s*INSERT\s+INTO\s+(\S+)\s*\(([^)]*)\)\s*$`)

// PrepareBatch starts an INSERT; its rows go out on Send.
func (c *Conn) PrepareBatch(_ context.Context, query string, _ ...driver.PrepareBatchOption) (driver.Batch, error) {
	fn := caller()
	m := insertRe.FindStringSubmatch(query)
	if m == nil {
		return nil, fmt.Errorf("chdbtest: PrepareBatch(%q): want INSERT INTO table (columns)", query)
	}
	b := &batch{c: c, fn: fn, query: query, table: m[1]}
	for _, col := range strings.Split(m[2], ",") {
		b.cols = append(b.cols, strings.TrimSpace(col))
	}
	types, err := c.columnTypes(fn, b.table)
	if err != nil {
		return nil, err
	}
	b.block = proto.NewBlock()
	*b.block.ServerContext = c.serverContext()
	for _, col := range b.cols {
		t, ok := types[col]
		if !ok {
			return nil, fmt.Errorf("chdbtest: %s has no column %s", b.table, col)
		}
		if err := b.block.AddColumn(col, column.Type(t)); err != nil {
			return nil, fmt.Errorf("chdbtest: clickhouse-go has no column of type %s: %w", t, err)
		}
		b.types = append(b.types, t)
	}
	b.drv = b.block.Columns
	return b, nil
}

// serverContext is what clickhouse-go knows of the server when it
// encodes a block.
func (c *Conn) serverContext() column.ServerContext {
	return column.ServerContext{Revision: proto.DBMS_TCP_PROTOCOL_VERSION, VersionMajor: c.version.Major,
		VersionMinor: c.version.Minor, VersionPatch: c.version.Patch, Timezone: c.tz}
}

// columnTypes reads a table's column types, as the server tells the
// driver at the start of an INSERT.
func (c *Conn) columnTypes(fn frame, table string) (map[string]string, error) {
	t, err := c.table(fn.fn, "DESCRIBE TABLE "+table)
	if err != nil {
		return nil, fmt.Errorf("chdbtest: columns of %s: %w", table, err)
	}
	out := make(map[string]string, len(t.Values))
	for _, r := range t.Values {
		out[text(r[0])] = text(r[1])
	}
	return out, nil
}

// batch holds the rows in clickhouse-go's own column buffers, made for
// the types the server reports: a value the driver would refuse for a
// column (or convert) is refused (or converted) here too. Send reads the
// buffered values back and inserts them as literals.
type batch struct {
	driver.Batch // unused methods: nil, they panic
	c            *Conn
	fn           frame
	query        string
	table        string
	cols, types  []string
	block        *proto.Block
	drv          []column.Interface // block's
	sent         bool
}

func (b *batch) Append(v ...any) error {
	if len(v) != len(b.cols) {
		return fmt.Errorf("chdbtest: Append of %d values to %d columns", len(v), len(b.cols))
	}
	for i, x := range v {
		if err := b.drv[i].AppendRow(x); err != nil {
			return fmt.Errorf("chdbtest: column %s (%s): %w", b.cols[i], b.types[i], err)
		}
	}
	return nil
}

func (b *batch) Column(i int) driver.BatchColumn { return batchColumn{b: b, i: i} }

// Flush does nothing: the rows go out on Send, so one INSERT makes one
// part, as the blocks of one native INSERT do on a server.
func (b *batch) Flush() error { return nil }

// Send inserts every row in one INSERT ... VALUES: the block encoded as
// the native protocol sends it, decoded, each value written as a literal.
func (b *batch) Send() error {
	if b.sent {
		return errors.New("chdbtest: batch already sent")
	}
	b.sent = true
	if b.block.Rows() == 0 {
		return nil
	}
	var buf chproto.Buffer
	if err := b.block.Encode(&buf, proto.DBMS_TCP_PROTOCOL_VERSION); err != nil {
		return fmt.Errorf("chdbtest: encode the block: %w", err)
	}
	wire := proto.NewBlock()
	*wire.ServerContext = b.c.serverContext()
	if err := wire.Decode(chproto.NewReader(bytes.NewReader(buf.Buf)), proto.DBMS_TCP_PROTOCOL_VERSION); err != nil {
		return fmt.Errorf("chdbtest: decode the block: %w", err)
	}
	var sql strings.Builder
	sql.WriteString("INSERT INTO " + b.table + " (" + strings.Join(b.cols, ", ") + ") VALUES ")
	for r := range wire.Rows() {
		if r > 0 {
			sql.WriteString(", ")
		}
		sql.WriteByte('(')
		for i, c := range wire.Columns {
			lit, err := literal(b.types[i], c.Row(r, false), b.c.tz)
			if err != nil {
				return fmt.Errorf("chdbtest: %s.%s: %w", b.table, b.cols[i], err)
			}
			if i > 0 {
				sql.WriteString(", ")
			}
			sql.WriteString(lit)
		}
		sql.WriteByte(')')
	}
	_, err := b.c.run(b.fn, sql.String())
	return err
}

func (b *batch) Abort() error                { b.sent = true; return nil }
func (b *batch) Close() error                { b.sent = true; return nil }
func (b *batch) IsSent() bool                { return b.sent }
func (b *batch) Rows() int                   { return b.block.Rows() }
func (b *batch) Columns() []column.Interface { return b.drv }

// batchColumn appends to one column: a slice of values (Append) or one
// value (AppendRow).
type batchColumn struct {
	b *batch
	i int
}

func (c batchColumn) Append(v any) error {
	if _, err := c.b.drv[c.i].Append(v); err != nil {
		return fmt.Errorf("chdbtest: column %s (%s): %w", c.b.cols[c.i], c.b.types[c.i], err)
	}
	return nil
}

func (c batchColumn) AppendRow(v any) error {
	if err := c.b.drv[c.i].AppendRow(v); err != nil {
		return fmt.Errorf("chdbtest: column %s (%s): %w", c.b.cols[c.i], c.b.types[c.i], err)
	}
	return nil
}
