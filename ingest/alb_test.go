package ingest

import (
	"testing"
	"time"
)

func TestALBLines(t *testing.T) {
	t.Parallel()
	const tail = ` ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2018-07-02T22:22:48.364000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-"`
	runParseCases(t, "aws_alb", ParserOptions{}, []parseCase{
		{
			name: "https documentation example",
			line: `https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0"` + tail,
			want: textView{Time: "2018-07-02T22:23:00.186641Z", Remote: "192.168.131.39", Method: "GET", Scheme: "https", Host: "www.example.com",
				Target: "/", Status: 200, BytesOut: 57, Latency: 171 * time.Millisecond, UA: "curl/7.46.0", TLS: "TLSv1.2",
				RequestID: "Root=1-58337281-1d84f3d73c47ec4e58577259"},
		},
		{
			name: "not applicable times, dash target status, non-default port",
			line: `h2 2018-07-02T22:23:00Z app/x/1 [2001:db8::5]:2817 - 0.001 -1 -1 504 - 10 20 "POST https://api.example.com:8443/v1/x?y=1 HTTP/2.0" "a \"q\" b"` + tail,
			want: textView{Time: "2018-07-02T22:23:00Z", Remote: "2001:db8::5", Method: "POST", Scheme: "https", Host: "api.example.com:8443",
				Target: "/v1/x?y=1", Status: 504, BytesIn: 10, BytesOut: 20, Latency: time.Millisecond, UA: `a "q" b`, TLS: "TLSv1.2",
				RequestID: "Root=1-58337281-1d84f3d73c47ec4e58577259"},
		},
		{
			name: "oldest entries end at the user agent; malformed request",
			line: `http 2018-07-02T22:23:00Z app/x/1 1.2.3.4:5 - -1 -1 -1 400 - 0 272 "- http://h.example:80- -" "-"`,
			want: textView{Time: "2018-07-02T22:23:00Z", Remote: "1.2.3.4", Status: 400, BytesOut: 272},
		},
		{
			name: "host from the sni when the url has none",
			line: `https 2018-07-02T22:23:00Z app/x/1 1.2.3.4:5 - 0 0 0 200 200 1 2 "GET /rel HTTP/1.1" "-"` + tail,
			want: textView{Time: "2018-07-02T22:23:00Z", Remote: "1.2.3.4", Method: "GET", Target: "/rel", Host: "www.example.com",
				Scheme: "https", Status: 200, BytesIn: 1, BytesOut: 2, TLS: "TLSv1.2", RequestID: "Root=1-58337281-1d84f3d73c47ec4e58577259"},
		},
		{name: "user agent missing", line: `http 2018-07-02T22:23:00Z app/x/1 1.2.3.4:5 - 0 0 0 200 200 1 2 "GET / HTTP/1.1"`, wantErr: true},
		{name: "classic elb line", line: `2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 200 200 0 29 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -`, wantErr: true},
		{name: "quoted field out of place", line: `http "2018-07-02T22:23:00Z" app/x/1 1.2.3.4:5 - 0 0 0 200 200 1 2 "GET / HTTP/1.1" "-"`, wantErr: true},
		{name: "bad status", line: `http 2018-07-02T22:23:00Z app/x/1 1.2.3.4:5 - 0 0 0 2000 200 1 2 "GET / HTTP/1.1" "-"`, wantErr: true},
		{name: "bad bytes", line: `http 2018-07-02T22:23:00Z app/x/1 1.2.3.4:5 - 0 0 0 200 200 x 2 "GET / HTTP/1.1" "-"`, wantErr: true},
	})
}

func TestALBHost(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"1.2.3.4:80":           "1.2.3.4",
		"[2001:db8::1]:443":    "2001:db8::1",
		"2001:db8::1:443":      "2001:db8::1",
		"[2001:db8::1":         "[2001:db8::1",
		"nohost":               "nohost",
		"10.0.0.1":             "10.0.0.1",
		"::ffff:10.0.0.1:5000": "::ffff:10.0.0.1",
	} {
		if got := string(albHost([]byte(in))); got != want {
			t.Errorf("albHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzAWSALB(f *testing.F) {
	fuzzFormat(f, "aws_alb", ParserOptions{},
		`wss 2018-07-02T22:23:00Z app/x/1 [::1]:5 - -1 0.5 -1 101 - 0 272 "GET wss://h?x HTTP/1.1" "\""`)
}
