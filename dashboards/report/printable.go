package report

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxShown bounds a string from a log as the page shows it (bytes,
// before escaping): longer ones are cut with an ellipsis.
const maxShown = 2048

// printable is s as the page shows it: control bytes, invalid UTF-8,
// C1 controls and the Unicode controls that reorder or hide text
// (bidirectional overrides, zero-width joiners, line separators) escaped
// as \xNN or \uNNNN, and cut at maxShown bytes. The result still needs
// HTML escaping.
func printable(s string) string {
	if len(s) > maxShown {
		cut := maxShown
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(hex2(s[i]))
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteString(hex2(byte(r)))
		case hidden(r) && r > 0xffff:
			b.WriteString(`\U`)
			b.WriteString(strconv.FormatInt(int64(r)+0x100000000, 16)[1:])
		case hidden(r):
			b.WriteString(`\u`)
			b.WriteString(strconv.FormatInt(int64(r)+0x10000, 16)[1:])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// isPlain reports whether s is printable ASCII only.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// hidden reports whether r is a control that changes how text around it
// reads without showing itself.
func hidden(r rune) bool {
	switch {
	case r >= 0x80 && r < 0xa0: // C1 controls
	case r == 0xad, r == 0x34f, r == 0x61c, r == 0x180e: // soft hyphen, CGJ, ALM, MVS
	case r >= 0x200b && r <= 0x200f: // zero-width, LRM, RLM
	case r >= 0x2028 && r <= 0x202e: // separators, embeddings, overrides
	case r >= 0x2060 && r <= 0x206f: // word joiner, isolates, deprecated formats
	case r == 0xfeff, r >= 0xfff9 && r <= 0xfffb: // BOM, annotations
	case r >= 0xe0000 && r <= 0xe007f: // tags
	default:
		return false
	}
	return true
}

func hex2(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// nanos is t in unix nanoseconds, clamped to the span the report handles
// (a zero time is minTime).
func nanos(t time.Time) int64 {
	switch sec := t.Unix(); {
	case sec < minTime/1e9:
		return minTime
	case sec >= maxTime/1e9:
		return maxTime
	}
	return t.UnixNano()
}
