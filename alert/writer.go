package alert

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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

// AppendText appends the text form of f: one aligned summary line, then
// the evidence the JSON carries, one indented line per kind, each only
// when present:
//
//	2026-11-02T01:00:00Z CRITICAL scanning      198.18.134.40       resolved client 198.18.134.40 got 404/403 on ~119 distinct paths/min, baseline 0±0; resolved after 10 anomalous windows (p=3.4e-78, 10 windows)
//	    also: volume, auth_failures, enumeration
//	    routes: /api/v1/orders/{id}
//	    samples: 404/403 /api/v1/orders/{id} | request id 9f2c61d0 (404/403)
//	    totals: requests 2,277, failures 217, bytes 407 kB, distinct paths 930
//
// The evidence lines are "also" (the incident's other detectors),
// "clients" (a campaign's client count and its first named clients),
// "top clients" (fleet findings), "routes", "samples" and "totals". The
// lists but "also" show at most maxTextList entries and then "+N more". Every line after
// the first starts with a space, so `grep -v '^ '` gives the summary
// lines alone. No control character is printed: bytes below 0x20, 0x7f,
// the C1 controls (U+0080 to U+009F) and invalid UTF-8 become '?'. dst
// gets no trailing newline.
func AppendText(dst []byte, f detect.Finding) []byte {
	dst = f.WindowStart.UTC().AppendFormat(dst, time.RFC3339)
	dst = append(dst, ' ')
	dst = appendPadded(dst, strings.ToUpper(string(f.Severity)), 9)
	dst = appendPadded(dst, f.Detector, 14)
	dst = appendPadded(dst, f.Client, 20)
	dst = appendPadded(dst, string(f.Status), 9)
	dst = appendSafe(dst, f.Summary)
	// Rules and campaigns are counts over floors: no p-value to show.
	var paren []string
	if f.Baseline != detect.BaselineNone {
		paren = append(paren, "p="+strconv.FormatFloat(f.PValue, 'g', 2, 64))
	}
	if f.Windows > 1 {
		paren = append(paren, strconv.Itoa(f.Windows)+" windows")
	}
	if len(paren) > 0 {
		dst = append(dst, " ("...)
		dst = append(dst, strings.Join(paren, ", ")...)
		dst = append(dst, ')')
	}

	if others := otherDetectors(f.Detectors, f.Detector); len(others) > 0 {
		dst = append(dst, "\n    also: "...)
		dst = appendList(dst, others, len(others), len(others), ", ") // a handful at most
	}
	if n := max(f.ClientCount, len(f.Clients)); n > 0 {
		dst = append(dst, "\n    clients ("...)
		dst = appendCount(dst, float64(n))
		dst = append(dst, ')')
		if len(f.Clients) > 0 {
			dst = append(dst, ": "...)
			dst = appendList(dst, f.Clients, n, maxTextList, ", ")
		}
	}
	if len(f.TopClients) > 0 {
		dst = append(dst, "\n    top clients: "...)
		dst = appendList(dst, f.TopClients, len(f.TopClients), maxTextList, ", ")
	}
	if len(f.Routes) > 0 {
		dst = append(dst, "\n    routes: "...)
		dst = appendList(dst, f.Routes, len(f.Routes), maxTextList, ", ")
	}
	if len(f.Samples) > 0 {
		// Samples may hold commas (an injection probe's value).
		dst = append(dst, "\n    samples: "...)
		dst = appendList(dst, f.Samples, len(f.Samples), maxTextList, " | ")
	}
	if t := f.Totals; t != nil {
		dst = append(dst, "\n    totals: requests "...)
		dst = appendCount(dst, t.Requests)
		dst = append(dst, ", failures "...)
		dst = appendCount(dst, t.Failures)
		dst = append(dst, ", bytes "...)
		dst = appendBytes(dst, t.Bytes)
		dst = append(dst, ", distinct paths "...)
		dst = appendCount(dst, t.DistinctPaths)
	}
	return dst
}

// maxTextList bounds the entries of each list AppendText prints.
const maxTextList = 5

// otherDetectors returns the detectors of ds other than main, or nil.
func otherDetectors(ds []string, main string) []string {
	var out []string
	for _, d := range ds {
		if d != main {
			out = append(out, d)
		}
	}
	return out
}

// appendList appends up to limit entries of items separated by sep, then
// "+N more" for the rest of total (total may exceed len(items): a
// campaign names only some of its clients).
func appendList(dst []byte, items []string, total, limit int, sep string) []byte {
	shown := min(len(items), limit)
	for i, s := range items[:shown] {
		if i > 0 {
			dst = append(dst, sep...)
		}
		dst = appendSafe(dst, s)
	}
	if rest := total - shown; rest > 0 {
		dst = append(dst, " +"...)
		dst = appendCount(dst, float64(rest))
		dst = append(dst, " more"...)
	}
	return dst
}

// appendCount appends x rounded to an integer with thousands separated
// ("1,240"); NaN and infinities as Go prints them.
func appendCount(dst []byte, x float64) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return strconv.AppendFloat(dst, x, 'g', -1, 64)
	}
	x = math.Round(x)
	if x < 0 {
		dst = append(dst, '-')
		x = -x
	}
	var buf [32]byte
	digits := strconv.AppendFloat(buf[:0], x, 'f', 0, 64)
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, c)
	}
	return dst
}

// appendBytes appends a byte count in decimal units: "512 B", "1.2 kB",
// "407 kB", "48.2 MB".
func appendBytes(dst []byte, b float64) []byte {
	const units = "kMGTPE"
	if math.IsNaN(b) || math.IsInf(b, 0) || math.Abs(b) < 1000 {
		dst = appendCount(dst, b)
		return append(dst, " B"...)
	}
	u := -1
	for math.Abs(b) >= 999.5 && u < len(units)-1 {
		b /= 1000
		u++
	}
	prec := 0
	if math.Abs(b) < 9.95 {
		prec = 1
	}
	dst = strconv.AppendFloat(dst, b, 'f', prec, 64)
	dst = append(dst, ' ', units[u], 'B')
	return dst
}

// appendSafe appends s with every control character replaced by '?':
// bytes below 0x20 and 0x7f, the C1 controls U+0080 to U+009F (which
// some terminals obey) and bytes that are not valid UTF-8.
func appendSafe(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			dst = append(dst, c)
			i++
			continue
		}
		if c < 0x80 { // C0 control or DEL
			dst = append(dst, '?')
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || r >= 0x80 && r <= 0x9f {
			dst = append(dst, '?')
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}

func appendPadded(dst []byte, s string, width int) []byte {
	n := len(dst)
	dst = appendSafe(dst, s)
	l := len(dst) - n
	for i := l; i < width; i++ {
		dst = append(dst, ' ')
	}
	if l >= width {
		dst = append(dst, ' ')
	}
	return dst
}
