package alert

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// Feedback kinds, as people give them from a notification's buttons.
const (
	FeedbackAck           = "ack"
	FeedbackSilence       = "silence"
	FeedbackFalsePositive = "false_positive"
)

// Feedback is one person's answer to a notification: acknowledged, a
// client/detector pair silenced until a time, or a false positive. Kept
// as the audit trail of who did what.
type Feedback struct {
	At         time.Time `json:"at"`
	Kind       string    `json:"kind"`
	IncidentID string    `json:"incident_id"`
	Client     string    `json:"client"`
	Detector   string    `json:"detector"`
	Until      time.Time `json:"until,omitzero"` // silences
	User       string    `json:"user"`           // who: the Slack user id and name
	Source     string    `json:"source"`         // where: "slack"
}

// Silences is the durable record of feedback (a JSON-lines file, each
// entry fsynced) and the Silencer it implies: a silenced client/detector
// pair gets no notification until its silence ends, and a false positive
// silences its pair for FalsePositiveFor. It is safe for concurrent use.
type Silences struct {
	// FalsePositiveFor is how long a false positive keeps its
	// client/detector pair quiet (24 h when 0).
	FalsePositiveFor time.Duration

	mu    sync.Mutex
	f     *os.File
	until map[[2]string]time.Time
}

// OpenSilences loads the feedback file at path (creating it) and keeps
// appending to it.
func OpenSilences(path string) (*Silences, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("alert feedback: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("alert feedback: %w", err)
	}
	s := &Silences{f: f, until: map[[2]string]time.Time{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var fb Feedback
		if json.Unmarshal(sc.Bytes(), &fb) == nil {
			s.apply(fb)
		}
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("alert feedback: %s: %w", path, err)
	}
	return s, nil
}

// Record keeps fb (fsynced) and applies it.
func (s *Silences) Record(_ context.Context, fb Feedback) error {
	if fb.At.IsZero() {
		fb.At = time.Now().UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := appendJSONLine(s.f, fb); err != nil {
		return fmt.Errorf("alert feedback: %w", err)
	}
	s.applyLocked(fb)
	return nil
}

func (s *Silences) apply(fb Feedback) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyLocked(fb)
}

func (s *Silences) applyLocked(fb Feedback) {
	until := fb.Until
	if fb.Kind == FeedbackFalsePositive {
		d := s.FalsePositiveFor
		if d <= 0 {
			d = 24 * time.Hour
		}
		until = fb.At.Add(d)
	}
	if fb.Kind == FeedbackAck || until.IsZero() {
		return
	}
	k := [2]string{fb.Client, fb.Detector}
	if until.After(s.until[k]) {
		s.until[k] = until
	}
}

// Silenced reports whether f's client/detector pair is silenced at t.
// A resolution still goes out, so an open notification is never left
// hanging.
func (s *Silences) Silenced(f detect.Finding, t time.Time) bool {
	if f.Status == detect.StatusResolved {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.Before(s.until[[2]string{f.Client, f.Detector}])
}

// Close closes the file.
func (s *Silences) Close() error { return s.f.Close() }
