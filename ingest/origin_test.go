package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// originRecorder keeps the origin and position of every event emitted.
type originRecorder struct {
	mu   sync.Mutex
	seen []Event
}

func (r *originRecorder) emit(_ context.Context, ev *Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, Event{Path: ev.Path, Origin: ev.Origin, Pos: ev.Pos})
	return nil
}

func (r *originRecorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.seen...)
}

// follow runs a FileSource over path with positions until n events were
// emitted, and returns them.
func follow(t *testing.T, path string, pos *Positions, n int) []Event {
	t.Helper()
	r := &originRecorder{}
	in, err := NewIntake(IntakeOptions{Name: "edge", Decoder: DecoderOptions{Format: "nginx_combined", MaxSkew: -1},
		Emit: r.emit, Reject: func(context.Context, string, Reject) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	src := &FileSource{Path: path, FromStart: true, Positions: pos}
	go func() { done <- src.Run(ctx, in) }()
	for deadline := time.Now().Add(10 * time.Second); len(r.events()) < n && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	return r.events()
}

func accessLines(from, to int) string {
	var s string
	for i := from; i < to; i++ {
		s += fmt.Sprintf("203.0.113.7 - - [02/Nov/2026:09:59:%02d +0000] \"GET /item/%d HTTP/1.1\" 200 5 \"-\" \"curl/8\"\n", i%60, i)
	}
	return s
}

// TestFileOriginAndPosition checks what lets a consumer recognise a line
// sent again: a file's events share one non-zero Origin, their Pos grows;
// a restart from saved positions keeps the Origin (lines re-read after a
// crash compare equal), and a file truncated in place and written anew
// gets another Origin (its positions start over). The wire carries both.
func TestFileOriginAndPosition(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	if err := os.WriteFile(path, []byte(accessLines(0, 5)), 0o600); err != nil {
		t.Fatal(err)
	}
	pos, err := LoadPositions(filepath.Join(dir, "positions.json"))
	if err != nil {
		t.Fatal(err)
	}
	first := follow(t, path, pos, 5)
	if len(first) != 5 || first[0].Origin == 0 {
		t.Fatalf("first reading: %+v", first)
	}
	for i := 1; i < len(first); i++ {
		if first[i].Origin != first[0].Origin || first[i].Pos <= first[i-1].Pos {
			t.Errorf("event %d: origin %x pos %d after %x %d", i, first[i].Origin, first[i].Pos, first[i-1].Origin, first[i-1].Pos)
		}
	}
	// A crash after the third line: its saved position is older.
	pos.Set(mustAbs(t, path), TailPosition{Offset: first[2].Pos, Inode: inodeOf(t, path)})
	again := follow(t, path, pos, 2)
	same := func(a, b Event) bool { return a.Path == b.Path && a.Origin == b.Origin && a.Pos == b.Pos }
	if len(again) != 2 || !same(again[0], first[3]) || !same(again[1], first[4]) {
		t.Errorf("after a restart: %+v, want the 4th and 5th events as first read: %+v", again, first[3:])
	}
	// Truncated in place, then new lines: a new origin.
	if err := os.WriteFile(path, []byte(accessLines(100, 103)), 0o600); err != nil {
		t.Fatal(err)
	}
	pos.Set(mustAbs(t, path), TailPosition{})
	fresh := follow(t, path, pos, 3)
	if len(fresh) != 3 || fresh[0].Origin == first[0].Origin || fresh[0].Origin == 0 {
		t.Errorf("after truncation: %+v; origin must differ from %x", fresh, first[0].Origin)
	}
	// The wire round trip.
	ev := Event{Time: time.Unix(1, 0).UTC(), ClientKey: "c", Origin: first[4].Origin, Pos: first[4].Pos}
	var back Event
	if err := DecodeWire(AppendWire(nil, &ev), &back); err != nil || back.Origin != ev.Origin || back.Pos != ev.Pos {
		t.Errorf("wire: %+v, %v", back, err)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func inodeOf(t *testing.T, p string) uint64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return inode(st)
}
