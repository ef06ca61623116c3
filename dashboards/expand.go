package dashboards

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Expansion is what a panel's query is run with: the dashboard's time
// range, the panel's interval and the variables' values.
type Expansion struct {
	From, To time.Time
	// Interval is Grafana's $__interval for the panel; the plugin counts
	// anything under a second as one second.
	Interval time.Duration
	// Vars holds the dashboard variables' current values, one string for
	// a single-value variable; a multi-value variable set to "All" is
	// []string{"$__all"}.
	Vars map[string][]string
}

// Expand turns a panel's SQL into what ClickHouse receives, in the order
// Grafana and grafana-clickhouse-datasource (v4) do it:
//
//  1. the plugin's frontend resolves $__conditionalAll(condition, $var)
//     to 1=1 when var is "All", else to the condition;
//  2. Grafana interpolates the variables ($var, ${var}, ${var:format})
//     with the plugin's default format (a multi-value variable becomes
//     'a','b'; a single value is inserted as is);
//  3. the plugin's backend expands its macros: $__timeFilter(col),
//     $__fromTime, $__toTime, $__interval_s, $__dateFilter(col),
//     $__dateTimeFilter(date, time) (alias $__dt), $__timeInterval(col),
//     and their _ms forms, exactly as its pkg/macros writes them.
//
// It is stricter than Grafana, which leaves what it does not know in the
// SQL: an unknown variable or macro, an unsupported format, or "All"
// outside $__conditionalAll is an error, so a test catches it before a
// dashboard user does. It is used by the tests that run every panel on
// a real server, and for checking a deployment's server the same way.
func Expand(sql string, x Expansion) (string, error) {
	s, err := conditionalAll(sql, x.Vars)
	if err != nil {
		return "", err
	}
	if s, err = interpolate(s, x); err != nil {
		return "", err
	}
	if s, err = expandMacros(s, x); err != nil {
		return "", err
	}
	if i := strings.Index(s, "$__"); i >= 0 {
		return "", fmt.Errorf("unknown macro at %q", snippet(s, i))
	}
	return s, nil
}

const conditionalAllMacro = "$__conditionalAll("

// conditionalAll resolves the plugin's $__conditionalAll, last first as
// the plugin does, reading its two arguments with nested parentheses.
func conditionalAll(sql string, vars map[string][]string) (string, error) {
	for guard := 0; ; guard++ {
		i := strings.LastIndex(sql, conditionalAllMacro)
		if i < 0 {
			return sql, nil
		}
		if guard > 1000 {
			return "", errors.New("$__conditionalAll: too many")
		}
		open := i + len(conditionalAllMacro) - 1
		args, end, ok := macroArgs(sql, open)
		if !ok || len(args) != 2 {
			return "", fmt.Errorf("$__conditionalAll needs (condition, $variable) at %q", snippet(sql, i))
		}
		m := varRef.FindStringSubmatch(args[1])
		if m == nil {
			return "", fmt.Errorf("$__conditionalAll: second argument %q is not a variable", args[1])
		}
		name := m[1] + m[2] + m[4]
		vals, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("$__conditionalAll: unknown variable %q", name)
		}
		phrase := args[0]
		if v := strings.Join(vals, ","); v == "" || v == allValue {
			phrase = "1=1"
		}
		sql = sql[:i] + phrase + sql[end:]
	}
}

// macroArgs splits the comma-separated arguments of the parenthesis at
// open, counting nesting; end is just past the closing parenthesis.
func macroArgs(s string, open int) (args []string, end int, ok bool) {
	depth, last := 0, open+1
	for j := open; j < len(s); j++ {
		switch s[j] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return append(args, s[last:j]), j + 1, true
			}
		case ',':
			if depth == 1 {
				args = append(args, s[last:j])
				last = j + 1
			}
		}
	}
	return nil, 0, false
}

// varRef is Grafana's variable syntax: $name, [[name(:format)]],
// ${name(.field)(:format)}.
var varRef = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

// interpolate replaces the dashboard's variables and the Grafana globals
// the plugin sees, leaving the plugin's own $__ macros to expandMacros.
func interpolate(sql string, x Expansion) (string, error) {
	var err error
	out := varRef.ReplaceAllStringFunc(sql, func(ref string) string {
		if err != nil {
			return ref
		}
		m := varRef.FindStringSubmatch(ref)
		name, format := m[1]+m[2]+m[4], m[3]+m[6]
		if m[5] != "" {
			err = fmt.Errorf("variable %s: field access .%s is not supported", name, m[5])
			return ref
		}
		vals, ok := x.Vars[name]
		if !ok {
			if g, ok := globalVar(name, x); ok {
				return g
			}
			if strings.HasPrefix(name, "__") && macroNames[strings.TrimPrefix(name, "__")] {
				return ref // the backend's macro
			}
			err = fmt.Errorf("unknown variable %q", name)
			return ref
		}
		var v string
		v, err = formatVar(name, vals, format)
		return v
	})
	return out, err
}

// globalVar is one of Grafana's global variables that a query may use.
func globalVar(name string, x Expansion) (string, bool) {
	switch name {
	case "__from":
		return strconv.FormatInt(x.From.UnixMilli(), 10), true
	case "__to":
		return strconv.FormatInt(x.To.UnixMilli(), 10), true
	case "__interval_ms":
		return strconv.FormatInt(x.Interval.Milliseconds(), 10), true
	case "__range_s":
		return strconv.FormatInt(int64(x.To.Sub(x.From)/time.Second), 10), true
	case "__range_ms":
		return strconv.FormatInt(x.To.Sub(x.From).Milliseconds(), 10), true
	}
	return "", false
}

// formatVar writes a variable's values as Grafana does for format, the
// plugin's own format when none is named.
func formatVar(name string, vals []string, format string) (string, error) {
	if len(vals) == 1 && vals[0] == allValue {
		return "", fmt.Errorf("variable %s is All outside $__conditionalAll: the SQL would depend on the option list", name)
	}
	quoted := func(q func(string) string) string {
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = q(v)
		}
		return strings.Join(parts, ",")
	}
	switch format {
	case "":
		if len(vals) == 1 {
			return vals[0], nil
		}
		return "'" + strings.Join(vals, "','") + "'", nil
	case "sqlstring":
		return quoted(func(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }), nil
	case "singlequote":
		return quoted(func(v string) string { return "'" + strings.ReplaceAll(v, "'", `\'`) + "'" }), nil
	case "raw", "csv":
		return strings.Join(vals, ","), nil
	}
	return "", fmt.Errorf("variable %s: format %q is not supported", name, format)
}

// macro is one of the plugin backend's macros.
type macro struct {
	args int // -1: takes no parentheses
	fn   func(x Expansion, args []string) string
}

// macros are grafana-clickhouse-datasource's (pkg/macros/macros.go),
// written out the same way. Some need SQL that old servers lack:
// $__timeInterval's toStartOfInterval, the _ms forms' DateTime64.
var macros = map[string]macro{
	"fromTime":    {-1, func(x Expansion, _ []string) string { return dateTime(x.From) }},
	"toTime":      {-1, func(x Expansion, _ []string) string { return dateTime(x.To) }},
	"fromTime_ms": {-1, func(x Expansion, _ []string) string { return dateTime64(x.From) }},
	"toTime_ms":   {-1, func(x Expansion, _ []string) string { return dateTime64(x.To) }},
	"timeFilter": {1, func(x Expansion, a []string) string {
		return fmt.Sprintf("%s >= %s AND %s <= %s", a[0], dateTime(x.From), a[0], dateTime(x.To))
	}},
	"timeFilter_ms": {1, func(x Expansion, a []string) string {
		return fmt.Sprintf("%s >= %s AND %s <= %s", a[0], dateTime64(x.From), a[0], dateTime64(x.To))
	}},
	"dateFilter": {1, func(x Expansion, a []string) string {
		return fmt.Sprintf("%s >= %s AND %s <= %s", a[0], date(x.From), a[0], date(x.To))
	}},
	"dateTimeFilter": {2, dateTimeFilter},
	"dt":             {2, dateTimeFilter},
	"timeInterval": {1, func(x Expansion, a []string) string {
		return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", a[0], intervalSeconds(x))
	}},
	"timeInterval_ms": {1, func(x Expansion, a []string) string {
		ms := int64(math.Max(float64(x.Interval.Milliseconds()), 1))
		return fmt.Sprintf("toStartOfInterval(toDateTime64(%s, 3), INTERVAL %d millisecond)", a[0], ms)
	}},
	"interval_s": {-1, func(x Expansion, _ []string) string { return strconv.FormatInt(intervalSeconds(x), 10) }},
}

// macroNames are the backend macros' names, for interpolate to leave.
var macroNames = func() map[string]bool {
	m := make(map[string]bool, len(macros))
	for k := range macros {
		m[k] = true
	}
	return m
}()

// macroOrder is the macro names longest first, so $__timeFilter_ms is
// never read as $__timeFilter followed by "_ms".
var macroOrder = func() []string {
	names := make([]string, 0, len(macros))
	for k := range macros {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if len(names[i]) != len(names[j]) {
			return len(names[i]) > len(names[j])
		}
		return names[i] < names[j]
	})
	return names
}()

func dateTimeFilter(x Expansion, a []string) string {
	return fmt.Sprintf("(%s >= %s AND %s <= %s) AND (%s >= %s AND %s <= %s)",
		a[0], date(x.From), a[0], date(x.To), a[1], dateTime(x.From), a[1], dateTime(x.To))
}

func dateTime(t time.Time) string { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }
func dateTime64(t time.Time) string {
	return fmt.Sprintf("fromUnixTimestamp64Milli(%d)", t.UnixMilli())
}
func date(t time.Time) string { return fmt.Sprintf("toDate('%s')", t.UTC().Format("2006-01-02")) }

func intervalSeconds(x Expansion) int64 { return int64(math.Max(x.Interval.Seconds(), 1)) }

// expandMacros expands the backend's macros. Like sqlds, a macro's
// arguments run to the first closing parenthesis and split on commas.
func expandMacros(sql string, x Expansion) (string, error) {
	var b strings.Builder
	for i := 0; i < len(sql); {
		j := strings.Index(sql[i:], "$__")
		if j < 0 {
			b.WriteString(sql[i:])
			break
		}
		b.WriteString(sql[i : i+j])
		i += j
		rest := sql[i+3:]
		name := ""
		for _, n := range macroOrder {
			if strings.HasPrefix(rest, n) && !isWordByte(rest, len(n)) {
				name = n
				break
			}
		}
		if name == "" {
			return "", fmt.Errorf("unknown macro at %q", snippet(sql, i))
		}
		m := macros[name]
		i += 3 + len(name)
		var args []string
		if i < len(sql) && sql[i] == '(' {
			end := strings.IndexByte(sql[i:], ')')
			if end < 0 {
				return "", fmt.Errorf("$__%s: unclosed parenthesis", name)
			}
			inner := sql[i+1 : i+end]
			i += end + 1
			if strings.TrimSpace(inner) != "" {
				for _, a := range strings.Split(inner, ",") {
					args = append(args, strings.TrimSpace(a))
				}
			}
		}
		if m.args >= 0 && len(args) != m.args {
			return "", fmt.Errorf("$__%s: want %d arguments, have %d", name, m.args, len(args))
		}
		b.WriteString(m.fn(x, args))
	}
	return b.String(), nil
}

func isWordByte(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// snippet is up to 40 bytes of s from i, for an error message.
func snippet(s string, i int) string {
	if len(s)-i > 40 {
		return s[i:i+40] + "..."
	}
	return s[i:]
}
