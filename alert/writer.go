package alert

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// Output formats accepted by NewWriter.
const (
	FormatJSON = "json"
	FormatText = "text"
)

// Writer prints findings to an io.Writer, one per line: JSON objects with
// the schema documented in docs/findings.md, or a compact text form for
// people. It is safe for concurrent use.
type Writer struct {
	mu     sync.Mutex
	w      io.Writer
	format string
	buf    []byte
}

// NewWriter returns a Writer for format "json" (the default when empty)
// or "text".
func NewWriter(w io.Writer, format string) (*Writer, error) {
	switch format {
	case "", FormatJSON:
		format = FormatJSON
	case FormatText:
	default:
		return nil, fmt.Errorf("unknown output format %q (want json or text)", format)
	}
	return &Writer{w: w, format: format}, nil
}

// Write prints one finding.
func (w *Writer) Write(f detect.Finding) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = w.buf[:0]
	if w.format == FormatJSON {
		b, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("encode finding: %w", err)
		}
		w.buf = append(w.buf, b...)
	} else {
		w.buf = AppendText(w.buf, f)
	}
	w.buf = append(w.buf, '\n')
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("write finding: %w", err)
	}
	return nil
}

// AppendText appends the one-line text form of f:
//
//	2026-11-02T02:00:00Z HIGH     volume        198.51.100.23  open    client 198.51.100.23 sent 52 req/min, baseline 2±1 (p=3e-21)
func AppendText(dst []byte, f detect.Finding) []byte {
	dst = f.WindowStart.UTC().AppendFormat(dst, time.RFC3339)
	dst = append(dst, ' ')
	dst = appendPadded(dst, strings.ToUpper(string(f.Severity)), 9)
	dst = appendPadded(dst, f.Detector, 14)
	dst = appendPadded(dst, f.Client, 20)
	dst = appendPadded(dst, string(f.Status), 9)
	dst = append(dst, f.Summary...)
	dst = append(dst, " (p="...)
	dst = strconv.AppendFloat(dst, f.PValue, 'g', 2, 64)
	if f.Windows > 1 {
		dst = append(dst, ", "...)
		dst = strconv.AppendInt(dst, int64(f.Windows), 10)
		dst = append(dst, " windows"...)
	}
	return append(dst, ')')
}

func appendPadded(dst []byte, s string, width int) []byte {
	dst = append(dst, s...)
	for i := len(s); i < width; i++ {
		dst = append(dst, ' ')
	}
	if len(s) >= width {
		dst = append(dst, ' ')
	}
	return dst
}
