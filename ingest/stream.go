package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// StreamOptions configure ParseStream.
type StreamOptions struct {
	// Format names the log format (see Formats). Empty or "auto" detects
	// it from the first lines of the stream.
	Format        string
	ParserOptions ParserOptions
	Normalizer    NormalizerOptions
	// Workers parse in parallel; default GOMAXPROCS.
	Workers int
	// ChunkSize is how many bytes one worker parses at a time; it is also
	// the longest line accepted. Default 1 MiB.
	ChunkSize int
	// FirstLine numbers the stream's first line (default 1), for dead letters.
	FirstLine int64
	// MaxSkew is the Decoder's: lines timed further in the future are
	// rejected (0 means DefaultMaxSkew, negative turns it off).
	MaxSkew time.Duration
}

// Batch is a run of consecutive lines, parsed. It is valid only during
// the callback it is passed to: events and rejects alias reused buffers.
type Batch struct {
	Events   []Event
	Rejects  []Reject
	Lines    int   // lines in the batch, blank ones included
	Bytes    int64 // input bytes the batch covers
	seq      uint64
	chunk    []byte
	first    int64
	longLine bool
}

// Reject is a line that could not be parsed.
type Reject struct {
	Line   int64  // line number in the stream
	Reason string // why: the ParseError's text
	Text   []byte // the line as read (aliases the batch)
}

// ParseStream reads newline-separated log lines from r, parses them on
// several goroutines and calls fn with each batch in input order, from the
// calling goroutine. It stops at EOF, at the first error from fn or r, or
// when ctx ends, and returns only after every goroutine it started has
// finished. The format actually used is returned (useful with "auto").
func ParseStream(ctx context.Context, r io.Reader, opts StreamOptions, fn func(*Batch) error) (string, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 1 << 20
	}
	if opts.FirstLine == 0 {
		opts.FirstLine = 1
	}
	br := &chunkReader{r: r, size: opts.ChunkSize, line: opts.FirstLine}
	format, err := streamFormat(br, opts)
	if err != nil || format == "" {
		return format, err
	}
	// Build one decoder up front so a bad format fails before any
	// goroutine.
	dopts := DecoderOptions{Format: format, ParserOptions: opts.ParserOptions, Normalizer: opts.Normalizer, MaxSkew: opts.MaxSkew}
	d, err := NewDecoder(dopts)
	if err != nil {
		return "", err
	}
	// Workers must agree on client keys: without a configured key, the one
	// generated here serves all of them.
	dopts.Normalizer.HMACKey = d.Key()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &streamer{br: br, pool: sync.Pool{New: func() any { return new(Batch) }},
		work: make(chan *Batch, opts.Workers), done: make(chan *Batch, opts.Workers*2)}
	var reader sync.WaitGroup
	reader.Add(1)
	go func() { defer reader.Done(); st.read(ctx) }()
	var workers sync.WaitGroup
	for range opts.Workers {
		workers.Add(1)
		go func() { defer workers.Done(); st.parse(ctx, dopts) }()
	}
	go func() { workers.Wait(); close(st.done) }()
	fnErr := st.deliver(ctx, cancel, fn)
	reader.Wait()
	switch {
	case fnErr != nil:
		return format, fnErr
	case st.readErr != nil:
		return format, fmt.Errorf("read: %w", st.readErr)
	}
	return format, ctx.Err()
}

// streamFormat is the format to parse the stream as: the one named, or
// the one its first lines are in; "" for an empty stream.
func streamFormat(br *chunkReader, opts StreamOptions) (string, error) {
	format := opts.Format
	if (format == "" || format == "auto") && opts.ParserOptions.LogFormat != "" {
		return "nginx", nil // a log_format string says what the lines are
	}
	if format != "" && format != "auto" {
		return format, nil
	}
	head, err := br.peekLines(64)
	if err != nil || len(head) == 0 {
		return "", err // empty input: nothing to detect, nothing to do
	}
	f, ok := Detect(head)
	if !ok {
		return "", fmt.Errorf("cannot detect the log format from the first %d lines; name it with --format (one of: %s)", len(head), strings.Join(Formats(), ", "))
	}
	return f, nil
}

// streamer is ParseStream's plumbing: a reader cutting the stream into
// chunks of whole lines, workers parsing them, and the caller's goroutine
// putting the batches back in order.
type streamer struct {
	br      *chunkReader
	pool    sync.Pool // *Batch
	work    chan *Batch
	done    chan *Batch
	readErr error // set by read before it closes work
}

// read cuts the stream into chunks for the workers, then closes work.
func (st *streamer) read(ctx context.Context) {
	defer close(st.work)
	for seq := uint64(0); ; seq++ {
		b := st.pool.Get().(*Batch)
		b.seq = seq
		var err error
		b.chunk, b.first, b.longLine, err = st.br.next(b.chunk)
		if len(b.chunk) > 0 {
			select {
			case st.work <- b:
			case <-ctx.Done():
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				st.readErr = err
			}
			return
		}
	}
}

// parse is one worker: it owns its Decoder.
func (st *streamer) parse(ctx context.Context, dopts DecoderOptions) {
	d, _ := NewDecoder(dopts) // ParseStream made one with these options already
	for b := range st.work {
		parseBatch(d, b)
		select {
		case st.done <- b:
		case <-ctx.Done():
			return
		}
	}
}

// deliver reorders the parsed batches (workers finish out of order) and
// calls fn with each in input order until done is closed; after fn's
// first error it cancels the others and drains, so workers can exit.
func (st *streamer) deliver(ctx context.Context, cancel context.CancelFunc, fn func(*Batch) error) error {
	pending := map[uint64]*Batch{}
	var next uint64
	var fnErr error
	for b := range st.done {
		if fnErr != nil {
			continue
		}
		pending[b.seq] = b
		for nb, ok := pending[next]; ok; nb, ok = pending[next] {
			delete(pending, next)
			next++
			if fnErr == nil {
				if fnErr = fn(nb); fnErr == nil {
					fnErr = ctx.Err()
				}
				if fnErr != nil {
					cancel()
				}
			}
			st.pool.Put(nb)
		}
	}
	return fnErr
}

// parseBatch decodes the lines of b's chunk into its events and rejects.
func parseBatch(d *Decoder, b *Batch) {
	b.Events = b.Events[:0]
	b.Rejects = b.Rejects[:0]
	b.Lines = 0
	b.Bytes = int64(len(b.chunk))
	data := b.chunk
	line := b.first
	if b.longLine {
		b.Lines = 1
		b.Rejects = append(b.Rejects, Reject{Line: line, Reason: "line too long", Text: data})
		return
	}
	for len(data) > 0 {
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			l, data = data, nil
		}
		b.Lines++
		line++
		if len(l) > 0 && l[len(l)-1] == '\r' {
			l = l[:len(l)-1]
		}
		if cap(b.Events) > len(b.Events) {
			b.Events = b.Events[:len(b.Events)+1]
		} else {
			b.Events = append(b.Events, Event{})
		}
		if err := d.Decode(l, &b.Events[len(b.Events)-1]); err != nil {
			b.Events = b.Events[:len(b.Events)-1]
			if err != ErrEmptyLine {
				b.Rejects = append(b.Rejects, Reject{Line: line - 1, Reason: err.Error(), Text: l})
			}
		}
	}
}

// chunkReader cuts a stream into chunks that end at a newline.
type chunkReader struct {
	r     io.Reader
	size  int
	carry []byte // bytes after the last newline of the previous chunk
	line  int64  // number of the next line
	eof   bool
	skip  bool // discarding the rest of an over-long line
}

// peekLines reads up to n lines without consuming them.
func (c *chunkReader) peekLines(n int) ([][]byte, error) {
	for !c.eof && bytes.Count(c.carry, []byte{'\n'}) < n && len(c.carry) < c.size {
		buf := make([]byte, c.size)
		m, err := c.r.Read(buf)
		c.carry = append(c.carry, buf[:m]...)
		if errors.Is(err, io.EOF) {
			c.eof = true
		} else if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
	}
	var lines [][]byte
	rest := c.carry
	for len(rest) > 0 && len(lines) < n {
		i := bytes.IndexByte(rest, '\n')
		var l []byte
		if i < 0 {
			if !c.eof {
				break
			}
			l, rest = rest, nil
		} else {
			l, rest = rest[:i], rest[i+1:]
		}
		l = bytes.TrimRight(l, "\r")
		if len(bytes.TrimSpace(l)) > 0 {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// next fills buf with whole lines and returns it with the number of its
// first line. A line longer than the chunk size comes back alone, cut to
// its first 512 bytes, with longLine set; the rest of it is skipped. io.EOF
// comes with the last chunk.
func (c *chunkReader) next(buf []byte) (chunk []byte, first int64, longLine bool, err error) {
	buf = append(buf[:0], c.carry...)
	c.carry = c.carry[:0]
	for {
		if c.skip { // drop the rest of an over-long line, through its newline
			if i := bytes.IndexByte(buf, '\n'); i >= 0 {
				buf = buf[:copy(buf, buf[i+1:])]
				c.skip = false
			} else {
				buf = buf[:0]
			}
		}
		if c.eof {
			first = c.line
			c.line += int64(bytes.Count(buf, []byte{'\n'}))
			if len(buf) > 0 && buf[len(buf)-1] != '\n' {
				c.line++
			}
			return buf, first, false, io.EOF
		}
		if len(buf) >= c.size {
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 {
				c.skip = true
				first = c.line
				c.line++
				return buf[:min(len(buf), 512)], first, true, nil
			}
			c.carry = append(c.carry, buf[i+1:]...)
			buf = buf[:i+1]
			first = c.line
			c.line += int64(bytes.Count(buf, []byte{'\n'}))
			return buf, first, false, nil
		}
		if cap(buf) < c.size {
			buf = slices.Grow(buf, c.size-len(buf))
		}
		m, rerr := c.r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if errors.Is(rerr, io.EOF) {
			c.eof = true
		} else if rerr != nil {
			return buf[:0], c.line, false, rerr
		}
	}
}

// OpenInput opens a log file for reading: "-" is standard input, a name
// ending in .gz is decompressed. Size is the file's size on disk when
// known (for progress), else -1.
func OpenInput(name string) (rc io.ReadCloser, size int64, err error) {
	if name == "-" {
		return io.NopCloser(os.Stdin), -1, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, -1, err
	}
	size = -1
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	if !strings.HasSuffix(name, ".gz") {
		return f, size, nil
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, -1, fmt.Errorf("%s: %w", name, err)
	}
	return gzipFile{zr, f}, size, nil
}

type gzipFile struct {
	*gzip.Reader
	f *os.File
}

func (g gzipFile) Close() error {
	err := g.Reader.Close()
	if ferr := g.f.Close(); err == nil {
		err = ferr
	}
	return err
}
