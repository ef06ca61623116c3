package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// TailOptions configure Tail.
type TailOptions struct {
	// FromStart reads the file from its beginning; by default only lines
	// written after Tail starts are read.
	FromStart bool
	// Offset, when positive, is the byte offset to resume from (a position
	// saved from an earlier Tail's callback); it wins over FromStart as
	// long as the file is at least that long.
	Offset int64
	// Inode, when set with Offset, is the inode of the file Offset belongs
	// to. If path names another file now (it was rotated while nobody was
	// reading), Tail first finishes the old file from Offset when it is
	// still in the same directory under another name (access.log.1), then
	// reads the new file from its start: nothing is skipped or read twice.
	Inode uint64
	// Poll is how often to look for new data, rotation and truncation
	// (default 250ms). Polling works on every file system, including the
	// network and container overlays where inotify does not.
	Poll time.Duration
	// MaxLine is the longest line kept (default 1 MiB); longer lines are
	// passed to fn cut to MaxLine with truncated set.
	MaxLine int
}

// TailPosition says where a line came from, so a caller can persist it.
type TailPosition struct {
	Offset    int64  // byte offset just past the line in the current file
	Inode     uint64 // the current file's inode (0 where the OS has none)
	Truncated bool   // the line was longer than MaxLine and was cut
	// Fingerprint identifies the file's content: its inode and first line
	// (at most 256 bytes), so a file truncated in place and written anew
	// gets another. Never 0.
	Fingerprint uint64
}

// Tail follows the file at path like "tail -F": it reads lines as they
// are appended, follows the name to a new file after rotation (after
// reading what is left of the old one), starts over after truncation, and
// waits for the file when it does not exist yet. It returns when ctx ends
// or fn returns an error. fn is called from Tail's goroutine; line is
// valid only during the call.
func Tail(ctx context.Context, path string, opts TailOptions, fn func(line []byte, pos TailPosition) error) error {
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = 1 << 20
	}
	t := &tailer{path: path, opts: opts, fn: fn, buf: make([]byte, 0, 64<<10)}
	defer t.close()
	first := true
	if opts.Offset > 0 && opts.Inode != 0 {
		switch resumed, err := t.resumeRotated(); {
		case err != nil:
			return err
		case resumed:
			first = false // the saved position was in the old file
		}
	}
	for {
		if t.f == nil {
			if err := t.open(first); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			first = false
		}
		if t.f != nil {
			if err := t.drain(); err != nil {
				return err
			}
			if err := t.checkRotation(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(opts.Poll):
		}
	}
}

type tailer struct {
	path string
	opts TailOptions
	fn   func([]byte, TailPosition) error
	f    *os.File
	ino  uint64
	off  int64 // offset of the first byte not yet read into buf
	buf  []byte
	skip bool   // discarding the rest of an over-long line
	fp   uint64 // the current file's fingerprint; 0 until a line was read
	rd   [64 << 10]byte
}

func (t *tailer) open(first bool) error {
	f, err := os.Open(t.path)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("tail %s: %w", t.path, err)
	}
	t.f, t.ino, t.buf, t.skip, t.fp = f, inode(st), t.buf[:0], false, 0
	t.off = 0
	if first {
		switch {
		case t.opts.Offset > 0 && t.opts.Offset <= st.Size():
			t.off = t.opts.Offset
		case t.opts.Offset > 0:
			// Shorter than the saved position: truncated while nobody was
			// reading, so all of it is new.
		case !t.opts.FromStart:
			t.off = st.Size()
		}
	}
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return fmt.Errorf("tail %s: %w", t.path, err)
	}
	return nil
}

func (t *tailer) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

// drain reads to the current end of the open file, delivering whole lines.
func (t *tailer) drain() error {
	for {
		n, err := t.f.Read(t.rd[:])
		if n > 0 {
			t.off += int64(n)
			if ferr := t.feed(t.rd[:n]); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tail %s: %w", t.path, err)
		}
	}
}

func (t *tailer) feed(data []byte) error {
	base := t.off - int64(len(data)) // file offset of data[0]
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if !t.skip {
				t.buf = append(t.buf, data...)
				if len(t.buf) > t.opts.MaxLine {
					if err := t.emit(t.buf[:t.opts.MaxLine], base+int64(len(data)), true); err != nil {
						return err
					}
					t.buf, t.skip = t.buf[:0], true
				}
			}
			return nil
		}
		end := base + int64(i) + 1
		if t.skip {
			t.skip = false
		} else {
			line := data[:i]
			if len(t.buf) > 0 {
				t.buf = append(t.buf, line...)
				line = t.buf
			}
			truncated := len(line) > t.opts.MaxLine
			if truncated {
				line = line[:t.opts.MaxLine]
			}
			if err := t.emit(bytes.TrimSuffix(line, []byte{'\r'}), end, truncated); err != nil {
				return err
			}
		}
		t.buf = t.buf[:0]
		data, base = data[i+1:], end
	}
	return nil
}

func (t *tailer) emit(line []byte, end int64, truncated bool) error {
	if t.fp == 0 {
		t.fp = t.fingerprint()
	}
	return t.fn(line, TailPosition{Offset: end, Inode: t.ino, Truncated: truncated, Fingerprint: t.fp})
}

// resumeRotated handles a saved position whose file is no longer at path:
// it reads the rest of that file if a sibling still holds it, and reports
// whether the position belonged to another file than path's (so path's
// file, when it appears, is read from its start).
func (t *tailer) resumeRotated() (bool, error) {
	st, err := os.Stat(t.path)
	if err == nil && inode(st) == t.opts.Inode {
		return false, nil // same file: open resumes at Offset
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("tail %s: %w", t.path, err)
	}
	old := findInode(filepath.Dir(t.path), t.opts.Inode)
	if old == "" {
		return true, nil // gone (compressed or deleted): start on the new file
	}
	f, err := os.Open(old)
	if err != nil {
		return true, nil // rotated away between the scan and the open
	}
	ofi, err := f.Stat()
	if err != nil || inode(ofi) != t.opts.Inode || ofi.Size() < t.opts.Offset {
		f.Close()
		return true, nil
	}
	if _, err := f.Seek(t.opts.Offset, io.SeekStart); err != nil {
		f.Close()
		return true, nil
	}
	t.f, t.ino, t.off, t.fp = f, t.opts.Inode, t.opts.Offset, 0
	if err := t.drain(); err != nil {
		return true, err
	}
	if len(t.buf) > 0 && !t.skip {
		if err := t.emit(t.buf, t.off, false); err != nil {
			return true, err
		}
	}
	t.close()
	return true, nil
}

// findInode returns the path of the regular file in dir with inode ino, or
// "" if there is none.
func findInode(dir string, ino uint64) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err == nil && inode(fi) == ino {
			return filepath.Join(dir, e.Name())
		}
	}
	return ""
}

// checkRotation reopens the path when it now names another file (rotated)
// or when the file shrank below our offset (truncated).
func (t *tailer) checkRotation() error {
	st, err := os.Stat(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // rotated away and not yet recreated: keep the old file
	}
	if err != nil {
		return fmt.Errorf("tail %s: %w", t.path, err)
	}
	if inode(st) != t.ino {
		// Rotated: finish the old file first (a writer may have appended
		// since the last drain); a partial last line without its newline
		// is delivered as is.
		if err := t.drain(); err != nil {
			return err
		}
		if len(t.buf) > 0 && !t.skip {
			if err := t.emit(t.buf, t.off, false); err != nil {
				return err
			}
		}
		t.close()
		return t.open(false)
	}
	if st.Size() < t.off {
		// Truncated in place (copytruncate): start over.
		t.buf, t.skip, t.fp = t.buf[:0], false, 0
		t.off = 0
		if _, err := t.f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("tail %s: %w", t.path, err)
		}
	}
	return nil
}

// fingerprint hashes the current file's inode and first line (at most
// 256 bytes; a line was read, so it is complete). Never 0.
func (t *tailer) fingerprint() uint64 {
	var head [256]byte
	n, _ := t.f.ReadAt(head[:], 0)
	first := head[:n]
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	h := fnv.New64a()
	var ino [8]byte
	binary.LittleEndian.PutUint64(ino[:], t.ino)
	h.Write(ino[:])
	h.Write(first)
	return h.Sum64() | 1
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
