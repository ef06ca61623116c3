package ingest

import (
	"testing"

	"github.com/buger/jsonparser"
)

// benchJSONLines are realistic lines for each JSON format with the fields
// gateways usually log: 450-870 bytes, except Kong, whose serializer always
// adds nested route/service/latency objects (about 1 KB here, trimmed; real
// Kong lines often run to 2 KB, see benchKongFullLine).
var benchJSONLines = map[string][]string{
	"nginx_json": {
		`{"time_iso8601":"2026-11-23T10:00:00+00:00","remote_addr":"203.0.113.7","request_method":"GET","request_uri":"/api/v2/orders/1234567/items?page=2&api_key=sk_live_51Hx9","status":"200","body_bytes_sent":"5120","request_length":"734","request_time":"0.042","upstream_response_time":"0.040","http_referer":"https://app.example.com/orders","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36","http_x_forwarded_for":"198.51.100.20, 10.0.0.5","host":"api.example.com","scheme":"https","ssl_protocol":"TLSv1.3","request_id":"7f3a9c2e1b4d5a6f8e9d0c1b2a3f4e5d","http_x_api_key":"ak_live_77c1d0"}`,
		`{"time_iso8601":"2026-11-23T10:00:01+00:00","remote_addr":"2001:db8:85a3::8a2e:370:7334","request_method":"POST","request_uri":"/api/v2/orders","status":201,"body_bytes_sent":312,"request_length":1024,"request_time":0.118,"upstream_response_time":"0.117","http_referer":"-","http_user_agent":"python-requests/2.31.0","http_x_forwarded_for":"-","host":"api.example.com","scheme":"https","ssl_protocol":"TLSv1.2","request_id":"a1b2c3d4e5f60718293a4b5c6d7e8f90","http_authorization":"Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTg4MTIifQ.c2ln","jwt_claim_sub":"user-8812"}`,
	},
	"nginx_json_escaped": {
		`{"time_iso8601":"2026-11-23T10:00:10+00:00","remote_addr":"192.0.2.15","request_method":"GET","request_uri":"/search?q=caf\u00e9+cr\u00e8me&token=abc.def.ghi","status":"200","body_bytes_sent":"9120","request_length":"512","request_time":"0.250","http_referer":"https://www.example.com/?utm_source=news\u0026id=1","http_user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) \"Edge\" AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0","http_x_forwarded_for":"198.51.100.20","host":"www.example.com","scheme":"https","ssl_protocol":"TLSv1.3","request_id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0"}`,
	},
	"envoy_json": {
		`{"authority":"api.example.com","bytes_received":0,"bytes_sent":1423,"connection_termination_details":null,"downstream_local_address":"10.244.1.12:8080","downstream_remote_address":"10.244.0.5:51234","duration":12,"method":"GET","path":"/api/v1/products/12345?fields=name,price","protocol":"HTTP/1.1","request_id":"4d1e3b8a-6c2f-4e0a-9b7d-2f1c3e5a7b9d","requested_server_name":"outbound_.8080_._.products.default.svc.cluster.local","response_code":200,"response_code_details":"via_upstream","response_flags":"-","route_name":"default","start_time":"2026-11-23T10:10:00.123Z","upstream_cluster":"inbound|8080||","upstream_host":"10.244.1.12:8080","upstream_local_address":"127.0.0.6:43215","upstream_service_time":"11","upstream_transport_failure_reason":null,"user_agent":"curl/8.4.0","x_forwarded_for":"203.0.113.10"}`,
		`{"start_time":"2026-11-23T10:10:02.500Z","method":"GET","path":"/payments/v2/settlements/98765","protocol":"HTTP/1.1","response_code":200,"response_flags":"-","bytes_received":0,"bytes_sent":3311,"duration":22,"upstream_service_time":"20","x_forwarded_for":null,"user_agent":"payments-batch/5.1","request_id":"6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d","authority":"payments.internal","upstream_host":"10.244.2.7:8080","downstream_remote_address":"192.0.2.60:53211","downstream_peer_subject":"CN=payments-client,OU=batch,O=Example Corp","downstream_peer_uri_san":"","downstream_tls_version":"TLSv1.3"}`,
	},
	"kong": {
		`{"request":{"method":"GET","uri":"/v1/orders/1001?expand=items","url":"https://api.example.com:8443/v1/orders/1001?expand=items","size":"486","querystring":{"expand":"items"},"headers":{"host":"api.example.com:8443","user-agent":"MobileApp/6.2 (iOS 17.1)","apikey":"k-7781","x-request-id":"b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c3d4e","accept":"application/json"},"tls":{"version":"TLSv1.3","cipher":"TLS_AES_128_GCM_SHA256"}},"upstream_uri":"/orders/1001?expand=items","response":{"status":200,"size":"2301","headers":{"content-type":"application/json","content-length":"2012"}},"authenticated_entity":{"id":"4a1c2e3f-5b6d-4e7f-8a9b-0c1d2e3f4a5b"},"route":{"id":"e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7","paths":["/v1/orders"],"strip_path":true},"service":{"host":"orders.internal","name":"orders","port":8080},"consumer":{"id":"9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a","username":"mobile-app"},"latencies":{"proxy":20,"kong":3,"request":25},"client_ip":"203.0.113.5","started_at":1795428000123}`,
	},
	"traefik_json": {
		`{"ClientAddr":"203.0.113.20:54321","ClientHost":"203.0.113.20","ClientPort":"54321","ClientUsername":"-","DownstreamContentSize":1532,"DownstreamStatus":200,"Duration":12345678,"OriginContentSize":1532,"OriginDuration":11000000,"OriginStatus":200,"Overhead":1345678,"RequestAddr":"api.example.com","RequestContentSize":0,"RequestCount":42,"RequestHost":"api.example.com","RequestMethod":"GET","RequestPath":"/api/v1/items/88231?limit=10","RequestPort":"-","RequestProtocol":"HTTP/2.0","RequestScheme":"https","RetryAttempts":0,"RouterName":"api@docker","ServiceAddr":"10.0.1.5:8080","ServiceName":"api@docker","StartLocal":"2026-11-23T10:20:00.123456789Z","StartUTC":"2026-11-23T10:20:00.123456789Z","TLSCipher":"TLS_AES_128_GCM_SHA256","TLSVersion":"1.3","entryPointName":"websecure","level":"info","msg":"","request_User-Agent":"curl/8.4.0","time":"2026-11-23T10:20:00Z"}`,
	},
	"aws_apigw": {
		`{"requestId":"a1b2c3d4-0001-4000-8000-000000000001","extendedRequestId":"Ab3dEFgHIjKLMno=","sourceIp":"192.0.2.90","requestTime":"23/Nov/2026:10:30:02 +0000","requestTimeEpoch":1795429802345,"httpMethod":"POST","path":"/prod/v1/orders/123456/cancel","resourcePath":"/v1/orders/{id}/cancel","status":200,"protocol":"HTTP/1.1","responseLength":512,"responseLatency":87,"integrationLatency":80,"domainName":"api.example.com","userAgent":"aws-sdk-js/3.450.0 ua/2.0 os/linux#5.10 lang/js md/nodejs#20.9.0","apiKeyId":"k9x8w7v6u5","stage":"prod","authorizer.principalId":"user|a1b2c3"}`,
		`{ "requestId":"c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "ip": "203.0.113.80", "caller":"-", "user":"-","requestTime":"23/Nov/2026:10:30:00 +0000", "httpMethod":"GET","resourcePath":"/orders/{orderId}", "status":"200","protocol":"HTTP/1.1", "responseLength":"1874", "userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "domainName":"api.example.com", "responseLatency":"45" }`,
	},
}

// benchKongFullLine is an untrimmed 2.4 KB Kong line: every request and
// response header, the route and service objects and tries as Kong 3
// serializes them.
const benchKongFullLine = `{"request":{"method":"POST","uri":"/v1/orders/1001/items?expand=items&limit=50","url":"https://api.example.com:8443/v1/orders/1001/items?expand=items&limit=50","size":"1486","querystring":{"expand":"items","limit":"50"},"headers":{"host":"api.example.com:8443","user-agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15","apikey":"k-7781","x-request-id":"b7e1c2d3-4f5a-4b6c-8d7e-9f0a1b2c3d4e","accept":"application/json","accept-encoding":"gzip, deflate, br","accept-language":"en-GB,en;q=0.9","content-type":"application/json","content-length":"1200","x-forwarded-for":"198.51.100.20, 10.0.0.5","x-forwarded-proto":"https","cookie":"session=abcdefabcdefabcdefabcdef; theme=dark; _ga=GA1.2.1234567890.1234567890","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},"tls":{"version":"TLSv1.3","cipher":"TLS_AES_128_GCM_SHA256","client_verify":"NONE"}},"upstream_uri":"/orders/1001/items?expand=items&limit=50","response":{"status":201,"size":"2301","headers":{"content-type":"application/json","content-length":"2012","x-kong-upstream-latency":"20","x-kong-proxy-latency":"3","via":"kong/3.4.2","date":"Mon, 23 Nov 2026 10:00:00 GMT","connection":"keep-alive","x-ratelimit-remaining-minute":"57","x-ratelimit-limit-minute":"60"}},"tries":[{"balancer_start":1795428000125,"ip":"10.0.3.17","port":8080,"balancer_latency":0}],"authenticated_entity":{"id":"4a1c2e3f-5b6d-4e7f-8a9b-0c1d2e3f4a5b"},"route":{"id":"e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7","paths":["/v1/orders"],"methods":["GET","POST"],"protocols":["http","https"],"strip_path":true,"preserve_host":false,"regex_priority":0,"created_at":1700000000,"updated_at":1700000000,"service":{"id":"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"},"https_redirect_status_code":426,"ws_id":"f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f"},"service":{"host":"orders.internal","name":"orders","port":8080,"protocol":"http","path":"/","retries":5,"connect_timeout":60000,"read_timeout":60000,"write_timeout":60000,"created_at":1700000000,"updated_at":1700000000,"ws_id":"f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f","enabled":true},"consumer":{"id":"9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a","username":"mobile-app","created_at":1700000000},"latencies":{"proxy":20,"kong":3,"request":25,"receive":0},"workspace":"f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f","workspace_name":"default","client_ip":"203.0.113.5","started_at":1795428000123,"source":"upstream"}`

func benchJSONParse(b *testing.B, name string, normalize bool) {
	format := name
	if name == "nginx_json_escaped" {
		format = "nginx_json"
	}
	benchJSONParseLines(b, format, benchJSONLines[name], normalize)
}

func benchJSONParseLines(b *testing.B, format string, lines []string, normalize bool) {
	if len(lines) == 0 {
		b.Fatalf("no bench lines for %q", format)
	}
	p, err := NewParser(format, ParserOptions{})
	if err != nil {
		b.Fatal(err)
	}
	norm, err := NewNormalizer(NormalizerOptions{HMACKey: []byte("bench")})
	if err != nil {
		b.Fatal(err)
	}
	in := make([][]byte, len(lines))
	var size int
	var ev Event
	for i, l := range lines {
		in[i] = []byte(l)
		size += len(l)
		ev.Reset()
		if err := p.Parse(in[i], &ev); err != nil {
			b.Fatalf("%s: %v", l, err)
		}
		norm.Normalize(&ev)
	}
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.Reset()
		if err := p.Parse(in[i%len(in)], &ev); err != nil {
			b.Fatal(err)
		}
		if normalize {
			norm.Normalize(&ev)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkParseNginxJSON(b *testing.B)          { benchJSONParse(b, "nginx_json", false) }
func BenchmarkParseNginxJSONEscaped(b *testing.B)   { benchJSONParse(b, "nginx_json_escaped", false) }
func BenchmarkParseNormalizeNginxJSON(b *testing.B) { benchJSONParse(b, "nginx_json", true) }
func BenchmarkParseEnvoyJSON(b *testing.B)          { benchJSONParse(b, "envoy_json", false) }
func BenchmarkParseKong(b *testing.B)               { benchJSONParse(b, "kong", false) }
func BenchmarkParseTraefikJSON(b *testing.B)        { benchJSONParse(b, "traefik_json", false) }
func BenchmarkParseAWSAPIGateway(b *testing.B)      { benchJSONParse(b, "aws_apigw", false) }

// BenchmarkParseKongFull measures Kong at its usual size.
func BenchmarkParseKongFull(b *testing.B) {
	benchJSONParseLines(b, "kong", []string{benchKongFullLine}, false)
}

// BenchmarkDetect measures a one-shot detection over 64 lines, what
// --format auto costs once per input.
func BenchmarkDetect(b *testing.B) {
	var sample [][]byte
	for len(sample) < detectMaxLines {
		for _, l := range benchJSONLines["traefik_json"] {
			sample = append(sample, []byte(l))
		}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if f, ok := Detect(sample); !ok || f != "traefik_json" {
			b.Fatalf("Detect = %q, %v", f, ok)
		}
	}
	b.ReportMetric(float64(b.N*len(sample))/b.Elapsed().Seconds(), "lines/s")
}

// descendVisitor walks into every object and reports no value: the bare
// cost of a walk.
type descendVisitor struct{ keys int }

func (v *descendVisitor) visitKey([]byte, int) jsonAction               { v.keys++; return actDescend }
func (v *descendVisitor) visitValue([]byte, jsonparser.ValueType) error { return nil }

// BenchmarkJSONWalk compares the bare walk of each format's lines, into
// every nested object, by jsonWalker and by the ObjectEach walk it
// replaced.
func BenchmarkJSONWalk(b *testing.B) {
	for _, name := range []string{"nginx_json", "envoy_json", "kong", "traefik_json", "aws_apigw"} {
		var lines [][]byte
		for _, l := range benchJSONLines[name] {
			lines = append(lines, []byte(l))
		}
		var w jsonWalker
		walkers := []struct {
			name string
			walk func([]byte, jsonVisitor) (int, error)
		}{{"single-pass", w.walk}, {"objecteach", objectEachWalk}}
		for _, wk := range walkers {
			b.Run(name+"/"+wk.name, func(b *testing.B) {
				var v descendVisitor
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					l := lines[i%len(lines)]
					if end, err := wk.walk(l, &v); err != nil || end != len(l) {
						b.Fatal(end, err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
			})
		}
	}
}
