package ingest

import (
	"bufio"
	"bytes"
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
// A line longer than the writer's limit (SetMaxLine) is kept cut to it, and
// the record says so: "line_truncated":true,"line_bytes":<its length>.
//
// Credentials are redacted before anything is written (RedactLine): the
// values of sensitive query parameters, headers and JSON keys, JWTs, and
// what follows Bearer or Basic become REDACTED, and the record says
// "line_redacted":true. So a dead letter, on disk or on the dead-letter
// topic, is the line as it was except for its secrets (and line_base64
// holds the redacted bytes); line_bytes is the length of the line as it
// was received.
//
// It is safe for concurrent use; call Flush before closing what it writes to.
type DeadLetterWriter struct {
	mu      sync.Mutex
	w       *bufio.Writer
	buf     []byte
	red     []byte // the redacted line
	count   int64
	maxLine int // 0: lines are kept whole
	now     func() time.Time
	names   *redactor // sensitive names; nil: the defaults
}

// DefaultDeadLetterMaxLine is how much of a rejected line a dead letter
// sent as one message keeps (the collector's): with JSON escaping and
// base64 the record stays well under Kafka's 1 MiB message limit.
const DefaultDeadLetterMaxLine = 64 << 10

// SetMaxLine makes the writer keep at most the first n bytes of each line
// (n <= 0: whole lines, the default).
func (d *DeadLetterWriter) SetMaxLine(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.maxLine = max(n, 0)
}

// SetSensitiveParams makes the writer redact, besides the defaults, the
// parameter names the events' normaliser was given
// (NormalizerOptions.SensitiveParams), so a dead letter keeps no secret an
// event would not.
func (d *DeadLetterWriter) SetSensitiveParams(names []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.names = nil
	if len(names) > 0 {
		d.names = newRedactor(append(append([]string(nil), DefaultSensitiveParams...), names...))
	}
}

// redactLine is RedactLine with the writer's sensitive names.
func (d *DeadLetterWriter) redactLine(dst, line []byte) []byte {
	if d.names == nil {
		return RedactLine(dst, line)
	}
	return d.names.appendRedactedLine(dst, line)
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
	d.red = d.redactLine(d.red[:0], stringBytes(r.Reason)) // a parser's reason may quote the line
	b = AppendJSONString(b, bytesString(d.red))
	// Redact the whole line before cutting it: a cut could leave a JWT
	// without the dot that makes it recognisable.
	d.red = d.redactLine(d.red[:0], r.Text)
	text, redacted := d.red, !bytes.Equal(d.red, r.Text)
	if d.maxLine > 0 && len(text) > d.maxLine {
		text = truncateBytes(text, d.maxLine)
	}
	b = append(b, `,"line":`...)
	b = AppendJSONString(b, bytesString(text))
	if !utf8.Valid(text) {
		// JSON cannot carry arbitrary bytes: keep them exactly, too.
		b = append(b, `,"line_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, text)
		b = append(b, '"')
	}
	if redacted {
		b = append(b, `,"line_redacted":true`...)
	}
	if len(text) < len(d.red) {
		b = append(b, `,"line_truncated":true,"line_bytes":`...)
		b = strconv.AppendInt(b, int64(len(r.Text)), 10)
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
