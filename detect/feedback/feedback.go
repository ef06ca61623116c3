// Package feedback gives the detectors what people said about their
// findings: the client/detector pairs marked as false positives from a
// notification's "False positive" button. The alert stage keeps that
// feedback as a JSON-lines file (alert.Silences, one object per line with
// "at", "kind", "client" and "detector"); a Set reads it, follows it as it
// grows, and answers detect.FalsePositives, so a marked pair's windows are
// absorbed into its baselines as ordinary ones instead of being reported.
//
// Lines of other kinds (acknowledgements, silences) and lines that are not
// JSON are skipped: a silence only quiets notifications, while a false
// positive says the behaviour is normal for the client.
package feedback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// KindFalsePositive is the kind of a feedback line a Set reads.
const KindFalsePositive = "false_positive"

// DefaultTTL is how long a false positive teaches the baselines.
const DefaultTTL = 24 * time.Hour

// maxLine bounds one feedback line; longer ones are skipped.
const maxLine = 1 << 20

// Line is the part of a feedback line a Set reads.
type Line struct {
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"`
	Client   string    `json:"client"`
	Detector string    `json:"detector"`
}

// Set is the false positives people marked, each trusted for TTL after it
// was given. The zero value is an empty Set with the default TTL; Open
// returns one that follows a file. It is safe for concurrent use.
type Set struct {
	// TTL is how long after it was given a mark holds (DefaultTTL when 0).
	// While it holds, the pair's anomalous windows are absorbed as
	// ordinary ones; once the baseline has learnt the behaviour, it no
	// longer stands out when the mark expires.
	TTL time.Duration

	mu      sync.Mutex
	until   map[[2]string]time.Time
	path    string
	off     int64  // bytes of the file read
	partial []byte // an incomplete last line, awaiting its end
	skipped int
	hits    atomic.Int64
}

// Open returns a Set following the feedback file at path, with what it
// holds now. A missing file is an empty Set (the alert stage creates it
// with its first feedback).
func Open(path string, ttl time.Duration) (*Set, error) {
	s := &Set{TTL: ttl, path: path}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Add marks the client/detector pair as a false positive given at at.
func (s *Set) Add(client, detector string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked(client, detector, at)
}

func (s *Set) addLocked(client, detector string, at time.Time) {
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if s.until == nil {
		s.until = map[[2]string]time.Time{}
	}
	k := [2]string{client, detector}
	if u := at.Add(ttl); u.After(s.until[k]) {
		s.until[k] = u
	}
}

// FalsePositive reports whether the pair was marked and its mark still
// holds at end (event time: a replayed log's old windows are covered by
// a mark given now).
func (s *Set) FalsePositive(client, detector string, end time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.until[[2]string{client, detector}]
	if ok && end.Before(u) {
		s.hits.Add(1)
		return true
	}
	return false
}

// Hits is how many times FalsePositive answered yes: the anomalous
// windows absorbed as ordinary ones because of a mark.
func (s *Set) Hits() int64 { return s.hits.Load() }

// Skipped is how many lines were not JSON or too long.
func (s *Set) Skipped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped
}

// Reload reads what the file gained since the last read. A file that
// shrank (replaced) is read again from its start.
func (s *Set) Reload() error {
	if s.path == "" {
		return nil
	}
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("feedback: %w", err)
	}
	defer f.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, err := f.Stat(); err == nil && st.Size() < s.off {
		s.off, s.partial = 0, nil
	}
	if _, err := f.Seek(s.off, io.SeekStart); err != nil {
		return fmt.Errorf("feedback: %s: %w", s.path, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("feedback: %s: %w", s.path, err)
	}
	s.off += int64(len(b))
	s.feed(b)
	return nil
}

// feed applies complete lines of b (after any partial line kept).
func (s *Set) feed(b []byte) {
	if len(s.partial) > 0 {
		b = append(s.partial, b...)
		s.partial = nil
	}
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		s.line(b[:i])
		b = b[i+1:]
	}
	if len(b) > maxLine {
		s.skipped++
		b = nil
	}
	s.partial = append([]byte(nil), b...)
}

// line applies one line.
func (s *Set) line(b []byte) {
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	var l Line
	if len(b) > maxLine || json.Unmarshal(b, &l) != nil {
		s.skipped++
		return
	}
	if l.Kind == KindFalsePositive && l.Client != "" && l.Detector != "" && !l.At.IsZero() {
		s.addLocked(l.Client, l.Detector, l.At)
	}
}

// Follow reloads the file every interval (2s when 0) until ctx ends,
// handing reload errors to onErr (when set) and trying again next time.
func (s *Set) Follow(ctx context.Context, every time.Duration, onErr func(error)) {
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Reload(); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}
