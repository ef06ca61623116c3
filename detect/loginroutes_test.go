package detect

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestRouteAuthLearns: a route is learned as a login route from refused
// POSTs of several clients making most of its POSTs, and forgotten when
// its POSTs succeed again.
func TestRouteAuthLearns(t *testing.T) {
	t.Parallel()
	type post struct {
		clients, each int
		status        int
	}
	tests := []struct {
		name  string
		posts []post
		mixed bool // the posts interleaved rather than one after another
		want  bool
	}{
		{"three clients refused 27 times", []post{{3, 9, 401}}, false, true},
		{"forbidden counts as refused", []post{{5, 5, 403}}, false, true},
		{"one client refused 100 times", []post{{1, 100, 401}}, false, false},
		{"two clients refused 50 times each", []post{{2, 50, 401}}, false, false},
		{"too few refusals", []post{{3, 6, 401}}, false, false},
		{"refusals a minority of POSTs", []post{{3, 10, 401}, {4, 20, 201}}, true, false},
		{"refusals half of POSTs", []post{{3, 10, 401}, {3, 10, 201}}, true, true},
		{"refused then fixed", []post{{3, 10, 401}, {4, 40, 201}}, false, false},
		{"refused, then a third succeed", []post{{3, 10, 401}, {3, 5, 201}}, false, true},
	}
	for _, tt := range tests {
		e := New(Options{})
		route := "/api/v2/credentials/check"
		var evs [][]*ingest.Event // per post
		for i, p := range tt.posts {
			evs = append(evs, nil)
			for c := range p.clients {
				for range p.each {
					evs[i] = append(evs[i], &ingest.Event{Method: "POST", Route: route, Status: p.status,
						ClientKey: fmt.Sprint("192.0.2.", i*10+c)})
				}
			}
		}
		var seq []*ingest.Event
		if tt.mixed { // in proportion: one refused, then its share of the others
			for i := 0; len(seq) < len(evs[0])+len(evs[1]); i++ {
				if i < len(evs[0]) {
					seq = append(seq, evs[0][i])
				}
				for j := i * len(evs[1]) / len(evs[0]); j < (i+1)*len(evs[1])/len(evs[0]) && j < len(evs[1]); j++ {
					seq = append(seq, evs[1][j])
				}
			}
		} else {
			seq = slices.Concat(evs...)
		}
		for n, ev := range seq {
			e.loginAttempt(ev, int64(n/100))
		}
		if got := slices.Contains(e.LearnedLoginRoutes(), route); got != tt.want {
			t.Errorf("%s: learned %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestRouteAuthDecays: counts halve every loginHalfLife windows, and a
// route counted long ago makes room for new ones when the table is full.
func TestRouteAuthDecays(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	ev := &ingest.Event{Method: "POST", Route: "/api/a", Status: 200, ClientKey: "c"}
	for range 8 {
		e.loginAttempt(ev, 0)
	}
	r := e.routeAuth["/api/a"]
	r.decayTo(2 * loginHalfLife)
	if r.posts < 1.99 || r.posts > 2.01 {
		t.Errorf("8 POSTs after two half-lives count %.3f, want 2", r.posts)
	}
	for i := range maxRouteAuth - 1 {
		e.loginAttempt(&ingest.Event{Method: "POST", Route: fmt.Sprint("/r/", i), Status: 200, ClientKey: "c"}, 0)
	}
	if len(e.routeAuth) != maxRouteAuth {
		t.Fatalf("%d routes counted, want %d", len(e.routeAuth), maxRouteAuth)
	}
	e.loginAttempt(&ingest.Event{Method: "POST", Route: "/new", Status: 200, ClientKey: "c"}, 1)
	if _, ok := e.routeAuth["/new"]; ok {
		t.Errorf("a new route was counted in a full table of fresh routes")
	}
	e.loginAttempt(&ingest.Event{Method: "POST", Route: "/new", Status: 200, ClientKey: "c"}, 4*loginHalfLife)
	if _, ok := e.routeAuth["/new"]; !ok || len(e.routeAuth) > maxRouteAuth {
		t.Errorf("a new route was not counted once the old ones decayed (%d routes)", len(e.routeAuth))
	}
}

// TestLearnedLoginRouteCampaign: the small site's distributed login attack
// moved to a route no name marks as a login route is still one login
// campaign, on that route, naming its clients, and the site's own clients
// are never named.
func TestLearnedLoginRouteCampaign(t *testing.T) {
	site := newSmallSite(3)
	const route = "/api/v2/credentials/check"
	for i := range site.events {
		if x := &site.events[i]; x.status == 401 {
			x.path, x.route = route, route
		}
	}
	var camps []Finding
	for _, f := range site.run(Options{}) {
		for _, c := range site.steady {
			if slices.Contains(namesOf(&f), c) {
				t.Errorf("steady client %s named by %s %s", c, f.Detector, f.IncidentID)
			}
		}
		if f.Detector == DetectorCampaign && f.Client == "campaign:login "+route {
			camps = append(camps, f)
		}
	}
	ids := map[string]bool{}
	for _, f := range camps {
		ids[f.IncidentID] = true
	}
	if len(ids) != 1 {
		t.Fatalf("the distributed attack on %s is in %d campaign incidents, want 1", route, len(ids))
	}
	if last := camps[len(camps)-1]; last.ClientCount < 30 {
		t.Errorf("the campaign counts %d clients, want 30 or more of %d", last.ClientCount, len(site.spread))
	}
}

// TestRouteAuthSnapshot: the routes' counts and what they learned survive
// a snapshot, and the restored engine encodes to the same bytes.
func TestRouteAuthSnapshot(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	for i := range 30 {
		e.loginAttempt(&ingest.Event{Method: "POST", Route: "/api/check", Status: 401, ClientKey: fmt.Sprint(i % 4)}, int64(i))
		e.loginAttempt(&ingest.Event{Method: "PUT", Route: "/api/items/{id}", Status: 200, ClientKey: "a"}, int64(i))
	}
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(Options{}, b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.LearnedLoginRoutes(), []string{"/api/check"}; !slices.Equal(got, want) {
		t.Errorf("restored engine learned %q, want %q", got, want)
	}
	if len(r.routeAuth) != 2 || *r.routeAuth["/api/items/{id}"] != *e.routeAuth["/api/items/{id}"] {
		t.Errorf("restored counts %+v, want %+v", r.routeAuth, e.routeAuth)
	}
	if b2, _ := r.MarshalBinary(); !slices.Equal(b, b2) {
		t.Errorf("restored engine encodes to other bytes")
	}
}
