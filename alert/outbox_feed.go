package alert

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by a Feed whose Outbox was closed.
var ErrClosed = errors.New("alert outbox: closed")

// cursor is a position in the outbox: the next byte to read.
type cursor struct {
	Segment int   `json:"segment"`
	Offset  int64 `json:"offset"`
}

// OutboxFeed is one sink's Feed over an Outbox: it reads from the sink's
// cursor and moves the cursor, durably, on Ack.
type OutboxFeed struct {
	o    *Outbox
	path string // the cursor file

	// Owned by the one goroutine calling Next.
	read cursor // the next line to read
	f    *os.File
	r    *bufio.Reader

	consumed atomic.Int64 // lines handed out, on the Outbox's total's scale
	mu       sync.Mutex
	acked    cursor // the persisted cursor
}

// Feed returns the Feed of the sink named sink, resuming at its cursor.
// A sink seen for the first time starts at the end of the outbox (it
// gets what is written from now on), and that start is persisted at once.
func (o *Outbox) Feed(sink string) (*OutboxFeed, error) {
	if err := validSinkName(sink); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, dup := o.feeds[sink]; dup {
		return nil, fmt.Errorf("alert outbox: sink %q opened twice", sink)
	}
	fd := &OutboxFeed{o: o, path: filepath.Join(o.dir, "cursor-"+sink+".json")}
	c, err := readCursor(fd.path)
	if errors.Is(err, os.ErrNotExist) {
		c = cursor{Segment: o.seg, Offset: o.size}
		err = writeCursor(fd.path, c)
	}
	if err != nil {
		return nil, err
	}
	n, err := o.linesBefore(&c)
	if err != nil {
		return nil, err
	}
	fd.consumed.Store(n)
	fd.read, fd.acked = c, c
	o.feeds[sink] = fd
	return fd, nil
}

// linesBefore counts the lines before c in the segments present, moving
// c to the oldest segment's start when its own segment is gone; called
// with o.mu held.
func (o *Outbox) linesBefore(c *cursor) (int64, error) {
	segs, err := o.segments()
	if err != nil {
		return 0, err
	}
	if len(segs) > 0 && c.Segment < segs[0] {
		*c = cursor{Segment: segs[0]}
	}
	var n int64
	for _, s := range segs {
		if s > c.Segment {
			break
		}
		lines, err := countLinesTo(o.segPath(s), s == c.Segment, c.Offset)
		if err != nil {
			return 0, err
		}
		n += lines
	}
	return n, nil
}

// countLinesTo counts the lines of a segment, only up to offset when
// bounded.
func countLinesTo(path string, bounded bool, offset int64) (int64, error) {
	if !bounded {
		return countLines(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("alert outbox: %w", err)
	}
	defer f.Close()
	var n int64
	r := bufio.NewReader(io.LimitReader(f, offset))
	for {
		_, err := r.ReadBytes('\n')
		if err != nil {
			return n, nil
		}
		n++
	}
}

// Next returns the next finding after the last one returned. It is
// called from one goroutine at a time (the sink's worker).
func (fd *OutboxFeed) Next(ctx context.Context) (Entry, error) {
	for {
		seg, _, changed, closed := fd.o.state()
		line, err := fd.readLine()
		if err != nil {
			return Entry{}, err
		}
		if line != nil {
			fd.consumed.Add(1)
			return decodeOutboxLine(line, fd.read), nil
		}
		if fd.read.Segment < seg {
			fd.nextSegment()
			continue
		}
		if closed {
			fd.nextSegment() // releases the open segment
			return Entry{}, ErrClosed
		}
		if err := waitChanged(ctx, changed); err != nil {
			return Entry{}, err
		}
	}
}

// readLine returns the next complete line, or nil at the end of the
// segment's complete lines.
func (fd *OutboxFeed) readLine() ([]byte, error) {
	if fd.f == nil {
		f, err := os.Open(fd.o.segPath(fd.read.Segment))
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("alert outbox: %w", err)
		}
		if _, err := f.Seek(fd.read.Offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("alert outbox: %w", err)
		}
		fd.f, fd.r = f, bufio.NewReader(f)
	}
	line, err := fd.r.ReadBytes('\n')
	if err == nil {
		fd.read.Offset += int64(len(line))
		return line, nil
	}
	if !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("alert outbox: %w", err)
	}
	if len(line) > 0 { // a line still being written: read it again later
		if _, err := fd.f.Seek(fd.read.Offset, io.SeekStart); err != nil {
			return nil, fmt.Errorf("alert outbox: %w", err)
		}
		fd.r.Reset(fd.f)
	}
	return nil, nil
}

// nextSegment moves the read position to the start of the next segment.
func (fd *OutboxFeed) nextSegment() {
	if fd.f != nil {
		fd.f.Close()
		fd.f, fd.r = nil, nil
	}
	fd.read = cursor{Segment: fd.read.Segment + 1}
}

// decodeOutboxLine turns a stored line into an Entry whose position is
// the cursor after it.
func decodeOutboxLine(line []byte, after cursor) Entry {
	var ol outboxLine
	e := Entry{pos: after}
	if err := json.Unmarshal(line, &ol); err != nil {
		e.Raw, e.Bad = append([]byte(nil), line...), fmt.Errorf("outbox line: %w", err)
		return e
	}
	e.Finding, e.Queued = ol.Finding, ol.Queued
	return e
}

// Ack persists the cursor after the last of es (write, fsync, rename):
// after a crash the sink resumes there.
func (fd *OutboxFeed) Ack(ctx context.Context, es ...Entry) error {
	if len(es) == 0 {
		return nil
	}
	c, ok := es[len(es)-1].pos.(cursor)
	if !ok {
		return errors.New("alert outbox: entry from another feed")
	}
	if err := writeCursor(fd.path, c); err != nil {
		return err
	}
	fd.mu.Lock()
	prev := fd.acked.Segment
	fd.acked = c
	fd.mu.Unlock()
	if c.Segment > prev {
		fd.o.mu.Lock()
		fd.o.removeDone()
		fd.o.mu.Unlock()
	}
	return nil
}

// Lag is the number of findings written but not yet returned by Next.
func (fd *OutboxFeed) Lag() int64 {
	_, total, _, _ := fd.o.state()
	return total - fd.consumed.Load()
}

// ackedSegment is the segment of the persisted cursor.
func (fd *OutboxFeed) ackedSegment() int {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	return fd.acked.Segment
}

func readCursor(path string) (cursor, error) {
	var c cursor
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("alert outbox: cursor %s: %w", path, err)
	}
	return c, nil
}

// writeCursor replaces the cursor file atomically and durably.
func writeCursor(path string, c cursor) error {
	b, _ := json.Marshal(c)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("alert outbox: cursor: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("alert outbox: cursor: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir fsyncs a directory so a rename in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("alert outbox: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("alert outbox: fsync dir: %w", err)
	}
	return nil
}
