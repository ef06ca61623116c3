package webhook

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/alert/alerttest"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/internal/tlsfiles"
)

// BenchmarkSustainedWebhook measures sustained delivery to an HTTPS
// webhook: an httptest TLS receiver that verifies every request's
// X-Gatewatch-Signature (HMAC-SHA256 over timestamp and body) and bearer
// token and answers 204, and the sink as gatewatch configures it (the
// finding's JSON, a secret and a token, the CA from a file). Two ways:
//
//   - dispatcher: an alert.Dispatcher draining a backlog of b.N findings
//     from an Outbox, as the embedded pipeline does. The webhook takes
//     one notification per Notify, so every alert is also one move of
//     the sink's outbox cursor (write, fsync, rename, directory fsync).
//   - notify: Notify called directly, one notification at a time: the
//     sink alone, for comparison.
//
// The receiver runs in this process: its work shares the CPUs and counts
// in B/op and allocs/op. It must have verified exactly b.N signatures.
// Reported: alerts/s accepted.
func BenchmarkSustainedWebhook(b *testing.B) {
	secret := []byte("bench-s3cret")
	var verified, bad atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		ts, terr := strconv.ParseInt(r.Header.Get("X-Gatewatch-Timestamp"), 10, 64)
		if err != nil || terr != nil || r.Header.Get("X-Gatewatch-Signature") != Sign(secret, ts, body) ||
			r.Header.Get("Authorization") != "Bearer bench-token" {
			bad.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		verified.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	ca := filepath.Join(b.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, way := range []string{"dispatcher", "notify"} {
		b.Run(way, func(b *testing.B) {
			s, err := New(Options{Name: "hook", URL: srv.URL, Secret: secret, Token: "bench-token", TLS: tlsfiles.Files{CAFile: ca}})
			if err != nil {
				b.Fatal(err)
			}
			before := verified.Load()
			if way == "dispatcher" {
				benchDispatcher(b, s)
			} else {
				benchNotify(b, s)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
			if got := verified.Load() - before; got != int64(b.N) || bad.Load() > 0 {
				b.Fatalf("the receiver verified %d signatures, want %d; %d did not verify", got, b.N, bad.Load())
			}
		})
	}
}

// benchDispatcher times a dispatcher delivering b.N findings to s.
func benchDispatcher(b *testing.B, s *Sink) {
	run := fmt.Sprintf("bench%d", time.Now().UnixNano())
	o, feed := alerttest.Backlog(b, "hook", b.N, func(i int) detect.Finding { return alerttest.Finding(run, i) })
	defer o.Close()
	b.ResetTimer()
	stop := alerttest.Deliver(b, s, feed, b.N)
	b.StopTimer()
	stop()
}

// benchNotify times b.N calls of s.Notify, one notification each.
func benchNotify(b *testing.B, s *Sink) {
	run := fmt.Sprintf("bench%d", time.Now().UnixNano())
	b.ResetTimer()
	for i := range b.N {
		if retry, err := s.Notify(context.Background(), alert.NewNotification(alerttest.Finding(run, i), "hook", "gw-1")); err != nil {
			b.Fatalf("Notify: retry=%v %v", retry, err)
		}
	}
	b.StopTimer()
}
