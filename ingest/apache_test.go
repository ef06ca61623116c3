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
}

func FuzzApacheCombined(f *testing.F) {
	fuzzFormat(f, "apache_combined", ParserOptions{},
		`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 - "\"" "\\\""`)
}

func FuzzApacheCommon(f *testing.F) {
	fuzzFormat(f, "apache_common", ParserOptions{},
		`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`)
}
