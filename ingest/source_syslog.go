package ingest

import (
	"context"
	"sync"
)

// SyslogListener is the Source of a SyslogServer: each message body is a
// line, and each frame that is no syslog message a malformed line (kept
// as a reject). The server's OnMalformed is set by Run.
type SyslogListener struct {
	Server *SyslogServer
}

// Name returns "syslog".
func (s *SyslogListener) Name() string { return "syslog" }

// Run serves until ctx ends. The server calls back from one goroutine per
// connection; Run hands the lines to h one at a time.
func (s *SyslogListener) Run(ctx context.Context, h Handler) error {
	var mu sync.Mutex
	var l Line
	s.Server.OnMalformed = func(raw []byte, reason string) {
		mu.Lock()
		defer mu.Unlock()
		l = Line{Text: raw, Malformed: "syslog: " + reason}
		if err := h.Line(ctx, &l); err != nil && s.Server.Logger != nil {
			s.Server.Logger.Warn("syslog: keeping a malformed frame", "err", err)
		}
	}
	return s.Server.Serve(ctx, func(_ SyslogSource, m SyslogMessage) error {
		mu.Lock()
		defer mu.Unlock()
		l = Line{Text: m.Message}
		return h.Line(ctx, &l)
	})
}
