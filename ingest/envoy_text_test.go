package ingest

import (
	"testing"
	"time"
)

func TestEnvoyTextLines(t *testing.T) {
	t.Parallel()
	runParseCases(t, "envoy_text", ParserOptions{}, []parseCase{
		{
			name: "documentation example",
			line: `[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80"`,
			want: textView{Time: "2016-04-15T20:17:00.31Z", Method: "POST", Target: "/api/v1/locations", Status: 204, BytesIn: 154,
				Latency: 226 * time.Millisecond, XFF: "10.0.35.28", UA: "nsq2http", RequestID: "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2", Host: "locations"},
		},
		{
			name: "newer default with details",
			line: `[2024-03-12T14:06:02.345Z] "GET /x?a=b HTTP/1.1" 401 UAEX ext_authz_denied - "-" 0 20 3 - "-" "curl/8" "-" "api.example.com" "-"`,
			want: textView{Time: "2024-03-12T14:06:02.345Z", Method: "GET", Target: "/x?a=b", Status: 401, BytesOut: 20,
				Latency: 3 * time.Millisecond, UA: "curl/8", Host: "api.example.com"},
		},
		{
			name: "istio tail gives the peer",
			line: `[2024-03-12T14:06:02.345Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 1 1 1 "9.9.9.9" "ua" "id" "h" "10.1.1.1:80" outbound|80||h 10.1.1.2:5 10.1.1.3:80 10.1.1.4:6000 - default`,
			want: textView{Time: "2024-03-12T14:06:02.345Z", Method: "GET", Target: "/", Status: 200, BytesOut: 1,
				Latency: time.Millisecond, XFF: "9.9.9.9", UA: "ua", RequestID: "id", Host: "h", Remote: "10.1.1.4:6000"},
		},
		{
			name: "raw quotes in the user agent",
			line: `[2024-03-12T14:06:02Z] "GET / HTTP/1.1" 200 - 0 1 1 1 "-" "say "hi" now" "id" "h" "-"`,
			want: textView{Time: "2024-03-12T14:06:02Z", Method: "GET", Target: "/", Status: 200, BytesOut: 1,
				Latency: time.Millisecond, UA: `say "hi" now`, RequestID: "id", Host: "h"},
		},
		{
			name: "tcp proxy",
			line: `[2024-03-12T14:06:02Z] "- - -" 0 UF 0 0 5 - "-" "-" "-" "-" "10.0.0.1:5432"`,
			want: textView{Time: "2024-03-12T14:06:02Z", Latency: 5 * time.Millisecond},
		},
		{name: "truncated", line: `[2024-03-12T14:06:02Z] "GET / HTTP/1.1" 200 - 0 1 1 1 "-" "ua"`, wantErr: true},
		{name: "bad duration", line: `[2024-03-12T14:06:02Z] "GET / HTTP/1.1" 200 - 0 1 x 1 "-" "ua" "-" "-" "-"`, wantErr: true},
		{name: "quoted status", line: `[2024-03-12T14:06:02Z] "GET / HTTP/1.1" "200" - 0 1 1 1 "-" "ua" "-" "-" "-"`, wantErr: true},
		{name: "bad time", line: `[12/Mar/2024:14:06:02 +0000] "GET / HTTP/1.1" 200 - 0 1 1 1 "-" "ua" "-" "-" "-"`, wantErr: true},
		{name: "unterminated time", line: `[2024-03-12T14:06:02Z "GET /`, wantErr: true},
		{name: "unterminated request", line: `[2024-03-12T14:06:02Z] "GET /`, wantErr: true},
	})
}

func FuzzEnvoyText(f *testing.F) {
	fuzzFormat(f, "envoy_text", ParserOptions{},
		`[2024-03-12T14:06:02Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 1 1 1 "-" "a "b" c" "-" "-" "-" x y z [::1]:5`)
}
