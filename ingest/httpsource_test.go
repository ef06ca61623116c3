package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/internal/testpki"
)

var testTokenKey = []byte("test-hmac-key")

const (
	tokenA = "gw_live_aaaaaaaaaaaaaaaa"
	tokenB = "gw_live_bbbbbbbbbbbbbbbb"
)

// captured is what the callback saw, copied out of the reused buffers.
type captured struct {
	mu      sync.Mutex
	batches []HTTPBatch
	lines   [][]string
	clients [][]string
	err     error // returned by the callback
}

// fn keeps the batch and, as a callback must, rejects its invalid lines.
func (c *captured) fn(_ context.Context, b *HTTPBatch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var lines, clients []string
	for i, l := range b.Lines {
		lines = append(lines, string(l))
		if b.Invalid[i] != "" {
			b.Rejected = append(b.Rejected, HTTPRejected{Index: i, Reason: b.Invalid[i]})
		} else if b.Events != nil {
			ev := b.Events[i]
			clients = append(clients, ev.ClientKey+"/"+ev.Method+"/"+strconv.Itoa(ev.Status))
		}
	}
	kept := *b
	kept.Lines, kept.Events, kept.Numbers, kept.Invalid, kept.Rejected = nil, nil, nil, nil, nil
	c.batches = append(c.batches, kept)
	c.lines = append(c.lines, lines)
	c.clients = append(c.clients, clients)
	return c.err
}

func (c *captured) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.batches)
}

func newTestHTTPSource(t *testing.T, opts HTTPSourceOptions) (*HTTPSource, *captured) {
	t.Helper()
	if opts.Tokens == nil && !opts.RequireClientCert {
		opts.TokenKey = testTokenKey
		opts.Tokens = []HTTPToken{
			{Name: "edge-a", Hash: HashToken(testTokenKey, tokenA)},
			{Name: "edge-b", Hash: HashToken(testTokenKey, tokenB)},
		}
	}
	c := &captured{}
	h, err := NewHTTPSource(opts, c.fn)
	if err != nil {
		t.Fatal(err)
	}
	return h, c
}

type req struct {
	method, path, token, ctype, encoding string
	header                               map[string]string
	body                                 string
}

func (r req) do(h http.Handler) *httptest.ResponseRecorder {
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = "/v1/lines"
	}
	if r.ctype == "" {
		r.ctype = "text/plain; charset=utf-8"
	}
	body := []byte(r.body)
	if r.encoding == "gzip" {
		body = gzipBytes(body)
	}
	hr := httptest.NewRequest(r.method, r.path, bytes.NewReader(body))
	hr.Header.Set("Content-Type", r.ctype)
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.encoding != "" {
		hr.Header.Set("Content-Encoding", r.encoding)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, hr)
	return w
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestHTTPSourceAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte("  file-token-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	h, c := newTestHTTPSource(t, HTTPSourceOptions{
		TokenKey: testTokenKey,
		Tokens: []HTTPToken{
			{Name: "edge-a", Hash: HashToken(testTokenKey, tokenA)},
			{Name: "from-file", File: tokFile},
		},
		Logger: logger,
	})
	tests := []struct {
		name     string
		authz    string
		want     int
		identity string
	}{
		{"missing", "", http.StatusUnauthorized, ""},
		{"wrong token", "Bearer " + tokenB, http.StatusUnauthorized, ""},
		{"not bearer", "Basic " + tokenA, http.StatusUnauthorized, ""},
		{"empty bearer", "Bearer ", http.StatusUnauthorized, ""},
		{"hashed token", "Bearer " + tokenA, http.StatusOK, "edge-a"},
		{"scheme case-insensitive", "bearer " + tokenA, http.StatusOK, "edge-a"},
		{"token file", "Bearer file-token-123", http.StatusOK, "from-file"},
	}
	for _, tt := range tests {
		before := c.count()
		w := req{body: "line\n", header: map[string]string{"Authorization": tt.authz}}.do(h)
		if w.Code != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, w.Code, tt.want)
			continue
		}
		if tt.want == http.StatusUnauthorized {
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate = %q", tt.name, w.Header().Get("WWW-Authenticate"))
			}
			if c.count() != before {
				t.Errorf("%s: callback called for an unauthenticated request", tt.name)
			}
			continue
		}
		c.mu.Lock()
		if got := c.batches[len(c.batches)-1].Identity; got != tt.identity {
			t.Errorf("%s: identity %q, want %q", tt.name, got, tt.identity)
		}
		c.mu.Unlock()
	}
	if st := h.Stats(); st.Unauthorized != 4 || st.Requests != 3 || st.Lines != 3 {
		t.Errorf("stats %+v", st)
	}
	logMu.Lock()
	defer logMu.Unlock()
	for _, secret := range []string{tokenA, tokenB, "file-token-123"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a token was logged: %s", logs.String())
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestHTTPSourceRequests(t *testing.T) {
	t.Parallel()
	h, c := newTestHTTPSource(t, HTTPSourceOptions{MaxBodyBytes: 100})
	tests := []struct {
		name  string
		req   req
		want  int
		lines []string
	}{
		{name: "lines with CRLF and blanks", req: req{token: tokenA, body: "a\r\n\nb\nc"}, want: 200, lines: []string{"a", "b", "c"}},
		{name: "gzip", req: req{token: tokenA, encoding: "gzip", body: "g1\ng2\n"}, want: 200, lines: []string{"g1", "g2"}},
		{name: "body at limit", req: req{token: tokenA, body: strings.Repeat("x", 100)}, want: 200, lines: []string{strings.Repeat("x", 100)}},
		{name: "body over limit", req: req{token: tokenA, body: strings.Repeat("x", 101)}, want: 413},
		{name: "gzip over limit once inflated", req: req{token: tokenA, encoding: "gzip", body: strings.Repeat("x", 5000)}, want: 413},
		{name: "bad gzip", req: req{token: tokenA, encoding: "gzip", header: map[string]string{}, body: ""}, want: 400},
		{name: "unknown encoding", req: req{token: tokenA, encoding: "br", body: "x"}, want: 415},
		{name: "wrong content type", req: req{token: tokenA, ctype: "application/json", body: "x"}, want: 415},
		{name: "GET", req: req{method: http.MethodGet, token: tokenA}, want: 405},
		{name: "unknown path", req: req{path: "/v1/other", token: tokenA}, want: 404},
		{name: "unknown format", req: req{token: tokenA, header: map[string]string{"X-Gatewatch-Format": "iis"}, body: "x"}, want: 400},
		{name: "bad source", req: req{token: tokenA, header: map[string]string{"X-Gatewatch-Source": "a\x01b"}, body: "x"}, want: 400},
	}
	for _, tt := range tests {
		before := c.count()
		if tt.name == "bad gzip" {
			// Not gzip at all, but labelled so.
			hr := httptest.NewRequest(http.MethodPost, "/v1/lines", strings.NewReader("plain text"))
			hr.Header.Set("Content-Type", "text/plain")
			hr.Header.Set("Content-Encoding", "gzip")
			hr.Header.Set("Authorization", "Bearer "+tokenA)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, hr)
			if w.Code != tt.want {
				t.Errorf("%s: status %d, want %d", tt.name, w.Code, tt.want)
			}
			continue
		}
		w := tt.req.do(h)
		if w.Code != tt.want {
			t.Errorf("%s: status %d (%q), want %d", tt.name, w.Code, w.Body.String(), tt.want)
			continue
		}
		if tt.want != 200 {
			if c.count() != before {
				t.Errorf("%s: callback called for a refused request", tt.name)
			}
			if tt.want == 405 && w.Header().Get("Allow") != "POST" {
				t.Errorf("%s: Allow = %q", tt.name, w.Header().Get("Allow"))
			}
			continue
		}
		c.mu.Lock()
		if got := strings.Join(c.lines[len(c.lines)-1], "|"); got != strings.Join(tt.lines, "|") {
			t.Errorf("%s: lines %q, want %q", tt.name, got, tt.lines)
		}
		c.mu.Unlock()
		if want := `{"accepted":` + strconv.Itoa(len(tt.lines)) + `,"rejected":[]}` + "\n"; w.Body.String() != want {
			t.Errorf("%s: body %q, want %q", tt.name, w.Body.String(), want)
		}
	}
	st := h.Stats()
	if st.TooLarge != 2 || st.Requests != 3 || st.Lines != 6 || st.BadRequests != 6 {
		t.Errorf("stats %+v", st)
	}
}

func TestHTTPSourceFormatAndSource(t *testing.T) {
	t.Parallel()
	h, c := newTestHTTPSource(t, HTTPSourceOptions{})
	for _, r := range []req{
		{token: tokenA, body: "x", header: map[string]string{"X-Gatewatch-Format": "nginx_combined", "X-Gatewatch-Source": "edge-eu"}},
		{token: tokenA, body: "x", path: "/v1/lines?format=haproxy_http"},
		{token: tokenA, body: "x", path: "/v1/lines?format=aws_alb", header: map[string]string{"X-Gatewatch-Format": "traefik_json"}},
		{token: tokenA, body: "x"},
	} {
		if w := r.do(h); w.Code != 200 {
			t.Fatalf("%+v: status %d", r, w.Code)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	want := []struct{ format, source string }{{"nginx_combined", "edge-eu"}, {"haproxy_http", ""}, {"traefik_json", ""}, {"", ""}}
	for i, w := range want {
		if b := c.batches[i]; b.Format != w.format || b.Source != w.source {
			t.Errorf("batch %d: format %q source %q, want %q %q", i, b.Format, b.Source, w.format, w.source)
		}
	}
}

func wireLine(t *testing.T, client, method string, status int) string {
	t.Helper()
	ev := Event{Time: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), ClientKey: client, Method: method, Status: status, Path: "/v1/x"}
	return string(AppendWire(nil, &ev))
}

func TestHTTPSourceEvents(t *testing.T) {
	t.Parallel()
	h, c := newTestHTTPSource(t, HTTPSourceOptions{})
	good := wireLine(t, "k_1", "GET", 200) + "\n\n" + wireLine(t, "k_\"2", "POST", 401) + "\n"
	w := req{path: "/v1/events", token: tokenB, ctype: "application/x-ndjson", encoding: "gzip", body: good}.do(h)
	if w.Code != 200 {
		t.Fatalf("status %d %q", w.Code, w.Body.String())
	}
	c.mu.Lock()
	if got := strings.Join(c.clients[0], " "); got != `k_1/GET/200 k_"2/POST/401` || c.batches[0].Identity != "edge-b" {
		t.Errorf("events %q identity %q", got, c.batches[0].Identity)
	}
	c.mu.Unlock()

	// A line that is no event is rejected on its own; the others are taken.
	bad := wireLine(t, "k_1", "GET", 200) + "\n" + `{"v":1,"time":"yesterday","client":"k"}` + "\n" + wireLine(t, "k_3", "GET", 200)
	w = req{path: "/v1/events", token: tokenB, ctype: "application/x-ndjson", body: bad}.do(h)
	if w.Code != 200 || !strings.HasPrefix(w.Body.String(), `{"accepted":2,"rejected":[{"line":2,"reason":"invalid event: decode event: key time:`) {
		t.Errorf("bad NDJSON: status %d body %q", w.Code, w.Body.String())
	}
	c.mu.Lock()
	if got := strings.Join(c.clients[1], " "); got != "k_1/GET/200 k_3/GET/200" {
		t.Errorf("events of the batch with a bad line: %q", got)
	}
	c.mu.Unlock()
	w = req{path: "/v1/events", token: tokenB, body: good}.do(h)
	if w.Code != 415 {
		t.Errorf("events as text/plain: status %d, want 415", w.Code)
	}
	if st := h.Stats(); st.Events != 4 || st.Rejected != 1 || st.Requests != 2 || st.BadRequests != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestHTTPSourceRateLimit(t *testing.T) {
	t.Parallel()
	// A rate so low that no token comes back during the test.
	h, c := newTestHTTPSource(t, HTTPSourceOptions{Rate: 0.01, Burst: 2})
	for i, want := range []int{200, 200, 429} {
		w := req{token: tokenA, body: "x"}.do(h)
		if w.Code != want {
			t.Fatalf("request %d: status %d, want %d", i, w.Code, want)
		}
		if want == 429 {
			ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
			if err != nil || ra < 1 || ra > 100 {
				t.Errorf("Retry-After = %q", w.Header().Get("Retry-After"))
			}
		}
	}
	// Buckets are per token.
	if w := (req{token: tokenB, body: "x"}).do(h); w.Code != 200 {
		t.Errorf("other token limited: status %d", w.Code)
	}
	if c.count() != 3 || h.Stats().RateLimited != 1 {
		t.Errorf("calls %d stats %+v", c.count(), h.Stats())
	}
}

func TestHTTPSourceCallbackError(t *testing.T) {
	t.Parallel()
	h, c := newTestHTTPSource(t, HTTPSourceOptions{RetryAfter: 3 * time.Second})
	c.err = errors.New("kafka: leader not available at broker-7:9092")
	w := req{token: tokenA, body: "x\n"}.do(h)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "3" {
		t.Errorf("status %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if strings.Contains(w.Body.String(), "kafka") {
		t.Errorf("internal error leaked to the client: %q", w.Body.String())
	}
	// A callback that does not say how far it got: all of it is to be sent again.
	if want := `{"accepted":0,"rejected":[],"retry_from":1}` + "\n"; w.Body.String() != want {
		t.Errorf("body %q, want %q", w.Body.String(), want)
	}
	if st := h.Stats(); st.CallbackErrors != 1 || st.Requests != 0 || st.Lines != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestHTTPSourceAnswersPerLine: the answer names each rejected line by
// its number in the body (blank lines counted), and when the callback
// fails part way, the line to send again from; a line over MaxLineBytes
// reaches the callback cut and marked invalid.
func TestHTTPSourceAnswersPerLine(t *testing.T) {
	t.Parallel()
	errDown := errors.New("kafka: buffer full")
	// takeUntil is a callback that rejects the lines saying "bad" and the
	// invalid ones, and fails at the line saying "down" (taking none at or
	// after it), or when its context ends at the line saying "wait".
	takeUntil := func(ctx context.Context, b *HTTPBatch) error {
		for i, l := range b.Lines {
			switch {
			case string(l) == "down":
				b.Handled = i
				return errDown
			case string(l) == "wait":
				<-ctx.Done()
				b.Handled = i
				return ctx.Err()
			case b.Invalid[i] != "" || string(l) == "bad":
				reason := b.Invalid[i]
				if reason == "" {
					reason = "nginx_combined: bad status"
				}
				b.Rejected = append(b.Rejected, HTTPRejected{Index: i, Reason: reason})
			}
		}
		return nil
	}
	h, err := NewHTTPSource(HTTPSourceOptions{TokenKey: testTokenKey, Tokens: []HTTPToken{{Name: "a", Hash: HashToken(testTokenKey, tokenA)}},
		MaxLineBytes: 10, MaxWait: 50 * time.Millisecond, RetryAfter: 2 * time.Second}, takeUntil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{name: "all taken", body: "ok\nok\n", status: 200, want: `{"accepted":2,"rejected":[]}`},
		{name: "rejects named by body line", body: "ok\n\nbad\r\nok\n" + strings.Repeat("x", 11) + "\nok", status: 200,
			want: `{"accepted":3,"rejected":[{"line":3,"reason":"nginx_combined: bad status"},{"line":5,"reason":"line too long (over 10 bytes)"}]}`},
		{name: "fails part way", body: "ok\nbad\n\ndown\nok\n", status: 503,
			want: `{"accepted":1,"rejected":[{"line":2,"reason":"nginx_combined: bad status"}],"retry_from":4}`},
		{name: "fails at once", body: "\ndown\nok\n", status: 503, want: `{"accepted":0,"rejected":[],"retry_from":2}`},
		{name: "waits no longer than MaxWait", body: "ok\nwait\nok\n", status: 503, want: `{"accepted":1,"rejected":[],"retry_from":2}`},
		{name: "empty body", body: "", status: 200, want: `{"accepted":0,"rejected":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := req{token: tokenA, body: tt.body}.do(h)
			if w.Code != tt.status || w.Body.String() != tt.want+"\n" || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%d %q (%s), want %d %q", w.Code, w.Body.String(), w.Header().Get("Content-Type"), tt.status, tt.want)
			}
			if ra := w.Header().Get("Retry-After"); (tt.status == 503) != (ra == "2") {
				t.Errorf("Retry-After %q", ra)
			}
		})
	}
	if st := h.Stats(); st.Lines != 2+3+1+1 || st.Rejected != 3 || st.Requests != 3 || st.CallbackErrors != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestHTTPSourceClientCert(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	h, c := newTestHTTPSource(t, HTTPSourceOptions{RequireClientCert: true})
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{pki.Server},
		ClientCAs:    pki.Pool,
		// Let requests without a certificate reach the handler, which
		// must refuse them itself.
		ClientAuth: tls.VerifyClientCertIfGiven,
	}
	srv.StartTLS()
	defer srv.Close()
	post := func(certs []tls.Certificate) int {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool, Certificates: certs}}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		resp, err := cl.Post(srv.URL+"/v1/lines", "text/plain", strings.NewReader("via mtls\n"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post([]tls.Certificate{pki.Client}); code != 200 {
		t.Fatalf("with client cert: status %d", code)
	}
	if code := post(nil); code != http.StatusUnauthorized {
		t.Errorf("without client cert: status %d, want 401", code)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.batches) != 1 || c.batches[0].Identity != "CN=edge-1,O=gatewatch" || c.lines[0][0] != "via mtls" {
		t.Errorf("batches %+v lines %q", c.batches, c.lines)
	}
}

func TestNewHTTPSourceErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	fn := func(context.Context, *HTTPBatch) error { return nil }
	for name, opts := range map[string]HTTPSourceOptions{
		"no auth":           {},
		"hash without key":  {Tokens: []HTTPToken{{Hash: HashToken(testTokenKey, tokenA)}}},
		"bad hash":          {TokenKey: testTokenKey, Tokens: []HTTPToken{{Hash: "abc"}}},
		"hash and file":     {TokenKey: testTokenKey, Tokens: []HTTPToken{{Hash: HashToken(testTokenKey, tokenA), File: empty}}},
		"empty token file":  {Tokens: []HTTPToken{{File: empty}}},
		"missing file":      {Tokens: []HTTPToken{{File: filepath.Join(dir, "nope")}}},
		"neither hash/file": {Tokens: []HTTPToken{{Name: "x"}}},
	} {
		if _, err := NewHTTPSource(opts, fn); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewHTTPSource(HTTPSourceOptions{RequireClientCert: true}, nil); err == nil {
		t.Error("nil callback accepted")
	}
}

func BenchmarkHTTPSourceLines(b *testing.B) {
	var body bytes.Buffer
	const lines = 1000
	for range lines {
		body.WriteString(`203.0.113.7 - - [23/Nov/2026:10:00:00 +0000] "GET /v1/users/42 HTTP/1.1" 200 512 "-" "curl/8.0"` + "\n")
	}
	h, err := NewHTTPSource(HTTPSourceOptions{TokenKey: testTokenKey, Tokens: []HTTPToken{{Hash: HashToken(testTokenKey, tokenA)}}},
		func(context.Context, *HTTPBatch) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	data := body.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		hr := httptest.NewRequest(http.MethodPost, "/v1/lines", bytes.NewReader(data))
		hr.Header.Set("Content-Type", "text/plain")
		hr.Header.Set("Authorization", "Bearer "+tokenA)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, hr)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
	b.ReportMetric(float64(b.N*lines)/b.Elapsed().Seconds(), "lines/s")
}

// lineSink is a Handler keeping the lines' text.
type lineSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *lineSink) Line(_ context.Context, l *Line) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, string(l.Text))
	return nil
}

func (s *lineSink) Event(context.Context, *Event) (string, error) { return "", nil }
func (s *lineSink) Durable(context.Context) error                 { return nil }

func (s *lineSink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lines)
}

// startHTTPListener runs l until the test ends and returns its address
// and what it took.
func startHTTPListener(t *testing.T, l *HTTPListener) (string, *lineSink) {
	t.Helper()
	addrc := make(chan net.Addr, 1)
	l.OnListen = func(a net.Addr) { addrc <- a }
	sink := &lineSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, sink) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-addrc:
		return a.String(), sink
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("listener did not start")
	}
	return "", nil
}

// TestSecurityHTTPIngestHostile attacks HTTP ingest over a real HTTPS
// listener: no token, a wrong token, a wrong method, an unknown format, an
// oversized and a gzip-bomb body, headers trickled (slowloris), a flood
// over the rate, a TLS 1.1 client. Each is refused with a terse answer
// that echoes nothing of the request, and no line gets through.
func TestSecurityHTTPIngestHostile(t *testing.T) {
	t.Parallel()
	const marker = "M4RK3R<script>"
	pki := testpki.New(t)
	l := &HTTPListener{Addr: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{pki.Server}},
		Options: HTTPSourceOptions{TokenKey: testTokenKey, Tokens: []HTTPToken{{Name: "edge-a", Hash: HashToken(testTokenKey, tokenA)}},
			Rate: 3, MaxBodyBytes: 1024}}
	addr, sink := startHTTPListener(t, l)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool}}, Timeout: 30 * time.Second}
	post := func(method, token string, header map[string]string, body []byte) (int, string) {
		req, _ := http.NewRequest(method, "https://"+addr+"/v1/lines?x="+url.QueryEscape(marker), bytes.NewReader(body))
		req.Header.Set("Content-Type", "text/plain")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	terse := func(what string, code, want int, body string) {
		t.Helper()
		if code != want || len(body) > 64 || strings.Contains(body, "M4RK3R") || strings.Contains(body, "goroutine") {
			t.Errorf("%s: %d %q, want %d, terse, without the request's input", what, code, body, want)
		}
	}
	line := []byte(marker + "\n")
	code, body := post("POST", "", map[string]string{"X-Gatewatch-Source": marker}, line)
	terse("no token", code, 401, body)
	code, body = post("POST", marker, nil, line)
	terse("wrong token", code, 401, body)
	code, body = post("PUT", tokenA, nil, line)
	terse("wrong method", code, 405, body)
	code, body = post("POST", tokenA, map[string]string{"X-Gatewatch-Format": marker}, line)
	terse("unknown format", code, 400, body)
	code, body = post("POST", tokenA, nil, bytes.Repeat(line, 200))
	terse("oversized body", code, 413, body)
	code, body = post("POST", tokenA, map[string]string{"Content-Encoding": "gzip"}, gzipBytes(make([]byte, 1<<20)))
	terse("gzip bomb", code, 413, body)
	limited := 0
	for range 20 {
		code, body = post("POST", tokenA, nil, []byte("\n"))
		if code == 429 {
			limited++
			terse("over rate", code, 429, body)
		}
	}
	if limited == 0 {
		t.Error("20 quick requests at rate 3: none limited")
	}
	if got := sink.got(); len(got) != 0 {
		t.Errorf("hostile requests delivered lines: %q", got)
	}
	if st := l.Stats(); st.Unauthorized != 2 || st.BadRequests != 2 || st.TooLarge != 2 || st.RateLimited != int64(limited) {
		t.Errorf("refusals counted: %+v (rate limited %d)", st, limited)
	}

	t.Run("slowloris", func(t *testing.T) {
		t.Parallel()
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.Pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		io.WriteString(c, "POST /v1/lines HTTP/1.1\r\nHost: x\r\n")
		var err2 error
		for time.Since(start) < 20*time.Second && err2 == nil {
			_, err2 = io.WriteString(c, "X")
			time.Sleep(200 * time.Millisecond)
			if err2 == nil {
				c.SetReadDeadline(time.Now().Add(time.Millisecond))
				var ne net.Error
				if _, rerr := c.Read(make([]byte, 1)); rerr != nil && !(errors.As(rerr, &ne) && ne.Timeout()) {
					err2 = rerr
				}
			}
		}
		if err2 == nil || time.Since(start) > 10*time.Second {
			t.Errorf("client trickling headers: closed after %v (%v), want about ReadHeaderTimeout (5s)", time.Since(start), err2)
		}
	})
	t.Run("TLS 1.1", func(t *testing.T) {
		t.Parallel()
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.Pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		if err == nil {
			c.Close()
			t.Error("a TLS 1.1 client completed the handshake")
		}
	})
}

// TestSecurityBearerOverPlainHTTP: an HTTPListener with bearer tokens and
// no TLS refuses to start on an address other than loopback unless
// AllowPlainHTTP; on loopback it serves; client certificates need TLS.
func TestSecurityBearerOverPlainHTTP(t *testing.T) {
	t.Parallel()
	opts := HTTPSourceOptions{TokenKey: testTokenKey, Tokens: []HTTPToken{{Name: "edge-a", Hash: HashToken(testTokenKey, tokenA)}}}
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		l := &HTTPListener{Addr: addr, Options: opts}
		if err := l.Run(context.Background(), &lineSink{}); !errors.Is(err, ErrPlainHTTPTokens) {
			t.Errorf("%s: Run = %v, want ErrPlainHTTPTokens", addr, err)
		}
	}
	cert := &HTTPListener{Addr: "127.0.0.1:0", Options: HTTPSourceOptions{RequireClientCert: true}}
	if err := cert.Run(context.Background(), &lineSink{}); err == nil || !strings.Contains(err.Error(), "need TLS") {
		t.Errorf("client certificates without TLS: %v", err)
	}
	startHTTPListener(t, &HTTPListener{Addr: "0.0.0.0:0", Options: opts, AllowPlainHTTP: true})
	addr, sink := startHTTPListener(t, &HTTPListener{Addr: "127.0.0.1:0", Options: opts})
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/lines", strings.NewReader("on loopback\n"))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+tokenA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(sink.got()) != 1 {
		t.Errorf("plain HTTP on loopback: %d, lines %q", resp.StatusCode, sink.got())
	}
	for _, a := range []string{"127.0.0.1:1", "[::1]:1", "localhost:1"} {
		if !IsLoopbackListen(a) {
			t.Errorf("IsLoopbackListen(%q) = false", a)
		}
	}
	for _, a := range []string{"0.0.0.0:1", ":1", "example.com:1", "10.0.0.1:1", "bad"} {
		if IsLoopbackListen(a) {
			t.Errorf("IsLoopbackListen(%q) = true", a)
		}
	}
}
