package sinks_test

import (
	"context"
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
	"time"

	"github.com/slack-go/slack/slacktest"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/alert/sinks"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// fakeSlack captures posts (with their incident metadata) and updates,
// answers history lookups, and throttles its first posts with 429.
type fakeSlack struct {
	mu       sync.Mutex
	posts    []string // incident ids of top-level posts
	updates  int
	throttle int
	history  []map[string]any
}

func (f *fakeSlack) bind(c slacktest.Customize) {
	c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.throttle > 0 {
			f.throttle--
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		ts := fmt.Sprintf("1700000000.%06d", len(f.history)+f.updates+1)
		if r.Form.Get("thread_ts") == "" {
			var md struct {
				EventPayload map[string]any `json:"event_payload"`
			}
			json.Unmarshal([]byte(r.Form.Get("metadata")), &md)
			f.posts = append(f.posts, fmt.Sprint(md.EventPayload["incident_id"]))
			f.history = append(f.history, map[string]any{"type": "message", "ts": ts, "metadata": json.RawMessage(r.Form.Get("metadata"))})
		}
		fmt.Fprintf(w, `{"ok":true,"channel":"C0TEST","ts":%q}`, ts)
	})
	c.Handle("/chat.update", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.updates++
		f.mu.Unlock()
		r.ParseForm()
		fmt.Fprintf(w, `{"ok":true,"channel":"C0TEST","ts":%q}`, r.Form.Get("ts"))
	})
	c.Handle("/conversations.history", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		msgs := make([]map[string]any, len(f.history))
		for i := range f.history {
			msgs[len(msgs)-1-i] = f.history[i] // newest first
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "messages": msgs, "has_more": false})
	})
}

// hook is a webhook receiver down (503) for its first requests.
type hook struct {
	mu   sync.Mutex
	down int
	ids  []string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down > 0 {
		h.down--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h.ids = append(h.ids, r.Header.Get("X-Gatewatch-Delivery"))
}

func emission(inc string, st detect.Status, windows int) detect.Finding {
	end := time.Date(2026, 12, 5, 6, windows, 0, 0, time.UTC)
	return detect.Finding{IncidentID: inc, Status: st, Client: "198.51.100.7", ClientKind: "ip", Detector: detect.DetectorBruteForce,
		WindowStart: end.Add(-time.Minute), WindowEnd: end, Windows: windows, Observed: 250, Expected: 2, Unit: "auth failures/min",
		Severity: detect.SeverityHigh, Summary: "brute force on POST /login", Routes: []string{"POST /login"}}
}

// TestEmbeddedAlertsAcrossFaultsAndRestart: Slack throttles, the
// webhook is down, OpenSearch is real; the process stops in the middle
// and starts again on the same state. Afterwards every incident has
// exactly one Slack message (then edits), and every emission reached the
// webhook and OpenSearch, duplicates carrying the same delivery id.
func TestEmbeddedAlertsAcrossFaultsAndRestart(t *testing.T) {
	osURL := testenv.Getenv(t, "OpenSearch", "GATEWATCH_TEST_OPENSEARCH")[0]
	dir := t.TempDir()
	fs := &fakeSlack{throttle: 1}
	srv := slacktest.NewTestServer(fs.bind)
	srv.Start()
	defer srv.Stop()
	wh := &hook{down: 1 << 30} // down for the whole first run
	hs := httptest.NewServer(wh)
	defer hs.Close()
	token := filepath.Join(dir, "slack.token")
	os.WriteFile(token, []byte("xoxb-test\n"), 0o600)
	index := fmt.Sprintf("gatewatch-e2e-%d", time.Now().UnixNano())
	cfg := sinks.Config{StateDir: dir, RetryInitial: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Slack:      &sinks.SlackConfig{TokenFile: token, Channel: "C0TEST", APIURL: srv.GetAPIURL(), Pace: sinks.Pace{Linger: 200 * time.Millisecond}},
		Webhook:    []sinks.WebhookConfig{{URL: hs.URL, AllowHTTP: true}},
		OpenSearch: []sinks.OpenSearchConfig{{URL: osURL, Index: index}}}
	phases := [][]detect.Finding{
		{emission("inc-A", detect.StatusOpen, 1), emission("inc-B", detect.StatusOpen, 1)},
		{emission("inc-A", detect.StatusUpdate, 2), emission("inc-A", detect.StatusResolved, 3), emission("inc-B", detect.StatusResolved, 2)},
	}
	var all []detect.Finding
	for i, fsx := range phases {
		all = append(all, fsx...)
		outbox, svc, err := sinks.OpenEmbedded(cfg, sinks.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fsx {
			if err := outbox.Write(f); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		if i == 0 { // stop once Slack posted (after its 429), the webhook still down
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				fs.mu.Lock()
				n := len(fs.posts)
				fs.mu.Unlock()
				if n == 2 {
					break
				}
			}
			wh.mu.Lock()
			wh.down = 2 // back after two more failures
			wh.mu.Unlock()
		} else {
			dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
			svc.Drain(dctx)
			dcancel()
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		outbox.Close()
	}
	fs.mu.Lock()
	if got := strings.Join(fs.posts, ","); got != "inc-A,inc-B" {
		t.Errorf("slack posts for incidents %s, want one each: inc-A,inc-B", got)
	}
	if fs.updates < 2 {
		t.Errorf("slack got %d edits, want the resolutions at least", fs.updates)
	}
	fs.mu.Unlock()
	want := map[string]bool{}
	for _, f := range all {
		want[alert.DeliveryID(f, "webhook")] = true
	}
	wh.mu.Lock()
	got := map[string]bool{}
	for _, id := range wh.ids {
		if !want[id] {
			t.Errorf("webhook got unknown delivery id %s", id)
		}
		got[id] = true
	}
	wh.mu.Unlock()
	if len(got) != len(want) {
		t.Errorf("webhook got %d of %d emissions", len(got), len(want))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "alert-dead.jsonl")); len(b) > 0 {
		t.Errorf("dead letters: %s", b)
	}
	if n := countDocs(t, osURL, index); n != len(all) {
		t.Errorf("opensearch holds %d documents, want %d (one per emission)", n, len(all))
	}
}

func countDocs(t *testing.T, base, index string) int {
	t.Helper()
	http.Post(base+"/"+index+"/_refresh", "application/json", nil)
	resp, err := http.Get(base + "/" + index + "/_count")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct{ Count int }
	json.NewDecoder(resp.Body).Decode(&c)
	return c.Count
}
