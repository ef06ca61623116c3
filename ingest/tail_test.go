package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tailCollector gathers lines from Tail running in the background.
type tailCollector struct {
	mu    sync.Mutex
	lines []string
}

func (c *tailCollector) add(line []byte, _ TailPosition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, string(line))
	return nil
}

func (c *tailCollector) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		got := append([]string(nil), c.lines...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Fatalf("timed out waiting for %d lines, have %d: %q", n, len(c.lines), c.lines)
	return nil
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func startTail(t *testing.T, path string, opts TailOptions) *tailCollector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &tailCollector{}
	done := make(chan error, 1)
	opts.Poll = 5 * time.Millisecond
	go func() { done <- Tail(ctx, path, opts, c.add) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Tail returned %v, want context.Canceled", err)
		}
	})
	return c
}

func TestTailRotationAndTruncation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	appendFile(t, path, "old-1\nold-2\n")
	c := startTail(t, path, TailOptions{FromStart: true})
	c.waitFor(t, 2)

	appendFile(t, path, "a-1\na-2 partial")
	time.Sleep(30 * time.Millisecond) // let Tail see the partial line first
	appendFile(t, path, " done\n")
	c.waitFor(t, 4)

	// logrotate's default: rename, then a new file under the old name.
	// Lines written to the old file after the rename must not be lost.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", "a-3 written after rename\n")
	appendFile(t, path, "b-1\n")
	c.waitFor(t, 6)

	// copytruncate: the same file shrinks to zero and starts again.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	appendFile(t, path, "c-1\n")
	got := c.waitFor(t, 7)
	want := []string{"old-1", "old-2", "a-1", "a-2 partial done", "a-3 written after rename", "b-1", "c-1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lines:\n got %q\nwant %q", got, want)
	}
}

func TestTailFromEndAndMissingFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "later.log")
	c := startTail(t, path, TailOptions{}) // the file does not exist yet
	time.Sleep(20 * time.Millisecond)
	appendFile(t, path, "first\n")
	if got := c.waitFor(t, 1); got[0] != "first" {
		t.Fatalf("got %q", got)
	}

	existing := filepath.Join(dir, "existing.log")
	appendFile(t, existing, "before start\n")
	c2 := startTail(t, existing, TailOptions{})
	time.Sleep(30 * time.Millisecond)
	appendFile(t, existing, "after start\n")
	if got := c2.waitFor(t, 1); len(got) != 1 || got[0] != "after start" {
		t.Fatalf("from end: got %q", got)
	}
}

func TestTailResumeOffset(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "resume.log")
	appendFile(t, path, "one\ntwo\nthree\n")
	var offsets []int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := Tail(ctx, path, TailOptions{FromStart: true, Poll: time.Millisecond}, func(line []byte, pos TailPosition) error {
		offsets = append(offsets, pos.Offset)
		if len(offsets) == 2 {
			return errStopTail
		}
		return nil
	})
	if !errors.Is(err, errStopTail) {
		t.Fatal(err)
	}
	c := startTail(t, path, TailOptions{Offset: offsets[1]})
	if got := c.waitFor(t, 1); got[0] != "three" {
		t.Fatalf("resumed at %d: got %q", offsets[1], got)
	}
}

var errStopTail = errors.New("stop")

func TestTailLongLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "long.log")
	long := strings.Repeat("x", 300)
	appendFile(t, path, fmt.Sprintf("short\n%s\nafter\n", long))
	var got []string
	var truncated []bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_ = Tail(ctx, path, TailOptions{FromStart: true, MaxLine: 100, Poll: time.Millisecond}, func(line []byte, pos TailPosition) error {
		got = append(got, string(line))
		truncated = append(truncated, pos.Truncated)
		if len(got) == 3 {
			return errStopTail
		}
		return nil
	})
	if len(got) != 3 || got[0] != "short" || got[1] != long[:100] || !truncated[1] || got[2] != "after" {
		t.Fatalf("got %q truncated %v", got, truncated)
	}
}

// TestTailResumeAcrossRestarts: a collector saved (offset, inode) after
// line "b", then stopped; what happened to the file meanwhile decides what
// the next Tail must read — never a line twice, never one skipped that is
// still on disk.
func TestTailResumeAcrossRestarts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		while func(t *testing.T, path string) // what happens while stopped
		want  []string
	}{
		{"appended", func(t *testing.T, path string) {
			appendFile(t, path, "c\n")
		}, []string{"c", "new"}},
		{"rotated, old file kept", func(t *testing.T, path string) {
			appendFile(t, path, "c\n")
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path+".1", "d\n")
			appendFile(t, path, "e\n")
		}, []string{"c", "d", "e", "new"}},
		{"rotated, old file gone", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, "e\n")
		}, []string{"e", "new"}},
		{"rotated, new file not there yet", func(t *testing.T, path string) {
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path+".1", "c\n")
		}, []string{"c", "new"}},
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, "x\n")
		}, []string{"x", "new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, "a\nb\n")
			var saved TailPosition
			err := Tail(context.Background(), path, TailOptions{FromStart: true, Poll: time.Millisecond}, func(line []byte, pos TailPosition) error {
				saved = pos
				if string(line) == "b" {
					return errStopTail
				}
				return nil
			})
			if !errors.Is(err, errStopTail) || saved.Inode == 0 {
				t.Fatalf("first run: %v, position %+v", err, saved)
			}
			tt.while(t, path)
			c := startTail(t, path, TailOptions{Offset: saved.Offset, Inode: saved.Inode})
			c.waitFor(t, len(tt.want)-1)
			appendFile(t, path, "new\n")
			got := c.waitFor(t, len(tt.want))
			time.Sleep(20 * time.Millisecond) // anything extra would show now
			c.mu.Lock()
			got = append(got[:0], c.lines...)
			c.mu.Unlock()
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
