package ingest

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// textView is what the text-format parser tests compare: the fields a
// parser fills, before normalisation (so Raw is visible).
type textView struct {
	Time                                      string
	Method, Host, Target, Path, Query, Scheme string
	Status                                    int
	BytesIn, BytesOut                         int64
	Latency                                   time.Duration
	UA, Referer, RequestID, TLS               string
	Remote, XFF                               string
	APIKey, Authz, Version, JWTSub, MTLS      string
}

func viewOf(ev *Event) textView {
	v := textView{
		Method: ev.Method, Host: ev.Host, Target: ev.Raw.Target, Path: ev.Path, Query: ev.Raw.RawQuery,
		Scheme: ev.Scheme, Status: ev.Status, BytesIn: ev.BytesIn, BytesOut: ev.BytesOut,
		Latency: ev.Latency, UA: ev.UserAgent, Referer: ev.Referer, RequestID: ev.RequestID,
		TLS: ev.TLSVersion, Remote: ev.Raw.RemoteAddr, XFF: ev.Raw.XForwardedFor,
		APIKey: ev.Raw.APIKey, Authz: ev.Raw.Authorization, Version: ev.Raw.Version,
		JWTSub: ev.Raw.JWTSub, MTLS: ev.Raw.MTLSSubject,
	}
	if !ev.Time.IsZero() {
		v.Time = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	return v
}

// parseCase is one line and what a parser must make of it: wantErr for a
// *ParseError, else the exact view.
type parseCase struct {
	name    string
	line    string
	want    textView
	wantErr bool
}

func runParseCases(t *testing.T, format string, opts ParserOptions, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewParser(format, opts)
			if err != nil {
				t.Fatal(err)
			}
			var ev Event
			err = p.Parse([]byte(tc.line), &ev)
			if tc.wantErr {
				if _, ok := err.(*ParseError); !ok {
					t.Fatalf("Parse(%q) = %v, %+v; want a *ParseError", tc.line, err, viewOf(&ev))
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.line, err)
			}
			if got := viewOf(&ev); got != tc.want {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.line, got, tc.want)
			}
			if ev.Format != p.Format() {
				t.Errorf("ev.Format = %q, want %q", ev.Format, p.Format())
			}
		})
	}
}

func TestNginxCombinedLines(t *testing.T) {
	t.Parallel()
	const ts = "2024-03-12T14:02:11Z"
	runParseCases(t, "nginx_combined", ParserOptions{}, []parseCase{
		{
			name: "plain",
			line: `203.0.113.7 - - [12/Mar/2024:14:02:11 +0000] "GET /a/1?x=y HTTP/1.1" 200 512 "https://r.example/" "UA/1.0"`,
			want: textView{Time: ts, Method: "GET", Target: "/a/1?x=y", Status: 200, BytesOut: 512, Referer: "https://r.example/", UA: "UA/1.0", Remote: "203.0.113.7"},
		},
		{
			name: "$time_iso8601 in place of $time_local",
			line: `203.0.113.7 - - [2024-03-12T15:02:11+01:00] "GET /a/1?x=y HTTP/1.1" 200 512 "https://r.example/" "UA/1.0"`,
			want: textView{Time: ts, Method: "GET", Target: "/a/1?x=y", Status: 200, BytesOut: 512, Referer: "https://r.example/", UA: "UA/1.0", Remote: "203.0.113.7"},
		},
		{
			name: "$time_iso8601 in UTC with milliseconds",
			line: `203.0.113.7 - - [2024-03-12T14:02:11.250Z] "GET / HTTP/1.1" 200 5 "-" "-"`,
			want: textView{Time: "2024-03-12T14:02:11.25Z", Method: "GET", Target: "/", Status: 200, BytesOut: 5, Remote: "203.0.113.7"},
		},
		{
			name: "$time_iso8601 as long as $time_local",
			line: `203.0.113.7 - - [2024-03-12T14:02:11.12345Z] "GET / HTTP/1.1" 200 5 "-" "-"`,
			want: textView{Time: "2024-03-12T14:02:11.12345Z", Method: "GET", Target: "/", Status: 200, BytesOut: 5, Remote: "203.0.113.7"},
		},
		{name: "a time that is neither", line: `203.0.113.7 - - [2024-03-12 garbage] "GET / HTTP/1.1" 200 5 "-" "-"`, wantErr: true},
		{name: "HAProxy's accept date is not CLF", line: `203.0.113.7 - - [12/Mar/2024:14:02:11.655] "GET / HTTP/1.1" 200 5 "-" "-"`, wantErr: true},
		{
			name: "through syslog to a file",
			line: `Mar 12 14:02:11 web1 nginx: 203.0.113.7 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200 5 "-" "-"`,
			want: textView{Time: ts, Method: "GET", Target: "/", Status: 200, BytesOut: 5, Remote: "203.0.113.7"},
		},
		{
			name: "through syslog with a PRI and a single-digit day",
			line: `<190>Mar  2 14:02:11 web1 nginx: 203.0.113.7 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200 5 "-" "-"`,
			want: textView{Time: ts, Method: "GET", Target: "/", Status: 200, BytesOut: 5, Remote: "203.0.113.7"},
		},
		{
			name: "through rsyslog with an RFC 3339 stamp and a pid",
			line: `2024-03-12T14:02:11.123456+00:00 web1 nginx[812]: 203.0.113.7 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200 5 "-" "-"`,
			want: textView{Time: ts, Method: "GET", Target: "/", Status: 200, BytesOut: 5, Remote: "203.0.113.7"},
		},
		{
			name: "RFC 5424",
			line: `<190>1 2024-03-12T14:02:11Z web1 nginx - - - 203.0.113.7 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200 5 "-" "-"`,
			want: textView{Time: ts, Method: "GET", Target: "/", Status: 200, BytesOut: 5, Remote: "203.0.113.7"},
		},
		{
			name: "a client host name like a month is a host name",
			line: `Mar.example.net - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200 5 "-" "-"`,
			want: textView{Time: ts, Method: "GET", Target: "/", Status: 200, BytesOut: 5, Remote: "Mar.example.net"},
		},
		{
			name: "crlf and user with a space",
			line: "2001:db8::1 - john smith [12/Mar/2024:15:02:11 +0100] \"POST /b HTTP/2.0\" 201 0 \"-\" \"-\"\r\n",
			want: textView{Time: ts, Method: "POST", Target: "/b", Status: 201, Remote: "2001:db8::1"},
		},
		{
			name: "nginx hex escapes",
			line: `1.2.3.4 - - [12/Mar/2024:14:02:11 +0000] "GET /q?a=\x22b\x22 HTTP/1.1" 200 1 "-" "say \x22hi\x22 \x5C"`,
			want: textView{Time: ts, Method: "GET", Target: `/q?a="b"`, Status: 200, BytesOut: 1, UA: `say "hi" \`, Remote: "1.2.3.4"},
		},
		{
			name: "apache backslash escapes",
			line: `1.2.3.4 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200 1 "a \"b\" c" "d \\ \"e\""`,
			want: textView{Time: ts, Method: "GET", Target: "/", Status: 200, BytesOut: 1, Referer: `a "b" c`, UA: `d \ "e"`, Remote: "1.2.3.4"},
		},
		{
			name: "xff and request time appended",
			line: `10.0.0.5 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" "198.51.100.7, 10.0.0.2" 0.250 0.248`,
			want: textView{Time: ts, Method: "GET", Target: "/", Status: 200, BytesOut: 1, UA: "ua", Remote: "10.0.0.5", XFF: "198.51.100.7, 10.0.0.2", Latency: 250 * time.Millisecond},
		},
		{
			name: "request time before a quoted non-address",
			line: `10.0.0.5 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" 1.5 "api.example.com" "-"`,
			want: textView{Time: ts, Method: "GET", Target: "/", Status: 200, BytesOut: 1, UA: "ua", Remote: "10.0.0.5", Latency: 1500 * time.Millisecond},
		},
		{
			name: "tls handshake bytes keep the status",
			line: `45.1.2.3 - - [12/Mar/2024:14:02:11 +0000] "\x16\x03\x01\x00\xF1\x01" 400 157 "-" "-"`,
			want: textView{Time: ts, Status: 400, BytesOut: 157, Remote: "45.1.2.3"},
		},
		{
			name: "dash request",
			line: `45.1.2.3 - - [12/Mar/2024:14:02:11 +0000] "-" 400 0 "-" "-"`,
			want: textView{Time: ts, Status: 400, Remote: "45.1.2.3"},
		},
		{
			name: "empty request",
			line: `45.1.2.3 - - [12/Mar/2024:14:02:11 +0000] "" 400 0 "-" "-"`,
			want: textView{Time: ts, Status: 400, Remote: "45.1.2.3"},
		},
		{
			name: "http/0.9 request",
			line: `45.1.2.3 - - [12/Mar/2024:14:02:11 +0000] "GET /" 400 0 "-" "-"`,
			want: textView{Time: ts, Method: "GET", Target: "/", Status: 400, Remote: "45.1.2.3"},
		},
		{
			name: "absolute-form target",
			line: `45.1.2.3 - - [12/Mar/2024:14:02:11 +0000] "GET https://Example.org:443/x?y=1 HTTP/1.1" 404 0 "-" "-"`,
			want: textView{Time: ts, Method: "GET", Host: "Example.org", Scheme: "https", Target: "/x?y=1", Status: 404, Remote: "45.1.2.3"},
		},
		{
			name: "absolute-form target with only a query",
			line: `45.1.2.3 - - [12/Mar/2024:14:02:11 +0000] "GET http://h:8080?y=1 HTTP/1.1" 404 0 "-" "-"`,
			want: textView{Time: ts, Method: "GET", Host: "h:8080", Scheme: "http", Path: "/", Query: "y=1", Status: 404, Remote: "45.1.2.3"},
		},
		{
			name: "absolute-form target with credentials",
			line: `45.1.2.3 - - [12/Mar/2024:14:02:11 +0000] "GET http://admin:s3cret@h.example/ HTTP/1.1" 404 0 "-" "-"`,
			want: textView{Time: ts, Method: "GET", Host: "h.example", Scheme: "http", Target: "/", Status: 404, Remote: "45.1.2.3"},
		},
		{
			name: "connect",
			line: `45.1.2.3 - - [12/Mar/2024:14:02:11 +0000] "CONNECT example.org:443 HTTP/1.1" 400 0 "-" "-"`,
			want: textView{Time: ts, Method: "CONNECT", Host: "example.org:443", Status: 400, Remote: "45.1.2.3"},
		},
		{
			name: "method with junk is not a method",
			line: `45.1.2.3 - - [12/Mar/2024:14:02:11 +0000] "G\xC3T / HTTP/1.1" 400 0 "-" "-"`,
			want: textView{Time: ts, Status: 400, Remote: "45.1.2.3"},
		},
		{name: "missing user agent", line: `1.2.3.4 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200 1 "-"`, wantErr: true},
		{name: "unquoted user agent", line: `1.2.3.4 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200 1 "-" ua`, wantErr: true},
		{name: "bad month", line: `1.2.3.4 - - [12/Mar/2024:14:02:11 +0000`, wantErr: true},
		{name: "bad zone", line: `1.2.3.4 - - [12/Mar/2024:14:02:11 0000] "GET / HTTP/1.1" 200 1 "-" "-"`, wantErr: true},
		{name: "status not a number", line: `1.2.3.4 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" OK 1 "-" "-"`, wantErr: true},
		{name: "bytes not a number", line: `1.2.3.4 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200 1k "-" "-"`, wantErr: true},
		{name: "unterminated request", line: `1.2.3.4 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1`, wantErr: true},
		{name: "json line", line: `{"remote_addr":"1.2.3.4","status":200}`, wantErr: true},
		{name: "one word", line: `garbage`, wantErr: true},
	})
}

func TestNginxCombinedEmptyLine(t *testing.T) {
	t.Parallel()
	p, err := NewParser("nginx_combined", ParserOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"", "\n", "\r\n", "   "} {
		var ev Event
		if err := p.Parse([]byte(line), &ev); err != ErrEmptyLine {
			t.Errorf("Parse(%q) = %v, want ErrEmptyLine", line, err)
		}
	}
}

// The "nginx" format given nginx's predefined combined format must read a
// log exactly as nginx_combined does.
func TestLogFormatCombinedIsNginxCombined(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"combined", combinedLogFormat, "log_format combined;", "'" + combinedLogFormat + "'"} {
		a, err := NewParser("nginx_combined", ParserOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewParser("nginx", ParserOptions{LogFormat: spec})
		if err != nil {
			t.Fatalf("%q: %v", spec, err)
		}
		f, err := os.Open(filepath.Join("testdata", "golden", "nginx_combined.log"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			n++
			var ea, eb Event
			erra, errb := a.Parse(sc.Bytes(), &ea), b.Parse(sc.Bytes(), &eb)
			if (erra == nil) != (errb == nil) {
				t.Errorf("%q line %d: nginx_combined err %v, nginx err %v", spec, n, erra, errb)
				continue
			}
			if va, vb := viewOf(&ea), viewOf(&eb); va != vb {
				t.Errorf("%q line %d:\nnginx_combined %+v\nnginx          %+v", spec, n, va, vb)
			}
		}
		f.Close()
		if n < 10 {
			t.Fatalf("read only %d lines", n)
		}
	}
}

func TestSplitRequestLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in             string
		method, target string
		ok             bool
	}{
		{"GET / HTTP/1.1", "GET", "/", true},
		{"GET /a?b=c HTTP/2.0", "GET", "/a?b=c", true},
		{"GET /a b HTTP/1.1", "GET", "/a b", true},
		{"GET /x", "GET", "/x", true},
		{"M-SEARCH * HTTP/1.1", "M-SEARCH", "*", true},
		{"PROPFIND /dav/ HTTP/1.1", "PROPFIND", "/dav/", true},
		{"-", "", "", false},
		{"", "", "", false},
		{"GET", "", "", false},
		{"GET  HTTP/1.1", "", "", false},
		{"- - -", "", "", false},
		{"1GET / HTTP/1.1", "", "", false},
		{"\x16\x03\x01 x", "", "", false},
		{"<BADREQ>", "", "", false},
	}
	for _, tt := range tests {
		m, tg, ok := splitRequestLine(tt.in)
		if m != tt.method || tg != tt.target || ok != tt.ok {
			t.Errorf("splitRequestLine(%q) = %q, %q, %v; want %q, %q, %v", tt.in, m, tg, ok, tt.method, tt.target, tt.ok)
		}
	}
}

func TestParseSeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0.000", 0, true},
		{"0.042", 42 * time.Millisecond, true},
		{"3", 3 * time.Second, true},
		{"12.5", 12500 * time.Millisecond, true},
		{"0.0000000019", 1, true},
		{"-1", 0, false},
		{"1.", 0, false},
		{".5", 0, false},
		{"1.2.3", 0, false},
		{"1e3", 0, false},
		{"", 0, false},
		{"9999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseSeconds([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseSeconds(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestClosingQuote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line string
		from int
		want int
	}{
		{`"abc" x`, 1, 4},
		{`"abc"`, 1, 4},
		{`"a\"b" x`, 1, 5},
		{`"a\\" x`, 1, 4},
		{`"a"b" x`, 1, 4},
		{`"abc`, 1, -1},
		{`"a\"`, 1, -1},
	}
	for _, tt := range tests {
		if got := closingQuote([]byte(tt.line), tt.from); got != tt.want {
			t.Errorf("closingQuote(%q, %d) = %d, want %d", tt.line, tt.from, got, tt.want)
		}
	}
}

// The hot path must not allocate once the event's scratch arena has grown.
func TestTextParsersDoNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	for _, tc := range benchTextCases() {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewParser(tc.format, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			norm, err := NewNormalizer(NormalizerOptions{HMACKey: []byte("k")})
			if err != nil {
				t.Fatal(err)
			}
			var ev Event
			i := 0
			run := func() {
				ev.Reset()
				if err := p.Parse(tc.lines[i%len(tc.lines)], &ev); err != nil {
					t.Fatal(err)
				}
				norm.Normalize(&ev)
				i++
			}
			for range tc.lines {
				run() // grow the scratch arena
			}
			if n := testing.AllocsPerRun(len(tc.lines)*2, run); n != 0 {
				t.Errorf("Parse+Normalize allocates %.2f times per line", n)
			}
		})
	}
}

func FuzzNginxCombined(f *testing.F) {
	fuzzFormat(f, "nginx_combined", ParserOptions{},
		`1.2.3.4 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200 1 "-" "-" "1.2.3.4" 0.1`,
		`1.2.3.4 - - [12/Mar/2024:14:02:11 +0000] "\x16\x03" 400 1 "a\"" "\\"`)
}

// TestSecurityLogEscapesNeverBecomeControlBytes: nginx and Apache write a
// control byte a client sent as \xHH so that no terminal acts on it; the
// parsers keep that escape as text (an ESC sequence that clears the
// screen or sets the window title must not come back to life in
// gatewatch's output), while a printable or UTF-8 byte is decoded.
func TestSecurityLogEscapesNeverBecomeControlBytes(t *testing.T) {
	line := `203.0.113.7 - - [02/Nov/2026:00:00:00 +0000] "GET /a\x1B]0;pwned\x07\x1B[2J/caf\xC3\xA9\x7F\x00 HTTP/1.1" 404 100 "\x1B[31mref" "UA \x22q\x22 \x1b[0m"`
	for _, format := range []string{"nginx_combined", "apache_combined"} {
		p, err := NewParser(format, ParserOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var ev Event
		if err := p.Parse([]byte(line), &ev); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		for name, v := range map[string]string{"target": ev.Raw.Target, "referer": ev.Referer, "user agent": ev.UserAgent} {
			for i := 0; i < len(v); i++ {
				if v[i] < 0x20 || v[i] == 0x7f {
					t.Errorf("%s: %s %q holds control byte %#x", format, name, v, v[i])
				}
			}
		}
		if want := `/a\x1B]0;pwned\x07\x1B[2J/café\x7F\x00`; ev.Raw.Target != want {
			t.Errorf("%s: target %q, want %q", format, ev.Raw.Target, want)
		}
		if want := `UA "q" \x1b[0m`; ev.UserAgent != want {
			t.Errorf("%s: user agent %q, want %q", format, ev.UserAgent, want)
		}
	}
}
