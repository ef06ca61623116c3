package chdbtest

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// literal writes v, a value a batch was given for a column of ClickHouse
// type typ, as a SQL literal for INSERT ... VALUES: what the native
// protocol would have stored, for the value types clickhouse-go takes.
// Times are written in the column's zone (tz when it names none), to the
// column's precision.
func literal(typ string, v any, tz *time.Location) (string, error) {
	ct := unwrapped(typ)
	rv := reflect.ValueOf(v)
	for rv.IsValid() && rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "NULL", nil
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return "NULL", nil
	}
	switch ct.name {
	case "Nullable":
		return literal(ct.arg(0), rv.Interface(), tz)
	case "Array":
		return arrayLiteral(ct, rv, tz)
	case "DateTime", "DateTime64", "Date", "Date32":
		t, ok := rv.Interface().(time.Time)
		if !ok {
			return "", fmt.Errorf("%s column given %T", ct.name, v)
		}
		return quote(t.In(ct.location(tz)).Format(timeLayout(ct))), nil
	case "IPv6", "IPv4":
		return ipLiteral(rv.Interface())
	case "String", "FixedString", "Enum8", "Enum16", "UUID":
		return stringLiteral(rv)
	}
	return numberLiteral(ct, rv)
}

// timeLayout is the text of a time at the precision of type ct.
func timeLayout(ct chType) string {
	switch ct.name {
	case "Date", "Date32":
		return "2006-01-02"
	case "DateTime64":
		if p, err := strconv.Atoi(ct.arg(0)); err == nil && p > 0 {
			return "2006-01-02 15:04:05." + strings.Repeat("0", p)
		}
	}
	return "2006-01-02 15:04:05"
}

func arrayLiteral(ct chType, rv reflect.Value, tz *time.Location) (string, error) {
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return "", fmt.Errorf("Array column given %s", rv.Type())
	}
	parts := make([]string, rv.Len())
	for i := range parts {
		s, err := literal(ct.arg(0), rv.Index(i).Interface(), tz)
		if err != nil {
			return "", err
		}
		parts[i] = s
	}
	return "[" + strings.Join(parts, ", ") + "]", nil
}

// ipLiteral takes the forms of an address: 16 bytes (IPv4 mapped),
// netip.Addr, net.IP or text.
func ipLiteral(v any) (string, error) {
	var a netip.Addr
	switch x := v.(type) {
	case []byte:
		if len(x) != 16 {
			return "", fmt.Errorf("IPv6 column given %d bytes", len(x))
		}
		a = netip.AddrFrom16([16]byte(x))
	case [16]byte:
		a = netip.AddrFrom16(x)
	case netip.Addr:
		a = x
	case net.IP:
		var ok bool
		if a, ok = netip.AddrFromSlice(x.To16()); !ok {
			return "", fmt.Errorf("IPv6 column given %v", x)
		}
	case string:
		var err error
		if a, err = netip.ParseAddr(x); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("IPv6 column given %T", v)
	}
	return quote(a.String()), nil
}

func stringLiteral(rv reflect.Value) (string, error) {
	switch {
	case rv.Kind() == reflect.String:
		return quote(rv.String()), nil
	case (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array) && rv.Type().Elem().Kind() == reflect.Uint8:
		b := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(b), rv)
		return quote(string(b)), nil
	}
	return "", fmt.Errorf("String column given %s", rv.Type())
}

func numberLiteral(ct chType, rv reflect.Value) (string, error) {
	switch rv.Kind() {
	case reflect.Bool:
		if rv.Bool() {
			return "1", nil
		}
		return "0", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		switch {
		case math.IsNaN(f):
			return "nan", nil
		case math.IsInf(f, 1):
			return "inf", nil
		case math.IsInf(f, -1):
			return "-inf", nil
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	}
	return "", fmt.Errorf("%s column given %s", ct.name, rv.Type())
}

// quote is a ClickHouse string literal of s's bytes: quotes and
// backslashes escaped, and every byte that is not printable ASCII as \xHH,
// so binary values (FixedString) survive the JSON trip to run.py.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02X`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
