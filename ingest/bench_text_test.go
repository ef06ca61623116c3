package ingest

import (
	"fmt"
	"testing"
)

// Benchmarks for the text-format parsers. Lines are realistic (~200 bytes),
// with varied client addresses and paths carrying ids so the Normalizer's
// route templating and query redaction do real work.

const benchTextLines = 1024

type benchTextCase struct {
	name   string
	format string
	opts   ParserOptions
	lines  [][]byte
}

const benchCustomLogFormat = `log_format api '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent ' ` +
	`'"$http_referer" "$http_user_agent" rt=$request_time xff="$http_x_forwarded_for" ' ` +
	`'key="$http_x_api_key" rid=$request_id host=$host';`

const benchJSONLogFormat = `escape=json '{"time":"$time_iso8601","remote_addr":"$remote_addr","xff":"$http_x_forwarded_for",` +
	`"request":"$request","status":$status,"bytes_sent":$body_bytes_sent,"request_time":$request_time,` +
	`"host":"$host","ua":"$http_user_agent","referer":"$http_referer","request_id":"$request_id"}'`

var benchUAs = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
	"okhttp/4.12.0",
	"python-requests/2.31.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
}

var benchMethods = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}

// benchTarget returns a path with ids and sometimes a query, one of them
// sensitive.
func benchTarget(i int) string {
	switch i % 4 {
	case 0:
		return fmt.Sprintf("/api/v1/customers/%d/orders/%d", 10000+i*7, 500000+i)
	case 1:
		return fmt.Sprintf("/api/v1/orders/%08x-1b4d-4e8a-9c2f-%012x?expand=items", uint32(i*2654435761), i)
	case 2:
		return fmt.Sprintf("/api/v2/search?q=item%d&page=%d&access_token=tok%d", i, i%9, i)
	}
	return fmt.Sprintf("/static/img/p%d.png", i%50)
}

func benchIP(i int) string {
	if i%10 == 9 {
		return fmt.Sprintf("2001:db8:%x::%x", i%4096, i)
	}
	return fmt.Sprintf("%d.%d.%d.%d", 23+i%200, (i*7)%256, (i*13)%256, 1+i%254)
}

func benchTextCases() []benchTextCase {
	gen := func(f func(i int) string) [][]byte {
		lines := make([][]byte, benchTextLines)
		for i := range lines {
			lines[i] = []byte(f(i))
		}
		return lines
	}
	combined := gen(func(i int) string {
		return fmt.Sprintf(`%s - - [12/Mar/2024:14:%02d:%02d +0000] "%s %s HTTP/1.1" %d %d "https://shop.example.com/" "%s"`,
			benchIP(i), i/60%60, i%60, benchMethods[i%len(benchMethods)], benchTarget(i), []int{200, 200, 201, 404, 401, 500}[i%6], 100+i*37%9000, benchUAs[i%len(benchUAs)])
	})
	return []benchTextCase{
		{name: "nginx_combined", format: "nginx_combined", lines: combined},
		{name: "apache_combined", format: "apache_combined", lines: combined},
		{name: "nginx_custom", format: "nginx", opts: ParserOptions{LogFormat: benchCustomLogFormat}, lines: gen(func(i int) string {
			return fmt.Sprintf(`%s - - [12/Mar/2024:14:%02d:%02d +0000] "%s %s HTTP/1.1" %d %d "-" "%s" rt=0.%03d xff="-" key="ak_live_%d" rid=%032x host=api.example.com`,
				benchIP(i), i/60%60, i%60, benchMethods[i%len(benchMethods)], benchTarget(i), 200, 100+i*37%9000, benchUAs[i%len(benchUAs)], i%1000, i%50, i)
		})},
		{name: "nginx_json", format: "nginx", opts: ParserOptions{LogFormat: benchJSONLogFormat}, lines: gen(func(i int) string {
			return fmt.Sprintf(`{"time":"2024-03-12T14:%02d:%02d+00:00","remote_addr":"%s","xff":"","request":"%s %s HTTP/1.1","status":%d,"bytes_sent":%d,"request_time":0.%03d,"host":"api.example.com","ua":"%s","referer":"","request_id":"%032x"}`,
				i/60%60, i%60, benchIP(i), benchMethods[i%len(benchMethods)], benchTarget(i), 200, 100+i*37%9000, i%1000, benchUAs[i%len(benchUAs)], i)
		})},
		{name: "haproxy_http", format: "haproxy_http", lines: gen(func(i int) string {
			return fmt.Sprintf(`Mar 12 14:05:01 lb1 haproxy[2211]: %s:%d [12/Mar/2024:14:%02d:%02d.%03d] fe_api~ be_api/api%d 0/0/1/%d/%d %d %d - - ---- 12/12/3/1/0 0/0 {api.example.com} "%s %s HTTP/1.1"`,
				benchIP(i), 1024+i, i/60%60, i%60, i%1000, i%4, i%90, i%90+2, 200, 100+i*37%9000, benchMethods[i%len(benchMethods)], benchTarget(i))
		})},
		{name: "envoy_text", format: "envoy_text", lines: gen(func(i int) string {
			return fmt.Sprintf(`[2024-03-12T14:%02d:%02d.%03dZ] "%s %s HTTP/1.1" %d - %d %d %d %d "%s" "%s" "%08x-9d3e-4b5f-8a7c-%012x" "api.example.com" "10.8.1.%d:8080"`,
				i/60%60, i%60, i%1000, benchMethods[i%len(benchMethods)], benchTarget(i), 200, i%700, 100+i*37%9000, i%90+2, i%90, benchIP(i), benchUAs[i%len(benchUAs)], i, i, i%250)
		})},
		{name: "aws_alb", format: "aws_alb", lines: gen(func(i int) string {
			return fmt.Sprintf(`https 2024-03-12T14:%02d:%02d.%06dZ app/api-prod/50dc6c495c0c9188 %s:%d 10.0.3.15:8080 0.001 0.0%02d 0.000 %d %d %d %d "%s https://api.example.com:443%s HTTP/1.1" "%s" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api-prod/73e2d6bc24d8a067 "Root=1-65f061c4-%024x" "api.example.com" "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2024-03-12T14:07:00.137000Z "forward" "-" "-" "10.0.3.15:8080" "200" "-" "-"`,
				i/60%60, i%60, i%1000000, benchIP(i), 1024+i, i%100, 200, 200, i%700, 100+i*37%9000, benchMethods[i%len(benchMethods)], benchTarget(i), benchUAs[i%len(benchUAs)], i)
		})},
	}
}

func findBenchTextCase(b *testing.B, name string) benchTextCase {
	for _, tc := range benchTextCases() {
		if tc.name == name {
			return tc
		}
	}
	b.Fatalf("no bench case %q", name)
	return benchTextCase{}
}

func benchParse(b *testing.B, name string, normalize bool) {
	tc := findBenchTextCase(b, name)
	p, err := NewParser(tc.format, tc.opts)
	if err != nil {
		b.Fatal(err)
	}
	norm, err := NewNormalizer(NormalizerOptions{HMACKey: []byte("bench")})
	if err != nil {
		b.Fatal(err)
	}
	var ev Event
	var size int64
	for _, l := range tc.lines {
		size += int64(len(l))
		ev.Reset()
		if err := p.Parse(l, &ev); err != nil {
			b.Fatalf("%s: %v", l, err)
		}
		norm.Normalize(&ev)
	}
	b.SetBytes(size / int64(len(tc.lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.Reset()
		if err := p.Parse(tc.lines[i%len(tc.lines)], &ev); err != nil {
			b.Fatal(err)
		}
		if normalize {
			norm.Normalize(&ev)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkParseNginxCombined(b *testing.B)          { benchParse(b, "nginx_combined", false) }
func BenchmarkParseNormalizeNginxCombined(b *testing.B) { benchParse(b, "nginx_combined", true) }
func BenchmarkParseApacheCombined(b *testing.B)         { benchParse(b, "apache_combined", false) }
func BenchmarkParseHAProxy(b *testing.B)                { benchParse(b, "haproxy_http", false) }
func BenchmarkParseEnvoyText(b *testing.B)              { benchParse(b, "envoy_text", false) }
func BenchmarkParseALB(b *testing.B)                    { benchParse(b, "aws_alb", false) }

func BenchmarkParseNginxLogFormat(b *testing.B) {
	b.Run("custom", func(b *testing.B) { benchParse(b, "nginx_custom", false) })
	b.Run("json", func(b *testing.B) { benchParse(b, "nginx_json", false) })
}
