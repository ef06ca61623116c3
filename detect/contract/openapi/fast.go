package openapi

import (
	"math"
	"regexp"
	"strconv"
	"unicode/utf16"

	"github.com/getkin/kin-openapi/openapi3"
)

// plain is the check of a plain scalar schema — one type (integer,
// number or string) with bounds, lengths or a pattern, nothing else —
// that accepts most values without boxing them for kin-openapi's
// validator, which costs some hundreds of nanoseconds and allocations
// per value. It only ever accepts: a value it does not accept goes to the
// validator, which has the last word (TestPlainAgreesWithValidator).
type plain struct {
	kind           kindSet // kindInt, kindNumber or kindString
	lo, hi         float64 // bounds; ±Inf when none
	loEx, hiEx     bool    // exclusive bounds
	minLen, maxLen uint64  // lengths, as kin-openapi counts them; maxLen MaxUint64 when none
	re             *regexp.Regexp
	int32Range     bool // format int32
}

// newPlain returns the check of a plain schema, or nil when s is not
// plain.
func newPlain(s *openapi3.Schema, kinds kindSet) *plain {
	if len(s.Enum) > 0 || s.Not != nil || len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 || s.Const != nil || s.Always != nil ||
		s.If != nil || s.MultipleOf != nil || s.Type == nil || len(*s.Type) != 1 ||
		s.Min != nil && s.ExclusiveMin.Value != nil || s.Max != nil && s.ExclusiveMax.Value != nil {
		return nil
	}
	p := &plain{kind: kinds, lo: math.Inf(-1), hi: math.Inf(1), maxLen: math.MaxUint64}
	switch kinds {
	case kindInt:
		switch s.Format {
		case "", "int64":
		case "int32":
			p.int32Range = true
		default:
			return nil
		}
	case kindNumber:
		if s.Format != "" {
			return nil
		}
	case kindString:
		return newPlainString(s, p)
	default:
		return nil
	}
	if lo, ex := bound(s.Min, s.ExclusiveMin); lo != nil {
		p.lo, p.loEx = *lo, ex
	}
	if hi, ex := bound(s.Max, s.ExclusiveMax); hi != nil {
		p.hi, p.hiEx = *hi, ex
	}
	return p
}

// newPlainString completes the check of a plain string schema.
func newPlainString(s *openapi3.Schema, p *plain) *plain {
	if s.Format != "" {
		return nil
	}
	p.minLen = s.MinLength
	if s.MaxLength != nil {
		p.maxLen = *s.MaxLength
	}
	if s.Pattern != "" {
		re, err := regexp.Compile(goPattern(s.Pattern))
		if err != nil {
			return nil
		}
		p.re = re
	}
	return p
}

// codepoint is how kin-openapi rewrites a pattern's \uXXXX for Go.
var codepoint = regexp.MustCompile(`(?P<replaced_with_slash_x>\\u)(?P<code>[0-9A-F]{4})`)

// goPattern is a pattern as kin-openapi compiles it.
func goPattern(p string) string { return codepoint.ReplaceAllString(p, `\x{${code}}`) }

// accepts reports whether the schema surely accepts the parameter value
// v, read as convert reads it; false means "ask the validator".
func (p *plain) accepts(v string) bool {
	switch p.kind {
	case kindInt:
		n, err := strconv.ParseInt(v, 10, 64)
		return err == nil && p.inRange(float64(n))
	case kindNumber:
		if !jsonNumber(v) {
			return false
		}
		f, err := strconv.ParseFloat(v, 64)
		return err == nil && p.inRange(f)
	}
	if p.minLen > 0 || p.maxLen != math.MaxUint64 {
		n := uint64(0)
		for _, r := range v { // as kin-openapi counts
			if utf16.IsSurrogate(r) {
				n += 2
			} else {
				n++
			}
		}
		if n < p.minLen || n > p.maxLen {
			return false
		}
	}
	return p.re == nil || p.re.MatchString(v)
}

// inRange reports whether a number is within the bounds.
func (p *plain) inRange(v float64) bool {
	if p.int32Range && (v < math.MinInt32 || v > math.MaxInt32) {
		return false
	}
	return (v > p.lo || !p.loEx && v == p.lo) && (v < p.hi || !p.hiEx && v == p.hi)
}
