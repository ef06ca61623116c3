package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/config"
	"github.com/gatewatch/gatewatch/internal/tlsfiles"
)

// opsRoute is one more endpoint of the ops server.
type opsRoute struct {
	pattern string
	h       http.Handler
	// own: the route authenticates its requests itself (Slack signs its
	// callbacks; it cannot send our bearer token).
	own bool
}

// serveOps serves /metrics from reg, /healthz from health and the extra
// routes on hc.Listen ("" serves nothing), over HTTPS with
// hc.TLSCertFile. With hc.TokenFile, every route but /healthz and the
// ones that authenticate themselves wants the token, which it refuses to
// take over plain HTTP off loopback unless hc.AllowPlainHTTP; every route
// but /healthz (a liveness probe must not be starved by a flood) shares
// the hc.Rate limit. Refusals are terse and echo nothing of the request.
// The server's goroutine ends at Shutdown.
func serveOps(hc config.HTTPConfig, reg *prometheus.Registry, health func() error, log *slog.Logger, extra ...opsRoute) (*http.Server, error) {
	if hc.Listen == "" {
		return nil, nil
	}
	if hc.TokenFile != "" && hc.TLSCertFile == "" && !hc.AllowPlainHTTP && !ingest.IsLoopbackListen(hc.Listen) {
		return nil, fmt.Errorf("http.token_file: refusing the token over plain HTTP on %s: set http.tls_cert_file, listen on loopback, or allow_plain_http: true", hc.Listen)
	}
	guard, err := opsGuard(hc.TokenFile)
	if err != nil {
		return nil, err
	}
	limit := opsLimit(hc.Rate)
	mux := http.NewServeMux()
	for _, r := range extra {
		if r.own {
			mux.Handle(r.pattern, limit(r.h))
		} else {
			mux.Handle(r.pattern, limit(guard(r.h)))
		}
	}
	mux.Handle("GET /metrics", limit(guard(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := health(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := opsListen(hc)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	return srv, nil
}

// opsListen listens on hc.Listen, with TLS when hc names a certificate.
func opsListen(hc config.HTTPConfig) (net.Listener, error) {
	var tlsCfg *tls.Config
	if hc.TLSCertFile != "" || hc.TLSKeyFile != "" {
		var err error
		if tlsCfg, err = (tlsfiles.Files{CertFile: hc.TLSCertFile, KeyFile: hc.TLSKeyFile}).Server(); err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
	}
	ln, err := net.Listen("tcp", hc.Listen)
	if err != nil {
		return nil, fmt.Errorf("http listen: %w", err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	return ln, nil
}

// opsLimit returns what wraps a handler to share one limit of perSecond
// requests a second (burst twice that; 0 or less: 20), answering 429
// with Retry-After beyond it.
func opsLimit(perSecond float64) func(http.Handler) http.Handler {
	if perSecond <= 0 {
		perSecond = 20
	}
	lim := rate.NewLimiter(rate.Limit(perSecond), max(1, int(2*perSecond)))
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !lim.Allow() {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "too many requests", http.StatusTooManyRequests)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

// opsGuard returns what wraps a handler to want the bearer token in
// tokenFile (a trailing newline is ignored), or a pass-through without
// one. Only the token's SHA-256 is kept, and compared in constant time.
func opsGuard(tokenFile string) (func(http.Handler) http.Handler, error) {
	if tokenFile == "" {
		return func(h http.Handler) http.Handler { return h }, nil
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("http.token_file: %w", err)
	}
	tok := bytes.TrimRight(b, "\r\n")
	if len(tok) < 16 {
		return nil, errors.New("http.token_file: the token is shorter than 16 bytes")
	}
	want := sha256.Sum256(tok)
	clear(b)
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok := bearer(r.Header.Get("Authorization"))
			sum := sha256.Sum256(got)
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="gatewatch"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}, nil
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(header string) ([]byte, bool) {
	const prefix = "Bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return nil, false
	}
	return []byte(header[len(prefix):]), true
}
