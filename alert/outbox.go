package alert

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// DefaultSegmentBytes is the size at which the Outbox starts a new
// segment file.
const DefaultSegmentBytes = 16 << 20

// Outbox is the embedded pipeline's durable queue of findings: a
// directory of append-only JSON-lines segments (outbox-00000001.jsonl…),
// each finding fsynced before Write returns, and one cursor file per sink
// (cursor-NAME.json) that moves only when the sink acknowledged. A
// restart resumes every sink at its cursor; segments every cursor has
// passed are deleted. It is safe for concurrent use.
type Outbox struct {
	dir      string
	segBytes int64

	mu      sync.Mutex
	f       *os.File
	seg     int
	size    int64
	total   int64         // lines in the segments present at open, plus appended
	changed chan struct{} // closed (and replaced) on every append
	feeds   map[string]*OutboxFeed
}

// OutboxOptions tune OpenOutbox; the zero value works.
type OutboxOptions struct {
	// SegmentBytes starts a new segment past this size
	// (DefaultSegmentBytes when 0).
	SegmentBytes int64
}

// outboxLine is one stored finding.
type outboxLine struct {
	Queued  time.Time      `json:"queued"`
	Finding detect.Finding `json:"finding"`
}

// OpenOutbox opens (creating if needed) the outbox in dir. A torn last
// line, left by a crash in the middle of a write, is cut off.
func OpenOutbox(dir string, opts OutboxOptions) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("alert outbox: %w", err)
	}
	o := &Outbox{dir: dir, segBytes: opts.SegmentBytes, changed: make(chan struct{}), feeds: map[string]*OutboxFeed{}}
	if o.segBytes <= 0 {
		o.segBytes = DefaultSegmentBytes
	}
	segs, err := o.segments()
	if err != nil {
		return nil, err
	}
	o.seg = 1
	if len(segs) > 0 {
		o.seg = segs[len(segs)-1]
	}
	for _, s := range segs {
		n, err := countLines(o.segPath(s))
		if err != nil {
			return nil, err
		}
		o.total += n
	}
	if err := o.openTail(); err != nil {
		return nil, err
	}
	return o, nil
}

// openTail opens the newest segment for appending, cutting a torn line.
func (o *Outbox) openTail() error {
	f, err := os.OpenFile(o.segPath(o.seg), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return fmt.Errorf("alert outbox: %w", err)
	}
	end, err := completeLength(f)
	if err == nil {
		err = f.Truncate(end)
	}
	if err == nil {
		_, err = f.Seek(end, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("alert outbox: %s: %w", o.segPath(o.seg), err)
	}
	o.f, o.size = f, end
	return nil
}

// Write appends f and fsyncs it: when Write returns nil the finding
// survives a crash. It implements the embedded pipeline's FindingWriter.
func (o *Outbox) Write(f detect.Finding) error { return o.WriteAll(f) }

// WriteAll appends fs with one fsync: when it returns nil every one of
// them survives a crash; on an error, any of them may have been kept.
func (o *Outbox) WriteAll(fs ...detect.Finding) error {
	queued := time.Now().UTC()
	var b []byte
	for _, f := range fs {
		line, err := json.Marshal(outboxLine{Queued: queued, Finding: f})
		if err != nil {
			return fmt.Errorf("alert outbox: encode finding: %w", err)
		}
		b = append(append(b, line...), '\n')
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return errors.New("alert outbox: closed")
	}
	if o.size > 0 && o.size+int64(len(b)) > o.segBytes {
		if err := o.roll(); err != nil {
			return err
		}
	}
	if _, err := o.f.Write(b); err != nil {
		return fmt.Errorf("alert outbox: append: %w", err)
	}
	if err := o.f.Sync(); err != nil {
		return fmt.Errorf("alert outbox: fsync: %w", err)
	}
	o.size += int64(len(b))
	o.total += int64(len(fs))
	close(o.changed)
	o.changed = make(chan struct{})
	return nil
}

// roll closes the current segment and starts the next one; called with
// o.mu held.
func (o *Outbox) roll() error {
	if err := o.f.Close(); err != nil {
		return fmt.Errorf("alert outbox: close segment: %w", err)
	}
	o.seg++
	o.f = nil
	if err := o.openTail(); err != nil {
		return err
	}
	o.removeDone()
	return nil
}

// Close closes the current segment. Feeds stop returning entries.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	close(o.changed)
	o.changed = make(chan struct{})
	return err
}

// removeDone deletes the segments before every open feed's cursor;
// called with o.mu held. Nothing is deleted before a feed has been
// opened: a sink not yet started must not lose its backlog.
func (o *Outbox) removeDone() {
	if len(o.feeds) == 0 {
		return
	}
	low := o.seg
	for _, fd := range o.feeds {
		if s := fd.ackedSegment(); s < low {
			low = s
		}
	}
	segs, err := o.segments()
	if err != nil {
		return
	}
	for _, s := range segs {
		if s < low {
			os.Remove(o.segPath(s))
		}
	}
}

func (o *Outbox) segPath(seg int) string {
	return filepath.Join(o.dir, fmt.Sprintf("outbox-%08d.jsonl", seg))
}

// segments lists the segment numbers present, oldest first.
func (o *Outbox) segments() ([]int, error) {
	names, err := filepath.Glob(filepath.Join(o.dir, "outbox-*.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("alert outbox: %w", err)
	}
	var segs []int
	for _, n := range names {
		var s int
		if _, err := fmt.Sscanf(filepath.Base(n), "outbox-%08d.jsonl", &s); err == nil {
			segs = append(segs, s)
		}
	}
	sort.Ints(segs)
	return segs, nil
}

// state returns the current segment, the total line count and the
// channel closed on the next append.
func (o *Outbox) state() (seg int, total int64, changed <-chan struct{}, closed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seg, o.total, o.changed, o.f == nil
}

// completeLength is the length of f up to and including its last newline.
func completeLength(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := st.Size()
	buf := make([]byte, 4096)
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}

// countLines counts the complete lines of the file at path.
func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("alert outbox: %w", err)
	}
	defer f.Close()
	var n int64
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		b, err := r.ReadSlice('\n')
		if len(b) > 0 && b[len(b)-1] == '\n' {
			n++
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return 0, fmt.Errorf("alert outbox: %w", err)
		}
	}
}

// validSinkName keeps cursor file names tame.
func validSinkName(name string) error {
	if name == "" || len(name) > 64 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" || name[0] == '.' {
		return fmt.Errorf("alert: sink name %q: use 1-64 letters, digits, '-', '_' or '.'", name)
	}
	return nil
}

// waitChanged blocks until ch is closed or ctx is done.
func waitChanged(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
