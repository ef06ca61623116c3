package inventory

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// req is a request to observe: who sent it (a key means credentials) and
// what came back.
type req struct {
	client string
	key    bool
	status int
	bytes  int64
}

// event makes the event of r on GET /orders/{id} of api.example.com.
func event(r req, i int) *ingest.Event {
	ev := &ingest.Event{Host: "api.example.com", Method: "GET", Route: "/orders/{id}", Path: "/orders/1",
		ClientKey: r.client, ClientKind: ingest.ClientIP, Status: r.status, BytesOut: r.bytes, Time: t0.Add(time.Duration(i) * time.Second)}
	if r.key {
		ev.ClientKind = ingest.ClientAPIKey
	}
	return ev
}

// repeat is n copies of r.
func repeat(n int, r req) []req { return slices.Repeat([]req{r}, n) }

// observe observes the requests and returns the one endpoint they make.
func observe(t *testing.T, reqs ...[]req) Endpoint {
	t.Helper()
	inv := New(Options{})
	i := 0
	for _, rs := range reqs {
		for _, r := range rs {
			inv.Observe(event(r, i))
			i++
		}
	}
	eps := inv.Endpoints()
	if len(eps) != 1 {
		t.Fatalf("%d endpoints, want 1", len(eps))
	}
	return eps[0]
}

func TestAuthRequired(t *testing.T) {
	t.Parallel()
	anon := func(n, status int) []req { return repeat(n, req{client: "203.0.113.9", status: status}) }
	keyed := func(n, status int) []req { return repeat(n, req{client: "k_1", key: true, status: status}) }
	for _, tc := range []struct {
		name string
		reqs [][]req
		want bool
	}{
		{"anonymous turned away, keyed served", [][]req{anon(10, 401), keyed(50, 200)}, true},
		{"403 counts as turned away", [][]req{anon(5, 403), keyed(20, 200)}, true},
		{"80% of anonymous turned away", [][]req{anon(8, 401), anon(2, 200), keyed(20, 200)}, true},
		{"70% of anonymous turned away", [][]req{anon(7, 401), anon(3, 200), keyed(20, 200)}, false},
		{"too few anonymous requests", [][]req{anon(4, 401), keyed(20, 200)}, false},
		{"public: anonymous served", [][]req{anon(30, 200), keyed(30, 200)}, false},
		{"everyone turned away", [][]req{anon(10, 401), keyed(10, 403)}, false},
		{"keyed half turned away", [][]req{anon(10, 401), keyed(5, 403), keyed(5, 200)}, false},
		{"few keyed requests, all turned away", [][]req{anon(10, 401), keyed(4, 401)}, true},
		{"no credentials in the log, all turned away", [][]req{anon(20, 401)}, true},
		{"no credentials in the log, mostly served", [][]req{anon(3, 401), anon(17, 200)}, false},
		{"only keyed requests", [][]req{keyed(40, 200)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := observe(t, tc.reqs...).AuthRequired; got != tc.want {
				t.Errorf("auth_required %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAuthOutcomeIsCredentials(t *testing.T) {
	t.Parallel()
	inv := New(Options{})
	for i := range 10 { // a gateway that logs the outcome, not the key
		ev := event(req{client: "203.0.113.9", status: 401}, i)
		inv.Observe(ev)
		ev = event(req{client: "198.51.100.1", status: 200}, i)
		ev.Auth = ingest.AuthOK
		inv.Observe(ev)
	}
	if !inv.Endpoints()[0].AuthRequired {
		t.Error("auth_required false: requests the gateway authenticated count as with credentials")
	}
}

func TestStatusMix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		statuses []int
		want     StatusMix
	}{
		{[]int{200, 201, 204}, StatusMix{S2xx: 3}},
		{[]int{200, 304, 301}, StatusMix{S2xx: 1, S3xx: 2}},
		{[]int{400, 401, 403, 404, 404, 429}, StatusMix{S4xx: 6, S401403: 2, NotFound: 2}},
		{[]int{500, 502, 503, 200}, StatusMix{S2xx: 1, S5xx: 3}},
		{[]int{101, 0, 999, 200}, StatusMix{S2xx: 1}}, // counted as requests, in no class
	} {
		var reqs []req
		for _, s := range tc.statuses {
			reqs = append(reqs, req{client: "c", status: s})
		}
		e := observe(t, reqs)
		if e.Status != tc.want || e.Requests != int64(len(tc.statuses)) {
			t.Errorf("%v: status %+v requests %d, want %+v and %d", tc.statuses, e.Status, e.Requests, tc.want, len(tc.statuses))
		}
	}
}

func TestPercentiles(t *testing.T) {
	t.Parallel()
	seq := func(lo, hi int64) []int64 {
		var s []int64
		for v := lo; v <= hi; v++ {
			s = append(s, v)
		}
		return s
	}
	for _, tc := range []struct {
		name       string
		sizes      []int64
		p50, p95   int64 // exact
		exactSmall bool
	}{
		{"empty bodies", []int64{0, 0, 0}, 0, 0, true},
		{"tiny", []int64{1, 2, 3, 3}, 2, 3, true},
		{"uniform 1..1000", seq(1, 1000), 500, 950, false},
		{"uniform 10k..20k", seq(10_000, 20_000), 15_000, 19_500, false},
		{"mostly small, a heavy tail", append(slices.Repeat([]int64{700}, 90), slices.Repeat([]int64{2_000_000}, 10)...), 700, 2_000_000, false},
		{"huge", []int64{1 << 40, 1 << 40}, 1 << 40, 1 << 40, false},
	} {
		var reqs []req
		for _, s := range tc.sizes {
			reqs = append(reqs, req{client: "c", status: 200, bytes: s})
		}
		e := observe(t, reqs)
		if tc.exactSmall && (e.BytesP50 != tc.p50 || e.BytesP95 != tc.p95) {
			t.Errorf("%s: p50 %d p95 %d, want %d and %d", tc.name, e.BytesP50, e.BytesP95, tc.p50, tc.p95)
		}
		tol := 0.125
		if tc.p50 >= 1<<histOctaves { // beyond the histogram's range: a floor
			if e.BytesP50 < 1<<(histOctaves-1) {
				t.Errorf("%s: p50 %d", tc.name, e.BytesP50)
			}
			continue
		}
		for _, p := range [][2]int64{{e.BytesP50, tc.p50}, {e.BytesP95, tc.p95}} {
			if math.Abs(float64(p[0]-p[1])) > tol*float64(p[1])+0.5 {
				t.Errorf("%s: got %d, want %d within 12.5%% (p50 %d, p95 %d)", tc.name, p[0], p[1], e.BytesP50, e.BytesP95)
			}
		}
	}
}

func TestHistogramBuckets(t *testing.T) {
	t.Parallel()
	prev := -1
	for v := int64(0); v < 1<<20; v += 1 + v/64 {
		i := bucketOf(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d", v, i, prev)
		}
		prev = i
		if mid := bucketValue(i); math.Abs(float64(mid-v)) > 0.125*float64(v)+0.5 {
			t.Fatalf("bucket %d of %d has midpoint %d", i, v, mid)
		}
	}
	var h hist
	h.add(10, math.MaxUint16)
	h.add(20, 1)
	h.add(10, 5) // overflows: halved, shape kept
	if h[10] < 1<<14 || h[20] != 1 || h.quantile(0.5) != bucketValue(10) {
		t.Errorf("after halving: bucket 10 %d, bucket 20 %d", h[10], h[20])
	}
}

func TestClients(t *testing.T) {
	t.Parallel()
	ip := func(i int) uint64 { return clientHash(fmt.Sprintf("198.51.%d.%d", i/256, i%256)) }
	for _, n := range []int{0, 1, 2, 7, 32, 33, 50, 300, 3000, 50_000} {
		var c clients
		for i := range n {
			c.add(ip(i))
			c.add(ip(i)) // twice: counted once
		}
		got := c.estimate()
		tol := 0.2 * float64(n) // ~3 standard errors
		switch {
		case n <= fewClients:
			tol = 0
		case n <= 50:
			tol = 2
		}
		if math.Abs(float64(got)-float64(n)) > tol {
			t.Errorf("%d clients: estimate %d", n, got)
		}
	}
	// Merged: exact while the union is few, estimated beyond.
	for _, tc := range []struct{ a, b, overlap, want int }{{10, 10, 5, 15}, {20, 20, 8, 32}, {20, 20, 0, 40}, {40, 1, 0, 41}, {0, 3, 0, 3}} {
		var a, b clients
		for i := range tc.a {
			a.add(ip(i))
		}
		for i := range tc.b {
			b.add(ip(tc.a - tc.overlap + i))
		}
		a.merge(&b)
		if got := a.estimate(); math.Abs(float64(got-int64(tc.want))) > float64(tc.want/20) || tc.want <= fewClients && a.nfew == manyClients {
			t.Errorf("%d+%d clients (%d in both): %d, want %d", tc.a, tc.b, tc.overlap, got, tc.want)
		}
	}
}

func TestFirstLastVersions(t *testing.T) {
	t.Parallel()
	inv := New(Options{})
	for i, v := range []string{"v2", "", "v1", "v2", "v10", "v3", "v4", "v5", "v6", "v7", "v8", "v9"} {
		ev := event(req{client: "c", status: 200}, 10-i) // out of time order
		ev.APIVersion = v
		inv.Observe(ev)
	}
	inv.Observe(&ingest.Event{Method: "GET", Path: "/x"}) // no route: skipped
	inv.Observe(&ingest.Event{Method: "GET", Route: "/untimed", ClientKey: "c"})
	eps := inv.Endpoints()
	if len(eps) != 2 || inv.Stats().Skipped != 1 {
		t.Fatalf("%d endpoints, %d skipped: %+v", len(eps), inv.Stats().Skipped, eps)
	}
	e := eps[1]
	if !e.FirstSeen.Equal(t0.Add(-1*time.Second)) || !e.LastSeen.Equal(t0.Add(10*time.Second)) {
		t.Errorf("first %v last %v", e.FirstSeen, e.LastSeen)
	}
	want := []string{"v1", "v10", "v2", "v3", "v4", "v5", "v6", "v7"} // the first MaxVersions seen
	if !reflect.DeepEqual(e.Versions, want) {
		t.Errorf("versions %v, want %v", e.Versions, want)
	}
	if u := eps[0]; u.Route != "/untimed" || !u.FirstSeen.IsZero() || u.Versions == nil {
		t.Errorf("untimed endpoint %+v", u)
	}
}

func TestMethodsAndHostsAreKeys(t *testing.T) {
	t.Parallel()
	inv := New(Options{})
	for _, k := range []key{{"a", "GET", "/x"}, {"a", "POST", "/x"}, {"b", "GET", "/x"}, {"a", "GET", "/w"}, {"a", "GET", "/x"}} {
		inv.Observe(&ingest.Event{Host: k.host, Method: k.method, Route: k.route, ClientKey: "c", Status: 200})
	}
	var got []string
	for _, e := range inv.Endpoints() {
		got = append(got, fmt.Sprintf("%s %s %s %d", e.Host, e.Method, e.Route, e.Requests))
	}
	want := []string{"a GET /w 1", "a GET /x 2", "a POST /x 1", "b GET /x 1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestObserveOwnsStrings: the inventory keeps no string of the event,
// which the next line reuses.
func TestObserveOwnsStrings(t *testing.T) {
	t.Parallel()
	buf := []byte("GET /orders/{id} api.example.com v2")
	ev := &ingest.Event{Method: string(buf[0:3]), ClientKey: "c"}
	ev.Route, ev.Host, ev.APIVersion = ev.AppendString(buf[4:16]), ev.AppendString(buf[17:32]), ev.AppendString(buf[33:])
	inv := New(Options{})
	inv.Observe(ev)
	ev.Reset()
	ev.AppendString([]byte("XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"))
	e := inv.Endpoints()[0]
	if e.Route != "/orders/{id}" || e.Host != "api.example.com" || e.Versions[0] != "v2" {
		t.Errorf("endpoint %+v aliases the event", e)
	}
}

func TestEviction(t *testing.T) {
	t.Parallel()
	obs := func(inv *Inventory, route string, n int, at time.Time) {
		for range n {
			inv.Observe(&ingest.Event{Method: "GET", Route: route, ClientKey: "c", Status: 200, Time: at})
		}
	}
	for _, tc := range []struct {
		name    string
		setup   func(inv *Inventory)
		evicted string
	}{
		{"fewest requests go first, however recent", func(inv *Inventory) {
			obs(inv, "/a", 40, t0)
			obs(inv, "/b", 1, t0.Add(3*time.Hour))
			obs(inv, "/c", 40, t0.Add(time.Hour))
			obs(inv, "/d", 40, t0.Add(2*time.Hour))
		}, "/b"},
		{"among as few requests, the least recently seen", func(inv *Inventory) {
			obs(inv, "/a", 3, t0.Add(time.Hour))
			obs(inv, "/b", 2, t0)
			obs(inv, "/c", 3, t0.Add(2*time.Hour))
			obs(inv, "/d", 100, t0.Add(-time.Hour))
		}, "/b"},
		{"requests count by power of two", func(inv *Inventory) {
			obs(inv, "/a", 1000, t0)
			obs(inv, "/b", 1001, t0.Add(time.Hour))
			obs(inv, "/c", 5, t0.Add(2*time.Hour))
			obs(inv, "/d", 6, t0.Add(3*time.Hour))
		}, "/c"},
	} {
		inv := New(Options{MaxEndpoints: 4})
		tc.setup(inv)
		obs(inv, "/new", 1, t0.Add(4*time.Hour))
		var routes []string
		for _, e := range inv.Endpoints() {
			routes = append(routes, e.Route)
		}
		if len(routes) != 4 || slices.Contains(routes, tc.evicted) || !slices.Contains(routes, "/new") || inv.Stats().Evicted != 1 {
			t.Errorf("%s: kept %v, %d evicted; want %s evicted", tc.name, routes, inv.Stats().Evicted, tc.evicted)
		}
	}
}

// TestEvictionBound: a scanner's stream of one-off routes keeps the
// inventory within its bound, and the API's real endpoints in it.
func TestEvictionBound(t *testing.T) {
	t.Parallel()
	const max = 256
	inv := New(Options{MaxEndpoints: max})
	for i := range 50_000 {
		at := t0.Add(time.Duration(i) * time.Second)
		inv.Observe(&ingest.Event{Method: "GET", Route: fmt.Sprintf("/api/r%d", i%40), ClientKey: "c", Status: 200, Time: at})
		inv.Observe(&ingest.Event{Method: "GET", Route: fmt.Sprintf("/probe-%d.php", i), ClientKey: "s", Status: 404, Time: at})
		if n := len(inv.list); n > max {
			t.Fatalf("%d endpoints, more than %d", n, max)
		}
	}
	st := inv.Stats()
	if st.Endpoints > max || st.Evicted < 50_000-max {
		t.Errorf("%+v", st)
	}
	for i := range 40 {
		if inv.byKey[key{"", "GET", fmt.Sprintf("/api/r%d", i)}] == nil {
			t.Errorf("/api/r%d evicted", i)
		}
	}
	if len(inv.byKey) != len(inv.list) {
		t.Errorf("map %d, list %d", len(inv.byKey), len(inv.list))
	}
	for i, e := range inv.list {
		if e.idx != i || inv.byKey[e.key] != e {
			t.Fatalf("list[%d] = %+v", i, e.key)
		}
	}
}

func TestMemory(t *testing.T) {
	t.Parallel()
	inv := New(Options{})
	empty := inv.Bytes()
	for i := range 100 {
		inv.Observe(&ingest.Event{Method: "GET", Route: fmt.Sprintf("/api/v2/items/%d/x", i), ClientKey: "c", APIVersion: "v2"})
	}
	sum := 0
	for _, e := range inv.Endpoints() {
		if e.MemoryBytes < hllRegisters+2*histBuckets || e.MemoryBytes > 2048 {
			t.Errorf("%s: %d bytes", e.Route, e.MemoryBytes)
		}
		sum += e.MemoryBytes
	}
	if got := inv.Bytes(); got < empty+sum || got > empty+sum+100*64 {
		t.Errorf("Bytes %d, endpoints %d", got, sum)
	}
	t.Logf("%d bytes per endpoint", sum/100)
}

// TestMerge: two inventories of the halves of some traffic merge into the
// inventory of all of it.
func TestMerge(t *testing.T) {
	t.Parallel()
	all, a, b := New(Options{}), New(Options{}), New(Options{})
	for i := range 5000 {
		ev := &ingest.Event{Host: "h", Method: []string{"GET", "POST"}[i%2], Route: fmt.Sprintf("/r%d", i%7),
			ClientKey: fmt.Sprintf("c%d", i%300), Status: []int{200, 404, 401, 500, 304}[i%5], BytesOut: int64(i % 9000),
			Time: t0.Add(time.Duration(i) * time.Minute), APIVersion: []string{"v1", "v2"}[i%3/2]}
		all.Observe(ev)
		if i < 2000 {
			a.Observe(ev)
		} else {
			b.Observe(ev)
		}
	}
	a.Merge(b)
	a.Merge(a) // nothing
	if got, want := a.Endpoints(), all.Endpoints(); !reflect.DeepEqual(got, want) {
		t.Errorf("merged:\n%+v\nwant\n%+v", got, want)
	}
}
