package ingest

import "bytes"

// decodeWireFast decodes the wire encoding as AppendWire writes it — one
// flat object of unescaped keys and string, number or literal values —
// scanning each value once, where the general JSON parser finds a
// string's end and then wireString looks for escapes in it again. It
// returns the version key's value (-1 when absent) and false for
// anything else (an error, a nested value, an escaped key, trailing
// bytes): DecodeWire then decodes data again with the general parser.
func decodeWireFast(data []byte, ev *Event) (version int64, ok bool) {
	version = -1
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return version, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return version, skipSpace(data, i+1) == len(data)
	}
	for i < len(data) {
		key, val, quoted, next, good := wireMember(data, i)
		if !good || decodeWireValue(ev, &version, wireKey(key), val, quoted) != nil {
			return version, false
		}
		i = skipSpace(data, next)
		if i == len(data) {
			return version, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return version, skipSpace(data, i+1) == len(data)
		default:
			return version, false
		}
	}
	return version, false
}

// wireMember reads `"key": value` at data[i:]: the key, the value (a
// string's content, escapes still in it, or a literal's bytes), whether
// it was a string, and where the member ends. good is false for what the
// fast path does not take.
func wireMember(data []byte, i int) (key, val []byte, quoted bool, next int, good bool) {
	if data[i] != '"' {
		return nil, nil, false, 0, false
	}
	end := bytes.IndexByte(data[i+1:], '"')
	if end < 0 {
		return nil, nil, false, 0, false
	}
	key = data[i+1 : i+1+end]
	if bytes.IndexByte(key, '\\') >= 0 {
		return nil, nil, false, 0, false
	}
	i = skipSpace(data, i+end+2)
	if i == len(data) || data[i] != ':' {
		return nil, nil, false, 0, false
	}
	i = skipSpace(data, i+1)
	if i == len(data) {
		return nil, nil, false, 0, false
	}
	if data[i] == '"' {
		end, good := stringEnd(data, i+1)
		if !good {
			return nil, nil, false, 0, false
		}
		return key, data[i+1 : end], true, end + 1, true
	}
	start := i
	for i < len(data) && literalByte(data[i]) {
		i++
	}
	return key, data[start:i], false, i, validLiteral(data[start:i])
}

// validLiteral reports whether lit is a JSON literal as the general
// parser takes one: true, false, null, or a token that starts a number.
func validLiteral(lit []byte) bool {
	switch {
	case len(lit) == 0:
		return false
	case lit[0] == '-' || lit[0] >= '0' && lit[0] <= '9':
		return true
	}
	s := string(lit)
	return s == "true" || s == "false" || s == "null"
}

// stringEnd returns the index of the quote that closes the string whose
// content starts at data[i:]: the first quote not escaped by an odd run
// of backslashes.
func stringEnd(data []byte, i int) (int, bool) {
	for {
		q := bytes.IndexByte(data[i:], '"')
		if q < 0 {
			return 0, false
		}
		q += i
		n := 0
		for k := q - 1; k >= i && data[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q, true
		}
		i = q + 1
	}
}

// literalByte reports whether c can be part of a number, true or false.
func literalByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c == '+' || c == '.' || c == 'E'
}

// skipSpace returns the index of the first byte at or after i that is
// not JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t') {
		i++
	}
	return i
}
