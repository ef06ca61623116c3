package contract

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/ingest"
)

func event(client, method, route, path, query string, status int) *ingest.Event {
	return &ingest.Event{ClientKey: client, Method: method, Route: route, Path: path, Query: query, Status: status}
}

// learnShop learns a small API from 50 clients, with one poisoner whose
// odd values must not widen the contract, and an attack the API refused.
func learnShop(t testing.TB) *Model {
	t.Helper()
	m := New(Options{})
	r := rand.New(rand.NewPCG(1, 2))
	sorts := []string{"price", "name", "rating"}
	for i := range 2000 {
		c := fmt.Sprintf("10.0.0.%d", i%50)
		q := fmt.Sprintf("page=%d&sort=%s&q=%s", 1+r.IntN(40), sorts[r.IntN(3)], strings.Repeat("shoe+", 1+r.IntN(4)))
		m.Learn(event(c, "GET", "/api/v2/products", "/api/v2/products", q, 200))
		m.Learn(event(c, "GET", "/api/v2/products/{id}", fmt.Sprintf("/api/v2/products/%d", i), "", 200))
		m.Learn(event(c, "POST", "/api/v2/orders", "/api/v2/orders", fmt.Sprintf("qty=%d&sku=a%07x", 1+r.IntN(99), r.IntN(1<<28)), 201))
	}
	m.Learn(event("203.0.113.66", "GET", "/api/v2/products", "/api/v2/products", "page=1'--&debug=1&q="+strings.Repeat("A", 500), 200))
	m.Learn(event("203.0.113.67", "GET", "/api/v2/admin", "/api/v2/admin", "", 200))
	m.Learn(event("203.0.113.68", "GET", "/api/v2/products", "/api/v2/products", "page=1%20OR%201=1", 500))
	m.Learn(event("203.0.113.69", "GET", "/api/v2/products", "/api/v2/products", "page=1%20OR%201=1", 500))
	m.Freeze()
	return m
}

func TestCheck(t *testing.T) {
	m := learnShop(t)
	tests := []struct {
		name, method, route, path, query string
		want                             []Reason
	}{
		{"fits", "GET", "/api/v2/products", "/api/v2/products", "page=7&sort=price&q=red+shoe", nil},
		{"order fits", "POST", "/api/v2/orders", "/api/v2/orders", "qty=3&sku=a1b2c3d4", nil},
		{"sql where an integer belongs", "GET", "/api/v2/products", "/api/v2/products", "page=1%20OR%201=1", []Reason{WrongKind, UnexpectedChar}},
		{"quote in the learned injection", "GET", "/api/v2/products", "/api/v2/products", "page=1'--", []Reason{WrongKind, UnexpectedChar}},
		{"not one of the enum", "GET", "/api/v2/products", "/api/v2/products", "sort=password", []Reason{WrongKind}},
		{"markup in free text", "GET", "/api/v2/products", "/api/v2/products", "q=%3Cscript%3Ealert(1)%3C/script%3E", []Reason{UnexpectedChar}},
		{"overlong", "GET", "/api/v2/products", "/api/v2/products", "q=" + strings.Repeat("A", 500), []Reason{TooLong}},
		{"unknown parameter (the poisoner's)", "GET", "/api/v2/products", "/api/v2/products", "page=2&debug=1", []Reason{UnknownParam}},
		{"negative quantity", "POST", "/api/v2/orders", "/api/v2/orders", "qty=-5&sku=a1b2c3d4", []Reason{UnexpectedChar}},
		{"quantity above the range, not far", "POST", "/api/v2/orders", "/api/v2/orders", "qty=150&sku=a1b2c3d4", nil},
		{"quantity far above the range", "POST", "/api/v2/orders", "/api/v2/orders", "qty=100000&sku=a1b2c3d4", []Reason{OutOfRange}},
		{"page far above the range", "GET", "/api/v2/products", "/api/v2/products", "page=999999999", []Reason{OutOfRange}},
		{"a new id above those learnt", "GET", "/api/v2/products/{id}", "/api/v2/products/99999999", "", nil},
		{"unknown route under a served prefix", "GET", "/api/v2/admin", "/api/v2/admin", "", []Reason{UnknownRoute}},
		{"unknown method", "DELETE", "/api/v2/orders", "/api/v2/orders", "", []Reason{UnknownRoute}},
		{"backup file", "GET", "/api/v2/orders.bak", "/api/v2/orders.bak", "", []Reason{ProbeFile}},
		{"dotfile", "GET", "/.env", "/.env", "", []Reason{ProbeFile}},
		{"elsewhere: not judged", "GET", "/blog/{id}", "/blog/7", "x=1", nil},
		{"crlf", "GET", "/api/v2/products", "/api/v2/products", "q=a%0d%0aSet-Cookie:x", []Reason{UnexpectedChar}},
		{"double encoding", "GET", "/api/v2/products", "/api/v2/products", "q=%252e%252e%252f", []Reason{UnexpectedChar}},
	}
	for _, tt := range tests {
		vs := m.Check(event("198.51.100.1", tt.method, tt.route, tt.path, tt.query, 200), nil)
		var got []Reason
		for _, v := range vs {
			got = append(got, v.Reason)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: %v, want %v (%+v)", tt.name, got, tt.want, vs)
		}
	}
}

func TestViolationText(t *testing.T) {
	m := learnShop(t)
	for _, tt := range []struct {
		method, route, query string
		want                 Violation
	}{
		{"GET", "/api/v2/products", "page=4%27%20OR%201=1", Violation{WrongKind, "page", "an integer 1-40", `"4' OR 1=1"`}},
		{"POST", "/api/v2/orders", "qty=4%27%20OR%201=1", Violation{WrongKind, "qty", "an integer 1-99", `"4' OR 1=1"`}},
		{"POST", "/api/v2/orders", "qty=5000", Violation{OutOfRange, "qty", "an integer 1-99", `"5000"`}},
		{"GET", "/api/v2/products", "sort=1", Violation{WrongKind, "sort", "one of name|price|rating", `"1"`}},
	} {
		vs := m.Check(event("198.51.100.1", tt.method, tt.route, tt.route, tt.query, 200), nil)
		if len(vs) == 0 || vs[0] != tt.want {
			t.Errorf("%s: violations %+v, want first %+v", tt.query, vs, tt.want)
		}
	}
}

// FuzzCheck: no query or path panics the learner or the check, and a
// request's violations quote at most maxGot bytes of a value.
func FuzzCheck(f *testing.F) {
	f.Add("/api/v2/products", "page=1&q=a%20b", "page=1'--&x=%zz&&=&a")
	f.Add("/a/b.bak", "", "%")
	f.Fuzz(func(t *testing.T, route, learnQ, checkQ string) {
		m := New(Options{MinClients: 1})
		m.Learn(event("c1", "GET", route, route, learnQ, 200))
		m.Freeze()
		for _, v := range m.Check(event("c2", "GET", route, route, checkQ, 200), nil) {
			if len(v.Got) > 4*maxGot+200 || v.Reason == "" {
				t.Fatalf("violation %+v", v)
			}
		}
	})
}
