package alert

import (
	"testing"
	"time"
)

// FuzzParseRetryAfter: no header value panics or yields a delay outside
// [0, 1h].
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"30", "-5", "Sat, 05 Dec 2026 06:01:00 GMT", "", "1e9", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, now)
		if ok && (d < 0 || d > time.Hour) {
			t.Fatalf("%q: delay %v", v, d)
		}
	})
}
