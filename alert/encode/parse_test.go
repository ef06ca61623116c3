package encode

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// This file holds small, strict parsers of what the encoders write, as
// a SIEM reads it, and the reference escaping the tests expect; they
// share no code with the encoders.

// parseCEF splits a CEF event into its 7 header fields (unescaped) and
// its extension (keys to unescaped values). It fails on a short header,
// an escape CEF does not define, a value without a key or a repeated key.
func parseCEF(s string) (hdr []string, ext map[string]string, err error) {
	hdr, rest, err := splitHeader(s, 7)
	if err != nil {
		return nil, nil, err
	}
	ext, err = parseCEFExtension(rest)
	return hdr, ext, err
}

// splitHeader reads n '|'-terminated header fields, where "\\" and "\|"
// are the only escapes, and returns them and the rest of s.
func splitHeader(s string, n int) (fields []string, rest string, err error) {
	var cur strings.Builder
	i := 0
	for len(fields) < n {
		if i >= len(s) {
			return nil, "", fmt.Errorf("header has %d fields, want %d", len(fields), n)
		}
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '\\' || s[i+1] == '|'):
			cur.WriteByte(s[i+1])
			i += 2
		case c == '\\':
			return nil, "", fmt.Errorf("bad header escape at %d", i)
		case c == '|':
			fields = append(fields, cur.String())
			cur.Reset()
			i++
		case c == '\r' || c == '\n':
			return nil, "", errors.New("line break in header")
		default:
			cur.WriteByte(c)
			i++
		}
	}
	return fields, s[i:], nil
}

// parseCEFExtension parses "k1=v1 k2=v2 ...": every unescaped '=' ends a
// key, the word before it, preceded by a space or the start.
func parseCEFExtension(s string) (map[string]string, error) {
	ext := map[string]string{}
	if s == "" {
		return ext, nil
	}
	var eqs []int
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '=':
			eqs = append(eqs, i)
		case '\r', '\n':
			return nil, errors.New("raw line break in extension")
		}
	}
	if len(eqs) == 0 {
		return nil, errors.New("extension without a key")
	}
	keyStart := func(eq int) int {
		j := eq
		for j > 0 && isKeyByte(s[j-1]) {
			j--
		}
		return j
	}
	for k, eq := range eqs {
		start := keyStart(eq)
		if start == eq || (start > 0 && s[start-1] != ' ') || (k == 0 && start != 0) {
			return nil, fmt.Errorf("no key before '=' at %d", eq)
		}
		end := len(s)
		if k+1 < len(eqs) {
			end = keyStart(eqs[k+1]) - 1
			if end < eq+1 {
				return nil, fmt.Errorf("no separator after value at %d", eq)
			}
		}
		v, err := unescapeCEF(s[eq+1 : end])
		if err != nil {
			return nil, err
		}
		key := s[start:eq]
		if _, dup := ext[key]; dup {
			return nil, fmt.Errorf("repeated key %s", key)
		}
		ext[key] = v
	}
	return ext, nil
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// unescapeCEF undoes the escapes of an extension value.
func unescapeCEF(v string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 == len(v) {
			return "", errors.New("trailing backslash")
		}
		i++
		switch v[i] {
		case '\\', '=':
			b.WriteByte(v[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", fmt.Errorf("undefined escape \\%c", v[i])
		}
	}
	return b.String(), nil
}

// parseLEEF splits a LEEF 2.0 event into its header fields (vendor,
// product, version, event id, delimiter) and its attributes. It fails
// when the declared delimiter is not one character, an attribute has no
// key or a key repeats.
func parseLEEF(s string) (hdr []string, attrs map[string]string, err error) {
	rest, ok := strings.CutPrefix(s, "LEEF:2.0|")
	if !ok {
		return nil, nil, errors.New("no LEEF:2.0 prefix")
	}
	hdr, rest, err = splitHeader(rest, 5)
	if err != nil {
		return nil, nil, err
	}
	if len(hdr[4]) != 1 {
		return nil, nil, fmt.Errorf("delimiter %q", hdr[4])
	}
	attrs = map[string]string{}
	for _, kv := range strings.Split(rest, hdr[4]) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, nil, fmt.Errorf("attribute %q without key", kv)
		}
		if _, dup := attrs[k]; dup {
			return nil, nil, fmt.Errorf("repeated key %s", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, nil, fmt.Errorf("line break in %s", k)
		}
		attrs[k] = v
	}
	return hdr, attrs, nil
}

// refVisible is the expected escaping of untrusted text: invalid bytes
// and C0 controls/DEL as \xNN, C1 controls, bidirectional controls, line
// and paragraph separators and BOM as \uNNNN. keepLines keeps CR and LF
// (CEF escapes them its own way); caret writes '^' as \x5e (LEEF).
func refVisible(s string, keepLines, caret bool) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepLines && (r == '\r' || r == '\n'):
			b.WriteRune(r)
		case caret && r == '^':
			b.WriteString(`\x5e`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f, r == 0x61c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e,
			r >= 0x2066 && r <= 0x2069, r == 0x2028, r == 0x2029, r == 0xfeff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// refJSON is what a JSON string holding s decodes to: s with every
// invalid byte replaced by U+FFFD.
func refJSON(s string) string { return string([]rune(s)) }

// hasHidden reports the first control, bidirectional or separator
// character in s, or -1.
func hasHidden(s string) rune {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0x61c || r == 0x200e || r == 0x200f ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x2028 || r == 0x2029 {
			return r
		}
	}
	return -1
}
