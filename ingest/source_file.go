package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
)

// FileSource follows a file like tail -F (Tail), or reads standard input
// to its end when Path is "-".
type FileSource struct {
	// SourceName names the input; default the file's base name, "stdin"
	// for "-".
	SourceName string
	Path       string
	// FromStart reads the file from its beginning rather than only lines
	// written from now on (when no saved position says where to resume).
	FromStart bool
	// Positions, when set, is where the file's read position is resumed
	// from and recorded after each line the Handler took (under the
	// file's absolute path); its owner saves it.
	Positions *Positions
	// Stdin is what "-" reads; default nothing (an empty input).
	Stdin io.Reader
	// OnResume, when set, hears the position a file resumes from.
	OnResume func(path string, pos TailPosition)
	// MaxLine is the longest line taken (default DefaultMaxLine). A
	// longer line is rejected ("line too long") with its first MaxLine
	// bytes, and the input carries on with the next.
	MaxLine int
}

// Name returns SourceName, or the file's base name, or "stdin".
func (f *FileSource) Name() string {
	switch {
	case f.SourceName != "":
		return f.SourceName
	case f.Path == "-":
		return "stdin"
	}
	return filepath.Base(f.Path)
}

// Run follows the file until ctx ends, or reads standard input to its end.
func (f *FileSource) Run(ctx context.Context, h Handler) error {
	maxLine := f.MaxLine
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	var n int64
	var l Line
	handle := func(text []byte, tooLong bool) error {
		n++
		l = Line{Text: text, Number: n, Origin: l.Origin, Pos: l.Pos}
		if tooLong {
			l.Malformed = lineTooLong(maxLine)
		}
		return h.Line(ctx, &l)
	}
	if f.Path == "-" {
		if f.Stdin == nil {
			return nil
		}
		return readLines(f.Stdin, maxLine, handle)
	}
	key, opts := f.resume()
	opts.MaxLine = maxLine
	var fp, origin uint64
	return Tail(ctx, f.Path, opts, func(line []byte, pos TailPosition) error {
		if pos.Fingerprint != fp {
			fp, origin = pos.Fingerprint, lineOrigin(hostname+"\x00"+key, pos.Fingerprint)
		}
		l.Origin, l.Pos = origin, pos.Offset
		if err := handle(line, pos.Truncated); err != nil {
			return err
		}
		if f.Positions != nil {
			f.Positions.Set(key, pos)
		}
		return nil
	})
}

// hostname tells apart the files of collectors on different machines.
var hostname, _ = os.Hostname()

// lineOrigin is the Origin of the lines of the file a FileSource follows
// (key: host and absolute path), with content fingerprint fp. Never 0.
func lineOrigin(key string, fp uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], fp)
	h.Write(b[:])
	return h.Sum64() | 1
}

// readLines passes each line of r to fn without its line end, to EOF. A
// line longer than maxLine is passed cut to it, with tooLong set, and the
// rest of it is skipped: one long line never ends the input.
func readLines(r io.Reader, maxLine int, fn func(line []byte, tooLong bool) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	tooLong := false
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong {
			buf = append(buf, frag...)
			if n := len(bytes.TrimSuffix(buf, []byte{'\n'})); n > maxLine {
				buf, tooLong = buf[:maxLine], true
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(buf) > 0 || tooLong {
			line := bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte{'\n'}), []byte{'\r'})
			if ferr := fn(line, tooLong); ferr != nil {
				return ferr
			}
		}
		buf, tooLong = buf[:0], false
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("read: %w", err)
		}
	}
}

// resume returns the file's key in Positions and the Tail options that
// continue from its saved position, if any.
func (f *FileSource) resume() (string, TailOptions) {
	opts := TailOptions{FromStart: f.FromStart}
	key := f.Path
	if abs, err := filepath.Abs(f.Path); err == nil {
		key = abs
	}
	if f.Positions == nil {
		return key, opts
	}
	if pos, ok := f.Positions.Get(key); ok {
		opts.Offset, opts.Inode = pos.Offset, pos.Inode
		if f.OnResume != nil {
			f.OnResume(f.Path, pos)
		}
	}
	return key, opts
}
