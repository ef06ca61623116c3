package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCompileLogFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, spec string
		shape      string // the compiled form; "" when an error is wanted
		err        string // a substring of the error
	}{
		{
			name:  "combined by name",
			spec:  "combined",
			shape: `$remote_addr " - " $remote_user " [" $time_local(26) "] \"" $request "\" " $status " " $body_bytes_sent " \"" $http_referer "\" \"" $http_user_agent "\""`,
		},
		{
			name:  "verbatim with leading literal",
			spec:  `[$time_iso8601] $remote_addr "$request" $status`,
			shape: `"[" $time_iso8601(25) "] " $remote_addr " \"" $request "\" " $status`,
		},
		{
			name:  "braces and case",
			spec:  `${Remote_Addr}:${status}x$msec`,
			shape: `$remote_addr ":" $status "x" $msec`,
		},
		{
			name:  "unknown variables are kept as separators",
			spec:  `$remote_addr $connection $binary_remote_addr $status`,
			shape: `$remote_addr " " $connection " " $binary_remote_addr " " $status`,
		},
		{
			name:  "full directive, multi-line, escape=json",
			spec:  "log_format  main  escape=json\n  '{\"a\":\"$remote_addr\",'\n\t'\"s\":$status}';\n",
			shape: `escape=json "{\"a\":\"" $remote_addr "\",\"s\":" $status "}"`,
		},
		{
			name:  "quoted parts with nginx escapes",
			spec:  `'$remote_addr \'q\' ' "\"$request\""`,
			shape: `$remote_addr " 'q' \"" $request "\""`,
		},
		{
			name:  "escape prefix on a bare format",
			spec:  `escape=none $remote_addr "$request"`,
			shape: `escape=none $remote_addr " \"" $request "\""`,
		},
		{
			name:  "escape prefix on quoted parts",
			spec:  `escape=default '$remote_addr ' '$status'`,
			shape: `$remote_addr " " $status`,
		},
		{
			name:  "starts with a single quote but is not quoted parts",
			spec:  `'$remote_addr' $status`,
			shape: `"'" $remote_addr "' " $status`,
		},
		{
			name:  "directive with bare words",
			spec:  `log_format x $remote_addr;`,
			shape: `$remote_addr`,
		},
		{name: "empty", spec: "  ", err: "empty log format"},
		{name: "no variables", spec: "just text", err: "no $variables"},
		{name: "lone dollar", spec: "$remote_addr $", err: "not followed by a variable name"},
		{name: "dollar and punctuation", spec: "$remote_addr $-", err: "not followed by a variable name"},
		{name: "unclosed brace", spec: "${remote_addr", err: "closing '}'"},
		{name: "adjacent variables", spec: "$remote_addr$status", err: "adjacent"},
		{name: "adjacent braced variables", spec: "${remote_addr}${status}", err: "adjacent"},
		{name: "unknown escape", spec: "escape=xml $remote_addr", err: "unknown escape=xml"},
		{name: "escape without format", spec: "escape=json", err: "without a format"},
		{name: "directive without name", spec: "log_format", err: "no name"},
		{name: "directive without format", spec: "log_format main;", err: "has no format string"},
		{name: "directive with unterminated quote", spec: "log_format main '$remote_addr", err: "unterminated"},
		{name: "directive with text after semicolon", spec: "log_format main '$remote_addr'; x", err: "after ';'"},
		{name: "too many variables", spec: strings.Repeat("$status ", maxLogFormatVars+1), err: "more than 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := compileLogFormat(tt.spec)
			if tt.err != "" {
				if err == nil {
					t.Fatalf("compileLogFormat(%q) = %s, want error containing %q", tt.spec, f.shape(), tt.err)
				}
				if !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("compileLogFormat(%q) error %q, want it to contain %q", tt.spec, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("compileLogFormat(%q): %v", tt.spec, err)
			}
			if got := f.shape(); got != tt.shape {
				t.Errorf("compileLogFormat(%q)\n got %s\nwant %s", tt.spec, got, tt.shape)
			}
		})
	}
}

func TestNewParserNginxNeedsLogFormat(t *testing.T) {
	t.Parallel()
	if _, err := NewParser("nginx", ParserOptions{}); err == nil || !strings.Contains(err.Error(), "log_format") {
		t.Errorf("NewParser(nginx) without a format: err = %v", err)
	}
	if _, err := NewParser("nginx", ParserOptions{LogFormat: "$a$b"}); err == nil || !strings.HasPrefix(err.Error(), "format nginx: ") {
		t.Errorf("NewParser(nginx) with a bad format: err = %v", err)
	}
}

func TestLogFormatLines(t *testing.T) {
	t.Parallel()
	const ts = "2024-03-12T14:02:11Z"
	tests := []struct {
		format string
		cases  []parseCase
	}{
		{
			format: `$remote_addr [$time_local] "$request" $status $body_bytes_sent $request_length $request_time "$http_x_forwarded_for" $http_x_api_key "$http_authorization" $http_x_api_version $jwt_claim_sub $request_id $host $scheme $ssl_protocol`,
			cases: []parseCase{
				{
					name: "every field",
					line: `10.0.0.1 [12/Mar/2024:14:02:11 +0000] "POST /v1/x?k=v HTTP/1.1" 201 10 300 0.020 "1.2.3.4, 10.0.0.2" AKEY "Bearer abc def" 2024-01 alice 0123abcd api.example.com https TLSv1.3`,
					want: textView{Time: ts, Method: "POST", Target: "/v1/x?k=v", Status: 201, BytesOut: 10, BytesIn: 300, Latency: 20 * time.Millisecond,
						XFF: "1.2.3.4, 10.0.0.2", APIKey: "AKEY", Authz: "Bearer abc def", Version: "2024-01", JWTSub: "alice", RequestID: "0123abcd",
						Host: "api.example.com", Scheme: "https", TLS: "TLSv1.3", Remote: "10.0.0.1"},
				},
				{
					name: "dashes are empty and trailing fields ignored",
					line: `10.0.0.1 [12/Mar/2024:14:02:11 +0000] "-" 400 0 - - "-" - "-" - - - - - - extra fields`,
					want: textView{Time: ts, Status: 400, Remote: "10.0.0.1"},
				},
				{name: "bad status", line: `10.0.0.1 [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 2000 0 - - "-" - "-" - - - - - -`, wantErr: true},
				{name: "bad time", line: `10.0.0.1 [12/Mar/2024:14:02:11 +9999] "GET / HTTP/1.1" 200 0 - - "-" - "-" - - - - - -`, wantErr: true},
				{name: "missing separator", line: `10.0.0.1 [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200`, wantErr: true},
				{name: "wrong start", line: `[12/Mar/2024:14:02:11 +0000]`, wantErr: true},
			},
		},
		{
			// $time_local followed by a space: its fixed width finds the end.
			format: `$time_local $remote_addr $request_method $uri $args $status "$upstream_response_time" $http_host $server_name $https`,
			cases: []parseCase{
				{
					name: "uri and args",
					line: `12/Mar/2024:15:02:11 +0100 2001:db8::7 GET /a/b c=d 200 "0.005, 0.010" - www.example.com on`,
					want: textView{Time: ts, Remote: "2001:db8::7", Method: "GET", Path: "/a/b", Query: "c=d", Status: 200,
						Latency: 5 * time.Millisecond, Host: "www.example.com", Scheme: "https"},
				},
				{
					name: "upstream time with redirect separator, https empty",
					line: `12/Mar/2024:15:02:11 +0100 1.2.3.4 HEAD / - 204 "0.300 : 0.001" h.example - `,
					want: textView{Time: ts, Remote: "1.2.3.4", Method: "HEAD", Path: "/", Status: 204,
						Latency: 300 * time.Millisecond, Host: "h.example", Scheme: "http"},
				},
			},
		},
		{
			format: `$msec|$realip_remote_addr|$proxy_add_x_forwarded_for|$request_uri|$status|$bytes_sent|$ssl_client_s_dn|$ssl_client_verify|$http_x_request_id|$http_accept_version|$jwt_sub`,
			cases: []parseCase{
				{
					name: "verified client certificate",
					line: `1710252131.250|10.0.0.9|1.2.3.4, 10.0.0.9|/v1/a?b=c|200|900|CN=svc-a,O=Example|SUCCESS|req-1|3|svc`,
					want: textView{Time: "2024-03-12T14:02:11.25Z", Remote: "10.0.0.9", XFF: "1.2.3.4, 10.0.0.9", Target: "/v1/a?b=c",
						Status: 200, BytesOut: 900, MTLS: "CN=svc-a,O=Example", RequestID: "req-1", Version: "3", JWTSub: "svc"},
				},
				{
					name: "unverified certificate is no identity",
					line: `1710252131.250|10.0.0.9|-|https://h.example/z|403|9|CN=evil|FAILED:certificate has expired|-|-|-`,
					want: textView{Time: "2024-03-12T14:02:11.25Z", Remote: "10.0.0.9", Scheme: "https", Host: "h.example", Target: "/z", Status: 403, BytesOut: 9},
				},
				{name: "bad msec", line: `yesterday|10.0.0.9|-|/|200|1|-|-|-|-|-`, wantErr: true},
			},
		},
		{
			format: `escape=json {"t":"$time_iso8601","ip":"$remote_addr","r":"$request","s":$status,"ua":"$http_user_agent","ref":"$http_referer","key":"$http_x_api_key"}`,
			cases: []parseCase{
				{
					name: "json escapes",
					line: `{"t":"2024-03-12T14:02:11+00:00","ip":"1.2.3.4","r":"GET /caf\u00e9?q=\"x\" HTTP/1.1","s":200,"ua":"a \"b\" \\ c\u0001","ref":"","key":"k\"1"}`,
					want: textView{Time: ts, Remote: "1.2.3.4", Method: "GET", Target: "/café?q=\"x\"", Status: 200, UA: "a \"b\" \\ c\x01", APIKey: `k"1`},
				},
				{
					name: "broken escape is kept as logged",
					line: `{"t":"2024-03-12T14:02:11Z","ip":"1.2.3.4","r":"GET / HTTP/1.1","s":200,"ua":"bad \u12","ref":"-","key":""}`,
					want: textView{Time: ts, Remote: "1.2.3.4", Method: "GET", Target: "/", Status: 200, UA: `bad \u12`},
				},
				{name: "not the format", line: `{"ip":"1.2.3.4"}`, wantErr: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			runParseCases(t, "nginx", ParserOptions{LogFormat: tt.format}, tt.cases)
		})
	}
}

// The golden .logformat files are the documented examples: they must keep
// compiling to what their logs are parsed with.
func TestGoldenLogFormatsCompile(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "nginx.*.logformat"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("want the custom and json golden log formats, found %v", files)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		f, err := compileLogFormat(string(b))
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if len(f.vars) < 5 {
			t.Errorf("%s compiled to only %s", file, f.shape())
		}
	}
}

func FuzzNginxLogFormat(f *testing.F) {
	fuzzFormat(f, "nginx", ParserOptions{LogFormat: benchCustomLogFormat},
		`1.2.3.4 - - [12/Mar/2024:14:02:11 +0000] "GET / HTTP/1.1" 200 1 "-" "-" rt=0.1 xff="-" key="-" rid=1 host=h`)
}

func FuzzNginxLogFormatJSON(f *testing.F) {
	fuzzFormat(f, "nginx", ParserOptions{LogFormat: benchJSONLogFormat},
		`{"time":"2024-03-12T14:02:11+00:00","remote_addr":"1.2.3.4","xff":"","request":"GET /\u00e9 HTTP/1.1","status":200,"bytes_sent":1,"request_time":0.1,"host":"h","ua":"\"","referer":"","request_id":"1"}`)
}

// Compiling must reject or accept any format string without panicking.
func FuzzCompileLogFormat(f *testing.F) {
	for _, s := range []string{combinedLogFormat, benchCustomLogFormat, benchJSONLogFormat, "${a}x$b", "log_format x '$a';", "escape=json '$a'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		lf, err := compileLogFormat(spec)
		if err != nil {
			return
		}
		if len(lf.vars) == 0 || len(lf.vars) > maxLogFormatVars {
			t.Fatalf("compiled %d variables", len(lf.vars))
		}
		p := &logFormatParser{f: lf}
		var ev Event
		_ = p.Parse([]byte(spec), &ev)
	})
}
