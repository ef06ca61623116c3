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
