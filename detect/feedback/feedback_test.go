package feedback

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var at = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)

func TestFalsePositive(t *testing.T) {
	var s Set // the zero value works
	s.Add("10.0.0.1", "volume", at)
	s.Add("10.0.0.1", "volume", at.Add(-time.Hour)) // an older mark does not shorten it
	tests := []struct {
		client, det string
		end         time.Time
		want        bool
	}{
		{"10.0.0.1", "volume", at.Add(-48 * time.Hour), true}, // a replayed old window
		{"10.0.0.1", "volume", at.Add(DefaultTTL - time.Second), true},
		{"10.0.0.1", "volume", at.Add(DefaultTTL), false},
		{"10.0.0.1", "scanning", at, false},
		{"10.0.0.2", "volume", at, false},
	}
	for _, tt := range tests {
		if got := s.FalsePositive(tt.client, tt.det, tt.end); got != tt.want {
			t.Errorf("FalsePositive(%s, %s, %s) = %v, want %v", tt.client, tt.det, tt.end, got, tt.want)
		}
	}
}

// TestFollowsTheFile: lines appended later, a line written in two parts,
// other kinds and junk, and a replaced file.
func TestFollowsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alert-feedback.jsonl")
	s, err := Open(path, time.Hour) // missing: empty
	if err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, `{"at":"2026-12-05T09:00:00Z","kind":"silence","client":"a","detector":"volume","until":"2026-12-06T09:00:00Z"}
not json
{"at":"2026-12-05T09:00:00Z","kind":"false_positive","client":"b","detector":"scanning"}
{"at":"2026-12-05T09:00:00Z","kind":"false_positive","client":"c","det`)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	check(t, s, map[string]bool{"a/volume": false, "b/scanning": true, "c/detector": false})
	appendTo(t, path, "ector\":\"volume\"}\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	check(t, s, map[string]bool{"c/volume": true})
	if s.Skipped() != 1 {
		t.Errorf("skipped %d lines, want 1", s.Skipped())
	}
	if err := os.WriteFile(path, []byte(`{"at":"2026-12-05T09:00:00Z","kind":"false_positive","client":"d","detector":"volume"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Follow(ctx, 10*time.Millisecond, func(err error) { t.Error(err) }); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for !s.FalsePositive("d", "volume", at) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	check(t, s, map[string]bool{"d/volume": true, "b/scanning": true})
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func check(t *testing.T, s *Set, want map[string]bool) {
	t.Helper()
	for k, w := range want {
		client, det, _ := strings.Cut(k, "/")
		if got := s.FalsePositive(client, det, at); got != w {
			t.Errorf("%s marked: %v, want %v", k, got, w)
		}
	}
}

// FuzzFeed: no input panics, and whatever is read in pieces is read the
// same as in one go.
func FuzzFeed(f *testing.F) {
	f.Add([]byte(`{"at":"2026-12-05T09:00:00Z","kind":"false_positive","client":"b","detector":"scanning"}`+"\n"), 7)
	f.Add([]byte("\n\n{\"kind\":\n"), 1)
	f.Fuzz(func(t *testing.T, b []byte, split int) {
		var whole, parts Set
		whole.feed(b)
		if split < 0 {
			split = -split
		}
		split %= len(b) + 1
		parts.feed(b[:split])
		parts.feed(b[split:])
		if len(whole.until) != len(parts.until) || whole.skipped != parts.skipped {
			t.Fatalf("in one go %d marks, %d skipped; in two parts %d, %d", len(whole.until), whole.skipped, len(parts.until), parts.skipped)
		}
	})
}
