package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readGoldenLines(t testing.TB, file string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	return lines
}

// TestDetectGolden checks that every golden input is detected as the
// format it was written in. Files for the "nginx" format are skipped: it
// needs the log_format string, which Detect is not given.
func TestDetectGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".log")
		want, _, _ := strings.Cut(name, ".")
		if want == "nginx" || want == "auto" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lines := readGoldenLines(t, file)
			if got, ok := Detect(lines); !ok || got != want {
				t.Errorf("Detect = %q, %v; want %q", got, ok, want)
			}
			// A streaming auto parser parses every line the format's own
			// parser does (while undecided it may parse more: a line can
			// be valid in a sibling format), and once decided it is that
			// format, or one that parses it identically.
			a := NewAutoParser(ParserOptions{})
			own, err := NewParser(want, ParserOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i, l := range lines {
				var ev, ownEv Event
				err, ownErr := a.Parse(l, &ev), own.Parse(l, &ownEv)
				if ownErr == nil && err != nil {
					t.Errorf("line %d: auto: %v, %s parses it", i+1, err, want)
				}
				if f := a.Format(); f != "auto" && f != want && sameShapeFormats[want] != f {
					t.Fatalf("line %d: decided on %s", i+1, f)
				}
			}
		})
	}
}

// TestAutoParserPrefersLogFormat checks that with an nginx log_format
// given, lines it parses go to the "nginx" parser even when a built-in
// format (nginx_combined, nginx_json) would parse them too.
func TestAutoParserPrefersLogFormat(t *testing.T) {
	t.Parallel()
	if _, ok := parserFactories["nginx"]; !ok {
		t.Fatal("nginx log_format parser not registered")
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "nginx.*.log"))
	if len(files) == 0 {
		t.Fatal("no nginx log_format golden inputs")
	}
	for _, file := range files {
		opts := goldenOptions(t, strings.TrimSuffix(file, ".log"))
		own, err := NewParser("nginx", opts)
		if err != nil {
			t.Fatal(err)
		}
		a := NewAutoParser(opts)
		for i, l := range readGoldenLines(t, file) {
			var ev, ownEv Event
			err, ownErr := a.Parse(l, &ev), own.Parse(l, &ownEv)
			if ownErr == nil && (err != nil || ev.Format != "nginx") {
				t.Errorf("%s:%d: auto gave %q, %v; want the nginx log_format parse", file, i+1, ev.Format, err)
			}
		}
	}
}

// sameShapeFormats pairs formats whose lines are indistinguishable unless
// some line carries a telltale, which a streaming parser may lock before
// seeing.
var sameShapeFormats = map[string]string{"apache_combined": "nginx_combined", "nginx_combined": "apache_combined"}

// TestDetectJSONFormats checks that the JSON formats, which share many key
// names, are told apart line by line.
func TestDetectJSONFormats(t *testing.T) {
	t.Parallel()
	// nginx_json, tried first, parses this line too (it knows "timestamp",
	// "status", "method" and "path"), but Envoy explains more of it.
	both := `{"timestamp":"2026-11-23T10:00:00Z","status":200,"method":"GET","path":"/x","response_flags":"-","upstream_host":"10.0.0.1:80","bytes_received":0,"duration":3}`
	if _, err := parseJSONLine(t, "nginx_json", both); err != nil {
		t.Fatalf("test line no longer ambiguous: %v", err)
	}
	if got, ok := Detect([][]byte{[]byte(both)}); !ok || got != "envoy_json" {
		t.Errorf("Detect(ambiguous) = %q, %v; want envoy_json", got, ok)
	}
	for name, lines := range benchJSONLines {
		want := strings.TrimSuffix(name, "_escaped")
		for _, l := range lines {
			if got, ok := Detect([][]byte{[]byte(l)}); !ok || got != want {
				t.Errorf("Detect(%.60s...) = %q, %v; want %q", l, got, ok, want)
			}
		}
	}
}

func TestAutoParserLocksAfterStreak(t *testing.T) {
	t.Parallel()
	line := []byte(benchJSONLines["traefik_json"][0])
	a := NewAutoParser(ParserOptions{})
	for i := 1; i <= detectStreak+2; i++ {
		var ev Event
		ev.Source = "edge"
		if err := a.Parse(line, &ev); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if ev.Format != "traefik_json" || ev.Source != "edge" || ev.Status != 200 {
			t.Fatalf("line %d: %+v", i, ev)
		}
		want := "auto"
		if i >= detectStreak {
			want = "traefik_json"
		}
		if got := a.Format(); got != want {
			t.Fatalf("after line %d: Format() = %q, want %q", i, got, want)
		}
	}
}

func TestAutoParserDecidesAfterMaxLines(t *testing.T) {
	t.Parallel()
	kong := []byte(benchJSONLines["kong"][0])
	envoy := []byte(benchJSONLines["envoy_json"][0])
	a := NewAutoParser(ParserOptions{})
	for i := 1; i <= detectMaxLines; i++ {
		line := kong
		if i%3 == 0 { // never detectStreak in a row, but kong wins most
			line = envoy
		}
		var ev Event
		if err := a.Parse(line, &ev); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if i < detectMaxLines && a.Format() != "auto" {
			t.Fatalf("decided %q after %d lines", a.Format(), i)
		}
	}
	if got := a.Format(); got != "kong" {
		t.Fatalf("Format() = %q after %d lines, want kong", got, detectMaxLines)
	}
	// Locked: an Envoy line is now a Kong parse error.
	var ev Event
	if err := a.Parse(envoy, &ev); err == nil {
		t.Error("locked parser still accepts another format")
	}
}

func TestAutoParserErrors(t *testing.T) {
	t.Parallel()
	a := NewAutoParser(ParserOptions{})
	var ev Event
	if err := a.Parse([]byte("   "), &ev); err != ErrEmptyLine {
		t.Errorf("blank line: %v, want ErrEmptyLine", err)
	}
	var pe *ParseError
	if err := a.Parse([]byte("\x00garbage"), &ev); !errors.As(err, &pe) || pe.Format != "auto" {
		t.Errorf("garbage before any match: %v, want an auto *ParseError", err)
	}
	ev.Reset()
	if err := a.Parse([]byte(benchJSONLines["kong"][0]), &ev); err != nil {
		t.Fatal(err)
	}
	// Once Kong leads, a broken line gets Kong's reason.
	ev.Reset()
	if err := a.Parse([]byte(`{"request":{"method":"GET"}}`), &ev); !errors.As(err, &pe) || pe.Format != "kong" || pe.Reason != "missing time" {
		t.Errorf("broken Kong line: %v, want kong: missing time", err)
	}
	if a.Format() != "auto" {
		t.Errorf("decided on %q from one line", a.Format())
	}
}

func TestDetectNothing(t *testing.T) {
	t.Parallel()
	for _, lines := range [][][]byte{nil, {[]byte("")}, {[]byte("hello"), []byte("{}")}} {
		if f, ok := Detect(lines); ok {
			t.Errorf("Detect(%q) = %q, want no format", lines, f)
		}
	}
}

func TestSniffFamily(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line string
		want lineFamily
	}{
		{`{"a":1}`, famJSON},
		{`[2026-11-23T10:10:15.000Z] "GET / HTTP/1.1" 200 - 0 12 1 0 "-" "curl/8.4.0"`, famEnvoyText},
		{`https 2026-11-23T10:00:00.123456Z app/lb/0123 192.0.2.1:5 10.0.0.1:80 0.001 0.002 0.000 200 200 34 366 "GET https://h:443/ HTTP/1.1" "ua"`, famALB},
		{`h2 2026-11-23T10:00:00.123456Z app/lb/0123 ...`, famALB},
		{`http nope`, famCLF},
		{`Nov 23 10:00:00 lb haproxy[123]: 192.0.2.1:5000 [23/Nov/2026:10:00:00.123] fe be/srv 0/0/1/2/3 200 100 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"`, famHAProxy},
		{`192.0.2.1:5000 [23/Nov/2026:10:00:00.123] fe be/srv 0/0/1/2/3 200 100 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"`, famHAProxy},
		{`192.0.2.1 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"`, famCLF},
		{`[oops`, famCLF},
		{`Nov 23 10:00:00 web1 nginx: {"remote_addr":"192.0.2.1"}`, famJSON},
		{`<190>Nov 23 10:00:00 web1 nginx: {"remote_addr":"192.0.2.1"}`, famJSON},
		{`Nov 23 10:00:00 web1 nginx: 192.0.2.1 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"`, famCLF},
	}
	for _, tt := range tests {
		if got := sniffFamily([]byte(tt.line)); got != tt.want {
			t.Errorf("sniffFamily(%.50q) = %d, want %d", tt.line, got, tt.want)
		}
	}
}

func TestApacheEvidence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line string
		want bool
	}{
		{`192.0.2.1 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 304 -`, true},
		{`192.0.2.1 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 304 - "-" "ua"`, true},
		{`192.0.2.1 - - [23/Nov/2026:10:00:00 +0000] "GET /\"x\" HTTP/1.1" 200 5 "-" "ua"`, false},
		{`192.0.2.1 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 0 "-" "ua"`, false},
		{`192.0.2.1 - - [23/Nov/2026:10:00:00 +0000] "GET /\x22x\x22 HTTP/1.1" 200 5 "-" "-"`, false},
		{`192.0.2.1 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "ua" "-"`, false},
	}
	for _, tt := range tests {
		if got := apacheEvidence([]byte(tt.line)); got != tt.want {
			t.Errorf("apacheEvidence(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

// goldenSeeds are every golden input line, as fuzz seeds for the formats
// that read any of them.
func goldenSeeds(f *testing.F) []string {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.log"))
	var seeds []string
	for _, file := range files {
		for _, l := range readGoldenLines(f, file) {
			seeds = append(seeds, string(l))
		}
	}
	return seeds
}

// FuzzAuto runs the shared parser checks on the auto parser. It locks onto
// a format after a few inputs, so FuzzDetect below covers detection itself.
func FuzzAuto(f *testing.F) {
	fuzzFormat(f, "auto", ParserOptions{}, goldenSeeds(f)...)
}

// FuzzDetect feeds the lines of each input to a fresh auto parser and to
// Detect: every line must get an event or a parse error, never a panic,
// and a detected format must be one NewParser knows.
func FuzzDetect(f *testing.F) {
	for _, s := range goldenSeeds(f) {
		f.Add([]byte(s + "\n" + s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		lines := bytes.Split(in, []byte{'\n'})
		a := NewAutoParser(ParserOptions{})
		for _, l := range lines {
			var ev Event
			err := a.Parse(l, &ev)
			var pe *ParseError
			if err != nil && err != ErrEmptyLine && !errors.As(err, &pe) {
				t.Fatalf("Parse returned %T %v", err, err)
			}
			if err == nil && ev.Format == "" {
				t.Fatal("parsed event without a format")
			}
		}
		if f, ok := Detect(lines); ok {
			if _, err := NewParser(f, ParserOptions{}); err != nil {
				t.Fatalf("Detect returned %q: %v", f, err)
			}
		}
	})
}

// TestJSONDetectScore pins that JSON parsers report how many keys they
// knew: detection relies on it to tell overlapping JSON formats apart.
func TestJSONDetectScore(t *testing.T) {
	t.Parallel()
	p, err := NewParser("kong", ParserOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	if err := p.Parse([]byte(`{"started_at":1795428000123,"response":{"status":200},"request":{"method":"GET"},"other":1}`), &ev); err != nil {
		t.Fatal(err)
	}
	if got := p.(detectScorer).detectScore(); got != 3 {
		t.Errorf("detectScore = %d, want 3", got)
	}
}
