package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
