package contract

import (
	"strings"
	"unicode/utf8"
)

// Kind is the type a value looks like, from the narrowest to the widest.
type Kind uint8

// Value kinds. A parameter's contract is the set of kinds learned for
// it; a value of a kind inside a learned wider one fits (an integer where
// decimals are learned, a hex code where identifiers are).
const (
	KindEmpty   Kind = iota // no value: "a=" or "a"
	KindInt                 // -12, 42
	KindDecimal             // 3.14, -0.5, 1e3
	KindBool                // true, false
	KindUUID                // 8-4-4-4-12 hex
	KindDate                // 2026-03-02, optionally with a time
	KindHex                 // 6+ hex digits with a letter: a1b2c3d4
	KindEmail               // local@domain.tld
	KindWord                // letters, digits, '_', '-', '.': a code, a name, an enum value
	KindBase64              // 16+ base64 characters with '+', '/' or '=' padding
	KindText                // anything else
	numKinds
)

var kindNames = [numKinds]string{"empty", "integer", "decimal", "boolean", "uuid", "date", "hex", "email", "identifier", "base64", "text"}

// String names the kind as findings do ("integer", "uuid").
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind?"
}

// wider says, per kind, the kinds that accept it as well.
var wider = [numKinds]uint16{
	KindInt:     1<<KindDecimal | 1<<KindHex | 1<<KindWord | 1<<KindText,
	KindDecimal: 1 << KindText,
	KindBool:    1<<KindWord | 1<<KindText,
	KindUUID:    1<<KindWord | 1<<KindText,
	KindDate:    1 << KindText,
	KindHex:     1<<KindWord | 1<<KindText,
	KindEmail:   1 << KindText,
	KindWord:    1 << KindText,
	KindBase64:  1 << KindText,
}

// fits reports whether a value of kind k fits a parameter whose learned
// kinds are the set bits of learned. An empty value fits any parameter.
func fits(k Kind, learned uint16) bool {
	return k == KindEmpty || learned&(1<<k|wider[k]) != 0
}

// Class is a set of character classes found in a value.
type Class uint16

// Character classes. Each is something a value of a field either never or
// routinely holds; a class never learned for a parameter is a finding.
const (
	ClassDigit    Class = 1 << iota // 0-9
	ClassAlpha                      // ASCII letters
	ClassSpace                      // space, tab
	ClassPunct                      // - _ . , : @ + * # ! ? ~ $ ^ | and the like
	ClassSlash                      // / \
	ClassQuote                      // ' " `
	ClassAngle                      // < >
	ClassParen                      // ( ) [ ] { }
	ClassSemi                       // ;
	ClassAssign                     // = &
	ClassDotDot                     // ".." (a parent path)
	ClassPercent                    // a '%' left after decoding (double encoding)
	ClassControl                    // control bytes: NUL, CR, LF, ESC...
	ClassNonASCII                   // letters beyond ASCII (valid UTF-8)
	ClassBadUTF8                    // bytes that are not UTF-8
	numClasses    = 15
)

var classNames = [numClasses]string{"digits", "letters", "spaces", "punctuation", "slashes", "quotes", "angle brackets",
	"brackets", "semicolons", "'=' or '&'", "'..'", "percent signs", "control characters", "non-ASCII letters", "invalid UTF-8"}

// String lists the classes in words ("letters, quotes").
func (c Class) String() string {
	var b strings.Builder
	for i := range numClasses {
		if c&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(classNames[i])
		}
	}
	return b.String()
}

// byteClass is the class of each ASCII byte (0 for bytes above 0x7f).
var byteClass = func() (t [128]Class) {
	for c := range 128 {
		switch {
		case c < 0x20 && c != '\t' || c == 0x7f:
			t[c] = ClassControl
		case c >= '0' && c <= '9':
			t[c] = ClassDigit
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			t[c] = ClassAlpha
		case c == ' ' || c == '\t':
			t[c] = ClassSpace
		case c == '/' || c == '\\':
			t[c] = ClassSlash
		case c == '\'' || c == '"' || c == '`':
			t[c] = ClassQuote
		case c == '<' || c == '>':
			t[c] = ClassAngle
		case strings.IndexByte("()[]{}", byte(c)) >= 0:
			t[c] = ClassParen
		case c == ';':
			t[c] = ClassSemi
		case c == '=' || c == '&':
			t[c] = ClassAssign
		case c == '%':
			t[c] = ClassPercent
		default:
			t[c] = ClassPunct
		}
	}
	return t
}()

// Shape is what the contract checks of one (decoded) value.
type Shape struct {
	Kind  Kind
	Class Class
	Len   int // bytes
}

// ShapeOf classifies a decoded value.
func ShapeOf(v string) Shape {
	s := Shape{Len: len(v), Kind: kindOf(v)}
	ascii := true
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 0x80 {
			ascii = false
			continue
		}
		s.Class |= byteClass[c]
		if c == '.' && i+1 < len(v) && v[i+1] == '.' {
			s.Class |= ClassDotDot
		}
	}
	if !ascii {
		if utf8.ValidString(v) {
			s.Class |= ClassNonASCII
		} else {
			s.Class |= ClassBadUTF8
		}
	}
	return s
}
