package ingest

import "strings"

// IDPlaceholder replaces an identifier segment in a route template.
const IDPlaceholder = "{id}"

// RouteTemplate returns path with identifier segments replaced by {id}:
// decimal numbers, UUIDs, hex strings of 8 or more characters with a digit,
// and long opaque tokens (16+ characters of letters, digits, '-', '_' or
// '.', with a digit and no vowel-only shape). When nothing is replaced it
// returns path itself; otherwise the template is written to ev's scratch
// buffer (ev may be nil, then it allocates).
//
// Detectors group requests by route, so the template must be stable across
// ids of one resource yet keep distinct resources apart.
func RouteTemplate(ev *Event, path string) string {
	if path == "" {
		return ""
	}
	if !hasIDSegment(path) {
		return path
	}
	var buf []byte
	start := 0
	if ev != nil {
		buf, start = ev.scratch, len(ev.scratch)
	}
	rest := path
	for rest != "" {
		if rest[0] == '/' {
			buf = append(buf, '/')
			rest = rest[1:]
			continue
		}
		end := strings.IndexByte(rest, '/')
		if end < 0 {
			end = len(rest)
		}
		seg := rest[:end]
		if isIDSegment(seg) {
			buf = append(buf, IDPlaceholder...)
		} else {
			buf = append(buf, seg...)
		}
		rest = rest[end:]
	}
	if ev != nil {
		ev.scratch = buf
		return bytesString(buf[start:])
	}
	return string(buf)
}

func hasIDSegment(path string) bool {
	rest := path
	for rest != "" {
		if rest[0] == '/' {
			rest = rest[1:]
			continue
		}
		end := strings.IndexByte(rest, '/')
		if end < 0 {
			end = len(rest)
		}
		if isIDSegment(rest[:end]) {
			return true
		}
		rest = rest[end:]
	}
	return false
}

func isIDSegment(s string) bool {
	n := len(s)
	if n == 0 {
		return false
	}
	digits, hexLetters, other, lower, upper := 0, 0, 0, 0, 0
	for i := 0; i < n; i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			digits++
		case 'a' <= c && c <= 'f':
			hexLetters++
			lower++
		case 'A' <= c && c <= 'F':
			hexLetters++
			upper++
		case 'g' <= c && c <= 'z':
			lower++
			other++
		case 'G' <= c && c <= 'Z':
			upper++
			other++
		case c == '-' || c == '_' || c == '.' || c == '~' || c == '%' || c == '=' || c == ':':
			other++
		default:
			return false
		}
	}
	switch {
	case digits == n: // 123
		return true
	case n == 36 && isUUID(s):
		return true
	case other == 0 && n >= 8 && digits > 0: // deadbeef01, 5f3a9c...
		return true
	case n >= 16 && digits >= 2 && digits+lower+upper >= n*3/4 && !strings.Contains(s, "."):
		// Long opaque tokens (ord_8Fk2Jz9QwXyT3, base64url ids). Digits are
		// required so long words like "authentication-settings" survive, and
		// dots are not allowed so gRPC services (orders.v1.OrderService) do.
		return true
	case n >= 2 && digits >= n-1 && digits > 0 && (s[0] == 'v' || s[0] == 'V'):
		return false // API versions stay in the route
	case digits > 0 && digits*2 >= n && n >= 4 && !strings.ContainsAny(s, "."):
		// Mostly-numeric ids with a prefix or suffix: u12345, 2024-01-02.
		return true
	}
	return false
}

func isUUID(s string) bool {
	for i := 0; i < 36; i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
