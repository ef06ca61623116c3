package slack

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ellipsis marks text cut to fit a limit.
const ellipsis = "…"

// isControl reports runes that must not reach Slack from an untrusted
// value: C0 and C1 controls (ESC, CR, LF, NUL, ...), DEL, bidi overrides
// and isolates, zero-width characters that hide text, and the line and
// paragraph separators.
func isControl(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x200b && r <= 0x200f, r >= 0x2028 && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0xfeff, r == utf8.RuneError:
		return true
	}
	return false
}

// clean returns s with control characters and invalid UTF-8 replaced by
// U+FFFD, so a value renders as one visible line.
func clean(s string) string {
	ok := true
	for _, r := range s {
		if isControl(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			r = '\uFFFD'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// escapeRune returns the mrkdwn form of r in untrusted text: &, < and >
// as entities (so no <!channel>, <@U…> or <url|link> can be formed),
// control characters as U+FFFD, and, inside code, a backtick as a
// modifier grave accent so the span cannot be closed early.
func escapeRune(r rune, code bool) string {
	switch {
	case r == '&':
		return "&amp;"
	case r == '<':
		return "&lt;"
	case r == '>':
		return "&gt;"
	case r == '`' && code:
		return "ˋ"
	case isControl(r):
		return "\uFFFD"
	}
	return string(r)
}

// escN escapes untrusted s for mrkdwn and cuts the result to at most max
// bytes, ending with an ellipsis when cut. An entity is never split.
func escN(s string, max int, code bool) string {
	var b strings.Builder
	cut := -1
	for _, r := range s {
		e := escapeRune(r, code)
		if cut < 0 && b.Len()+len(e) > max-len(ellipsis) {
			cut = b.Len()
		}
		if b.Len()+len(e) > max {
			return b.String()[:cut] + ellipsis
		}
		b.WriteString(e)
	}
	return b.String()
}

// esc escapes untrusted s for mrkdwn, cut to max bytes.
func esc(s string, max int) string { return escN(s, max, false) }

// code renders untrusted s as an inline code span of at most max bytes
// (markers included): formatting inside it is inert.
func code(s string, max int) string {
	if s == "" {
		return "(empty)"
	}
	return "`" + escN(s, max-2, true) + "`"
}

// plainN returns untrusted s for a plain_text object: control characters
// replaced, at most max UTF-16 code units (Slack counts characters; this
// bound holds however it counts them), ending with an ellipsis when cut.
func plainN(s string, max int) string {
	s = clean(s)
	if utf16Len(s) <= max {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		w := 1
		if r > 0xffff {
			w = 2
		}
		if n+w > max-1 {
			break
		}
		b.WriteRune(r)
		n += w
	}
	b.WriteString(ellipsis)
	return b.String()
}

// utf16Len counts s in UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xffff {
			n++
		}
	}
	return n
}

// cutBytes cuts trusted mrkdwn text to at most max bytes at a line
// boundary where there is one, closing an open code block and noting the
// cut. It is the last guard of a section's limit.
func cutBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const note = "\n… (truncated)"
	limit := max - len(note) - len("\n```")
	for limit > 0 && !utf8.RuneStart(s[limit]) {
		limit--
	}
	cut := s[:limit]
	if i := strings.LastIndexByte(cut, '\n'); i > limit/2 {
		cut = cut[:i]
	} else if i := strings.LastIndexByte(cut, '&'); i >= 0 && i > len(cut)-6 && !strings.Contains(cut[i:], ";") {
		cut = cut[:i]
	}
	if strings.Count(cut, "```")%2 == 1 {
		cut += "\n```"
	}
	return cut + note
}

// fmtNum renders a figure for people: thousands separated, small values
// with up to two decimals ("1,240", "48", "2.5", "0.07").
func fmtNum(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return strconv.FormatFloat(x, 'g', -1, 64)
	case math.Abs(x) >= 1e15:
		return strconv.FormatFloat(x, 'g', 3, 64)
	case math.Abs(x) < 100 && x != math.Trunc(x):
		s := strconv.FormatFloat(x, 'f', 2, 64)
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		return s
	}
	s := strconv.FormatFloat(math.Round(x), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtBytes renders a byte count with a binary unit ("3.4 MiB").
func fmtBytes(x float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for math.Abs(x) >= 1024 && i < len(units)-1 {
		x /= 1024
		i++
	}
	return fmtNum(math.Round(x*10)/10) + " " + units[i]
}
