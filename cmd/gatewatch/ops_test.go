package main

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewatch/gatewatch/internal/config"
	"github.com/gatewatch/gatewatch/internal/testenv"
	"github.com/gatewatch/gatewatch/internal/testpki"
)

// TestOpsToken checks the ops server's bearer token: /metrics and the
// report want it, /healthz and routes that authenticate themselves (Slack
// callbacks) do not, and a wrong or missing token gets a terse 401.
func TestOpsToken(t *testing.T) {
	const token = "s3cret-0123456789abcdef"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })
	srv, err := serveOps(config.HTTPConfig{Listen: addr, TokenFile: file, Rate: 1000}, prometheus.NewRegistry(),
		func() error { return nil }, slog.New(slog.DiscardHandler),
		opsRoute{pattern: "GET /{$}", h: ok}, opsRoute{pattern: "POST /slack/interactions", h: ok, own: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tc := range []struct {
		method, path, auth string
		code               int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/metrics", "", 401},
		{"GET", "/metrics", "Bearer " + token, 200},
		{"GET", "/metrics", "bearer " + token, 200},
		{"GET", "/metrics", "Bearer " + token + "x", 401},
		{"GET", "/metrics", "Basic " + token, 401},
		{"GET", "/", "", 401},
		{"GET", "/", "Bearer wrong", 401},
		{"GET", "/", "Bearer " + token, 200},
		{"POST", "/slack/interactions", "", 200},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+addr+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s with %q: %d, want %d", tc.method, tc.path, tc.auth, resp.StatusCode, tc.code)
		}
		if resp.StatusCode == 401 && (len(body) > 20 || strings.Contains(string(body), token) || resp.Header.Get("WWW-Authenticate") == "") {
			t.Errorf("%s %s: 401 answer %q (WWW-Authenticate %q): want terse, with a challenge", tc.method, tc.path, body, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// TestOpsRateLimit checks that a flood gets 429 with Retry-After while
// /healthz still answers.
func TestOpsRateLimit(t *testing.T) {
	addr := testenv.FreeAddr(t)
	srv, err := serveOps(config.HTTPConfig{Listen: addr, Rate: 1}, prometheus.NewRegistry(),
		func() error { return nil }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	codes := map[int]int{}
	for range 10 {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	// Burst 2, refilled at 1/s: at most 3 of 10 quick requests pass.
	if codes[200] < 2 || codes[200] > 3 || codes[429] != 10-codes[200] {
		t.Errorf("10 quick requests at rate 1: %v", codes)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz during a flood: %d", resp.StatusCode)
	}
}

// TestOpsTokenFile checks that a missing or too short token file is an
// error at start, not an open server.
func TestOpsTokenFile(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	for _, file := range []string{filepath.Join(dir, "missing"), short} {
		if _, err := opsGuard(file); err == nil {
			t.Errorf("%s: no error", file)
		}
	}
}

// TestSecurityOpsEndpointsHostile attacks the ops listener over HTTPS:
// without a token, with a wrong one, with oversized headers, with headers
// trickled (slowloris), and beyond its rate. Each is refused with a terse
// answer that echoes nothing of the request; a TLS 1.1 client is refused;
// and the token is refused over plain HTTP off loopback.
func TestSecurityOpsEndpointsHostile(t *testing.T) {
	t.Parallel()
	const token, marker = "s3cret-0123456789abcdef", "M4RK3R<script>"
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	os.WriteFile(file, []byte(token+"\n"), 0o600)
	pki := testpki.New(t)
	pf := pki.WriteFiles(t, dir)
	addr := testenv.FreeAddr(t)
	hc := config.HTTPConfig{Listen: addr, TokenFile: file, Rate: 5, TLSCertFile: pf.ServerCert, TLSKeyFile: pf.ServerKey}
	srv, err := serveOps(hc, prometheus.NewRegistry(), func() error { return nil }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() }) // after the parallel subtests
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool}}, Timeout: 30 * time.Second}
	get := func(path string, header http.Header) (int, string) {
		req, _ := http.NewRequest("GET", "https://"+addr+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	terse := func(what string, code, want int, body string) {
		t.Helper()
		if code != want || len(body) > 64 || strings.Contains(body, "M4RK3R") || strings.Contains(body, "goroutine") {
			t.Errorf("%s: %d %q, want %d, terse, without the request's input", what, code, body, want)
		}
	}
	code, body := get("/metrics?q="+marker, nil)
	terse("no token", code, 401, body)
	code, body = get("/metrics", http.Header{"Authorization": {"Bearer " + marker}})
	terse("wrong token", code, 401, body)
	code, body = get("/"+marker, http.Header{"Authorization": {"Bearer " + token}})
	terse("unknown path", code, 404, body)
	code, body = get("/metrics", http.Header{"Authorization": {"Bearer " + token}, "X-Big": {strings.Repeat(marker, 8<<10)}})
	terse("oversized headers", code, 431, body)

	t.Run("slowloris", func(t *testing.T) {
		t.Parallel()
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.Pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		var werr error
		for time.Since(start) < 20*time.Second && werr == nil {
			_, werr = io.WriteString(c, "X")
			time.Sleep(200 * time.Millisecond)
			if werr == nil {
				c.SetReadDeadline(time.Now().Add(time.Millisecond))
				var ne net.Error
				if _, rerr := c.Read(make([]byte, 1)); rerr != nil && !(errors.As(rerr, &ne) && ne.Timeout()) {
					werr = rerr
				}
			}
		}
		if werr == nil {
			t.Fatal("a client trickling headers was still served after 20s")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("trickling client closed after %v, want about ReadHeaderTimeout (5s)", d)
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
	t.Run("over rate", func(t *testing.T) {
		t.Parallel()
		limited := 0
		for range 30 {
			req, _ := http.NewRequest("GET", "https://"+addr+"/metrics", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 429 {
				limited++
				terse("over rate", resp.StatusCode, 429, string(b))
				if resp.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
			}
		}
		if limited == 0 {
			t.Error("30 quick requests at rate 5: none limited")
		}
	})
	t.Run("plain HTTP", func(t *testing.T) {
		t.Parallel()
		plain := config.HTTPConfig{Listen: "0.0.0.0:0", TokenFile: file}
		if srv, err := serveOps(plain, prometheus.NewRegistry(), func() error { return nil }, slog.New(slog.DiscardHandler)); err == nil {
			srv.Close()
			t.Error("token over plain HTTP on 0.0.0.0 accepted")
		} else if strings.Contains(err.Error(), token) {
			t.Errorf("error shows the token: %v", err)
		}
		plain.AllowPlainHTTP = true
		srv, err := serveOps(plain, prometheus.NewRegistry(), func() error { return nil }, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("with allow_plain_http: %v", err)
		}
		srv.Close()
	})
}
