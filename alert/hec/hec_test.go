package hec

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

const testToken = "0b1c2d3e-secret-token"

// receiver is a Splunk HTTP Event Collector written for the tests: it
// checks the token and channel, parses the envelopes, hands out ack ids
// and acknowledges them ackDelay later (never with neverAck).
type receiver struct {
	t        testing.TB
	ackDelay time.Duration
	neverAck bool
	// discard counts the envelopes (in events) instead of keeping them,
	// for benchmarks that send too many to keep.
	discard bool
	// override, when set, answers event requests instead (status, headers,
	// body) after the checks.
	override func() (int, http.Header, string)

	mu        sync.Mutex
	requests  int
	polls     int
	envelopes []map[string]any
	events    int
	channel   string
	acks      map[int64]time.Time
}

func newReceiver(t testing.TB) (*receiver, *httptest.Server) {
	r := &receiver{t: t, acks: map[int64]time.Time{}}
	srv := httptest.NewUnstartedServer(r)
	// The handshakes the TLS tests make fail on purpose; keep them quiet.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return r, srv
}

func hecAnswer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	auth := req.Header.Get("Authorization")
	switch {
	case auth == "":
		hecAnswer(w, 401, map[string]any{"text": "Token is required", "code": 2})
		return
	case auth != "Splunk "+testToken:
		hecAnswer(w, 403, map[string]any{"text": "Invalid token", "code": 4})
		return
	}
	ch := req.Header.Get("X-Splunk-Request-Channel")
	if ch == "" {
		hecAnswer(w, 400, map[string]any{"text": "Data channel is missing", "code": 10})
		return
	}
	r.mu.Lock()
	r.channel = ch
	r.mu.Unlock()
	switch req.URL.Path {
	case "/services/collector/event":
		r.event(w, req)
	case "/services/collector/ack":
		if req.URL.Query().Get("channel") != ch {
			hecAnswer(w, 400, map[string]any{"text": "Invalid data channel", "code": 11})
			return
		}
		r.ack(w, req)
	default:
		http.NotFound(w, req)
	}
}

func (r *receiver) event(w http.ResponseWriter, req *http.Request) {
	var got []map[string]any
	dec := json.NewDecoder(req.Body)
	for {
		var env map[string]any
		if err := dec.Decode(&env); err == io.EOF {
			break
		} else if err != nil {
			hecAnswer(w, 400, map[string]any{"text": "Invalid data format", "code": 6, "invalid-event-number": len(got)})
			return
		}
		got = append(got, env)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if r.override != nil {
		status, h, body := r.override()
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
		return
	}
	r.events += len(got)
	if !r.discard {
		r.envelopes = append(r.envelopes, got...)
	}
	id := int64(len(r.acks))
	r.acks[id] = time.Now()
	hecAnswer(w, 200, map[string]any{"text": "Success", "code": 0, "ackId": id})
}

func (r *receiver) ack(w http.ResponseWriter, req *http.Request) {
	var q struct {
		Acks []int64 `json:"acks"`
	}
	if err := json.NewDecoder(req.Body).Decode(&q); err != nil {
		hecAnswer(w, 400, map[string]any{"text": "Invalid data format", "code": 6})
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.polls++
	out := map[string]bool{}
	for _, id := range q.Acks {
		at, ok := r.acks[id]
		out[strconv.FormatInt(id, 10)] = ok && !r.neverAck && time.Since(at) >= r.ackDelay
	}
	hecAnswer(w, 200, map[string]any{"acks": out})
}

// caFile writes srv's certificate as a PEM file and returns its path.
func caFile(t testing.TB, srv *httptest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func notifications(n int) []alert.Notification {
	end := time.Date(2026, 12, 5, 10, 30, 0, 250e6, time.UTC)
	var out []alert.Notification
	for i := range n {
		f := detect.Finding{
			IncidentID: fmt.Sprintf("volume-203.0.113.%d-1", i), Status: detect.StatusOpen,
			Client: fmt.Sprintf("203.0.113.%d", i), ClientKind: "ip", Detector: "volume",
			WindowStart: end.Add(-time.Minute), WindowEnd: end, Windows: 1, Observed: 52, Expected: 2,
			Severity: detect.SeverityHigh, Summary: "client sent 52 req/min, baseline 2",
		}
		out = append(out, alert.NewNotification(f, "hec", "gw-1"))
	}
	return out
}

func newSink(t testing.TB, srv *httptest.Server, o Options) *Sink {
	t.Helper()
	o.URL = srv.URL
	if o.Token == "" {
		o.Token = testToken
	}
	o.CAFile = caFile(t, srv)
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNotifyBatchWithAck(t *testing.T) {
	t.Parallel()
	r, srv := newReceiver(t)
	r.ackDelay = 80 * time.Millisecond
	s := newSink(t, srv, Options{Index: "security", Ack: true, AckPoll: 20 * time.Millisecond})
	ns := notifications(3)
	start := time.Now()
	if retry, err := s.Notify(context.Background(), ns...); err != nil {
		t.Fatalf("Notify: retry=%v err=%v", retry, err)
	}
	if el := time.Since(start); el < r.ackDelay {
		t.Errorf("Notify returned after %s, before the ack delay %s", el, r.ackDelay)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.requests != 1 || len(r.envelopes) != 3 {
		t.Fatalf("got %d requests, %d events; want 1 request with 3 events", r.requests, len(r.envelopes))
	}
	if r.polls < 2 {
		t.Errorf("ack polled %d times, want at least 2 (the ack came after a delay)", r.polls)
	}
	if r.channel != s.Channel() || !isUUID(r.channel) {
		t.Errorf("channel header %q, sink channel %q", r.channel, s.Channel())
	}
	for i, env := range r.envelopes {
		checkEnvelope(t, env, ns[i])
	}
}

func checkEnvelope(t *testing.T, env map[string]any, n alert.Notification) {
	t.Helper()
	want := map[string]any{"host": "gw-1", "source": "gatewatch", "sourcetype": "gatewatch:finding", "index": "security",
		"time": float64(n.Finding.WindowEnd.UnixMilli()) / 1000}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("envelope %s = %v, want %v", k, env[k], v)
		}
	}
	fields, _ := env["fields"].(map[string]any)
	if fields["delivery_id"] != n.DeliveryID {
		t.Errorf("fields = %v, want delivery_id %s", fields, n.DeliveryID)
	}
	event, _ := env["event"].(map[string]any)
	if event["incident_id"] != n.Finding.IncidentID || event["client"] != n.Finding.Client {
		t.Errorf("event = %v, want the finding's JSON", event)
	}
}

func TestNotifyWithoutAck(t *testing.T) {
	t.Parallel()
	r, srv := newReceiver(t)
	r.neverAck = true
	s := newSink(t, srv, Options{})
	if _, err := s.Notify(context.Background(), notifications(2)...); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.polls != 0 || len(r.envelopes) != 2 {
		t.Fatalf("polls=%d events=%d, want 0 polls and 2 events", r.polls, len(r.envelopes))
	}
	if _, ok := r.envelopes[0]["index"]; ok {
		t.Errorf("empty Index sent: %v", r.envelopes[0])
	}
}
