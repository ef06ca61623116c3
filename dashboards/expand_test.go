package dashboards

import (
	"strings"
	"testing"
	"time"
)

func TestExpand(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC) // 1767603600
	to := time.Date(2026, 1, 6, 12, 30, 0, 0, time.UTC) // 1767702600
	x := Expansion{From: from, To: to, Interval: 30 * time.Second, Vars: map[string][]string{
		"database": {"gw"},
		"client":   {"k:o'brien"},
		"severity": {"high", "critical"},
		"detector": {allValue},
		"one":      {"volume"},
	}}
	cases := []struct{ name, in, want, err string }{
		{name: "time filter", in: "WHERE $__timeFilter(time)",
			want: "WHERE time >= toDateTime(1767603600) AND time <= toDateTime(1767702600)"},
		{name: "from to", in: "$__fromTime, $__toTime", want: "toDateTime(1767603600), toDateTime(1767702600)"},
		{name: "interval", in: "intDiv(toUInt32(t), $__interval_s) * $__interval_s", want: "intDiv(toUInt32(t), 30) * 30"},
		{name: "date filter", in: "$__dateFilter(d)", want: "d >= toDate('2026-01-05') AND d <= toDate('2026-01-06')"},
		{name: "date time filter", in: "$__dt(d, t)",
			want: "(d >= toDate('2026-01-05') AND d <= toDate('2026-01-06')) AND (t >= toDateTime(1767603600) AND t <= toDateTime(1767702600))"},
		{name: "ms forms need DateTime64", in: "$__timeFilter_ms(t) $__toTime_ms",
			want: "t >= fromUnixTimestamp64Milli(1767603600000) AND t <= fromUnixTimestamp64Milli(1767702600000) fromUnixTimestamp64Milli(1767702600000)"},
		{name: "time interval is toStartOfInterval", in: "$__timeInterval(time)",
			want: "toStartOfInterval(toDateTime(time), INTERVAL 30 second)"},
		{name: "database", in: "FROM ${database}.events, $database.findings", want: "FROM gw.events, gw.findings"},
		{name: "sqlstring escapes", in: "client = ${client:sqlstring}", want: "client = 'k:o''brien'"},
		{name: "multi default format", in: "IN ($severity)", want: "IN ('high','critical')"},
		{name: "multi sqlstring", in: "IN (${severity:sqlstring})", want: "IN ('high','critical')"},
		{name: "single default format is raw", in: "'$one'", want: "'volume'"},
		{name: "conditional all, All", in: "WHERE $__conditionalAll(detector IN (${detector:sqlstring}), $detector) AND x",
			want: "WHERE 1=1 AND x"},
		{name: "conditional all, values", in: "WHERE $__conditionalAll(severity IN (${severity:sqlstring}), $severity)",
			want: "WHERE severity IN ('high','critical')"},
		{name: "conditional all, nested", in: "$__conditionalAll(f(a, b) = 1, ${detector}) AND $__conditionalAll(g(c) IN ($severity), $severity)",
			want: "1=1 AND g(c) IN ('high','critical')"},
		{name: "globals", in: "$__from $__to $__interval_ms", want: "1767603600000 1767702600000 30000"},
		{name: "unknown variable", in: "$nope", err: "unknown variable"},
		{name: "unknown macro", in: "$__timeGroup(t, 1m)", err: "unknown"},
		{name: "All outside conditionalAll", in: "IN ($detector)", err: "outside $__conditionalAll"},
		{name: "bad format", in: "${client:json}", err: "not supported"},
		{name: "field access", in: "${client.text}", err: "not supported"},
		{name: "wrong argument count", in: "$__timeFilter(a, b)", err: "want 1 arguments"},
		{name: "unclosed", in: "$__timeFilter(a", err: "unclosed"},
		{name: "conditional all without variable", in: "$__conditionalAll(a = 1, b)", err: "not a variable"},
		{name: "conditional all, one argument", in: "$__conditionalAll(a = 1)", err: "needs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := Expand(c.in, x)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Expand(%q) = %q, %v; want error containing %q", c.in, got, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Expand(%q): %v", c.in, err)
			}
			if got != c.want {
				t.Errorf("Expand(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

func TestExpandIntervalAtLeastOneSecond(t *testing.T) {
	t.Parallel()
	got, err := Expand("$__interval_s", Expansion{Interval: 20 * time.Millisecond})
	if err != nil || got != "1" {
		t.Errorf("got %q, %v; want 1", got, err)
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		"SELECT 1 WHERE $__timeFilter(time) AND client = ${client:sqlstring}",
		"$__conditionalAll(a IN (${severity:sqlstring}), $severity)",
		"$__conditionalAll((((, $x)", "$__dt(a,b) $__interval_s [[client:raw]] ${database}.t",
		"$__", "${", "[[", "$__conditionalAll(", "$__timeFilter(", "$__timeFilter_ms(x)",
	} {
		f.Add(s)
	}
	x := Expansion{
		From: time.Unix(1700000000, 0), To: time.Unix(1700003600, 0), Interval: time.Minute,
		Vars: map[string][]string{"client": {"a'b"}, "severity": {allValue}, "x": {"1", "2"}, "database": {"gw"}},
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Expand(s, x)
		if err != nil {
			return
		}
		if strings.Contains(out, "$__") {
			t.Errorf("Expand(%q) = %q: a macro is left", s, out)
		}
	})
}
