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

// Embedded is the embedded pipeline's alert stage running beside it: the
// pipeline writes findings to Outbox; Stop drains and ends the delivery.
type Embedded struct {
	Outbox  *alert.Outbox
	Service *Service
	cancel  context.CancelFunc
	done    chan struct{}
}

// StartEmbedded opens the outbox and starts delivering from it. The
// delivery outlives ctx's cancellation until Stop, so the findings of a
// pipeline draining after a signal still go out.
func StartEmbedded(ctx context.Context, c Config, d Deps) (*Embedded, error) {
	o, s, err := OpenEmbedded(c, d)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e := &Embedded{Outbox: o, Service: s, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		if err := s.Run(runCtx); err != nil && d.Log != nil {
			d.Log.Error("alert stage", "err", err)
		}
	}()
	return e, nil
}

// Stop lets the sinks drain for up to drain (what is left stays in the
// outbox for the next start), then stops them and closes the outbox.
func (e *Embedded) Stop(drain time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	e.Service.Drain(ctx)
	cancel()
	e.cancel()
	<-e.done
	e.Outbox.Close()
}
