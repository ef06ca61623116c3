package ingest

import (
	"bufio"
	"context"
	"io"
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
	var n int64
	var l Line
	handle := func(text []byte) error {
		n++
		l = Line{Text: text, Number: n}
		return h.Line(ctx, &l)
	}
	if f.Path == "-" {
		return f.readStdin(handle)
	}
	key, opts := f.resume()
	return Tail(ctx, f.Path, opts, func(line []byte, pos TailPosition) error {
		if err := handle(line); err != nil {
			return err
		}
		if f.Positions != nil {
			f.Positions.Set(key, pos)
		}
		return nil
	})
}

// readStdin passes each line of standard input to handle.
func (f *FileSource) readStdin(handle func([]byte) error) error {
	if f.Stdin == nil {
		return nil
	}
	sc := bufio.NewScanner(f.Stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if err := handle(sc.Bytes()); err != nil {
			return err
		}
	}
	return sc.Err()
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
