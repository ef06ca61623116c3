package syslog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/gatewatch/gatewatch/alert"
)

// Notify encodes ns and writes them to the receiver: over TCP and TLS as
// octet-counted frames in one write, over UDP one datagram each. It
// reports retry=true when the connection could not be made or a write
// failed (the connection is then closed; the next Notify dials again),
// and retry=false with the encoder's errors for notifications that could
// not be encoded: a plain error when none could, an *alert.RejectedError
// naming them when the others were sent.
func (s *Sink) Notify(ctx context.Context, ns ...alert.Notification) (bool, error) {
	if len(ns) == 0 {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rejected, firstErr := s.encode(ns)
	if len(rejected) == len(ns) {
		if len(ns) == 1 {
			return false, fmt.Errorf("syslog sink %s: %w", s.opts.Name, firstErr)
		}
		return false, fmt.Errorf("syslog sink %s: none of %d notifications could be encoded, the first: %w", s.opts.Name, len(ns), firstErr)
	}
	if err := ctx.Err(); err != nil {
		return true, fmt.Errorf("syslog sink %s: %w", s.opts.Name, err)
	}
	if err := s.send(ctx); err != nil {
		return true, fmt.Errorf("syslog sink %s: %w", s.opts.Name, err)
	}
	if len(rejected) > 0 {
		return false, &alert.RejectedError{Reasons: rejected}
	}
	return false, nil
}

// encode renders ns into s.frames (each message framed for the
// transport, s.ends marking where each frame ends) and returns the
// notifications that could not be encoded, by delivery id, with the
// first error.
func (s *Sink) encode(ns []alert.Notification) (map[string]string, error) {
	s.frames, s.ends = s.frames[:0], s.ends[:0]
	var rejected map[string]string
	var first error
	for _, n := range ns {
		msg, err := s.message(n)
		if err != nil {
			if rejected == nil {
				rejected, first = make(map[string]string), err
			}
			rejected[n.DeliveryID] = err.Error()
			continue
		}
		if s.opts.Transport != "udp" {
			s.frames = strconv.AppendInt(s.frames, int64(len(msg)), 10)
			s.frames = append(s.frames, ' ')
		}
		s.frames = append(s.frames, msg...)
		s.ends = append(s.ends, len(s.frames))
	}
	return rejected, first
}

// message returns n encoded, without a trailing newline and cut to
// MaxMessage. The result is valid until the next call.
func (s *Sink) message(n alert.Notification) ([]byte, error) {
	msg, err := s.opts.Encoder(s.scratch[:0], n)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", n.DeliveryID, err)
	}
	s.scratch = msg
	if l := len(msg); l > 0 && msg[l-1] == '\n' {
		msg = msg[:l-1]
	}
	msg = truncate(msg, s.opts.MaxMessage)
	if len(msg) == 0 {
		return nil, errors.New("encode " + n.DeliveryID + ": the encoder produced an empty message")
	}
	return msg, nil
}

// truncate returns msg cut to at most max bytes without splitting a
// UTF-8 encoded character (when msg is valid UTF-8).
func truncate(msg []byte, max int) []byte {
	if len(msg) <= max {
		return msg
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut]
}

// send writes the encoded batch, dialling first when there is no
// connection or the receiver has closed it. A failed write closes the
// connection.
func (s *Sink) send(ctx context.Context) error {
	if s.conn != nil && !s.conn.alive() {
		s.conn.close()
		s.conn = nil
	}
	if s.conn == nil {
		c, err := s.dial(ctx)
		if err != nil {
			return err
		}
		s.conn = c
	}
	if err := s.conn.write(ctx, s.opts.WriteTimeout, s.frames, s.ends); err != nil {
		s.conn.close()
		s.conn = nil
		return err
	}
	return nil
}
