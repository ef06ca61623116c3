package ingest

import "testing"

func TestApacheLines(t *testing.T) {
	t.Parallel()
	const ts = "2000-10-10T20:55:36Z"
	const common = `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`
	runParseCases(t, "apache_common", ParserOptions{}, []parseCase{
		{
			name: "the CLF example",
			line: common,
			want: textView{Time: ts, Method: "GET", Target: "/apache_pb.gif", Status: 200, BytesOut: 2326, Remote: "127.0.0.1"},
		},
		{
			name: "size dash",
			line: `127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 304 -`,
			want: textView{Time: ts, Method: "GET", Target: "/", Status: 304, Remote: "127.0.0.1"},
		},
		{
			name: "a combined line read as common keeps referer and agent",
			line: common + ` "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`,
			want: textView{Time: ts, Method: "GET", Target: "/apache_pb.gif", Status: 200, BytesOut: 2326, Remote: "127.0.0.1",
				Referer: "http://www.example.com/start.html", UA: "Mozilla/4.08 [en] (Win98; I ;Nav)"},
		},
		{
			name: "unquoted trailing fields are ignored",
			line: common + ` 1234 vhost.example`,
			want: textView{Time: ts, Method: "GET", Target: "/apache_pb.gif", Status: 200, BytesOut: 2326, Remote: "127.0.0.1"},
		},
		{name: "no size", line: `127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200`, wantErr: true},
	})
	runParseCases(t, "apache_combined", ParserOptions{}, []parseCase{
		{
			name: "escaped quotes",
			line: `127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a\"b HTTP/1.0" 200 1 "x \"y\"" "z\\"`,
			want: textView{Time: ts, Method: "GET", Target: `/a"b`, Status: 200, BytesOut: 1, Remote: "127.0.0.1", Referer: `x "y"`, UA: `z\`},
		},
		{name: "common line", line: common, wantErr: true},
	})
	const combined = common + ` "-" "curl/8.5.0"`
	runParseCases(t, "apache_vhost_combined", ParserOptions{}, []parseCase{
		{
			name: "host and port, then the client",
			line: "www.example.com:443 " + combined,
			want: textView{Time: ts, Method: "GET", Target: "/apache_pb.gif", Status: 200, BytesOut: 2326, Remote: "127.0.0.1", UA: "curl/8.5.0"},
		},
		{
			name: "an address as the virtual host, an IPv6 client",
			line: `127.0.1.1:80 2001:db8::7 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 5 "-" "-"`,
			want: textView{Time: ts, Method: "GET", Target: "/", Status: 200, BytesOut: 5, Remote: "2001:db8::7"},
		},
		{name: "a combined line has no virtual host", line: combined, wantErr: true},
		{name: "nor does one whose client is a host name", line: "client.example.net - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 5 \"-\" \"-\"", wantErr: true},
		{name: "no referer or user agent", line: "www.example.com:443 " + common, wantErr: true},
	})
}

func FuzzApacheVhostCombined(f *testing.F) {
	fuzzFormat(f, "apache_vhost_combined", ParserOptions{},
		`www.example.com:443 127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 - "\"" "\\\""`)
}

func FuzzApacheCombined(f *testing.F) {
	fuzzFormat(f, "apache_combined", ParserOptions{},
		`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 - "\"" "\\\""`)
}

func FuzzApacheCommon(f *testing.F) {
	fuzzFormat(f, "apache_common", ParserOptions{},
		`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`)
}
