package openapi

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
)

const shopSpec = "testdata/shop.yaml"

var (
	shopOnce sync.Once
	shop     *Spec
	shopErr  error
)

// loadShop loads testdata/shop.yaml once.
func loadShop(t testing.TB) *Spec {
	t.Helper()
	shopOnce.Do(func() { shop, shopErr = Load(shopSpec) })
	if shopErr != nil {
		t.Fatal(shopErr)
	}
	return shop
}

func ev(method, target string) *ingest.Event {
	path, query, _ := strings.Cut(target, "?")
	return &ingest.Event{Method: method, Path: path, Query: query}
}

// TestLoad: the shop's specification validates; broken ones fail with
// an error naming the file.
func TestLoad(t *testing.T) {
	s := loadShop(t)
	if n := len(s.Operations()); n != 14 {
		t.Errorf("%d operations, want 14: %v", n, s.Operations())
	}
	dir := t.TempDir()
	for _, tc := range []struct{ name, text, want string }{
		{"not yaml", "openapi: [3.0", "not yaml"},
		{"no info", "openapi: 3.0.3\npaths: {}\n", "invalid specification"},
		{"bad ref", "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /x:\n    get:\n      parameters: [{$ref: '#/components/parameters/Nope'}]\n      responses: {'200': {description: ok}}\n", "bad ref"},
		{"remote ref", "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /x:\n    $ref: 'http://198.51.100.1/x.yaml'\n", "remote ref"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s", err, path)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

const testUUID = "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"

// checkTests are TestCheck's requests and the violations they make: the
// Reason and Param of each, and its Expected and Got when set.
var checkTests = []struct {
	name, method, target string
	want                 []contract.Violation // Reason and Param; Expected and Got when set
}{
	{"products", "GET", "/api/v2/products?category=books&category=toys&page=2&per_page=20&sort=newest&q=caf%C3%A9+cr%C3%A8me&_=1772438400000", nil},
	{"empty search", "GET", "/api/v2/products?q=", nil},
	{"product", "GET", "/api/v2/products/12345?currency=CHF", nil},
	{"head", "HEAD", "/api/v2/products/12345", nil},
	{"preflight", "OPTIONS", "/api/v2/orders", nil},
	{"orders", "GET", "/api/v2/orders?status=paid&since=2025-11-30&customer=" + testUUID, nil},
	{"order", "GET", "/api/v2/orders/" + testUUID, nil},
	{"new order", "POST", "/api/v2/orders?sku=0a1b2c3d&qty=3&coupon=", nil},
	{"user fields", "GET", "/api/v2/users/42?fields=id%2Cname,email", nil},
	{"login", "POST", "/api/v2/login?redirect=%2Fsearch%3Fq%3Dlamp", nil},
	{"stores", "GET", "/api/v2/stores?lat=-33.8688&lon=151.2093&radius=25", nil},
	{"reviews", "GET", "/api/v2/reviews?product=1000&rating=5&email=l%C3%A9a%2Bshop%40gmail.com", nil},
	{"cart redacted", "GET", "/api/v2/cart?token=REDACTED", nil},
	{"cart item", "PUT", "/api/v2/cart/items/99999?qty=99", nil},
	{"health at the root", "GET", "/health", nil},
	{"outside the API", "GET", "/.env", nil},
	{"unknown param is the contract's", "GET", "/api/v2/products?debug=1", nil},

	{"undocumented method", "DELETE", "/api/v2/orders/" + testUUID,
		[]contract.Violation{{Reason: contract.ShadowEndpoint, Expected: "GET on /api/v2/orders/{orderId}", Got: `DELETE "/api/v2/orders/` + testUUID + `"`}}},
	{"undocumented path", "GET", "/api/v2/internal/config",
		[]contract.Violation{{Reason: contract.ShadowEndpoint, Expected: "a documented operation"}}},
	{"trailing slash", "GET", "/api/v2/debug/pprof/", []contract.Violation{{Reason: contract.ShadowEndpoint}}},
	{"probe under the API", "GET", "/api/v2/orders.bak", []contract.Violation{{Reason: contract.ShadowEndpoint}}},
	{"deprecated", "GET", "/api/v2/search?q=lamp&lang=de",
		[]contract.Violation{{Reason: contract.ZombieEndpoint, Expected: "GET /api/v2/search is deprecated"}}},
	{"retired version", "GET", "/api/v1/orders?status=paid&limit=50",
		[]contract.Violation{{Reason: contract.ZombieEndpoint, Expected: "a current version: v2", Got: `GET "/api/v1/orders"`}}},
	{"deprecated and bad", "GET", "/api/v2/search?q=%0d%0aX:1&page=0",
		[]contract.Violation{{Reason: contract.ZombieEndpoint}, {Reason: contract.SchemaViolation, Param: "q"}, {Reason: contract.SchemaViolation, Param: "page"}}},

	{"integer tampered", "PUT", "/api/v2/cart/items/1234?qty=4%27+OR+1%3D1",
		[]contract.Violation{{Reason: contract.SchemaViolation, Param: "qty", Expected: "integer 1-99", Got: `"4' OR 1=1"`}}},
	{"integer out of range", "PUT", "/api/v2/cart/items/1234?qty=100",
		[]contract.Violation{{Reason: contract.SchemaViolation, Param: "qty", Expected: "integer 1-99", Got: `"100"`}}},
	{"required missing", "PUT", "/api/v2/cart/items/1234",
		[]contract.Violation{{Reason: contract.SchemaViolation, Param: "qty", Expected: "required integer 1-99", Got: "missing"}}},
	{"enum", "GET", "/api/v2/products?sort=price&per_page=100",
		[]contract.Violation{{Reason: contract.SchemaViolation, Param: "per_page", Expected: "one of 10|20|50", Got: `"100"`},
			{Reason: contract.SchemaViolation, Param: "sort", Expected: "one of relevance|price_asc|price_desc|newest|rating", Got: `"price"`}}},
	{"array item", "GET", "/api/v2/products?category=books&category=all",
		[]contract.Violation{{Reason: contract.SchemaViolation, Param: "category", Got: `"books,all"`}}},
	{"comma list", "GET", "/api/v2/users/42?fields=id,password",
		[]contract.Violation{{Reason: contract.SchemaViolation, Param: "fields", Expected: "comma-separated list of one of id|name|email|address|phone|created_at|locale|avatar_url"}}},
	{"path integer", "GET", "/api/v2/users/1%20OR%201=1",
		[]contract.Violation{{Reason: contract.SchemaViolation, Param: "{userId}", Expected: "integer 1-999999", Got: `"1 OR 1=1"`}}},
	{"path uuid traversal", "GET", "/api/v2/orders/..%2f..%2fetc%2fpasswd",
		[]contract.Violation{{Reason: contract.SchemaViolation, Param: "{orderId}", Expected: "uuid", Got: `"../../etc/passwd"`}}},
	{"literal under a template", "GET", "/api/v2/orders/export",
		[]contract.Violation{{Reason: contract.SchemaViolation, Param: "{orderId}"}}},
	{"number not JSON", "GET", "/api/v2/stores?lat=NaN&lon=0x1p-2&radius=5",
		[]contract.Violation{{Reason: contract.SchemaViolation, Param: "lat", Expected: "number from -90 to 90"}, {Reason: contract.SchemaViolation, Param: "lon"}}},
	{"number out of range", "GET", "/api/v2/stores?lat=1e309&lon=200", []contract.Violation{
		{Reason: contract.SchemaViolation, Param: "lat"}, {Reason: contract.SchemaViolation, Param: "lon", Expected: "number from -180 to 180", Got: `"200"`}}},
	{"pattern", "POST", "/api/v2/orders?sku=0A1B2C3D&qty=1&coupon=x%27--",
		[]contract.Violation{{Reason: contract.SchemaViolation, Param: "sku", Expected: "string matching ^[0-9a-f]{8}$"}, {Reason: contract.SchemaViolation, Param: "coupon"}}},
	{"strict params", "POST", "/api/v2/orders?sku=0a1b2c3d&qty=1&price=0",
		[]contract.Violation{{Reason: contract.SchemaViolation, Param: `"price"`, Expected: "one of the documented parameters: sku|qty|coupon", Got: `"0"`}}},
	{"format date", "GET", "/api/v2/orders?since=now()", []contract.Violation{{Reason: contract.SchemaViolation, Param: "since", Expected: "date"}}},
	{"format email and length", "GET", "/api/v2/reviews?product=1000&email=" + strings.Repeat("A", 300) + "%40example.com",
		[]contract.Violation{{Reason: contract.SchemaViolation, Param: "email", Expected: "email of at most 254 characters", Got: `"` + strings.Repeat("A", 64) + `"…`}}},
	{"open redirect", "POST", "/api/v2/login?redirect=%2F%2Fevil.example", []contract.Violation{{Reason: contract.SchemaViolation, Param: "redirect"}}},
	{"bad encoding", "GET", "/api/v2/search?q=%zz", []contract.Violation{{Reason: contract.ZombieEndpoint},
		{Reason: contract.SchemaViolation, Param: "q", Expected: "percent-encoded string matching ^[^\\x00-\\x1f\\x7f]*$ of at most 200 characters", Got: `"%zz"`}}},
}

// TestCheck: documented requests pass; shadow, zombie and schema
// violations are found, one per parameter, saying what the schema
// expects.
func TestCheck(t *testing.T) {
	s := loadShop(t)
	for _, tc := range checkTests {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Check(ev(tc.method, tc.target), nil)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Reason != w.Reason || g.Param != w.Param || w.Expected != "" && g.Expected != w.Expected || w.Got != "" && g.Got != w.Got {
					t.Errorf("violation %d: got %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// TestCheckServers: base paths of several servers, retired servers, and
// versions under the same prefix.
func TestCheckServers(t *testing.T) {
	spec := `openapi: 3.0.3
info: {title: t, version: '3'}
servers:
  - url: https://api.example.com/{base}/v3
    variables:
      base: {default: api, enum: [api, public]}
  - url: https://api.example.com/api/v2
    description: Retired on 2025-06-30.
  - url: /api/beta
    x-gatewatch-retired: true
paths:
  /things/{id}.json:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses: {'200': {description: ok}}
  /things/{a}-{b}:
    get:
      parameters:
        - {name: a, in: path, required: true, schema: {type: string, enum: [x, y]}}
        - {name: b, in: path, required: true, schema: {type: integer}}
      responses: {'200': {description: ok}}
`
	path := filepath.Join(t.TempDir(), "servers.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target string
		want   []contract.Reason
	}{
		{"/api/v3/things/7.json", nil},
		{"/public/v3/things/7.json", nil},
		{"/api/v3/things/y-7", nil},
		{"/api/v3/things/z-7", []contract.Reason{contract.SchemaViolation}},
		{"/api/v3/things/seven.json", []contract.Reason{contract.SchemaViolation}},
		{"/api/v2/things/7.json", []contract.Reason{contract.ZombieEndpoint}},
		{"/api/beta/things/7.json", []contract.Reason{contract.ZombieEndpoint}},
		{"/api/v1/things/7.json", []contract.Reason{contract.ZombieEndpoint}},
		{"/api/v2/nothing", []contract.Reason{contract.ZombieEndpoint}},
		{"/api/v3/nothing", []contract.Reason{contract.ShadowEndpoint}},
		{"/api/beta/nothing", []contract.Reason{contract.ShadowEndpoint}},
		{"/other/v1/x", nil},
		{"/static/app.js", nil},
	}
	for _, tc := range tests {
		got := s.Check(ev("GET", tc.target), nil)
		var reasons []contract.Reason
		for _, v := range got {
			reasons = append(reasons, v.Reason)
		}
		if !slices.Equal(reasons, tc.want) {
			t.Errorf("%s: got %+v, want %v", tc.target, got, tc.want)
		}
	}
}

// TestDrift: the planted undocumented route and unused operation, and
// nothing else; placeholders of other names and literal ids match.
func TestDrift(t *testing.T) {
	s := loadShop(t)
	known := func(method, tmpl string) contract.Route {
		return contract.Route{Host: "shop.example.com", Method: method, Template: tmpl, Known: true}
	}
	routes := []contract.Route{
		known("GET", "/api/v2/products"), known("GET", "/api/v2/products/{id}"), known("GET", "/api/v2/search"),
		known("GET", "/api/v2/orders"), known("POST", "/api/v2/orders"), known("GET", "/api/v2/orders/{id}"),
		known("DELETE", "/api/v2/orders/{id}"), known("GET", "/api/v2/users/42"), known("POST", "/api/v2/login"),
		known("GET", "/api/v2/stores"), known("HEAD", "/api/v2/reviews"), known("GET", "/api/v2/cart"),
		known("PUT", "/api/v2/cart/items/{id}"), known("GET", "/health"), known("OPTIONS", "/api/v2/cart"),
		known("GET", "/favicon.ico"),                    // outside the API
		{Method: "GET", Template: "/api/v2/categories"}, // not known: no use
		{Method: "GET", Template: "/api/v2/admin"},      // not known: not undocumented
	}
	rep := Drift(s, routes)
	if len(rep.Undocumented) != 1 || rep.Undocumented[0].Method != "DELETE" || rep.Undocumented[0].Template != "/api/v2/orders/{id}" {
		t.Errorf("undocumented: %+v", rep.Undocumented)
	}
	if want := []Operation{{Method: "GET", Path: "/categories"}}; !slices.Equal(rep.Unused, want) {
		t.Errorf("unused: %+v, want %+v", rep.Unused, want)
	}
	rep = Drift(s, nil)
	if len(rep.Unused) != 14 || rep.Undocumented != nil {
		t.Errorf("no traffic: %+v", rep)
	}
}

// TestConvert: values are read as JSON reads them.
func TestConvert(t *testing.T) {
	for _, tc := range []struct {
		v     string
		kinds kindSet
		want  any
		ok    bool
	}{
		{"42", kindInt, 42.0, true},
		{"-7", kindInt | kindString, -7.0, true},
		{"1.5", kindInt, nil, false},
		{"1.5", kindInt | kindNumber, 1.5, true},
		{"1e3", kindNumber, 1000.0, true},
		{"NaN", kindNumber, nil, false},
		{"Infinity", kindNumber, nil, false},
		{"0x10", kindNumber, nil, false},
		{"01", kindNumber, nil, false},
		{"1e309", kindNumber, nil, false},
		{"-", kindNumber, nil, false},
		{"1.", kindNumber, nil, false},
		{"true", kindBool, true, true},
		{"True", kindBool, nil, false},
		{"True", kindBool | kindString, "True", true},
	} {
		got, ok := convert(tc.v, tc.kinds)
		if ok != tc.ok || got != tc.want {
			t.Errorf("convert(%q, %b) = %v, %v; want %v, %v", tc.v, tc.kinds, got, ok, tc.want, tc.ok)
		}
	}
}

// BenchmarkCheck is the cost of checking a request that matches its
// operation, with four query parameters (an array, an integer, an enum,
// a free text) and nothing outside the specification.
func BenchmarkCheck(b *testing.B) {
	s := loadShop(b)
	e := ev("GET", "/api/v2/products?category=books&page=2&sort=newest&q=red+shoes")
	var vs []contract.Violation
	b.ReportAllocs()
	for b.Loop() {
		vs = s.Check(e, vs[:0])
	}
	if len(vs) != 0 {
		b.Fatal(vs)
	}
}

// BenchmarkCheckPath is the cost of a request with a path parameter and
// one query parameter.
func BenchmarkCheckPath(b *testing.B) {
	s := loadShop(b)
	e := ev("GET", "/api/v2/products/12345?currency=EUR")
	var vs []contract.Violation
	b.ReportAllocs()
	for b.Loop() {
		vs = s.Check(e, vs[:0])
	}
	if len(vs) != 0 {
		b.Fatal(vs)
	}
}

// BenchmarkCheckFormat is the cost of a request whose parameter has a
// format (a uuid), which kin-openapi's validator checks.
func BenchmarkCheckFormat(b *testing.B) {
	s := loadShop(b)
	e := ev("GET", "/api/v2/orders/3f2c1a9e-8b7d-4c6e-9f01-23456789abcd")
	var vs []contract.Violation
	b.ReportAllocs()
	for b.Loop() {
		vs = s.Check(e, vs[:0])
	}
	if len(vs) != 0 {
		b.Fatal(vs)
	}
}

// FuzzCheck: no method, path or query makes Check panic.
func FuzzCheck(f *testing.F) {
	s := loadShop(f)
	f.Add("GET", "/api/v2/products", "category=books&category=%zz&page=1e309")
	f.Add("DELETE", "/api/v2/orders/..%2f", "")
	f.Add("GET", "/api/v1/users/1", "fields=id,,")
	f.Add("OPTIONS", "", "&&=&")
	f.Add("POST", "/api/v2/orders", "sku=&qty=&coupon=%&x%=1")
	f.Fuzz(func(t *testing.T, method, path, query string) {
		e := &ingest.Event{Method: method, Path: path, Query: query}
		for _, v := range s.Check(e, nil) {
			if v.Reason == "" {
				t.Fatalf("violation without a reason: %+v", v)
			}
		}
		Drift(s, []contract.Route{{Method: method, Template: path, Known: true}})
	})
}
