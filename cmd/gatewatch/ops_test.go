package main

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewatch/gatewatch/internal/config"
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
	addr := freeAddr(t)
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
	addr := freeAddr(t)
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
