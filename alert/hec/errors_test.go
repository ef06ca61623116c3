package hec

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
)

func TestNotifyAnswers(t *testing.T) {
	t.Parallel()
	hdr := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	for _, tc := range []struct {
		name      string
		status    int
		header    http.Header
		body      string
		retry     bool
		after     time.Duration // 0: no RetryAfterError
		errSubstr string
	}{
		{"429 with Retry-After", 429, hdr("Retry-After", "7"), `{"text":"Too many requests","code":9}`, true, 7 * time.Second, "HTTP 429"},
		{"503 server busy", 503, hdr(), `{"text":"Server is busy","code":9}`, true, 0, "Server is busy"},
		{"503 busy with Retry-After", 503, hdr("Retry-After", "2"), `{"text":"Server is busy","code":9}`, true, 2 * time.Second, "code 9"},
		{"503 queues full", 503, hdr(), `{"text":"HEC is unhealthy, queues are full","code":18}`, true, 0, "queues are full"},
		{"500", 500, hdr(), `{"text":"Internal server error","code":8}`, true, 0, "HTTP 500"},
		{"502 from a proxy", 502, http.Header{}, "<html>bad gateway</html>", true, 0, "bad gateway"},
		{"400 invalid data", 400, hdr(), `{"text":"Invalid data format","code":6,"invalid-event-number":1}`, false, 0, "Invalid data format"},
		{"400 no data", 400, hdr(), `{"text":"No data","code":5}`, false, 0, "code 5"},
		{"400 event required", 400, hdr(), `{"text":"Event field is required","code":12}`, false, 0, "code 12"},
		{"400 incorrect index", 400, hdr(), `{"text":"Incorrect index","code":7}`, false, 0, "Incorrect index"},
		{"401", 401, hdr(), `{"text":"Token is required","code":2}`, false, 0, "HTTP 401"},
		{"403", 403, hdr(), `{"text":"Token disabled","code":1}`, false, 0, "Token disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, srv := newReceiver(t)
			r.override = func() (int, http.Header, string) { return tc.status, tc.header, tc.body }
			s := newSink(t, srv, Options{Ack: true})
			ns := notifications(3)
			retry, err := s.Notify(context.Background(), ns...)
			if err == nil || retry != tc.retry {
				t.Fatalf("retry=%v err=%v, want retry=%v and an error", retry, err, tc.retry)
			}
			if !strings.Contains(err.Error(), tc.errSubstr) {
				t.Errorf("error %q does not mention %q", err, tc.errSubstr)
			}
			after, ok := alert.RetryAfter(err)
			if ok != (tc.after > 0) || after != tc.after {
				t.Errorf("RetryAfter = %s, %v; want %s", after, ok, tc.after)
			}
			var he *Error
			if !errors.As(err, &he) || he.StatusCode != tc.status {
				t.Errorf("error %v is not an *Error with status %d", err, tc.status)
			}
			if tc.status == 400 && strings.Contains(tc.body, "invalid-event-number") && he.InvalidEvent != ns[1].DeliveryID {
				t.Errorf("InvalidEvent = %q, want the second event's delivery id", he.InvalidEvent)
			}
		})
	}
}

func TestBadTokenNotRetriedNorLeaked(t *testing.T) {
	t.Parallel()
	r, srv := newReceiver(t)
	s := newSink(t, srv, Options{Token: "wrong-secret-value"})
	retry, err := s.Notify(context.Background(), notifications(1)...)
	if err == nil || retry {
		t.Fatalf("retry=%v err=%v, want a permanent failure", retry, err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("error leaks the token: %v", err)
	}
	if opts := (Options{Token: "wrong-secret-value"}).String(); strings.Contains(opts, "secret") {
		t.Errorf("Options.String leaks the token: %s", opts)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.envelopes) != 0 {
		t.Errorf("receiver accepted %d events with a bad token", len(r.envelopes))
	}
}

func TestAckTimeout(t *testing.T) {
	t.Parallel()
	r, srv := newReceiver(t)
	r.neverAck = true
	s := newSink(t, srv, Options{Ack: true, AckTimeout: 150 * time.Millisecond, AckPoll: 30 * time.Millisecond})
	start := time.Now()
	retry, err := s.Notify(context.Background(), notifications(2)...)
	el := time.Since(start)
	if err == nil || !retry || !errors.Is(err, errAckTimeout) {
		t.Fatalf("retry=%v err=%v, want retry after an ack timeout", retry, err)
	}
	if el < 150*time.Millisecond || el > 5*time.Second {
		t.Errorf("gave up after %s, want about AckTimeout (150ms)", el)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.polls < 3 {
		t.Errorf("polled %d times in 150ms at a 30ms interval", r.polls)
	}
}

func TestAckWaitRespectsContext(t *testing.T) {
	t.Parallel()
	r, srv := newReceiver(t)
	r.neverAck = true
	s := newSink(t, srv, Options{Ack: true, AckPoll: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	retry, err := s.Notify(ctx, notifications(1)...)
	if err == nil || !retry || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("retry=%v err=%v, want retry with the context's error", retry, err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %s after the context ended (AckTimeout is 60s)", el)
	}
}

func TestAckDisabledOnToken(t *testing.T) {
	t.Parallel()
	r, srv := newReceiver(t)
	r.override = func() (int, http.Header, string) { return 200, http.Header{}, `{"text":"Success","code":0}` }
	s := newSink(t, srv, Options{Ack: true})
	retry, err := s.Notify(context.Background(), notifications(1)...)
	if err == nil || retry || !strings.Contains(err.Error(), "useACK") {
		t.Fatalf("retry=%v err=%v, want a permanent error naming useACK", retry, err)
	}
}

func TestNotHECAnswerRetried(t *testing.T) {
	t.Parallel()
	r, srv := newReceiver(t)
	r.override = func() (int, http.Header, string) { return 200, http.Header{}, "<html>login portal</html>" }
	for _, ack := range []bool{false, true} {
		s := newSink(t, srv, Options{Ack: ack})
		if retry, err := s.Notify(context.Background(), notifications(1)...); err == nil || !retry || !strings.Contains(err.Error(), "login portal") {
			t.Fatalf("ack=%v: retry=%v err=%v, want a retryable error quoting the answer", ack, retry, err)
		}
	}
}

func TestUnknownCARejected(t *testing.T) {
	t.Parallel()
	r, srv := newReceiver(t)
	for name, ca := range map[string]string{"system roots": "", "another CA": otherCA(t)} {
		s, err := New(Options{URL: srv.URL, Token: testToken, CAFile: ca})
		if err != nil {
			t.Fatal(err)
		}
		retry, err := s.Notify(context.Background(), notifications(1)...)
		if err == nil || !retry || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: retry=%v err=%v, want a certificate error", name, retry, err)
		}
	}
	// The right CA but the wrong name is refused as well.
	s, err := New(Options{URL: srv.URL, Token: testToken, CAFile: caFile(t, srv), ServerName: "splunk.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Notify(context.Background(), notifications(1)...); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("wrong ServerName: err=%v, want a certificate error", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.requests != 0 {
		t.Errorf("receiver got %d requests over an unverified connection", r.requests)
	}
}

// otherCA writes a freshly made self-signed CA certificate, one that
// signed nothing the test servers present, and returns its path.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not the receiver's CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
