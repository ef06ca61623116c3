package chdbtest

import (
	"net/netip"
	"reflect"
	"strings"
	"time"
)

// chType is a parsed ClickHouse type: LowCardinality(String) is name
// "LowCardinality" with args ["String"]; DateTime64(6, 'UTC') has args
// ["6", "'UTC'"].
type chType struct {
	name string
	args []string
}

// parseType splits t at its top-level parenthesis and commas, minding
// quotes.
func parseType(t string) chType {
	t = strings.TrimSpace(t)
	open := strings.IndexByte(t, '(')
	if open < 0 || !strings.HasSuffix(t, ")") {
		return chType{name: t}
	}
	ct := chType{name: t[:open]}
	depth, quoted, last := 0, false, open+1
	for i := open; i < len(t); i++ {
		switch c := t[i]; {
		case c == '\'' && (i == 0 || t[i-1] != '\\'):
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				ct.args = append(ct.args, strings.TrimSpace(t[last:i]))
			}
		case c == ',' && depth == 1:
			ct.args = append(ct.args, strings.TrimSpace(t[last:i]))
			last = i + 1
		}
	}
	return ct
}

// arg is the i-th argument, or "".
func (c chType) arg(i int) string {
	if i < len(c.args) {
		return c.args[i]
	}
	return ""
}

// unwrapped drops LowCardinality, which changes no value.
func unwrapped(t string) chType {
	ct := parseType(t)
	for ct.name == "LowCardinality" {
		ct = parseType(ct.arg(0))
	}
	return ct
}

// location is a DateTime type's time zone, or def when it names none.
func (c chType) location(def *time.Location) *time.Location {
	i := 0
	if c.name == "DateTime64" {
		i = 1
	}
	name := strings.Trim(c.arg(i), "'")
	if name == "" {
		return def
	}
	if loc, err := time.LoadLocation(name); err == nil {
		return loc
	}
	return def
}

var (
	typeString = reflect.TypeFor[string]()
	typeTime   = reflect.TypeFor[time.Time]()
	typeAddr   = reflect.TypeFor[netip.Addr]()
	typeAny    = reflect.TypeFor[any]()
)

// ScanType is the Go type a column of ClickHouse type t scans into, as
// clickhouse-go's ColumnType.ScanType gives it for the types gatewatch
// reads (IP types as netip.Addr, Decimal as float64, the rest as any).
func ScanType(t string) reflect.Type {
	ct := unwrapped(t)
	switch ct.name {
	case "UInt8":
		return reflect.TypeFor[uint8]()
	case "UInt16":
		return reflect.TypeFor[uint16]()
	case "UInt32":
		return reflect.TypeFor[uint32]()
	case "UInt64":
		return reflect.TypeFor[uint64]()
	case "Int8":
		return reflect.TypeFor[int8]()
	case "Int16":
		return reflect.TypeFor[int16]()
	case "Int32":
		return reflect.TypeFor[int32]()
	case "Int64":
		return reflect.TypeFor[int64]()
	case "Float32":
		return reflect.TypeFor[float32]()
	case "Float64", "Decimal", "Decimal32", "Decimal64":
		return reflect.TypeFor[float64]()
	case "Bool":
		return reflect.TypeFor[bool]()
	case "String", "FixedString", "Enum8", "Enum16", "UUID":
		return typeString
	case "Date", "Date32", "DateTime", "DateTime64":
		return typeTime
	case "IPv4", "IPv6":
		return typeAddr
	case "Nullable":
		return reflect.PointerTo(ScanType(ct.arg(0)))
	case "Array":
		return reflect.SliceOf(ScanType(ct.arg(0)))
	}
	return typeAny
}

// columnType is one result column, for Rows.ColumnTypes.
type columnType struct{ name, typ string }

func (c columnType) Name() string             { return c.name }
func (c columnType) Nullable() bool           { return parseType(c.typ).name == "Nullable" }
func (c columnType) ScanType() reflect.Type   { return ScanType(c.typ) }
func (c columnType) DatabaseTypeName() string { return c.typ }
