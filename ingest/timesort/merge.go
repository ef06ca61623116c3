package timesort

import (
	"bufio"
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gatewatch/gatewatch/ingest"
)

// maxFrame bounds one encoded event read back from a run file: far above
// any event (a 1 MiB line escapes to a few MiB), far below a size that
// would exhaust memory on a damaged file.
const maxFrame = 64 << 20

// Merge calls fn with every event added, in time order (equal times in
// the order added), a batch at a time. fn is called from the calling
// goroutine while a goroutine of Merge's reads and decodes the next
// batches; Merge returns only after that goroutine has ended. The events
// alias the sorter's buffers: they are valid only during the call, and fn
// must not keep them. Merge stops at the first error from fn, when ctx
// ends, or on a run file it cannot read back. A Sorter merges once; Close
// it afterwards.
func (s *Sorter) Merge(ctx context.Context, fn func([]ingest.Event) error) error {
	if s.merged {
		return errors.New("timesort: Merge called twice")
	}
	s.merged = true
	if err := s.wait(); err != nil {
		return err
	}
	s.run.sort()
	srcs, closeAll, err := s.openRuns()
	if err != nil {
		return err
	}
	defer closeAll()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Three batches go round: one being decoded, one waiting, one with fn.
	const batches = 3
	free, full := make(chan *batcher, batches), make(chan *batcher, 1)
	for range batches {
		free <- newBatcher(s.opts.Batch)
	}
	var mergeErr error
	go func() {
		defer close(full)
		mergeErr = merge(ctx, srcs, free, full)
	}()
	var fnErr error
	for b := range full { // until the merging goroutine ends
		if fnErr == nil {
			if fnErr = fn(b.evs[:b.n]); fnErr != nil {
				cancel()
			}
		}
		b.reset()
		free <- b // never blocks: free holds every batch
	}
	return cmp.Or(fnErr, mergeErr)
}

// merge reads the runs' events in time order and decodes them into
// batches taken from free, sending each full batch to full. It ends at
// the end of the runs, at an error or when ctx ends.
func merge(ctx context.Context, srcs []*source, free <-chan *batcher, full chan<- *batcher) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h := &mergeHeap{}
	for _, src := range srcs {
		if err := src.advance(); err != nil {
			return err
		}
		if src.ok {
			h.srcs = append(h.srcs, src)
		}
	}
	heap.Init(h)
	var b *batcher
	for h.Len() > 0 {
		if b == nil {
			select {
			case b = <-free:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		src := h.srcs[0]
		if !b.fits(src.frame, src.inMemory) {
			if err := send(ctx, full, b); err != nil {
				return err
			}
			b = nil
			continue
		}
		if err := b.add(src.frame, src.inMemory); err != nil {
			return err
		}
		if err := src.advance(); err != nil {
			return err
		}
		if src.ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	if b != nil && b.n > 0 {
		return send(ctx, full, b)
	}
	return nil
}

// send hands a full batch on, unless ctx has ended.
func send(ctx context.Context, full chan<- *batcher, b *batcher) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case full <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// openRuns returns a source per run, oldest first (the one in memory is
// the newest), and a function that closes their files.
func (s *Sorter) openRuns() ([]*source, func(), error) {
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	// The read buffers share about one run's worth of memory.
	bufSize := min(max(s.opts.RunBytes/max(len(s.files), 1), 16<<10), 1<<20)
	srcs := make([]*source, 0, len(s.files)+1)
	for i, name := range s.files {
		f, err := os.Open(name)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("timesort: read back a run: %w", err)
		}
		files = append(files, f)
		srcs = append(srcs, &source{rank: i, name: name, r: bufio.NewReaderSize(f, bufSize)})
	}
	srcs = append(srcs, &source{rank: len(s.files), mem: s.run, inMemory: true})
	return srcs, closeAll, nil
}

// source is one sorted run being merged: a file, or the run in memory.
type source struct {
	rank     int // position among the runs: breaks ties between them
	name     string
	r        *bufio.Reader
	mem      *run
	next     int // the in-memory run's next entry
	inMemory bool

	ok    bool   // t and frame hold the run's current event
	t     int64  // its time
	frame []byte // its encoding (a file source's buffer is reused)
}

// advance moves to the run's next event; at the end ok becomes false.
func (s *source) advance() error {
	if s.mem != nil {
		s.ok = s.next < len(s.mem.idx)
		if s.ok {
			s.t, s.frame = s.mem.idx[s.next].t, s.mem.frame(s.next)
			s.next++
		}
		return nil
	}
	t, frame, err := readFrame(s.r, s.frame[:0])
	switch {
	case errors.Is(err, io.EOF):
		s.ok = false
		return nil
	case err != nil:
		return fmt.Errorf("timesort: read back run %s: %w", s.name, err)
	}
	s.ok, s.t, s.frame = true, t, frame
	return nil
}

// readFrame reads one record of a run file into buf: the time (8 bytes,
// big-endian Unix nanoseconds), the length of the encoding (uvarint) and
// the encoding. It returns io.EOF only at a clean end between records.
func readFrame(r *bufio.Reader, buf []byte) (int64, []byte, error) {
	hdr, err := r.Peek(8) // not io.ReadFull: a local array would escape
	switch {
	case len(hdr) == 0 && errors.Is(err, io.EOF):
		return 0, nil, io.EOF
	case err != nil:
		return 0, nil, truncated(err)
	}
	t := int64(binary.BigEndian.Uint64(hdr))
	r.Discard(8)
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, nil, truncated(err)
	}
	if n > maxFrame {
		return 0, nil, fmt.Errorf("record of %d bytes: damaged run", n)
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n, max(int(n), 2*cap(buf), 1024))
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, truncated(err)
	}
	return t, buf, nil
}

// truncated names an end of file inside a record for what it is.
func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("truncated record")
	}
	return err
}

// mergeHeap orders sources by their current event's time, then by run.
type mergeHeap struct{ srcs []*source }

func (h *mergeHeap) Len() int { return len(h.srcs) }
func (h *mergeHeap) Less(i, j int) bool {
	a, b := h.srcs[i], h.srcs[j]
	return a.t < b.t || (a.t == b.t && a.rank < b.rank)
}
func (h *mergeHeap) Swap(i, j int) { h.srcs[i], h.srcs[j] = h.srcs[j], h.srcs[i] }
func (h *mergeHeap) Push(x any)    { h.srcs = append(h.srcs, x.(*source)) }
func (h *mergeHeap) Pop() any {
	x := h.srcs[len(h.srcs)-1]
	h.srcs = h.srcs[:len(h.srcs)-1]
	return x
}

// batcher is a batch of decoded events. Frames read from files are
// copied into arena first, since the decoded strings alias them; arena
// never grows while it holds a frame.
type batcher struct {
	evs   []ingest.Event
	n     int
	arena []byte
}

func newBatcher(size int) *batcher {
	return &batcher{evs: make([]ingest.Event, size), arena: make([]byte, 0, 1<<20)}
}

// fits reports whether the batch has room for one more event encoded as
// frame. An empty batch always has.
func (b *batcher) fits(frame []byte, stable bool) bool {
	if b.n == 0 {
		return true
	}
	return b.n < len(b.evs) && (stable || cap(b.arena)-len(b.arena) >= len(frame))
}

// add decodes one frame into the batch; stable frames (the in-memory
// run's) are decoded in place.
func (b *batcher) add(frame []byte, stable bool) error {
	if !stable {
		if cap(b.arena)-len(b.arena) < len(frame) { // the batch is empty
			b.arena = make([]byte, 0, max(len(frame), cap(b.arena)))
		}
		start := len(b.arena)
		b.arena = append(b.arena, frame...)
		frame = b.arena[start:]
	}
	ev := &b.evs[b.n]
	ev.Reset()
	if err := ingest.DecodeWire(frame, ev); err != nil {
		return fmt.Errorf("timesort: %w", err)
	}
	b.n++
	return nil
}

// reset empties the batch for reuse.
func (b *batcher) reset() { b.n, b.arena = 0, b.arena[:0] }
