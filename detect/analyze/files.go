package analyze

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// stdinCopy reads standard input and writes what it reads to a temporary
// file, for a second reading. A failure to write is kept, not returned:
// the copy is needed only if the input turns out not to be in time order.
type stdinCopy struct {
	r    io.Reader
	f    *os.File
	w    *bufio.Writer
	name string
	err  error // the first error writing the copy
}

// newStdinCopy returns a reader of r that keeps a copy in a new
// temporary file in dir.
func newStdinCopy(r io.Reader, dir string) (*stdinCopy, error) {
	f, err := os.CreateTemp(dir, "gatewatch-stdin-*.log")
	if err != nil {
		return nil, fmt.Errorf("standard input: a file to keep a copy in: %w", err)
	}
	return &stdinCopy{r: r, f: f, w: bufio.NewWriterSize(f, 1<<20), name: f.Name()}, nil
}

// Read reads from standard input and copies what it read.
func (s *stdinCopy) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 && s.err == nil {
		_, s.err = s.w.Write(p[:n])
	}
	return n, err
}

// Close ends the copy. It never fails: an error is kept in s.err.
func (s *stdinCopy) Close() error {
	if s.f == nil {
		return nil
	}
	if s.err == nil {
		s.err = s.w.Flush()
	}
	if err := s.f.Close(); s.err == nil {
		s.err = err
	}
	s.f = nil
	return nil
}

// remove deletes the copy.
func (s *stdinCopy) remove() {
	s.Close()
	os.Remove(s.name)
}

// heldOutput keeps the first reading's findings until it is known they
// are right: in memory up to a limit, then in a temporary file.
type heldOutput struct {
	dir   string
	limit int
	buf   bytes.Buffer
	f     *os.File
	w     *bufio.Writer
}

// newHeldOutput returns a heldOutput that keeps up to limit bytes in
// memory and the rest in a file in dir.
func newHeldOutput(dir string, limit int) *heldOutput {
	return &heldOutput{dir: dir, limit: limit}
}

// Write holds p, moving what is held to a file once it passes the limit.
func (h *heldOutput) Write(p []byte) (int, error) {
	if h.f == nil && h.buf.Len()+len(p) > h.limit {
		f, err := os.CreateTemp(h.dir, "gatewatch-findings-*.out")
		if err != nil {
			return 0, fmt.Errorf("hold findings: %w", err)
		}
		h.f, h.w = f, bufio.NewWriterSize(f, 1<<20)
		if _, err := h.buf.WriteTo(h.w); err != nil {
			return 0, fmt.Errorf("hold findings: %w", err)
		}
	}
	if h.w != nil {
		return h.w.Write(p)
	}
	return h.buf.Write(p)
}

// CopyTo writes what is held to w.
func (h *heldOutput) CopyTo(w io.Writer) error {
	if h.f == nil {
		_, err := h.buf.WriteTo(w)
		return err
	}
	if err := h.w.Flush(); err != nil {
		return fmt.Errorf("hold findings: %w", err)
	}
	if _, err := h.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("hold findings: %w", err)
	}
	_, err := io.Copy(w, h.f)
	return err
}

// Close drops what is held and removes the file. It may be called more
// than once.
func (h *heldOutput) Close() error {
	h.buf = bytes.Buffer{}
	if h.f == nil {
		return nil
	}
	h.f.Close()
	err := os.Remove(h.f.Name())
	h.f, h.w = nil, nil
	return err
}

// countingReader counts bytes read, for progress on compressed or piped
// input where the parser cannot tell how far it got.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

// Read reads from the underlying reader and counts the bytes.
func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
