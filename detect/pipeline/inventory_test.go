package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect/inventory"
	"github.com/gatewatch/gatewatch/ingest"
)

// endpointStore is a store that keeps the inventory snapshots.
type endpointStore struct {
	store
	mu        sync.Mutex
	snapshots [][]inventory.Endpoint
}

func (s *endpointStore) WriteEndpoints(_ context.Context, _ time.Time, eps []inventory.Endpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshots = append(s.snapshots, eps)
	return nil
}

// requests is the total of the endpoints' requests.
func requests(eps []inventory.Endpoint) int64 {
	var n int64
	for _, e := range eps {
		n += e.Requests
	}
	return n
}

// TestPipelineKeepsTheInventory: a run counts every request in the
// endpoint inventory, hands it to the store and saves it; the next run
// loads it and goes on counting.
func TestPipelineKeepsTheInventory(t *testing.T) {
	t.Parallel()
	_, log := attackLog(t)
	lines := int64(strings.Count(log.String(), "\n"))
	file := filepath.Join(t.TempDir(), "state", "endpoints.json")
	for run := int64(1); run <= 2; run++ {
		st := &endpointStore{}
		p, err := New(Options{
			Inputs:        []ingest.Input{{Source: &ingest.FileSource{Path: "-", Stdin: bytes.NewReader(log.Bytes())}, Format: "nginx_combined"}},
			Store:         st,
			DeadLetterDir: t.TempDir(),
			Inventory:     &inventory.Options{}, InventoryFile: file,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(st.snapshots); n != 1 || requests(st.snapshots[0]) != run*lines {
			t.Fatalf("run %d: %d snapshots stored, the last counting %d requests; want %d", run, n, requests(st.snapshots[n-1]), run*lines)
		}
		inv, err := inventory.Load(file)
		if err != nil || requests(inv.Endpoints()) != run*lines {
			t.Fatalf("run %d: saved inventory: %v", run, err)
		}
	}
	if err := os.WriteFile(file, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{Inputs: []ingest.Input{{Source: &ingest.FileSource{Path: "-", Stdin: bytes.NewReader(nil)}}},
		DeadLetterDir: t.TempDir(), Inventory: &inventory.Options{}, InventoryFile: file})
	if err == nil || !strings.Contains(err.Error(), "inventory.file: off") {
		t.Errorf("New with a bad inventory file: %v", err)
	}
}
