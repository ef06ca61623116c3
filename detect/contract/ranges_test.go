package contract

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"
)

func TestIntValue(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want int64
	}{
		{"0", 0}, {"7", 7}, {"-7", -7}, {"007", 7}, {"-0", 0}, {"99", 99},
		{"9223372036854775807", math.MaxInt64},
		{"9223372036854775808", math.MaxInt64}, // beyond: saturated
		{"9999999999999999999", math.MaxInt64},
		{"-9223372036854775808", math.MinInt64},
		{"-9223372036854775809", math.MinInt64},
		{"-9999999999999999999", math.MinInt64},
	} {
		if !isInt(tt.v) {
			t.Fatalf("%q is no integer", tt.v)
		}
		if got := intValue(tt.v); got != tt.want {
			t.Errorf("intValue(%q) = %d, want %d", tt.v, got, tt.want)
		}
	}
}

// TestKeepExtreme: the extremes kept are the three most extreme of the
// clients' own extremes, one entry per client, so one client's values,
// however many or extreme, take one place.
func TestKeepExtreme(t *testing.T) {
	var p param
	for i, v := range []int64{5, 9, 7, 500, 480, 9, 3, -2, 1 << 40, math.MinInt64} {
		p.learnInt(v, uint64(i%4)) // clients 0..3; client 3 sends 500 and math.MinInt64, client 0 480 and 1<<40
	}
	x := p.ints
	wantLow := [3]intClient{{math.MinInt64, 1}, {-2, 3}, {3, 2}}
	wantHigh := [3]intClient{{1 << 40, 0}, {500, 3}, {9, 1}}
	if x.low != wantLow || x.high != wantHigh || x.nLow != 3 || x.nHigh != 3 {
		t.Errorf("extremes %v (%d) and %v (%d), want %v and %v", x.low, x.nLow, x.high, x.nHigh, wantLow, wantHigh)
	}
	var q param
	q.learnInt(4, 1)
	q.learnInt(4, 2)
	q.learnInt(3, 1)
	if x := q.ints; x.nLow != 2 || x.nHigh != 2 || x.low[0] != (intClient{3, 1}) || x.high != [3]intClient{{4, 1}, {4, 2}} {
		t.Errorf("two clients: %+v, want low 3 (1), 4 (2) and high 4 (1), 4 (2)", *x)
	}
}

// poison is a client's values, sent while the contract is learnt.
type poison struct {
	client string
	values []string
}

// learnRange learns route: each of clients a, b and c sends qty=base+1
// to qty=base+20 (to /items/base+1... when route has an {id}), then each
// poisoner its values five times.
func learnRange(opts Options, route string, base int, poisons ...poison) *Model {
	m := New(opts)
	path := func(v int) string {
		if route == "/items" {
			return route
		}
		return "/items/" + strconv.Itoa(v)
	}
	for _, c := range []string{"a", "b", "c"} {
		for v := base + 1; v <= base+20; v++ {
			m.Learn(event(c, "GET", route, path(v), "qty="+strconv.Itoa(v), 200))
		}
	}
	for _, p := range poisons {
		for range 5 {
			for _, v := range p.values {
				m.Learn(event(p.client, "GET", route, path(1), "qty="+v, 200))
			}
		}
	}
	m.Freeze()
	return m
}

// TestRangeLearnt: the range is what MinClients clients agree on. One
// client's values, however extreme, do not widen it; enough clients'
// values do. Path ids, ranges beyond ±maxRanged and parameters of other
// kinds have none.
func TestRangeLearnt(t *testing.T) {
	big := "9999999999999999999" // beyond int64
	for _, tt := range []struct {
		name    string
		opts    Options
		route   string // "" for /items?qty=; else path values are learnt too
		base    int
		poisons []poison
		param   string
		ranged  bool
		lo, hi  int64
	}{
		{name: "ordinary", param: "qty", ranged: true, lo: 1, hi: 20},
		{name: "one client's huge values", poisons: []poison{{"p", []string{"1000000", "50", big}}}, param: "qty", ranged: true, lo: 1, hi: 20},
		{name: "one client's negative values", poisons: []poison{{"p", []string{"-5000", "-1"}}}, param: "qty", ranged: true, lo: 1, hi: 20},
		{name: "two clients widen", poisons: []poison{{"p", []string{"500"}}, {"q", []string{"400", "-3"}}}, param: "qty", ranged: true, lo: 1, hi: 400},
		{name: "two clients at MinClients 3", opts: Options{MinClients: 3}, poisons: []poison{{"p", []string{"500"}}, {"q", []string{"400"}}},
			param: "qty", ranged: true, lo: 1, hi: 20},
		{name: "three clients at MinClients 3", opts: Options{MinClients: 3},
			poisons: []poison{{"p", []string{"500", "-9"}}, {"q", []string{"400", "-8"}}, {"r", []string{"300", "-7"}}},
			param:   "qty", ranged: true, lo: -7, hi: 300},
		{name: "two clients beyond int64", poisons: []poison{{"p", []string{big}}, {"q", []string{big}}}, param: "qty"},
		{name: "beyond maxRanged", base: maxRanged, param: "qty"},
		{name: "negative beyond maxRanged", base: -maxRanged - 21, param: "qty"},
		{name: "just within maxRanged", base: maxRanged - 20, param: "qty", ranged: true, lo: maxRanged - 19, hi: maxRanged},
		{name: "other kinds too", poisons: []poison{{"p", []string{"all"}}, {"q", []string{"none"}}}, param: "qty"},
		{name: "a path id", route: "/items/{id}", param: "{id}@2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			route := "/items"
			if tt.route != "" {
				route = tt.route
			}
			m := learnRange(tt.opts, route, tt.base, tt.poisons...)
			p := m.routes[routeKey("", "GET", route)].params[tt.param]
			if p.ranged != tt.ranged || tt.ranged && (p.lo != tt.lo || p.hi != tt.hi) {
				t.Errorf("ranged %v %d-%d, want %v %d-%d", p.ranged, p.lo, p.hi, tt.ranged, tt.lo, tt.hi)
			}
		})
	}
}

// TestCheckRange: only integers far outside the range learnt are out of
// range: 1-20 has a slack of max(19, 1, 20)+10 = 30, so -29 to 50 pass.
func TestCheckRange(t *testing.T) {
	m := learnRange(Options{}, "/items", 0)
	for _, tt := range []struct {
		value string
		want  []Reason
	}{
		{"7", nil},
		{"1", nil},
		{"20", nil},
		{"0", nil},
		{"21", nil},
		{"50", nil},  // slightly out
		{"050", nil}, // leading zero
		{"51", []Reason{OutOfRange}},
		{"100000", []Reason{OutOfRange}},
		{"2147483648", []Reason{OutOfRange}},
		{"-29", []Reason{UnexpectedChar}}, // a '-' never learnt, but not far
		{"-30", []Reason{OutOfRange, UnexpectedChar}},
		{"9999999999999999999", []Reason{OutOfRange, TooLong}}, // beyond int64
		{"-9999999999999999999", []Reason{OutOfRange, UnexpectedChar, TooLong}},
		{"99999999999999999999", []Reason{WrongKind, TooLong}}, // 20 digits: a decimal
		{"4%27%20OR%201=1", []Reason{WrongKind, UnexpectedChar}},
		{"", nil},
	} {
		vs := m.Check(event("z", "GET", "/items", "/items", "qty="+tt.value, 200), nil)
		var got []Reason
		for _, v := range vs {
			got = append(got, v.Reason)
			if v.Reason == OutOfRange && (v.Param != "qty" || v.Expected != "an integer 1-20" || v.Got != quote(tt.value)) {
				t.Errorf("qty=%s: %+v, want expected \"an integer 1-20\" and got %s", tt.value, v, quote(tt.value))
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("qty=%s: %v, want %v (%+v)", tt.value, got, tt.want, vs)
		}
	}
}

// TestRangeText: what a violation says the contract expects.
func TestRangeText(t *testing.T) {
	for _, tt := range []struct {
		p    param
		want string
	}{
		{param{ranged: true, lo: 1, hi: 99, kindSet: 1 << KindInt}, "an integer 1-99"},
		{param{ranged: true, lo: 0, hi: 0, kindSet: 1 << KindInt}, "an integer 0-0"},
		{param{ranged: true, lo: -12, hi: 14, kindSet: 1 << KindInt}, "an integer from -12 to 14"},
		{param{kindSet: 1 << KindInt}, "integer"},
		{param{kindSet: 1<<KindInt | 1<<KindDecimal}, "integer or decimal"},
	} {
		if got := tt.p.kindText(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.p, got, tt.want)
		}
	}
	m := learnRange(Options{}, "/items", -30)
	vs := m.Check(event("z", "GET", "/items", "/items", "qty=x", 200), nil)
	if len(vs) == 0 || vs[0].Expected != "an integer from -29 to -10" {
		t.Errorf("violations %+v, want expected \"an integer from -29 to -10\"", vs)
	}
}

// FuzzKeepExtreme: whatever integers clients send, in any order, the
// extremes kept are the three smallest of the clients' smallest values
// and the three largest of their largest, one entry per client.
func FuzzKeepExtreme(f *testing.F) {
	f.Add([]byte{0, 5, 1, 9, 2, 7, 3, 200, 0, 180, 1, 9, 2, 3})
	f.Add([]byte{1, 1, 1, 1, 2, 1, 3, 1, 4, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p param
		lo, hi := map[uint64]int64{}, map[uint64]int64{}
		for i := 0; i+1 < len(b); i += 2 {
			h, v := uint64(b[i]%6), int64(int8(b[i+1]))<<56 // near both ends of int64 too
			p.learnInt(v, h)
			if w, ok := lo[h]; !ok || v < w {
				lo[h] = v
			}
			if w, ok := hi[h]; !ok || v > w {
				hi[h] = v
			}
		}
		if p.ints == nil {
			return
		}
		check := func(side string, t3 [3]intClient, n uint8, own map[uint64]int64, less func(a, b int64) bool) {
			var want []int64
			for _, v := range own {
				want = append(want, v)
			}
			slices.SortFunc(want, func(a, b int64) int {
				if less(a, b) {
					return -1
				}
				if less(b, a) {
					return 1
				}
				return 0
			})
			want = want[:min(len(want), 3)]
			var got []int64
			for i, e := range t3[:n] {
				got = append(got, e.v)
				if own[e.h] != e.v || slices.ContainsFunc(t3[:i], func(o intClient) bool { return o.h == e.h }) {
					t.Fatalf("%s: entry %+v is not its client's own extreme, or twice: %+v", side, e, t3)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %v, want %v", side, got, want)
			}
		}
		check("low", p.ints.low, p.ints.nLow, lo, func(a, b int64) bool { return a < b })
		check("high", p.ints.high, p.ints.nHigh, hi, func(a, b int64) bool { return a > b })
	})
}
