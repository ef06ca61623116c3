package inventory

import (
	"reflect"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
)

// TestKnown: an endpoint is known when at least 2 distinct clients called
// it and at least half of its requests were answered below 400.
func TestKnown(t *testing.T) {
	t.Parallel()
	a := func(n, status int) []req { return repeat(n, req{client: "203.0.113.1", status: status}) }
	b := func(n, status int) []req { return repeat(n, req{client: "203.0.113.2", status: status}) }
	for _, tc := range []struct {
		name string
		reqs [][]req
		want bool
	}{
		{"two clients answered 200", [][]req{a(3, 200), b(1, 200)}, true},
		{"one client answered 200", [][]req{a(50, 200)}, false},
		{"two scanners answered 404", [][]req{a(20, 404), b(20, 404)}, false},
		{"exactly half answered below 400", [][]req{a(2, 200), b(2, 404)}, true},
		{"just under half answered below 400", [][]req{a(2, 200), b(3, 404)}, false},
		{"redirects are answered below 400", [][]req{a(1, 302), b(1, 304)}, true},
		{"mostly 5xx", [][]req{a(1, 200), b(2, 503)}, false},
		{"mostly 401 and 403", [][]req{a(1, 200), b(1, 401), b(1, 403)}, false},
	} {
		e := observe(t, tc.reqs...)
		if got := e.Known(); got != tc.want {
			t.Errorf("%s: known %v, want %v (%d requests, %d clients, %+v)", tc.name, got, tc.want, e.Requests, e.Clients, e.Status)
		}
	}
	if (&Endpoint{Clients: 2}).Known() {
		t.Error("an endpoint without requests is known")
	}
}

// TestRoutes: Routes keeps the endpoints' order, host, method and route,
// and marks the known ones.
func TestRoutes(t *testing.T) {
	t.Parallel()
	inv := New(Options{})
	for i, r := range []struct {
		method, route, client string
		status                int
	}{
		{"GET", "/orders/{id}", "203.0.113.1", 200},
		{"GET", "/orders/{id}", "203.0.113.2", 200},
		{"DELETE", "/orders/{id}", "203.0.113.1", 204},
		{"GET", "/.env", "198.51.100.7", 404},
		{"GET", "/.env", "198.51.100.8", 404},
	} {
		inv.Observe(&ingest.Event{Host: "api.example.com", Method: r.method, Route: r.route, Path: r.route,
			ClientKey: r.client, ClientKind: ingest.ClientIP, Status: r.status, Time: t0.Add(time.Duration(i) * time.Second)})
	}
	want := []contract.Route{
		{Host: "api.example.com", Method: "GET", Template: "/.env"},
		{Host: "api.example.com", Method: "DELETE", Template: "/orders/{id}"},
		{Host: "api.example.com", Method: "GET", Template: "/orders/{id}", Known: true},
	}
	if got := Routes(inv.Endpoints()); !reflect.DeepEqual(got, want) {
		t.Errorf("routes\n%+v\nwant\n%+v", got, want)
	}
	if got := Routes(nil); len(got) != 0 {
		t.Errorf("routes of no endpoint: %+v", got)
	}
}
