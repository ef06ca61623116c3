package contract

import "testing"

func TestMayInject(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"12345", false},
		{"u-1234", false},
		{"2026-01-01", false},
		{"a,b,c", false},
		{"ann@example.com", false},
		{"v1.2.3_rc~1+build", false},
		{"red shoes", false},
		{"1--", true},
		{"@@version", true},
		{"1/**/or/**/1", true}, // slashes are not punctuation, but * is
		{"1|1", true},
		{"x#", true},
		{"it's", true},
		{"<b>", true},
		{"f(x)", true},
		{"a;b", true},
	} {
		if got := mayInject(ShapeOf(tc.v).Class, tc.v); got != tc.want {
			t.Errorf("mayInject(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
