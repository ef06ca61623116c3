package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"
)

// HTTPListener is the Source of the HTTP ingest endpoint (HTTPSource):
// lines of POST /v1/lines become lines, named by the request's format,
// source and token; events of POST /v1/events are handed over as events
// (a line that is no event, or any line over MaxLineBytes, as a malformed
// line, so it is dead-lettered). Each request is answered per line (see
// HTTPSource): rejected lines by number, and when the Handler fails part
// way, the line a sender resends from — nothing taken is asked for again.
type HTTPListener struct {
	// Addr is the address to listen on ("127.0.0.1:9108").
	Addr    string
	Options HTTPSourceOptions
	// TLS, when set, serves HTTPS (tlsfiles builds it); versions before
	// TLS 1.2 are refused whatever its MinVersion. With
	// Options.RequireClientCert it must ask for client certificates
	// (ClientAuth, ClientCAs).
	TLS *tls.Config
	// AllowPlainHTTP lets bearer tokens travel over plain HTTP on an
	// address other than loopback; without it Run refuses to start so.
	AllowPlainHTTP bool
	// OnListen, when set, hears the address listened on (port 0 picks one).
	OnListen func(addr net.Addr)

	src atomic.Pointer[HTTPSource]
}

// Stats returns the endpoint's counters (refusals by status among them);
// zero before Run.
func (s *HTTPListener) Stats() HTTPSourceStats {
	if src := s.src.Load(); src != nil {
		return src.Stats()
	}
	return HTTPSourceStats{}
}

// IsLoopbackListen reports whether a listen address ("host:port") can
// only be reached from this host: a loopback IP or "localhost". An empty
// host (every interface) or any other name is not.
func IsLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// Name returns "http".
func (s *HTTPListener) Name() string { return "http" }

// Run serves until ctx ends, then lets requests in flight finish (at most
// 10 seconds) and returns ctx's error.
func (s *HTTPListener) Run(ctx context.Context, h Handler) error {
	if err := s.check(); err != nil {
		return err
	}
	src, err := NewHTTPSource(s.Options, s.batches(h))
	if err != nil {
		return err
	}
	s.src.Store(src)
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("http ingest: %w", err)
	}
	if s.TLS != nil {
		ln = tls.NewListener(ln, atLeastTLS12(s.TLS))
	}
	if s.OnListen != nil {
		s.OnListen(ln.Addr())
	}
	log := s.Options.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Info("http ingest", "listen", ln.Addr().String(), "tls", s.TLS != nil)
	srv := &http.Server{Handler: src, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
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

// ErrPlainHTTPTokens is HTTPListener.Run's error for bearer tokens over
// plain HTTP off loopback without AllowPlainHTTP.
var ErrPlainHTTPTokens = errors.New("http ingest: bearer tokens over plain HTTP off loopback would cross the network in clear: " +
	"serve TLS, listen on loopback, or allow plain HTTP explicitly")

// check refuses a listener that would take bearer tokens over plain
// HTTP from the network, or ask for client certificates without TLS.
func (s *HTTPListener) check() error {
	if s.Options.RequireClientCert && s.TLS == nil {
		return errors.New("http ingest: client certificates need TLS")
	}
	if len(s.Options.Tokens) > 0 && s.TLS == nil && !s.AllowPlainHTTP && !IsLoopbackListen(s.Addr) {
		return ErrPlainHTTPTokens
	}
	return nil
}

// batches returns HTTPSource's callback: each request's lines to h in
// order, one request at a time (a request waits for the one before no
// longer than its context allows). Lines of /v1/events go as events, or,
// when they are none, as malformed lines; what h rejected and, when it
// fails, how many lines it took are recorded in the batch for the answer.
func (s *HTTPListener) batches(h Handler) func(context.Context, *HTTPBatch) error {
	turn := make(chan struct{}, 1)
	var l Line
	return func(ctx context.Context, b *HTTPBatch) error {
		select {
		case turn <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the request before: %w", context.Cause(ctx))
		}
		defer func() { <-turn }()
		for i := range b.Lines {
			reason, err := take(ctx, h, b, i, &l)
			if err != nil {
				b.Handled = i
				return err
			}
			if reason != "" {
				b.Rejected = append(b.Rejected, HTTPRejected{Index: i, Reason: reason})
			}
		}
		return nil
	}
}

// take hands line i of b to h and returns why h rejected it, if it did.
func take(ctx context.Context, h Handler, b *HTTPBatch, i int, l *Line) (string, error) {
	if b.Events != nil && b.Invalid[i] == "" {
		return h.Event(ctx, &b.Events[i])
	}
	*l = Line{Text: b.Lines[i], Number: int64(b.Numbers[i]), Format: b.Format, Source: b.Source,
		Sender: b.Identity, Malformed: b.Invalid[i]}
	err := h.Line(ctx, l)
	return l.Rejected, err
}
