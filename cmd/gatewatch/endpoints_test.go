package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/detect/inventory"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// runEndpoints runs "gatewatch endpoints args..." with a fixed HMAC key.
func runEndpoints(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(k string) string {
		if k == "GATEWATCH_HMAC_KEY" {
			return "a fixed key for the endpoints tests"
		}
		return ""
	}}
	code := c.main(context.Background(), append([]string{"endpoints"}, args...))
	return code, out.String(), errOut.String()
}

// shopAPI are the operations simulate.APIRequests documents: its shop
// API on /api/v2 and the monitors' health check.
var shopAPI = []string{
	"GET /api/v2/products", "GET /api/v2/products/{id}", "GET /api/v2/search", "GET /api/v2/orders",
	"GET /api/v2/orders/{id}", "POST /api/v2/orders", "DELETE /api/v2/orders/{id}", "GET /api/v2/users/{id}",
	"POST /api/v2/login", "GET /api/v2/stores", "GET /api/v2/reviews", "GET /api/v2/cart",
	"PUT /api/v2/cart/items/{id}", "GET /health",
}

// truth is what a log says of one endpoint, counted exactly.
type truth struct {
	requests int64
	clients  map[string]bool
	sizes    []int64
}

// countLog counts each endpoint of an nginx combined log exactly.
func countLog(t *testing.T, log []byte) map[string]*truth {
	t.Helper()
	m := map[string]*truth{}
	for line := range strings.Lines(string(log)) {
		addr, _, _ := strings.Cut(line, " ")
		_, rest, _ := strings.Cut(line, `] "`)
		request, rest, _ := strings.Cut(rest, `" `)
		method, target, _ := strings.Cut(request, " ")
		target, _, _ = strings.Cut(target, " ")
		path, _, _ := strings.Cut(target, "?")
		var status, size int64
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			t.Fatalf("line %q", line)
		}
		json.Unmarshal([]byte(fields[0]), &status)
		json.Unmarshal([]byte(fields[1]), &size)
		k := method + " " + ingest.RouteTemplate(nil, path)
		if m[k] == nil {
			m[k] = &truth{clients: map[string]bool{}}
		}
		m[k].requests++
		m[k].clients[addr] = true
		m[k].sizes = append(m[k].sizes, size)
	}
	return m
}

// TestEndpointsSimulatedAPI: on simulated shop-API traffic, every
// documented operation is listed with its exact request count, about its
// number of clients, a mostly-2xx status mix, its response size, and v2.
func TestEndpointsSimulatedAPI(t *testing.T) {
	t.Parallel()
	log, _, err := simulate.APIRequests(simulate.APIConfig{Seed: 14, Learn: 6000, Normal: 3000, Attacks: 300})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(path, log, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runEndpoints(t, "", "--output", "json", path)
	if code != 0 || !strings.Contains(stderr, "9,300 lines: 9,300 events, 0 parse errors") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	got := map[string]inventory.Endpoint{}
	for line := range strings.Lines(out) {
		var e inventory.Endpoint
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got[e.Method+" "+e.Route] = e
	}
	exact := countLog(t, log)
	for _, op := range shopAPI {
		e, ok := got[op]
		if !ok {
			t.Errorf("%s not listed", op)
			continue
		}
		checkEndpoint(t, op, e, exact[op])
	}
	if len(got) != len(exact) {
		t.Errorf("%d endpoints listed, the log has %d", len(got), len(exact))
	}
}

// checkEndpoint compares what the inventory learnt of op with the truth.
func checkEndpoint(t *testing.T, op string, e inventory.Endpoint, want *truth) {
	t.Helper()
	slices.Sort(want.sizes)
	p50 := want.sizes[(len(want.sizes)-1)/2]
	clients := float64(len(want.clients))
	s := e.Status
	switch {
	case e.Requests != want.requests:
		t.Errorf("%s: %d requests, the log has %d", op, e.Requests, want.requests)
	case math.Abs(float64(e.Clients)-clients) > 0.1*clients+2:
		t.Errorf("%s: %d clients, the log has %.0f", op, e.Clients, clients)
	case float64(s.S2xx+s.S3xx) < 0.75*float64(e.Requests) || s.S2xx+s.S3xx+s.S4xx+s.S5xx != e.Requests:
		t.Errorf("%s: status mix %+v of %d requests", op, s, e.Requests)
	case math.Abs(float64(e.BytesP50-p50)) > 0.15*float64(p50)+1 || e.BytesP95 < e.BytesP50:
		t.Errorf("%s: p50 %d p95 %d, the log's median %d", op, e.BytesP50, e.BytesP95, p50)
	case e.AuthRequired:
		t.Errorf("%s: authentication required, but the log has no credentials and mostly 2xx", op)
	case strings.HasPrefix(op, "GET /health") != (len(e.Versions) == 0),
		len(e.Versions) > 0 && !slices.Equal(e.Versions, []string{"v2"}):
		t.Errorf("%s: versions %v", op, e.Versions)
	case e.FirstSeen.IsZero() || e.LastSeen.Before(e.FirstSeen) || e.MemoryBytes <= 0:
		t.Errorf("%s: first %v last %v memory %d", op, e.FirstSeen, e.LastSeen, e.MemoryBytes)
	}
}

// TestEndpointsTable: the table of a small fixed log is the library's
// golden one, from a file or standard input.
func TestEndpointsTable(t *testing.T) {
	t.Parallel()
	fixture := filepath.Join("..", "..", "detect", "inventory", "testdata", "endpoints.log")
	want, err := os.ReadFile(filepath.Join("..", "..", "detect", "inventory", "testdata", "endpoints.golden"))
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{fixture}, {"--format", "nginx_json", "-"}} {
		code, out, stderr := runEndpoints(t, string(log), args...)
		if code != 0 || out != string(want) || !strings.Contains(stderr, "endpoints: 5 endpoints, 0 evicted (at most 10k kept)") {
			t.Errorf("%v: exit %d\n%s\nwant\n%s\n%s", args, code, out, want, stderr)
		}
	}
}

// TestEndpointsState: --state --save keeps learning across runs, lists a
// saved inventory without logs, and refuses a corrupted one.
func TestEndpointsState(t *testing.T) {
	t.Parallel()
	fixture := filepath.Join("..", "..", "detect", "inventory", "testdata", "endpoints.log")
	state := filepath.Join(t.TempDir(), "endpoints.json")
	code, _, stderr := runEndpoints(t, "", "--state", state, "--save", fixture)
	if code != 0 || !strings.Contains(stderr, "new inventory saved to "+state) {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	code, _, stderr = runEndpoints(t, "", "--state", state, "--save", "--quiet", fixture)
	if code != 0 || stderr != "" {
		t.Fatalf("second run: exit %d\n%s", code, stderr)
	}
	code, out, _ := runEndpoints(t, "", "--state", state, "--output", "json")
	if code != 0 || !strings.Contains(out, `"route":"/v1/users/{id}","requests":64,"clients":11,`) {
		t.Errorf("listing the state: exit %d\n%s", code, out)
	}
	code, out, stderr = runEndpoints(t, "", "--state", state, "--max-endpoints", "2", "--output", "json")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(stderr, "2 endpoints, 3 evicted (at most 2 kept)") {
		t.Errorf("--max-endpoints 2: exit %d\n%s\n%s", code, out, stderr)
	}
	os.WriteFile(state, []byte(`{"format":"gatewatch.endpoint-inventory","version":9}`), 0o600)
	code, _, stderr = runEndpoints(t, "", "--state", state, "--save", fixture)
	if code != 1 || !strings.Contains(stderr, "unknown version 9 (this gatewatch reads version 1)") {
		t.Errorf("corrupted state: exit %d\n%s", code, stderr)
	}
	code, _, stderr = runEndpoints(t, "", "--state", filepath.Join(t.TempDir(), "none.json"))
	if code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing state without --save: exit %d\n%s", code, stderr)
	}
}

func TestEndpointsUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "no input"},
		{[]string{"--save", "x.log"}, 2, "--save writes to the --state file"},
		{[]string{"--output", "yaml", "x.log"}, 2, `--output "yaml": table or json`},
		{[]string{"--max-endpoints", "0", "x.log"}, 2, "--max-endpoints must be positive"},
		{[]string{"--help"}, 0, "Examples:\n  gatewatch endpoints /var/log/nginx/access.log"},
		{[]string{"--help"}, 0, "\n  gatewatch endpoints --openapi api.yaml access.log "},
		{[]string{"--format", "envoy_json", filepath.Join("..", "..", "detect", "inventory", "testdata", "endpoints.log")}, exitParseErrors, "did not parse as envoy_json: wrong format?"},
	} {
		code, _, stderr := runEndpoints(t, "", tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want %d and %q\n%s", tc.args, code, tc.code, tc.want, stderr)
		}
	}
}
