package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// receiver records the webhook deliveries it gets.
type receiver struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var f detect.Finding
	if json.Unmarshal(body, &f) != nil || alert.DeliveryID(f, "webhook") != req.Header.Get("X-Gatewatch-Delivery") {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.ids[req.Header.Get("X-Gatewatch-Delivery")] = true
	r.mu.Unlock()
}

func alertConfig(t *testing.T, url string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatewatch.yaml")
	cfg := fmt.Sprintf("alert:\n  webhook:\n    - url: %s\n      allow_http: true\n", url)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunDeliversAlerts: "run" with a sink configured delivers every
// finding it prints, through the outbox, before it exits.
func TestRunDeliversAlerts(t *testing.T) {
	t.Parallel()
	rcv := &receiver{ids: map[string]bool{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	path, _ := writeScenarioLog(t, smallScenario())
	in, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	code, stdout, stderr := testCLI(t, string(in), map[string]string{"GATEWATCH_DATA_DIR": data},
		"run", "--config", alertConfig(t, srv.URL+"/hook"), "--listen", "", "--format", "nginx_combined", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := 0
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var f detect.Finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		want++
		if !rcv.ids[alert.DeliveryID(f, "webhook")] {
			t.Errorf("finding %s %s not delivered", f.IncidentID, f.Status)
		}
	}
	if want == 0 || len(rcv.ids) != want {
		t.Errorf("webhook got %d deliveries for %d findings", len(rcv.ids), want)
	}
}

func TestAlertTestCommand(t *testing.T) {
	t.Parallel()
	rcv := &receiver{ids: map[string]bool{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	cfg := alertConfig(t, srv.URL+"/hook")
	code, stdout, stderr := testCLI(t, "", map[string]string{"GATEWATCH_DATA_DIR": t.TempDir()}, "alert", "test", "--config", cfg, "--sink", "webhook")
	if code != 0 || !strings.Contains(stdout, "sink webhook: delivered") || len(rcv.ids) != 1 {
		t.Fatalf("exit %d, %d deliveries: %s %s", code, len(rcv.ids), stdout, stderr)
	}
	code, _, stderr = testCLI(t, "", nil, "alert", "test", "--config", cfg, "--sink", "slack")
	if code != 1 || !strings.Contains(stderr, `no sink named "slack"`) {
		t.Errorf("unknown sink: exit %d: %s", code, stderr)
	}
}
