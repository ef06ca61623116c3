package analyze

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// TestHeldOutput checks that held findings come back whole, from memory
// or from the file they moved to past the limit, and that Close removes
// the file.
func TestHeldOutput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		limit  int
		writes []string
		file   bool
	}{
		{"nothing", 10, nil, false},
		{"in memory", 100, []string{"one\n", "two\n"}, false},
		{"at the limit", 8, []string{"one\n", "two\n"}, false},
		{"past the limit", 8, []string{"one\n", "two\n", "three\n"}, true},
		{"one write past the limit", 1, []string{"a long finding\n"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			h := newHeldOutput(dir, tc.limit)
			for _, w := range tc.writes {
				if n, err := h.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("write %q: %d, %v", w, n, err)
				}
			}
			if left, _ := os.ReadDir(dir); (len(left) == 1) != tc.file {
				t.Errorf("%d files held, want a file %v", len(left), tc.file)
			}
			var out bytes.Buffer
			if err := h.CopyTo(&out); err != nil {
				t.Fatal(err)
			}
			if want := strings.Join(tc.writes, ""); out.String() != want {
				t.Errorf("held %q, want %q", out.String(), want)
			}
			for range 2 {
				if err := h.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("%d files left after Close", len(left))
			}
		})
	}
}

// TestStdinCopy checks that what is read from standard input is what is
// kept, and that remove deletes the copy.
func TestStdinCopy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"a line", "a line\n"},
		{"more than the buffer", strings.Repeat("0123456789abcdef", 1<<17)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cp, err := newStdinCopy(strings.NewReader(tc.in), dir)
			if err != nil {
				t.Fatal(err)
			}
			read, err := io.ReadAll(cp)
			if err != nil || string(read) != tc.in {
				t.Fatalf("read %d bytes, %v; want %d", len(read), err, len(tc.in))
			}
			if err := cp.Close(); err != nil || cp.err != nil {
				t.Fatalf("close: %v, %v", err, cp.err)
			}
			kept, err := os.ReadFile(cp.name)
			if err != nil || string(kept) != tc.in {
				t.Errorf("kept %d bytes, %v; want %d", len(kept), err, len(tc.in))
			}
			cp.remove()
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("%d files left after remove", len(left))
			}
		})
	}
}
