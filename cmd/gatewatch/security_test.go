package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/config"
	"github.com/gatewatch/gatewatch/internal/testpki"
)

// senderSink is an ingest.Handler keeping each line's sender and text.
type senderSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *senderSink) Line(_ context.Context, l *ingest.Line) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, l.Sender+"|"+string(l.Text))
	return nil
}

func (s *senderSink) Event(context.Context, *ingest.Event) (string, error) { return "", nil }
func (s *senderSink) Durable(context.Context) error                        { return nil }

// TestSecurityHTTPClientCert: collect.http.client_ca_file, wired from the
// config, admits a sender with a certificate the CA signed (its subject
// becomes the sender) and refuses one without a certificate or with one
// another CA signed.
func TestSecurityHTTPClientCert(t *testing.T) {
	t.Parallel()
	pki, other := testpki.New(t), testpki.New(t)
	f := pki.WriteFiles(t, t.TempDir())
	cfg := config.Default()
	cfg.Collect.HTTP = config.CollectHTTPConfig{Listen: "127.0.0.1:0", TLSCertFile: f.ServerCert, TLSKeyFile: f.ServerKey,
		ClientCAFile: f.CA, Rate: 100, MaxBodyBytes: 1 << 20}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("client certificates without tokens: %v", err)
	}
	l, err := httpListener(cfg.Collect.HTTP, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addrc := make(chan net.Addr, 1)
	l.OnListen = func(a net.Addr) { addrc <- a }
	sink := &senderSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, sink) }()
	defer func() { cancel(); <-done }()
	var addr string
	select {
	case a := <-addrc:
		addr = a.String()
	case err := <-done:
		t.Fatal(err)
	}
	post := func(certs []tls.Certificate, text string) (int, error) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool, Certificates: certs}}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		resp, err := cl.Post("https://"+addr+"/v1/lines", "text/plain", strings.NewReader(text+"\n"))
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := post([]tls.Certificate{pki.Client}, "with cert"); err != nil || code != 200 {
		t.Fatalf("with a client certificate: %d %v", code, err)
	}
	if code, err := post(nil, "no cert"); err == nil {
		t.Errorf("without a client certificate: %d, want the handshake refused", code)
	}
	if code, err := post([]tls.Certificate{other.Client}, "other ca"); err == nil {
		t.Errorf("with another CA's certificate: %d, want the handshake refused", code)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.lines) != 1 || sink.lines[0] != "CN=edge-1,O=gatewatch|with cert" {
		t.Errorf("lines %q", sink.lines)
	}
}

// TestCollectSyslogLimitsWiring: the collect.syslog_* limits reach the
// server, and its refusals are exported per reason.
func TestCollectSyslogLimitsWiring(t *testing.T) {
	t.Parallel()
	cc := config.Default().Collect
	cc.SyslogTCP, cc.SyslogMaxConnsPerSource, cc.SyslogFirstFrameTimeout = "127.0.0.1:0", 3, 2*time.Second
	srv, err := syslogServer(cc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if srv.MaxConnsPerSource != 3 || srv.MaxConns != 1024 || srv.FirstFrameTimeout != 2*time.Second || srv.IdleTimeout != 5*time.Minute {
		t.Errorf("server %+v", srv)
	}
	m := &collectMetrics{reg: prometheus.NewRegistry()}
	m.registerSyslog(srv)
	m.registerHTTP(&ingest.HTTPListener{}) // beside it, no clash
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "gatewatch_syslog_connections_closed_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				reasons[lp.GetValue()] = true
			}
		}
	}
	for _, r := range []string{"per_source_limit", "max_conns", "evicted", "first_frame_timeout", "idle_timeout", "tls_handshake"} {
		if !reasons[r] {
			t.Errorf("no series for reason %q (have %v)", r, reasons)
		}
	}
}
