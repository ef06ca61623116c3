package chdbtest

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseType(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want chType
	}{
		{"UInt64", chType{name: "UInt64"}},
		{"LowCardinality(String)", chType{name: "LowCardinality", args: []string{"String"}}},
		{"DateTime64(6, 'UTC')", chType{name: "DateTime64", args: []string{"6", "'UTC'"}}},
		{"Array(Nullable(DateTime('Europe/Paris')))", chType{name: "Array", args: []string{"Nullable(DateTime('Europe/Paris'))"}}},
		{"Enum8('a,(' = 1, 'b' = 2)", chType{name: "Enum8", args: []string{"'a,(' = 1", "'b' = 2"}}},
	} {
		if got := parseType(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseType(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestLiteral(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 5, 10, 0, 1, 123456789, time.UTC)
	for _, tt := range []struct {
		typ  string
		v    any
		want string
	}{
		{"UInt64", uint64(1 << 63), "9223372036854775808"},
		{"Float64", 0.1, "0.1"},
		{"String", "o'b\\x\n", `'o\'b\\x\x0A'`},
		{"FixedString(16)", []byte{0, 0xff, 'a'}, `'\x00\xFFa'`},
		{"LowCardinality(String)", "é", `'\xC3\xA9'`},
		{"DateTime('UTC')", at, "'2026-01-05 10:00:01'"},
		{"DateTime64(6, 'UTC')", at, "'2026-01-05 10:00:01.123456'"},
		{"DateTime64(3, 'Europe/Paris')", at, "'2026-01-05 11:00:01.123'"},
		{"IPv6", netip.MustParseAddr("10.0.0.1").As16(), "'::ffff:10.0.0.1'"},
		{"IPv6", []byte(netip.MustParseAddr("2001:db8::1").AsSlice()), "'2001:db8::1'"},
		{"Array(String)", []string{"a", "b'"}, `['a', 'b\'']`},
		{"Nullable(UInt8)", (*uint8)(nil), "NULL"},
	} {
		got, err := literal(tt.typ, tt.v, time.UTC)
		if err != nil || got != tt.want {
			t.Errorf("literal(%s, %v) = %s, %v; want %s", tt.typ, tt.v, got, err, tt.want)
		}
	}
	if _, err := literal("UInt8", "x", time.UTC); err == nil {
		t.Error("a string taken for a UInt8 column")
	}
}

func TestAssign(t *testing.T) {
	t.Parallel()
	paris, _ := time.LoadLocation("Europe/Paris")
	for _, tt := range []struct {
		typ, json string
		dst, want any
	}{
		{"UInt64", `"18446744073709551615"`, new(uint64), uint64(1<<64 - 1)},
		{"UInt32", `7`, new(uint32), uint32(7)},
		{"Float64", `"nan"`, new(string), "nan"},
		{"DateTime64(6, 'UTC')", `"2026-01-05 10:00:01.000250"`, new(time.Time), time.Date(2026, 1, 5, 10, 0, 1, 250000, time.UTC)},
		{"DateTime('Europe/Paris')", `"2026-01-05 11:00:00"`, new(time.Time), time.Date(2026, 1, 5, 11, 0, 0, 0, paris)},
		{"Array(LowCardinality(String))", `["a","b"]`, new([]string), []string{"a", "b"}},
		{"Nullable(Float64)", `null`, new(*float64), (*float64)(nil)},
		{"IPv6", `"::ffff:10.0.0.1"`, new(any), netip.MustParseAddr("::ffff:10.0.0.1")},
		{"UInt16", `401`, new(any), uint16(401)},
	} {
		dec := json.NewDecoder(strings.NewReader(tt.json))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		dst := reflect.ValueOf(tt.dst).Elem()
		if err := assign(dst, v, tt.typ, time.UTC); err != nil {
			t.Errorf("assign %s %s: %v", tt.typ, tt.json, err)
			continue
		}
		if got := dst.Interface(); !reflect.DeepEqual(got, tt.want) {
			if gt, ok := got.(time.Time); !ok || !gt.Equal(tt.want.(time.Time)) {
				t.Errorf("assign %s %s = %#v, want %#v", tt.typ, tt.json, got, tt.want)
			}
		}
	}
	if err := assign(reflect.ValueOf(new(uint8)).Elem(), json.Number("300"), "UInt16", time.UTC); err == nil {
		t.Error("300 scanned into a uint8")
	}
}

// TestBindLikeDriver pins the text driverBind (clickhouse-go's own
// binding, reached by go:linkname) makes: should an upgrade of
// clickhouse-go change or rename it, this says so before the chdb tests
// run something else.
func TestBindLikeDriver(t *testing.T) {
	t.Parallel()
	tz, _ := time.LoadLocation("Etc/UTC")
	got, err := Bind(tz, "SELECT ? WHERE a = ? AND t >= ? LIMIT ?", "o'b", []string{"x"}, time.Date(2026, 1, 5, 10, 0, 1, 0, time.UTC), uint64(5))
	want := `SELECT 'o\'b' WHERE a = ['x'] AND t >= toDateTime('2026-01-05 10:00:01', 'UTC') LIMIT 5`
	if err != nil || got != want {
		t.Errorf("Bind = %s, %v\nwant %s", got, err, want)
	}
	if _, err := Bind(tz, "SELECT {x:UInt8}", 1); err == nil {
		t.Error("server-side parameters taken")
	}
}

// TestChdbConn round-trips every column type gatewatch stores through a
// Conn: a batch appended by rows and by columns, encoded as clickhouse-go
// encodes a block, inserted, and read back with Scan.
func TestChdbConn(t *testing.T) {
	s := Start(t)
	c, err := NewConn(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Exec(ctx, "CREATE TABLE rt (id UInt64, t DateTime64(6, 'UTC'), d DateTime('UTC'), ip IPv6, fs FixedString(16),"+
		" lc LowCardinality(String), s String, a Array(String), f Float64, u UInt8) ENGINE = MergeTree ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 5, 10, 0, 1, 250_000, time.UTC)
	ip := netip.MustParseAddr("10.1.2.3").As16()
	b, err := c.PrepareBatch(ctx, "INSERT INTO rt (id, t, d, ip, fs, lc, s, a, f, u)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint64(1), at, at, ip[:], string(ip[:]), "api_key", "o'b", []string{"x", "y"}, 0.5, uint8(1)); err != nil {
		t.Fatal(err)
	}
	cols := []any{[]uint64{2}, []time.Time{at}, []time.Time{at}, [][]byte{ip[:]}, []string{string(ip[:])},
		[]string{"ip"}, []string{""}, [][]string{{}}, []float64{-1e300}, []uint8{0}}
	for i, col := range cols {
		if err := b.Column(i).Append(col); err != nil {
			t.Fatalf("column %d: %v", i, err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	rows, err := c.Query(ctx, "SELECT t, d, IPv6NumToString(ip), fs = IPv6StringToNum(?), lc, s, a, f, u FROM rt ORDER BY id", "10.1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var (
			tt, d   time.Time
			ipText  string
			fsMatch uint8
			lc, str string
			a       []string
			f       float64
			u       uint8
		)
		if err := rows.Scan(&tt, &d, &ipText, &fsMatch, &lc, &str, &a, &f, &u); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{tt.Format(time.RFC3339Nano), d.Format(time.RFC3339Nano), ipText,
			strconv.Itoa(int(fsMatch)), lc, str, strings.Join(a, "+"), jsonNumber(f), strconv.Itoa(int(u))}, " "))
	}
	want := []string{
		"2026-01-05T10:00:01.00025Z 2026-01-05T10:00:01Z ::ffff:10.1.2.3 1 api_key o'b x+y 0.5 1",
		"2026-01-05T10:00:01.00025Z 2026-01-05T10:00:01Z ::ffff:10.1.2.3 1 ip   -1e+300 0",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n%q\nwant\n%q", got, want)
	}
	if calls := c.Calls(); len(calls) != 3 || !strings.HasSuffix(calls[0].Func, ".TestChdbConn") || !calls[0].FromTest() {
		t.Errorf("calls %+v: want 3, from this test", calls)
	}
}

func jsonNumber(f float64) string { b, _ := json.Marshal(f); return string(b) }
