package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// Dead is a notification that will never be delivered, kept with why.
type Dead struct {
	At         time.Time       `json:"at"`
	Sink       string          `json:"sink"`
	DeliveryID string          `json:"delivery_id,omitempty"`
	Finding    *detect.Finding `json:"finding,omitempty"`
	Raw        []byte          `json:"raw,omitempty"` // an entry that did not decode
	Reason     string          `json:"reason"`
}

// DeadLetter keeps dead notifications. Write returns only once d is kept.
type DeadLetter interface {
	Write(ctx context.Context, d Dead) error
}

// DeadLetterFile appends dead notifications to a JSON-lines file,
// fsyncing each. It is safe for concurrent use.
type DeadLetterFile struct {
	mu sync.Mutex
	f  *os.File
}

// OpenDeadLetterFile opens (creating) the file at path for appending.
func OpenDeadLetterFile(path string) (*DeadLetterFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("alert dead letter: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("alert dead letter: %w", err)
	}
	return &DeadLetterFile{f: f}, nil
}

// Write appends d and fsyncs.
func (df *DeadLetterFile) Write(_ context.Context, d Dead) error {
	df.mu.Lock()
	defer df.mu.Unlock()
	if err := appendJSONLine(df.f, d); err != nil {
		return fmt.Errorf("alert dead letter: %w", err)
	}
	return nil
}

// appendJSONLine writes v as one JSON line to f and fsyncs f: the record
// survives a crash once it returns nil.
func appendJSONLine(f *os.File, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return err
	}
	return f.Sync()
}

// Close closes the file.
func (df *DeadLetterFile) Close() error { return df.f.Close() }

// writeDead keeps d in the configured dead letter, or logs it.
func (d *Dispatcher) writeDead(ctx context.Context, dead Dead) error {
	if d.opts.DeadLetter != nil {
		return d.opts.DeadLetter.Write(ctx, dead)
	}
	d.log.Error("alert: notification dropped (no dead letter configured)", "sink", dead.Sink,
		"delivery_id", dead.DeliveryID, "reason", dead.Reason)
	return nil
}
