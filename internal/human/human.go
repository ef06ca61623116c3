// Package human formats for people reading a terminal: counts with
// thousands separators or k and M, shares as percentages, plurals, and
// untrusted text with what a terminal would obey escaped. analyze's
// progress and summary lines, the demo's scorecard and the query and
// endpoint tables use it.
package human

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Count formats a count: 1234 -> 1,234; 56789 -> 57k; 12345678 -> 12.35M.
func Count(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1000:
		n := int64(v)
		return fmt.Sprintf("%d,%03d", n/1000, n%1000)
	}
	return fmt.Sprintf("%.0f", v)
}

// Percent formats a share: 0.963 -> 96%, 0.0132 -> 1.3%.
func Percent(share float64) string {
	if share >= 0.1 {
		return fmt.Sprintf("%.0f%%", 100*share)
	}
	return fmt.Sprintf("%.1f%%", 100*share)
}

// Plural counts things: 1 run, 2 runs.
func Plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// Bytes formats a size in binary units: 512 -> 512 B; 448000 -> 437.5 KiB.
func Bytes(v float64) string {
	const unit = 1024
	if v < unit {
		return fmt.Sprintf("%.0f B", v)
	}
	exp, div := 0, float64(unit)
	for v/div >= unit && exp < 4 {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v/div, "KMGTP"[exp])
}

// Printable is s for a terminal or a table cell: what a client put in a
// request (a path, a user agent, a key) can hold bytes a terminal obeys
// (ESC sequences that clear the screen or set the window title), or a
// tab or newline that would break a table. Those, the C1 and
// bidirectional controls and invalid UTF-8 are written as \xHH or
// \u{HHHH}.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || shown(r) != r {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, "\\x%02X", s[i])
		case shown(r) != r:
			if r < 0x80 {
				fmt.Fprintf(&b, "\\x%02X", r)
			} else {
				fmt.Fprintf(&b, "\\u{%04X}", r)
			}
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// shown is r when a terminal prints it as a character, else -1: the C0
// and C1 controls, DEL, the bidirectional controls, the line and
// paragraph separators and the byte order mark are not.
func shown(r rune) rune {
	if r < 0x20 || r >= 0x7f && r <= 0x9f || unicode.Is(unicode.Bidi_Control, r) ||
		unicode.In(r, unicode.Zl, unicode.Zp) || r == 0xfeff {
		return -1
	}
	return r
}
