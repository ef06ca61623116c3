package bandplot

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Longest title and unit drawn, in runes: longer ones are cut with an
// ellipsis (a title from log data may be any length).
const (
	maxTitle = 120
	maxUnit  = 40
)

// clean makes untrusted text safe to draw: line breaks and tabs become
// spaces; other control characters (C0, DEL, C1), format characters
// (bidirectional controls, zero-width characters, the byte order mark),
// the line and paragraph separators and invalid UTF-8 are dropped; runs
// of spaces collapse and the result is cut to max runes.
func clean(s string, max int) string {
	var b strings.Builder
	n := 0
	space := false
	for i := 0; i < len(s) && n <= max; {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == ' ':
			space = b.Len() > 0
			continue
		case r == utf8.RuneError && size == 1, r < 0x20, r >= 0x7f && r <= 0x9f,
			unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs):
			continue
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	out := b.String()
	if n > max {
		out = string([]rune(out)[:max-1]) + "…"
	}
	return out
}
