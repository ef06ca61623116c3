// Package timesort puts normalised events in event-time order in bounded
// memory, for inputs that were not written in that order (logs merged from
// several servers, exports sorted by something else).
//
// It is an external merge sort over the event wire encoding
// (ingest.AppendWireBinary): events are gathered into runs of at most
// Options.RunBytes; each full run is sorted by time and written to a
// temporary file (by a goroutine of the Sorter's, while the next run is
// gathered), and Merge reads the runs back in one k-way merge. An input
// that fits in one run never touches the disk. Equal times keep the
// order in which the events were added.
//
// Events come back as the wire encoding decodes them: every field the
// detectors read survives, except that invalid UTF-8 in a string (a path
// with a raw \xff byte, say) comes back with U+FFFD in its place, as it
// does through Kafka.
package timesort

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// Defaults of Options.
const (
	// DefaultRunBytes is the default Options.RunBytes: 64 MiB.
	DefaultRunBytes = 64 << 20
	// DefaultBatch is the default Options.Batch.
	DefaultBatch = 1024
)

// maxRunBytes keeps run offsets within uint32.
const maxRunBytes = 1 << 31

// ErrNoTime is returned by Add for an event whose time has no place in the
// order: zero, or outside the years 1678 to 2261 that int64 nanoseconds
// span. The caller decides what such an event means (a detect.Engine
// counts it as untimed wherever it comes).
var ErrNoTime = errors.New("timesort: event time cannot be ordered")

// errNoClient is returned by Add for an event the wire encoding cannot
// carry: it has no client key.
var errNoClient = errors.New("timesort: event has no client key")

// Options configure a Sorter; the zero Options work.
type Options struct {
	// RunBytes bounds the memory runs take: their encoded events plus
	// 16 bytes of index each (default DefaultRunBytes; at most 2 GiB).
	// Two runs of half that are held: one gathered while the other is
	// written. Merging reads the spilled runs through buffers that share
	// about as much again.
	RunBytes int
	// Dir is where runs are spilled (default os.TempDir()).
	Dir string
	// Batch is how many events Merge passes at a time (default
	// DefaultBatch).
	Batch int
}

// Sorter gathers events and hands them back in time order. It is not safe
// for concurrent use. Close removes its temporary files; call it also
// when Add or Merge failed.
type Sorter struct {
	opts    Options
	run     *run       // the run being gathered
	spare   *run       // the other run's buffers (being written while writing is set)
	writing chan error // the write of the previous run, while one is under way
	files   []string   // spilled runs, in the order they were gathered
	events  int64
	merged  bool
}

// run is a batch of encoded events and their index.
type run struct {
	data []byte  // wire encodings, back to back
	idx  []entry // one per event, in the order added until sorted
}

// entry locates one event of a run and holds its sort key.
type entry struct {
	t      int64 // Unix nanoseconds
	off, n uint32
}

// entrySize is what one entry costs, counted against RunBytes.
const entrySize = 16

// New returns a Sorter configured by opts.
func New(opts Options) *Sorter {
	if opts.RunBytes <= 0 {
		opts.RunBytes = DefaultRunBytes
	}
	opts.RunBytes = min(opts.RunBytes, maxRunBytes)
	if opts.Dir == "" {
		opts.Dir = os.TempDir()
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	return &Sorter{opts: opts, run: &run{}, spare: &run{}}
}

// Add copies ev into the sorter. It returns ErrNoTime, keeping nothing,
// for an event without an orderable time, and an error when a full run
// cannot be written to disk.
func (s *Sorter) Add(ev *ingest.Event) error {
	if s.merged {
		return errors.New("timesort: Add after Merge")
	}
	t, ok := sortKey(ev.Time)
	if !ok {
		return ErrNoTime
	}
	if ev.ClientKey == "" {
		return errNoClient
	}
	r := s.run
	limit := s.opts.RunBytes / 2
	r.reserve(limit)
	off := len(r.data)
	r.data = ingest.AppendWireBinary(r.data, ev)
	r.idx = append(r.idx, entry{t: t, off: uint32(off), n: uint32(len(r.data) - off)})
	s.events++
	if r.size() >= limit {
		return s.spill()
	}
	return nil
}

// Len returns how many events were added.
func (s *Sorter) Len() int64 { return s.events }

// Runs returns how many runs the events were sorted in: the spilled ones
// and the one in memory.
func (s *Sorter) Runs() int {
	if len(s.run.idx) > 0 || len(s.files) == 0 {
		return len(s.files) + 1
	}
	return len(s.files)
}

// Close waits for a run being written and removes the sorter's temporary
// files. It may be called more than once.
func (s *Sorter) Close() error {
	s.wait()
	var errs []error
	for _, name := range s.files {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("timesort: %w", err))
		}
	}
	s.files = nil
	s.run, s.spare = &run{}, &run{}
	return errors.Join(errs...)
}

// sortKey returns t as Unix nanoseconds, or false when t is zero or
// outside what int64 nanoseconds can hold.
func sortKey(t time.Time) (int64, bool) {
	if t.IsZero() {
		return 0, false
	}
	if y := t.Year(); y < 1678 || y > 2261 {
		return 0, false
	}
	return t.UnixNano(), true
}

func (r *run) size() int { return len(r.data) + entrySize*len(r.idx) }

// reserve makes room for one more event without letting append double
// the buffer far past the bound: runs grow to about limit, not 2×limit.
func (r *run) reserve(limit int) {
	const room = 4 << 10 // most events encode in less
	if cap(r.data)-len(r.data) >= room {
		return
	}
	grow := max(cap(r.data), 64<<10)
	grow = min(grow, max(limit-len(r.data), room))
	r.data = slices.Grow(r.data, grow)
}

// sort orders the run by time; the offset breaks ties, so events added
// at the same time keep their order.
func (r *run) sort() {
	slices.SortFunc(r.idx, func(a, b entry) int {
		if c := cmp.Compare(a.t, b.t); c != 0 {
			return c
		}
		return cmp.Compare(a.off, b.off)
	})
}

func (r *run) frame(i int) []byte {
	e := r.idx[i]
	return r.data[e.off : e.off+e.n]
}

// spill hands the full run to a goroutine that sorts it and writes it to
// a new temporary file, and gathers the next run in the other buffers once
// the previous write is done.
func (s *Sorter) spill() error {
	if err := s.wait(); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.opts.Dir, "gatewatch-sort-*.run")
	if err != nil {
		return fmt.Errorf("timesort: spill a run: %w", err)
	}
	s.files = append(s.files, f.Name()) // Close removes it, whatever happens next
	full := s.run
	s.run, s.spare = s.spare, full // spare is not touched until wait says its write is done
	s.writing = make(chan error, 1)
	go func() { s.writing <- writeRun(f, full) }()
	return nil
}

// wait waits for the run being written, if any, and returns the error
// writing it.
func (s *Sorter) wait() error {
	if s.writing == nil {
		return nil
	}
	err := <-s.writing
	s.writing = nil
	return err
}

// writeRun sorts r, writes it to f, closes f and empties r, keeping its
// buffers for another run.
func writeRun(f *os.File, r *run) (err error) {
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("timesort: spill a run: %w", cerr)
		}
	}()
	r.sort()
	w := bufio.NewWriterSize(f, 1<<20)
	var hdr [8 + binary.MaxVarintLen64]byte
	for i, e := range r.idx {
		binary.BigEndian.PutUint64(hdr[:8], uint64(e.t))
		n := binary.PutUvarint(hdr[8:], uint64(e.n))
		w.Write(hdr[:8+n]) // a bufio.Writer's error sticks: the next Write returns it
		if _, err := w.Write(r.frame(i)); err != nil {
			return fmt.Errorf("timesort: spill a run to %s: %w", f.Name(), err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("timesort: spill a run to %s: %w", f.Name(), err)
	}
	r.data, r.idx = r.data[:0], r.idx[:0]
	return nil
}
