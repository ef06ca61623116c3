package encode

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// escaper rewrites untrusted text for one place of one format. ASCII
// bytes with an entry in ascii are replaced by it; the other C0
// controls, DEL, bytes that are not UTF-8 and the hidden runes (see
// hidden) become a visible escape, \xNN or \uNNNN, whose backslash is
// written as bs (a format that escapes backslashes needs "\\").
type escaper struct {
	ascii [utf8.RuneSelf]string
	bs    string
}

// newEscaper returns an escaper with the replacements of pairs (a byte,
// then its replacement) and the visible escapes' backslash bs.
func newEscaper(bs string, pairs ...string) *escaper {
	e := &escaper{bs: bs}
	for c := range utf8.RuneSelf {
		if c < 0x20 || c == 0x7f {
			e.ascii[c] = string(appendHex(append([]byte(bs), 'x'), rune(c), 2))
		}
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		e.ascii[pairs[i][0]] = pairs[i+1]
	}
	return e
}

// The escapers of the formats.
var (
	// visible: Text, syslog MSG and structured data values (go-syslog
	// escapes '"', '\' and ']' itself), LEEF values (its delimiter made
	// visible too: LEEF has no way to escape it).
	visible  = newEscaper(`\`)
	leefText = newEscaper(`\`, string(leefDelim), `\x5e`)
	// cefExt: CEF extension values escape '\' and '=', and write line
	// breaks as \r and \n.
	cefExt = newEscaper(`\\`, `\`, `\\`, `=`, `\=`, "\r", `\r`, "\n", `\n`)
	// cefHeader: CEF and LEEF header fields escape '\' and '|' and turn
	// line breaks into spaces.
	cefHeader = newEscaper(`\\`, `\`, `\\`, `|`, `\|`, "\r", " ", "\n", " ")
)

// append appends s to dst, escaped.
func (e *escaper) append(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if r := e.ascii[c]; r != "" {
				dst = append(dst, r...)
			} else {
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = appendHex(append(append(dst, e.bs...), 'x'), rune(c), 2)
		case hidden(r):
			dst = appendHex(append(append(dst, e.bs...), 'u'), r, 4)
		default:
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}

// escape returns s escaped.
func (e *escaper) escape(s string) string {
	if e.clean(s) {
		return s
	}
	return string(e.append(make([]byte, 0, len(s)+8), s))
}

// clean reports whether e leaves s as it is.
func (e *escaper) clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || e.ascii[c] != "" {
			return false
		}
	}
	return true
}

// hidden reports whether rune r, valid UTF-8 beyond ASCII, could move a
// cursor or hide or reorder text: the C1 controls (U+0080 to U+009F,
// which some terminals obey), the bidirectional controls (U+061C,
// U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069), the line and
// paragraph separators, and the byte order mark.
func hidden(r rune) bool {
	return r <= 0x9f || unicode.Is(unicode.Bidi_Control, r) ||
		unicode.In(r, unicode.Zl, unicode.Zp) || r == 0xfeff
}

// appendHex appends r in lowercase hex, at least width digits.
func appendHex(dst []byte, r rune, width int) []byte {
	var buf [8]byte
	digits := strconv.AppendInt(buf[:0], int64(r), 16)
	for i := len(digits); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, digits...)
}

// appendPrintASCII appends s for a syslog header field: at most max
// bytes, every byte outside printable US-ASCII (33 to 126; space is not
// one) replaced by '_', a multi-byte rune by one '_'. An empty s is
// written as "-", the NILVALUE.
func appendPrintASCII(dst []byte, s string, max int) []byte {
	if s == "" {
		return append(dst, '-')
	}
	for i, n := 0, 0; i < len(s) && n < max; n++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			dst = append(dst, '_')
			continue
		}
		if c <= ' ' || c == 0x7f {
			c = '_'
		}
		dst = append(dst, c)
		i++
	}
	return dst
}
