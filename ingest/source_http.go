package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPListener is the Source of the HTTP ingest endpoint (HTTPSource):
// lines of POST /v1/lines become lines, named by the request's format,
// source and token; events of POST /v1/events are handed over as events.
type HTTPListener struct {
	// Addr is the address to listen on ("127.0.0.1:9108").
	Addr    string
	Options HTTPSourceOptions
	// TLS, when set, serves HTTPS (tlsfiles builds it).
	TLS *tls.Config
	// OnListen, when set, hears the address listened on (port 0 picks one).
	OnListen func(addr net.Addr)
}

// Name returns "http".
func (s *HTTPListener) Name() string { return "http" }

// Run serves until ctx ends, then lets requests in flight finish (at most
// 10 seconds) and returns ctx's error.
func (s *HTTPListener) Run(ctx context.Context, h Handler) error {
	src, err := NewHTTPSource(s.Options, s.batches(h))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	if s.TLS != nil {
		ln = tls.NewListener(ln, s.TLS)
	}
	if s.OnListen != nil {
		s.OnListen(ln.Addr())
	}
	log := s.Options.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Info("http ingest", "listen", ln.Addr().String(), "tls", s.TLS != nil)
	srv := &http.Server{Handler: src, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shut) // lets requests in flight finish and publish
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return ctx.Err()
	}
}

// batches returns HTTPSource's callback: each request's events and lines
// to h, one request at a time.
func (s *HTTPListener) batches(h Handler) func(context.Context, HTTPBatch) error {
	var mu sync.Mutex
	var l Line
	return func(ctx context.Context, b HTTPBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for i := range b.Events {
			if err := h.Event(ctx, &b.Events[i]); err != nil {
				return err
			}
		}
		for i, text := range b.Lines {
			l = Line{Text: text, Number: int64(i + 1), Format: b.Format, Source: b.Source, Sender: b.Identity}
			if err := h.Line(ctx, &l); err != nil {
				return err
			}
		}
		return nil
	}
}
