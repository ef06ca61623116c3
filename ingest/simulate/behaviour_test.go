package simulate

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// behaviourConfig is long enough for every behaviour to show: 60 minutes of
// history, a 10-minute attack, and the token refresh at minute 80.
var behaviourConfig = Config{Seed: 11, Clients: 400, Duration: 90 * time.Minute, AttackAt: time.Hour, AttackFor: 10 * time.Minute}

// perClient is what the behaviour tests measure about one client, minute
// by minute.
type perClient struct {
	events, auth, s5xx, s401 []int
	methods, paths           map[string]int // recorded for labelled clients only
	firstRefresh             []int          // second of the first POST /oauth/token 200 per minute, -1 if none
	first401                 []int          // second of the first 401 per minute, -1 if none
}

type observed struct {
	s       *Scenario
	clients map[string]*perClient
	labels  map[Kind]Label
	stats   Stats
	events  int64
}

// observe runs the behaviour scenario once for all behaviour tests.
var observe = sync.OnceValues(func() (*observed, error) {
	s, err := New(behaviourConfig)
	if err != nil {
		return nil, err
	}
	o := &observed{s: s, clients: map[string]*perClient{}, labels: map[Kind]Label{}}
	labelled := map[string]bool{}
	for _, l := range s.Labels() {
		o.labels[l.Kind] = l
		labelled[l.Client] = true
	}
	n := s.minutes
	neg := func() []int {
		v := make([]int, n)
		for i := range v {
			v[i] = -1
		}
		return v
	}
	err = s.Run(context.Background(), func(ev *ingest.Event) error {
		o.events++
		pc := o.clients[ev.ClientKey]
		if pc == nil {
			pc = &perClient{
				events: make([]int, n), auth: make([]int, n), s5xx: make([]int, n), s401: make([]int, n),
				first401: neg(), firstRefresh: neg(),
			}
			if labelled[ev.ClientKey] {
				pc.methods, pc.paths = map[string]int{}, map[string]int{}
			}
			o.clients[strings.Clone(ev.ClientKey)] = pc
		}
		m := int(ev.Time.Sub(s.Start()) / time.Minute)
		sec := ev.Time.Second()
		pc.events[m]++
		if ev.Auth.Failure() {
			pc.auth[m]++
		}
		if ev.Status >= 500 {
			pc.s5xx[m]++
		}
		if ev.Status == 401 {
			pc.s401[m]++
			if pc.first401[m] < 0 {
				pc.first401[m] = sec
			}
		}
		if ev.Method == "POST" && ev.Path == "/oauth/token" && ev.Status == 200 && pc.first401[m] >= 0 && pc.firstRefresh[m] < 0 {
			pc.firstRefresh[m] = sec
		}
		if pc.methods != nil {
			// Map keys must own their bytes: ev's strings are reused.
			pc.methods[strings.Clone(ev.Method)]++
			pc.paths[strings.Clone(ev.Path)]++
		}
		return nil
	})
	o.stats = s.Stats()
	return o, err
})

func mustObserve(t *testing.T) *observed {
	t.Helper()
	o, err := observe()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (o *observed) client(t *testing.T, k Kind) *perClient {
	t.Helper()
	l, ok := o.labels[k]
	if !ok {
		t.Fatalf("no %s label", k)
	}
	pc := o.clients[l.Client]
	if pc == nil {
		t.Fatalf("%s client %s sent nothing", k, l.Client)
	}
	return pc
}

// window sums v over the minutes [from, to) and returns the sum and the
// per-minute mean.
func window(v []int, from, to int) (int, float64) {
	n := 0
	for _, x := range v[from:to] {
		n += x
	}
	return n, float64(n) / float64(to-from)
}

func TestBehaviourAttacks(t *testing.T) {
	t.Parallel()
	o := mustObserve(t)
	a, b, end := o.s.attackStart, o.s.attackEnd, o.s.minutes
	ratio := func(num, den []int, from, to int) float64 {
		n, _ := window(num, from, to)
		d, _ := window(den, from, to)
		if d == 0 {
			return math.NaN()
		}
		return float64(n) / float64(d)
	}
	tests := []struct {
		kind  Kind
		check func(t *testing.T, pc *perClient)
	}{
		{QuietSpike, func(t *testing.T, pc *perClient) {
			_, before := window(pc.events, 0, a)
			_, during := window(pc.events, a, b)
			_, after := window(pc.events, b, end)
			t.Logf("rate before %.1f, during %.1f, after %.1f req/min", before, during, after)
			if before < 1 || before > 3 || after > 3 || during < 35 || during > 65 {
				t.Errorf("rate %.1f -> %.1f -> %.1f req/min, want ~2 -> 40..60 -> ~2", before, during, after)
			}
		}},
		{CredentialStuffing, func(t *testing.T, pc *perClient) {
			outside, _ := window(pc.events, 0, a)
			after, _ := window(pc.events, b, end)
			_, rate := window(pc.events, a, b)
			fail := ratio(pc.s401, pc.events, a, b)
			t.Logf("rate %.0f req/min, 401 share %.3f, methods %v, paths %v", rate, fail, pc.methods, pc.paths)
			if outside+after != 0 {
				t.Errorf("%d requests outside the attack window, want a brand-new client", outside+after)
			}
			if rate < 90 || rate > 420 || fail <= 0.9 {
				t.Errorf("rate %.0f req/min with %.3f 401s, want 100..400 and > 0.9", rate, fail)
			}
			if len(pc.methods) != 1 || pc.methods["POST"] == 0 || len(pc.paths) != 1 || (pc.paths["/login"] == 0 && pc.paths["/oauth/token"] == 0) {
				t.Errorf("methods %v paths %v, want POST to one login endpoint", pc.methods, pc.paths)
			}
		}},
		{AuthFailureJump, func(t *testing.T, pc *perClient) {
			before, during := ratio(pc.auth, pc.events, 0, a), ratio(pc.auth, pc.events, a, b)
			_, vb := window(pc.events, 0, a)
			_, vd := window(pc.events, a, b)
			t.Logf("auth failures %.3f -> %.3f, volume %.1f -> %.1f", before, during, vb, vd)
			if before > 0.03 || during < 0.25 || during > 0.65 || vd/vb < 0.6 || vd/vb > 1.6 {
				t.Errorf("auth failures %.3f -> %.3f at volume %.1f -> %.1f, want ~0.01 -> 0.3..0.6 at the same volume", before, during, vb, vd)
			}
		}},
		{ErrorRatioJump, func(t *testing.T, pc *perClient) {
			before, during := ratio(pc.s5xx, pc.events, 0, a), ratio(pc.s5xx, pc.events, a, b)
			after := ratio(pc.s5xx, pc.events, b, end)
			_, vb := window(pc.events, 0, a)
			_, vd := window(pc.events, a, b)
			t.Logf("5xx %.4f -> %.3f -> %.4f, volume %.1f -> %.1f", before, during, after, vb, vd)
			if before > 0.02 || after > 0.02 || during < 0.15 || during > 0.45 || vd/vb < 0.6 || vd/vb > 1.6 {
				t.Errorf("5xx %.4f -> %.3f -> %.4f at volume %.1f -> %.1f, want ~0.005 -> 0.2..0.4 at the same volume", before, during, after, vb, vd)
			}
		}},
		{Flood, func(t *testing.T, pc *perClient) {
			_, before := window(pc.events, 0, a)
			_, during := window(pc.events, a, b)
			t.Logf("rate %.0f -> %.0f req/min (x%.0f)", before, during, during/before)
			if before < 60 || before > 150 || during/before < 40 || during/before > 130 {
				t.Errorf("rate %.0f -> %.0f req/min, want ~100 -> 50x..100x", before, during)
			}
		}},
		{TrapSteadyHeavy, func(t *testing.T, pc *perClient) {
			lo, hi := slices.Min(pc.events), slices.Max(pc.events)
			_, mean := window(pc.events, 0, end)
			t.Logf("rate %d..%d, mean %.0f req/min", lo, hi, mean)
			if mean < 2000 || mean > 5000 || lo < 1200 || hi > 6500 {
				t.Errorf("rate %d..%d (mean %.0f) req/min, want a steady 2000..5000", lo, hi, mean)
			}
			if ratio(pc.auth, pc.events, 0, end) > 0.015 || ratio(pc.s5xx, pc.events, 0, end) > 0.01 {
				t.Error("heavy client's error mix is not ordinary")
			}
		}},
		{TrapOrganicGrowth, func(t *testing.T, pc *perClient) {
			_, first := window(pc.events, 0, 10)
			_, last := window(pc.events, end-10, end)
			t.Logf("rate %.1f -> %.1f req/min (x%.2f)", first, last, last/first)
			if last/first < 2.4 || last/first > 5 {
				t.Errorf("grew x%.2f, want ~3-4x", last/first)
			}
			// Smooth: no 10-minute window more than 50% above the next one's.
			for m := 0; m+20 <= end; m += 10 {
				_, x := window(pc.events, m, m+10)
				_, y := window(pc.events, m+10, m+20)
				if x > 1.5*y {
					t.Errorf("minutes %d..%d: %.1f then %.1f req/min, not smooth growth", m, m+20, x, y)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			tt.check(t, o.client(t, tt.kind))
		})
	}
}

func TestBehaviourTokenRefresh(t *testing.T) {
	t.Parallel()
	o := mustObserve(t)
	l := o.labels[TrapTokenRefresh]
	burst := int(l.Start.Sub(o.s.Start()) / time.Minute)
	if burst != 80 {
		t.Fatalf("token refresh at minute %d, want 80 (halfway after the attack)", burst)
	}
	labelled := map[string]bool{}
	for _, l := range o.labels {
		labelled[l.Client] = true
	}
	share := func(m int) (float64, int) {
		active, failing := 0, 0
		for key, pc := range o.clients {
			if labelled[key] || pc.events[m] == 0 {
				continue
			}
			active++
			if pc.s401[m] > 0 {
				failing++
			}
		}
		return float64(failing) / float64(active), active
	}
	got, active := share(burst)
	t.Logf("minute %d: %.2f of %d active clients got 401s", burst, got, active)
	if got < 0.75 {
		t.Errorf("only %.2f of active clients got 401s in the refresh minute", got)
	}
	for m := range o.s.minutes {
		if m == burst {
			continue
		}
		if s, _ := share(m); s > 0.15 {
			t.Errorf("minute %d: %.2f of clients got 401s, want the burst in one minute only", m, s)
		}
	}
	// Each failing client recovers: a successful token fetch right after
	// its first 401, and no further 401 flood.
	recovered, failing := 0, 0
	for key, pc := range o.clients {
		if labelled[key] || pc.s401[burst] == 0 {
			continue
		}
		failing++
		if pc.firstRefresh[burst] >= pc.first401[burst] && pc.s401[burst] <= 4 {
			recovered++
		}
	}
	if float64(recovered) < 0.9*float64(failing) {
		t.Errorf("%d of %d clients with 401s refreshed their token and recovered", recovered, failing)
	}
}

func TestBehaviourOverdispersed(t *testing.T) {
	t.Parallel()
	o := mustObserve(t)
	var index []float64
	for i := range o.s.normal {
		c := &o.s.clients[i]
		if c.intermittent || c.monitor > 0 || c.rate < 20 {
			continue
		}
		pc := o.clients[c.addr]
		_, mean := window(pc.events, 0, o.s.minutes)
		var ss float64
		for _, x := range pc.events {
			ss += (float64(x) - mean) * (float64(x) - mean)
		}
		index = append(index, ss/float64(len(pc.events)-1)/mean)
	}
	if len(index) < 10 {
		t.Fatalf("only %d busy steady clients", len(index))
	}
	slices.Sort(index)
	med := index[len(index)/2]
	t.Logf("variance/mean over %d busy clients: median %.1f", len(index), med)
	if med < 1.5 {
		t.Errorf("per-minute counts are not overdispersed: median variance/mean %.2f", med)
	}
}

// TestStatusMix checks the ordinary fleet's responses: ~97-98% 2xx/3xx,
// ~1-2% 4xx with ~0.5-1% 401/403, ~0.3-0.5% 5xx.
func TestStatusMix(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Seed: 12, Clients: 500, Duration: time.Hour, Attacks: []Kind{}})
	var class [6]int64
	var auth, n int64
	routes := map[string]bool{}
	redacted := 0
	err := s.Run(context.Background(), func(ev *ingest.Event) error {
		n++
		class[ev.Status/100]++
		if ev.Status == 401 || ev.Status == 403 {
			auth++
		}
		if !routes[ev.Route] {
			routes[strings.Clone(ev.Route)] = true
		}
		if strings.Contains(ev.Query, "token="+ingest.Redacted) {
			redacted++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	share := func(x int64) float64 { return float64(x) / float64(n) }
	ok, c4, c5, a := share(class[2]+class[3]), share(class[4]), share(class[5]), share(auth)
	t.Logf("%d events: 2xx/3xx %.4f, 4xx %.4f (401/403 %.4f), 5xx %.4f; %d routes; %d redacted",
		n, ok, c4, a, c5, len(routes), redacted)
	if ok < 0.965 || ok > 0.99 || c4 < 0.01 || c4 > 0.025 || a < 0.004 || a > 0.011 || c5 < 0.002 || c5 > 0.006 {
		t.Errorf("status mix 2xx/3xx %.4f, 4xx %.4f, 401/403 %.4f, 5xx %.4f is off", ok, c4, a, c5)
	}
	if class[1] != 0 || class[0] != 0 {
		t.Errorf("impossible statuses: %v", class)
	}
	st := s.Stats()
	if st.Events != n || st.Status != class || st.AuthFailures != auth || st.ByKind[Normal] != n {
		t.Errorf("Stats %+v disagree with the events", st)
	}
	for _, r := range []string{"/api/v1/orders/{id}", "/api/v1/users/{id}", "/api/v1/orders", "/healthz"} {
		if !routes[r] {
			t.Errorf("route %s never seen", r)
		}
	}
	if redacted == 0 {
		t.Error("no request carried a redacted token")
	}
}
