package human

import "testing"

func TestFormats(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ got, want string }{
		{Count(0), "0"}, {Count(999), "999"}, {Count(1234), "1,234"}, {Count(9885), "9,885"},
		{Count(56789), "57k"}, {Count(12345678), "12.35M"},
		{Percent(0.963), "96%"}, {Percent(0.1), "10%"}, {Percent(0.0132), "1.3%"}, {Percent(0.02), "2.0%"},
		{Plural(1, "run"), "1 run"}, {Plural(0, "run"), "0 runs"}, {Plural(3, "run"), "3 runs"},
		{Bytes(512), "512 B"}, {Bytes(448000), "437.5 KiB"}, {Bytes(5 << 20), "5.0 MiB"}, {Bytes(3 << 30), "3.0 GiB"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestPrintable: what a terminal would obey or a table would split on is
// escaped; ordinary text, UTF-8 included, and backslashes stay as they
// are.
func TestPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/api/v1/users?q=café", "/api/v1/users?q=café"},
		{`/a\x1B-as-text`, `/a\x1B-as-text`},
		{"\x1b]0;pwned\x07", `\x1B]0;pwned\x07`},
		{"a\tb\nc\rd\x7f", `a\x09b\x0Ac\x0Dd\x7F`},
		{"\u0085\u202e\u2066\u2028\ufeff", `\u{0085}\u{202E}\u{2066}\u{2028}\u{FEFF}`},
		{"bad \xff\xfe utf8", `bad \xFF\xFE utf8`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Printable(tt.in); got != tt.want {
			t.Errorf("Printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
