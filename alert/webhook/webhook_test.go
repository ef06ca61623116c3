package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

func sample() alert.Notification {
	f := detect.Finding{IncidentID: "volume-203.0.113.7-1", Status: detect.StatusOpen, Client: "203.0.113.7",
		ClientKind: "ip", Detector: "volume", Severity: detect.SeverityHigh, Summary: "52 req/min"}
	return alert.NewNotification(f, "hook", "gw-1")
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret")
	for _, tc := range []struct {
		name      string
		status    int
		header    string
		wantRetry bool
		wantErr   bool
		wantAfter time.Duration
	}{
		{"accepted", 202, "", false, false, 0},
		{"throttled", 429, "17", true, true, 17 * time.Second},
		{"busy without retry-after", 503, "", true, true, 0},
		{"server error", 500, "", true, true, 0},
		{"bad request", 400, "", false, true, 0},
		{"unauthorized", 401, "", false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var gotSig, gotBody, gotDelivery, gotAuth string
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				gotBody, gotSig = string(b), r.Header.Get("X-Gatewatch-Signature")
				gotDelivery, gotAuth = r.Header.Get("X-Gatewatch-Delivery"), r.Header.Get("Authorization")
				ts := r.Header.Get("X-Gatewatch-Timestamp")
				var n int64
				for _, c := range ts {
					n = n*10 + int64(c-'0')
				}
				if gotSig != Sign(secret, n, b) {
					t.Errorf("signature %q does not verify", gotSig)
				}
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			s, err := New(Options{Name: "hook", URL: srv.URL, Secret: secret, Token: "tok", Client: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			n := sample()
			retry, err := s.Notify(context.Background(), n)
			if retry != tc.wantRetry || (err != nil) != tc.wantErr {
				t.Fatalf("retry %v err %v; want retry %v, error %v", retry, err, tc.wantRetry, tc.wantErr)
			}
			if after, ok := alert.RetryAfter(err); tc.wantAfter > 0 && (!ok || after != tc.wantAfter) {
				t.Errorf("retry after %v (%v), want %v", after, ok, tc.wantAfter)
			}
			if gotDelivery != n.DeliveryID || gotAuth != "Bearer tok" || !strings.Contains(gotBody, `"incident_id":"volume-203.0.113.7-1"`) {
				t.Errorf("delivery %q auth %q body %s", gotDelivery, gotAuth, gotBody)
			}
			if err != nil && strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error names the URL: %v", err)
			}
		})
	}
}

func TestWebhookRefusesPlainHTTPAndUnknownCA(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{URL: "http://siem.example/hook"}); err == nil {
		t.Error("plain http accepted without allow_http")
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	s, err := New(Options{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := s.Notify(context.Background(), sample())
	if err == nil || !retry {
		t.Errorf("a receiver with an unknown CA: retry %v, err %v", retry, err)
	}
	var rae *alert.RetryAfterError
	if errors.As(err, &rae) {
		t.Error("a TLS failure reported as throttling")
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"30": 30 * time.Second, "0": 0, "999999": time.Hour, "9223372036854775807": time.Hour,
		"Sat, 05 Dec 2026 06:01:00 GMT": time.Minute, "Sat, 05 Dec 2026 05:00:00 GMT": 0,
	} {
		if got, ok := alert.ParseRetryAfter(in, now); !ok || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, ok, want)
		}
	}
	if _, ok := alert.ParseRetryAfter("soon", now); ok {
		t.Error(`"soon" parsed`)
	}
}
