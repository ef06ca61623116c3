package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// shopSpec documents simulate.APIRequests' shop API but for DELETE
// /orders/{orderId}, deprecates GET /search, and has GET /categories,
// which the simulator never calls.
const shopSpec = "../../detect/contract/openapi/testdata/shop.yaml"

// simulatedAPILog writes simulate.APIRequests' traffic, attacks included,
// to a file and returns its path and content.
func simulatedAPILog(t *testing.T) (string, []byte) {
	t.Helper()
	log, _, err := simulate.APIRequests(simulate.APIConfig{Seed: 14, Learn: 6000, Normal: 3000, Attacks: 300})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(path, log, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, log
}

// driftLine is one line of the drift view's JSON.
type driftLine struct {
	Drift      string `json:"drift"`
	Host       string `json:"host"`
	Method     string `json:"method"`
	Route      string `json:"route"`
	Path       string `json:"path"`
	Requests   int64  `json:"requests"`
	Clients    int64  `json:"clients"`
	Deprecated bool   `json:"deprecated"`
}

// TestEndpointsOpenAPIDrift: on the simulated shop traffic, attacks
// included, the drift from the shop specification is what was planted:
// DELETE /orders/{orderId} undocumented (with its exact request count),
// GET /categories unused. Documented operations the traffic uses (the
// deprecated GET /search too) are in neither list, nor are the
// scanners' probes answered 404 or the routes only one client called.
func TestEndpointsOpenAPIDrift(t *testing.T) {
	t.Parallel()
	path, log := simulatedAPILog(t)
	code, out, stderr := runEndpoints(t, "", "--openapi", shopSpec, "--output", "json", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "1 endpoint undocumented, 1 of 14 operations unused") {
		t.Errorf("summary:\n%s", stderr)
	}
	var undocumented, unused []string
	var del driftLine
	for line := range strings.Lines(out) {
		var d driftLine
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		switch d.Drift {
		case "undocumented":
			undocumented = append(undocumented, d.Method+" "+d.Route)
			if d.Method+" "+d.Route == "DELETE /api/v2/orders/{id}" {
				del = d
			}
		case "unused":
			unused = append(unused, d.Method+" "+d.Path)
		default:
			t.Errorf("%q: drift %q", line, d.Drift)
		}
	}
	if want := []string{"DELETE /api/v2/orders/{id}"}; !slices.Equal(undocumented, want) {
		t.Errorf("undocumented %q, want %q", undocumented, want)
	}
	if want := []string{"GET /categories"}; !slices.Equal(unused, want) {
		t.Errorf("unused %q, want %q", unused, want)
	}
	if exact := countLog(t, log)["DELETE /api/v2/orders/{id}"]; del.Requests != exact.requests || del.Clients < 2 {
		t.Errorf("DELETE /api/v2/orders/{id}: %d requests and %d clients, the log has %d and %d", del.Requests, del.Clients, exact.requests, len(exact.clients))
	}
	for _, absent := range []string{
		"GET /api/v2/products/{id}", "GET /products/{productId}", "GET /api/v2/orders", "GET /orders",
		"GET /api/v2/search", "GET /search", // deprecated, but used
		"GET /api/v2/orders/export", "GET /api/v2/.env", "GET /api/v2/metrics", // probes answered 404 by 2 or 3 clients
		"GET /api/v1/orders", // answered 200, to one client
	} {
		if slices.Contains(undocumented, absent) || slices.Contains(unused, absent) {
			t.Errorf("%s is in the drift", absent)
		}
	}
}

// TestEndpointsOpenAPITable: the drift's table has both sections with
// their columns, marks deprecated operations, says "(none)" for an empty
// section, and replaces the endpoint list.
func TestEndpointsOpenAPITable(t *testing.T) {
	t.Parallel()
	path, _ := simulatedAPILog(t)
	// Only the GETs under /api/v2 but GET /search: the other methods,
	// GET /health and the deprecated GET /search are then unused.
	var gets []string
	for line := range strings.Lines(mustRead(t, path)) {
		if strings.Contains(line, `"GET /api/v2/`) && !strings.Contains(line, `"GET /api/v2/search`) {
			gets = append(gets, line)
		}
	}
	for _, tc := range []struct {
		name, stdin string
		want        []string
		notWant     []string
	}{
		{"all traffic", "", []string{
			"Undocumented (in traffic, not in the spec)\nMETHOD  ROUTE                HOST  REQUESTS  CLIENTS\nDELETE  /api/v2/orders/{id}  -   ",
			"\n\nUnused (in the spec, not in traffic)\nMETHOD  PATH\nGET     /categories\n",
		}, []string{"/api/v2/products", "deprecated", "2xx", "(none)"}},
		{"GET traffic only", strings.Join(gets, ""), []string{
			"Undocumented (in traffic, not in the spec)\n(none)\n\nUnused (in the spec, not in traffic)\nMETHOD  PATH\n",
			"PUT     /cart/items/{productId}\n", "GET     /categories\n", "GET     /health\n", "POST    /orders\n",
			"GET     /search                  deprecated\n",
		}, []string{"GET     /products\n", "GET     /orders/{orderId}", "DELETE", "METHOD  ROUTE"}},
	} {
		args := []string{"--openapi", shopSpec, path}
		if tc.stdin != "" {
			args[2] = "-"
		}
		code, out, stderr := runEndpoints(t, tc.stdin, args...)
		if code != 0 {
			t.Errorf("%s: exit %d\n%s", tc.name, code, stderr)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: no %q in\n%s", tc.name, w, out)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(out, w) {
				t.Errorf("%s: %q in\n%s", tc.name, w, out)
			}
		}
	}
}

// mustRead returns a file's content.
func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEndpointsOpenAPIBadSpec: a specification that is missing or invalid
// fails the command (exit 1) before any log is read or state saved.
func TestEndpointsOpenAPIBadSpec(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	invalid := filepath.Join(dir, "invalid.yaml")
	if err := os.WriteFile(invalid, []byte("openapi: 3.0.3\ninfo: {}\npaths:\n  orders: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fixture := filepath.Join("..", "..", "detect", "inventory", "testdata", "endpoints.log")
	for _, tc := range []struct {
		spec string
		want string
	}{
		{filepath.Join(dir, "nope.yaml"), "--openapi: openapi: " + filepath.Join(dir, "nope.yaml")},
		{invalid, "--openapi: openapi: " + invalid + ": invalid specification"},
	} {
		state := tc.spec + ".state.json"
		code, out, stderr := runEndpoints(t, "", "--openapi", tc.spec, "--state", state, "--save", fixture)
		if code != 1 || out != "" || !strings.Contains(stderr, "gatewatch endpoints: "+tc.want) {
			t.Errorf("%s: exit %d, want 1 and %q\n%s%s", tc.spec, code, tc.want, out, stderr)
		}
		if _, err := os.Stat(state); err == nil {
			t.Errorf("%s: the state was saved", tc.spec)
		}
	}
}
