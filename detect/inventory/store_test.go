package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// sample is an inventory of varied traffic over a few endpoints.
func sample(n int) *Inventory {
	inv := New(Options{MaxEndpoints: 50})
	for i := range n {
		inv.Observe(sampleEvent(i))
	}
	return inv
}

func sampleEvent(i int) *ingest.Event {
	ev := &ingest.Event{Host: []string{"api.example.com", "shop.example.com"}[i%2], Method: []string{"GET", "POST", "DELETE"}[i%3],
		Route: fmt.Sprintf("/api/v%d/r%d/{id}", 1+i%2, i%5), ClientKey: fmt.Sprintf("c%d", i%97), ClientKind: ingest.ClientKind(1 + i%6),
		Status: []int{200, 201, 404, 401, 500, 304, 403}[i%7], BytesOut: int64(i * 37 % 20000),
		Time: t0.Add(time.Duration(i) * time.Second), APIVersion: fmt.Sprintf("v%d", 1+i%2)}
	if i%11 == 0 {
		ev.Time = time.Time{}
	}
	return ev
}

func TestSaveLoadRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "endpoints.json")
	inv := sample(3000)
	inv.Observe(&ingest.Event{Method: "GET"}) // skipped, and counted
	if err := inv.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := inv.Save(path); err != nil { // over the old one
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Endpoints(), inv.Endpoints()) || got.Stats() != inv.Stats() || got.MaxEndpoints() != 50 {
		t.Fatalf("loaded:\n%+v %+v\nsaved:\n%+v %+v", got.Endpoints(), got.Stats(), inv.Endpoints(), inv.Stats())
	}
	for i := 3000; i < 4000; i++ { // observing goes on where it stopped
		got.Observe(sampleEvent(i))
		inv.Observe(sampleEvent(i))
	}
	if !reflect.DeepEqual(got.Endpoints(), inv.Endpoints()) {
		t.Errorf("after more traffic, the loaded inventory differs")
	}
	if err := New(Options{}).Save(filepath.Join(dir, "missing", "x.json")); err == nil || !strings.Contains(err.Error(), "inventory: save") {
		t.Errorf("save into a missing directory: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "none.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("load of a missing file: %v", err)
	}
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sample(200).Encode(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	first := strings.Index(good, `"requests": `)
	for _, tc := range []struct {
		name, text, want string
	}{
		{"empty", "", "not an endpoint inventory"},
		{"not JSON", "GET /x 200\n", "invalid character"},
		{"truncated", good[:len(good)/2], "unexpected EOF"},
		{"another format", strings.Replace(good, FileFormat, "gatewatch.checkpoint", 1), `format "gatewatch.checkpoint"`},
		{"unknown version", strings.Replace(good, `"version": 1`, `"version": 2`, 1), "unknown version 2 (this gatewatch reads version 1)"},
		{"no version", strings.Replace(good, `"version": 1`, `"versio": 1`, 1), "unknown version 0"},
		{"data after", good + "{}", "data after the inventory"},
		{"requests below the status counts", good[:first] + `"requests": 1,` + good[strings.Index(good[first:], ",")+first+1:], "do not add up"},
		{"bad sketch", strings.Replace(good, `"clients_hll": "`, `"clients_hll": "AAAA`, 1), "registers"},
		{"bad bucket", strings.Replace(good, `"sizes_hist": [`, `"sizes_hist": [[999, 1],`, 1), "size bucket"},
		{"negative", strings.Replace(good, `"evicted": 0`, `"evicted": -1`, 1), "negative"},
		{"too many endpoints", strings.Replace(good, `"max_endpoints": 50`, `"max_endpoints": 2`, 1), "more than max_endpoints 2"},
	} {
		_, err := Decode(strings.NewReader(tc.text))
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "inventory: ") {
			t.Errorf("%s: %v, want ErrFormat saying %q", tc.name, err, tc.want)
		}
	}
	dup := strings.Replace(good, `"endpoints": [`, `"endpoints": [`+endpointJSON(t, good)+",", 1)
	if _, err := Decode(strings.NewReader(dup)); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Errorf("duplicate endpoint: %v", err)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, []byte(strings.Replace(good, `"version": 1`, `"version": 7`, 1)), 0o600)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "inventory: "+path+": not an endpoint inventory") {
		t.Errorf("Load: %v", err)
	}
}

// endpointJSON is the first endpoint object of a saved inventory.
func endpointJSON(t *testing.T, saved string) string {
	t.Helper()
	start := strings.Index(saved, `"endpoints": [`) + len(`"endpoints": [`)
	end := strings.Index(saved[start:], "\n  }") + start + len("\n  }")
	return saved[start:end]
}
