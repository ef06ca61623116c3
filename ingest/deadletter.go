package ingest

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// DeadLetterWriter keeps lines that could not be parsed, one JSON object
// per line with the reason, so nothing is lost and a format problem can be
// fixed and the lines replayed:
//
//	{"time":"2026-11-23T10:00:00Z","source":"edge","line_no":42,"reason":"nginx_combined: bad status","line":"..."}
//
// A line that is not valid UTF-8 also gets "line_base64" with its exact bytes.
//
// It is safe for concurrent use; call Flush before closing what it writes to.
type DeadLetterWriter struct {
	mu    sync.Mutex
	w     *bufio.Writer
	buf   []byte
	count int64
	now   func() time.Time
}

// NewDeadLetterWriter returns a DeadLetterWriter that writes to w.
func NewDeadLetterWriter(w io.Writer) *DeadLetterWriter {
	return &DeadLetterWriter{w: bufio.NewWriterSize(w, 64<<10), now: time.Now}
}

// Write records one rejected line from source.
func (d *DeadLetterWriter) Write(source string, r Reject) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.buf[:0]
	b = append(b, `{"time":"`...)
	b = d.now().UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","source":`...)
	b = AppendJSONString(b, source)
	b = append(b, `,"line_no":`...)
	b = strconv.AppendInt(b, r.Line, 10)
	b = append(b, `,"reason":`...)
	b = AppendJSONString(b, r.Reason)
	b = append(b, `,"line":`...)
	b = AppendJSONString(b, bytesString(r.Text))
	if !utf8.Valid(r.Text) {
		// JSON cannot carry arbitrary bytes: keep them exactly, too.
		b = append(b, `,"line_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Text)
		b = append(b, '"')
	}
	b = append(b, "}\n"...)
	d.buf = b
	d.count++
	if _, err := d.w.Write(b); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	return nil
}

// Count is the number of lines written so far.
func (d *DeadLetterWriter) Count() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.count
}

// Flush writes buffered records to the underlying writer.
func (d *DeadLetterWriter) Flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.w.Flush(); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	return nil
}
