package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/ingest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// readFixture reads testdata/endpoints.log: nginx JSON lines for two
// hosts, with API keys on some requests and one line that is no log line.
func readFixture(t *testing.T) (*Inventory, ReadSummary) {
	t.Helper()
	inv := New(Options{})
	sum, err := inv.ReadLogs(context.Background(), ReadOptions{Inputs: []string{filepath.Join("testdata", "endpoints.log")},
		Normalizer: ingest.NormalizerOptions{HMACKey: []byte("a fixed key for the golden files")}})
	if err != nil {
		t.Fatal(err)
	}
	return inv, sum
}

// TestTableGolden checks WriteTable's output for a small fixed log (run
// with -update to rewrite testdata/endpoints.golden).
func TestTableGolden(t *testing.T) {
	t.Parallel()
	inv, sum := readFixture(t)
	if sum.Lines != 87 || sum.Events != 86 || sum.Rejects != 1 || sum.Inputs[0].Format != "nginx_json" || len(sum.Inputs[0].Sample) != 1 {
		t.Errorf("summary %+v", sum)
	}
	var got bytes.Buffer
	if err := WriteTable(&got, inv.Endpoints()); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "endpoints.golden")
	if *update {
		os.WriteFile(golden, got.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("table:\n%s\nwant (%s):\n%s", got.String(), golden, want)
	}
}

// TestTableOneHost: without several hosts there are no host lines.
func TestTableOneHost(t *testing.T) {
	t.Parallel()
	inv, _ := readFixture(t)
	var eps []Endpoint
	for _, e := range inv.Endpoints() {
		if e.Host == "api.example.com" {
			eps = append(eps, e)
		}
	}
	var out bytes.Buffer
	WriteTable(&out, eps)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "METHOD  ROUTE") || strings.Contains(out.String(), "HOST") {
		t.Errorf("table:\n%s", out.String())
	}
	out.Reset()
	WriteTable(&out, nil)
	if !strings.HasPrefix(out.String(), "METHOD") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("empty table: %q", out.String())
	}
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	inv, _ := readFixture(t)
	var out bytes.Buffer
	if err := WriteJSON(&out, inv.Endpoints()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines", len(lines))
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &e); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"host", "method", "route", "requests", "clients", "status", "auth_required", "bytes_p50", "bytes_p95",
		"first_seen", "last_seen", "versions", "memory_bytes"} {
		if _, ok := e[k]; !ok {
			t.Errorf("no %q in %s", k, lines[2])
		}
	}
	status := e["status"].(map[string]any)
	if e["route"] != "/v1/users/{id}" || e["auth_required"] != true || status["401_403"] != 8.0 || status["404"] != 3.0 || e["clients"] != 11.0 {
		t.Errorf("users endpoint: %s", lines[2])
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0B"}, {15, "15B"}, {999, "999B"}, {1000, "1.0kB"}, {4200, "4.2kB"}, {14_000, "14kB"}, {999_600, "1.0MB"}, {3_100_000, "3.1MB"}, {2e12, "2.0TB"}} {
		if got := Size(tc.n); got != tc.want {
			t.Errorf("Size(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestReadLogsStdinAndErrors(t *testing.T) {
	t.Parallel()
	log, err := os.ReadFile(filepath.Join("testdata", "endpoints.log"))
	if err != nil {
		t.Fatal(err)
	}
	inv := New(Options{})
	sum, err := inv.ReadLogs(context.Background(), ReadOptions{Inputs: []string{"-"}, Stdin: bytes.NewReader(log), Format: "nginx_json"})
	if err != nil || sum.Events != 86 || len(inv.Endpoints()) != 5 {
		t.Errorf("stdin: %+v %v", sum, err)
	}
	if _, err := inv.ReadLogs(context.Background(), ReadOptions{}); err == nil {
		t.Error("no input: no error")
	}
	if _, err := inv.ReadLogs(context.Background(), ReadOptions{Inputs: []string{"testdata/none.log"}}); err == nil || !strings.Contains(err.Error(), "inventory: open testdata/none.log") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := inv.ReadLogs(context.Background(), ReadOptions{Inputs: []string{"-"}, Stdin: bytes.NewReader(log), Format: "nope"}); err == nil {
		t.Error("unknown format: no error")
	}
}
