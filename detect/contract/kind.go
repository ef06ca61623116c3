package contract

import "strings"

// kindOf is the narrowest kind v looks like.
func kindOf(v string) Kind {
	switch {
	case v == "":
		return KindEmpty
	case isInt(v):
		return KindInt
	case isDecimal(v):
		return KindDecimal
	case v == "true" || v == "false" || v == "TRUE" || v == "FALSE" || v == "True" || v == "False":
		return KindBool
	case isUUID(v):
		return KindUUID
	case isDate(v):
		return KindDate
	case isHex(v):
		return KindHex
	case isEmail(v):
		return KindEmail
	case isWord(v):
		return KindWord
	case isBase64(v):
		return KindBase64
	}
	return KindText
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigit(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isAlnum(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// digits returns the length of the run of digits at the start of s.
func digits(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// isInt: an optional '-' and 1 to 19 digits.
func isInt(v string) bool {
	v = strings.TrimPrefix(v, "-")
	n := digits(v)
	return n > 0 && n == len(v) && n <= 19
}

// isDecimal: -1.5, .5, 2., 1e-3, 6.02E23.
func isDecimal(v string) bool {
	v = strings.TrimPrefix(v, "-")
	a := digits(v)
	v = v[a:]
	b := 0
	if strings.HasPrefix(v, ".") {
		b = digits(v[1:])
		v = v[1+b:]
	}
	if a+b == 0 {
		return false
	}
	if len(v) > 0 && (v[0] == 'e' || v[0] == 'E') {
		v = strings.TrimLeft(v[1:], "+-")
		n := digits(v)
		return n > 0 && n == len(v) && n <= 3
	}
	return v == ""
}

// isUUID: 8-4-4-4-12 hex digits.
func isUUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i := range 36 {
		switch i {
		case 8, 13, 18, 23:
			if v[i] != '-' {
				return false
			}
		default:
			if !isHexDigit(v[i]) {
				return false
			}
		}
	}
	return true
}

// isDate: YYYY-MM-DD, optionally followed by T or a space and a time
// of digits, ':', '.', and a zone (Z, +hh:mm).
func isDate(v string) bool {
	if len(v) < 10 || digits(v) != 4 || v[4] != '-' || digits(v[5:]) != 2 || v[7] != '-' || digits(v[8:]) != 2 {
		return false
	}
	rest := v[10:]
	if rest == "" {
		return true
	}
	if rest[0] != 'T' && rest[0] != ' ' || len(rest) > 30 {
		return false
	}
	for i := 1; i < len(rest); i++ {
		if c := rest[i]; !isDigit(c) && strings.IndexByte(":.+-Z", c) < 0 {
			return false
		}
	}
	return true
}

// isHex: 6 or more hex digits, at least one a letter (all digits is an
// integer).
func isHex(v string) bool {
	if len(v) < 6 {
		return false
	}
	letter := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isHexDigit(c) {
			return false
		}
		letter = letter || !isDigit(c)
	}
	return letter
}

// isEmail: one '@' between a local part and a dotted domain of word
// characters.
func isEmail(v string) bool {
	local, domain, ok := strings.Cut(v, "@")
	if !ok || local == "" || len(v) > 254 || !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") {
		return false
	}
	for _, part := range [2]string{local, domain} {
		for i := 0; i < len(part); i++ {
			if c := part[i]; !isAlnum(c) && strings.IndexByte("._+-", c) < 0 {
				return false
			}
		}
	}
	return true
}

// isWord: letters, digits, '_', '-' and '.' only, starting with a letter
// or digit, at most 64 bytes.
func isWord(v string) bool {
	if len(v) > 64 || !isAlnum(v[0]) {
		return false
	}
	for i := 1; i < len(v); i++ {
		if c := v[i]; !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// isBase64: 16 or more characters of the standard or URL alphabet, with
// at most two '=' of padding at the end.
func isBase64(v string) bool {
	body := strings.TrimRight(v, "=")
	if len(body) < 16 || len(v)-len(body) > 2 {
		return false
	}
	for i := 0; i < len(body); i++ {
		if c := body[i]; !isAlnum(c) && strings.IndexByte("+/-_", c) < 0 {
			return false
		}
	}
	return true
}
