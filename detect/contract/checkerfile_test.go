package contract

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckerSaveLoad: a checker saved during its learning period comes
// back with its progress, and its learning period ends where it would
// have; a frozen one comes back checking.
func TestCheckerSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.json")
	opts := CheckerOptions{LearnFor: time.Hour, MinLearned: 10}
	c := NewChecker(opts)
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	for i := range 6 {
		ev := event("198.51.100."+string(rune('1'+i%3)), "GET", "/items/{id}", "/items/7", "page=2", 200)
		ev.Time = t0.Add(time.Duration(i) * time.Minute)
		c.Observe(ev, nil)
	}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	l, err := LoadChecker(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if l.Learned() != 6 || !l.Learning() || !l.start.Equal(t0) {
		t.Fatalf("loaded: learned %d from %v, learning %v", l.Learned(), l.start, l.Learning())
	}
	// 4 more events and an hour: the period ends on the 11th event.
	for i := range 5 {
		ev := event("198.51.100.1", "GET", "/items/{id}", "/items/7", "page=2", 200)
		ev.Time = t0.Add(time.Hour + time.Duration(i)*time.Minute)
		l.Observe(ev, nil)
	}
	if l.Learning() || l.Learned() != 10 {
		t.Errorf("after 5 more events an hour later: learning %v, learned %d; want over after 10", l.Learning(), l.Learned())
	}
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}
	if f, err := LoadChecker(path, opts); err != nil || f.Learning() {
		t.Errorf("frozen model loaded: %v, learning %v", err, f != nil && f.Learning())
	}
	b, _ := os.ReadFile(path)
	bad := strings.Replace(string(b), `"learned":10`, `"learned":-1`, 1)
	if bad == string(b) {
		t.Fatal("no learning progress in the saved file")
	}
	os.WriteFile(path, []byte(bad), 0o600)
	if _, err := LoadChecker(path, opts); !errors.Is(err, ErrFormat) {
		t.Errorf("negative progress: %v, want ErrFormat", err)
	}
}
