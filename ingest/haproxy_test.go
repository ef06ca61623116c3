package ingest

import (
	"testing"
	"time"
)

func TestHAProxyLines(t *testing.T) {
	t.Parallel()
	const doc = `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1"`
	docView := textView{Time: "2009-02-06T12:14:14.655Z", Remote: "10.0.1.2", Method: "GET", Target: "/index.html", Host: "1wt.eu",
		Status: 200, BytesOut: 2750, Latency: 109 * time.Millisecond}
	runParseCases(t, "haproxy_http", ParserOptions{}, []parseCase{
		{name: "documentation example", line: doc, want: docView},
		{name: "with syslog header", line: `Feb  6 12:14:14 localhost haproxy[14389]: ` + doc, want: docView},
		{name: "with RFC 5424 header", line: `<134>1 2009-02-06T12:14:14.655+01:00 lb haproxy 14389 - [meta x="1"] ` + doc, want: docView},
		{
			name: "ipv6 client, ssl frontend, no captures, old timers",
			line: `2001:db8::1:443 [06/Feb/2009:12:14:14] fe~ be/s 1/2/3/4/+5 404 +10 - - ---- 1/1/1/1/0 0/0 "HEAD /x?y HTTP/1.0"`,
			want: textView{Time: "2009-02-06T12:14:14Z", Remote: "2001:db8::1", Method: "HEAD", Target: "/x?y", Scheme: "https",
				Status: 404, BytesOut: 10, Latency: 5 * time.Millisecond},
		},
		{
			name: "aborted: status -1 and timer -1",
			line: `1.2.3.4:1 [06/Feb/2009:12:14:14.000] fe be/<NOSRV> -1/-1/-1/-1/-1 -1 0 - - CR-- 0/0/0/0/0 0/0 "<BADREQ>"`,
			want: textView{Time: "2009-02-06T12:14:14Z", Remote: "1.2.3.4"},
		},
		{
			name: "hash-encoded request, captured header that is no host, httpslog tail",
			line: `1.2.3.4:1 [06/Feb/2009:12:14:14.000] fe be/s 0/0/0/1/1 200 5 - - ---- 0/0/0/0/0 0/0 {1.2.3.4|curl} {x} "GET /a#22b#7 HTTP/1.1" 0/0/0/0/0 www.example.com/TLSv1.2/ECDHE`,
			want: textView{Time: "2009-02-06T12:14:14Z", Remote: "1.2.3.4", Method: "GET", Target: `/a"b#7`, Host: "www.example.com",
				Scheme: "https", TLS: "TLSv1.2", Status: 200, BytesOut: 5, Latency: time.Millisecond},
		},
		{
			name: "truncated request",
			line: `1.2.3.4:1 [06/Feb/2009:12:14:14.000] fe be/s 0/0/0/1/1 200 5 - - ---- 0/0/0/0/0 0/0 "GET /very/long`,
			want: textView{Time: "2009-02-06T12:14:14Z", Remote: "1.2.3.4", Method: "GET", Target: "/very/long", Status: 200, BytesOut: 5, Latency: time.Millisecond},
		},
		{name: "tcp log", line: `1.2.3.4:1 [06/Feb/2009:12:14:14.000] fe be/s 0/0/5 212 -- 0/0/0/0/0 0/0`, wantErr: true},
		{name: "no request", line: `1.2.3.4:1 [06/Feb/2009:12:14:14.000] fe be/s 0/0/0/1/1 200 5 - - ---- 0/0/0/0/0 0/0`, wantErr: true},
		{name: "unterminated captures", line: `1.2.3.4:1 [06/Feb/2009:12:14:14.000] fe be/s 0/0/0/1/1 200 5 - - ---- 0/0/0/0/0 0/0 {abc "GET / HTTP/1.1"`, wantErr: true},
		{name: "bad bytes", line: `1.2.3.4:1 [06/Feb/2009:12:14:14.000] fe be/s 0/0/0/1/1 200 x - - ---- 0/0/0/0/0 0/0 "GET / HTTP/1.1"`, wantErr: true},
		{name: "startup message", line: `Feb  6 12:14:14 localhost haproxy[14389]: Proxy http-in started.`, wantErr: true},
		{name: "date at line start", line: `[06/Feb/2009:12:14:14.655] x`, wantErr: true},
	})
}

func TestParseHAProxyDate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
	}{
		{"06/Feb/2009:12:14:14.655", "2009-02-06T12:14:14.655Z"},
		{"31/Dec/2023:23:59:60", "2024-01-01T00:00:00Z"},
		{"06/Feb/2009:12:14:14,655", ""},
		{"06/Foo/2009:12:14:14.655", ""},
		{"6/Feb/2009:12:14:14.655", ""},
		{"06/Feb/2009:24:14:14.655", ""},
		{"06/Feb/2009:12:14:14.65x", ""},
	}
	for _, tt := range tests {
		got, ok := parseHAProxyDate([]byte(tt.in))
		s := ""
		if ok {
			s = got.Format(time.RFC3339Nano)
		}
		if s != tt.want {
			t.Errorf("parseHAProxyDate(%q) = %q, want %q", tt.in, s, tt.want)
		}
	}
}

func FuzzHAProxyHTTP(f *testing.F) {
	fuzzFormat(f, "haproxy_http", ParserOptions{},
		`1.2.3.4:1 [06/Feb/2009:12:14:14.000] fe~ be/s 0/0/0/1/+1 -1 +5 - - ---- 0/0/0/0/0 0/0 {a|b} {} "GET /#22 HTTP/1.1" 0/0 h/TLSv1.3/x`)
}
