package sinks

import (
	"context"
	"path/filepath"
	"time"

	"github.com/gatewatch/gatewatch/alert"
)

// OpenEmbedded opens the embedded pipeline's alert stage: the outbox in
// the state directory (StateDir/outbox), which the pipeline writes its
// findings to, and the Service that delivers them from it.
func OpenEmbedded(c Config, d Deps) (*alert.Outbox, *Service, error) {
	o, err := alert.OpenOutbox(filepath.Join(c.stateDir(d), "outbox"), alert.OutboxOptions{})
	if err != nil {
		return nil, nil, err
	}
	s, err := New(Options{Config: c, Deps: d, Outbox: o})
	if err != nil {
		o.Close()
		return nil, nil, err
	}
	return o, s, nil
}

// Drain waits until no sink has anything queued or in flight, or ctx is
// done: what is left stays in the outbox for the next start.
func (s *Service) Drain(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		idle := true
		for _, st := range s.d.Stats() {
			if st.Queue > 0 {
				idle = false
			}
		}
		if idle {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
