package ingest

import (
	"errors"
	"testing"
	"time"
	"unsafe"
)

// parseJSONLine parses one line with a fresh parser of format.
func parseJSONLine(t *testing.T, format, line string) (*Event, error) {
	t.Helper()
	p, err := NewParser(format, ParserOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev := new(Event)
	return ev, p.Parse([]byte(line), ev)
}

func TestJSONKeyRankIsOrderIndependent(t *testing.T) {
	t.Parallel()
	// $msec is the primary time, $time_local a fallback: whichever comes
	// first, $msec wins; without it the fallback is used.
	tests := []struct {
		name, line string
		want       time.Time
	}{
		{"primary first", `{"msec":"1795428005.250","time_local":"23/Nov/2026:10:00:00 +0000","status":200}`,
			time.Date(2026, 11, 23, 10, 0, 5, 250e6, time.UTC)},
		{"fallback first", `{"time_local":"23/Nov/2026:10:00:00 +0000","msec":"1795428005.250","status":200}`,
			time.Date(2026, 11, 23, 10, 0, 5, 250e6, time.UTC)},
		{"fallback only", `{"time_local":"23/Nov/2026:11:00:00 +0100","status":200}`,
			time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)},
		{"first fallback wins", `{"time_iso8601":"2026-11-23T10:00:01Z","time_local":"23/Nov/2026:10:00:02 +0000","status":200}`,
			time.Date(2026, 11, 23, 10, 0, 1, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := parseJSONLine(t, "nginx_json", tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if !ev.Time.Equal(tt.want) {
				t.Errorf("Time = %v, want %v", ev.Time, tt.want)
			}
		})
	}
}

func TestJSONValueShapes(t *testing.T) {
	t.Parallel()
	const head = `{"time_iso8601":"2026-11-23T10:00:00Z",`
	tests := []struct {
		name, line string
		check      func(*Event) bool
	}{
		{"quoted numbers", head + `"status":"404","body_bytes_sent":"17","request_length":"9","request_time":"0.001"}`,
			func(e *Event) bool {
				return e.Status == 404 && e.BytesOut == 17 && e.BytesIn == 9 && e.Latency == time.Millisecond
			}},
		{"bare numbers", head + `"status":404,"body_bytes_sent":17,"request_length":9,"request_time":0.001}`,
			func(e *Event) bool {
				return e.Status == 404 && e.BytesOut == 17 && e.BytesIn == 9 && e.Latency == time.Millisecond
			}},
		{"exponent latency", head + `"status":200,"request_time":1.5e-3}`,
			func(e *Event) bool { return e.Latency == 1500*time.Microsecond }},
		{"dash and null are absent", head + `"status":200,"http_referer":"-","http_user_agent":null,"body_bytes_sent":"-","host":""}`,
			func(e *Event) bool { return e.Referer == "" && e.UserAgent == "" && e.BytesOut == 0 && e.Host == "" }},
		{"unknown keys and nested values ignored", head + `"status":200,"x":{"y":[1,{"z":"w"}]},"extra":[true,false,null]}`,
			func(e *Event) bool { return e.Status == 200 }},
		{"escapes", head + `"status":200,"http_user_agent":"a\"b\\c\u00e9\/d"}`,
			func(e *Event) bool { return e.UserAgent == `a"b\cé/d` }},
		{"surrogate pair", head + `"status":200,"http_user_agent":"x\ud83d\ude00y"}`,
			func(e *Event) bool { return e.UserAgent == "x😀y" }},
		{"whitespace around tokens", "  {\"time_iso8601\" : \"2026-11-23T10:00:00Z\" ,\t\"status\" : 200 }  ",
			func(e *Event) bool { return e.Status == 200 }},
		{"upstream list", head + `"status":200,"upstream_response_time":"0.012, 0.100 : 0.003"}`,
			func(e *Event) bool { return e.Latency == 12*time.Millisecond }},
		{"request line", head + `"status":200,"request":"GET /a/b?c=d HTTP/1.1"}`,
			func(e *Event) bool { return e.Method == "GET" && e.Path == "/a/b" && e.Raw.RawQuery == "c=d" }},
		{"request_uri beats uri", head + `"status":200,"uri":"/index.php","request_uri":"/a/../b?x=1","args":"y=2"}`,
			func(e *Event) bool { return e.Path == "/a/../b" && e.Raw.RawQuery == "x=1" }},
		{"uri and args", head + `"status":200,"uri":"/a","args":"y=2"}`,
			func(e *Event) bool { return e.Path == "/a" && e.Raw.RawQuery == "y=2" }},
		{"absolute target", head + `"status":200,"request_uri":"http://h.example:81?q=1"}`,
			func(e *Event) bool {
				return e.Path == "/" && e.Raw.RawQuery == "q=1" && e.Host == "h.example:81" && e.Scheme == "http"
			}},
		{"masked credentials dropped", head + `"status":200,"http_authorization":"[REDACTED]","http_x_api_key":"****"}`,
			func(e *Event) bool { return e.Raw.Authorization == "" && e.Raw.APIKey == "" }},
		{"tls implies https", head + `"status":200,"ssl_protocol":"TLSv1.2"}`,
			func(e *Event) bool { return e.Scheme == "https" && e.TLSVersion == "TLSv1.2" }},
		{"folded keys", `{"Time_ISO8601":"2026-11-23T10:00:00Z","STATUS":"200","HTTP-USER-AGENT":"ua"}`,
			func(e *Event) bool { return e.Status == 200 && e.UserAgent == "ua" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := parseJSONLine(t, "nginx_json", tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(ev) {
				t.Errorf("unexpected event %+v", *ev)
			}
			if ev.Format != "nginx_json" {
				t.Errorf("Format = %q", ev.Format)
			}
		})
	}
}

func TestJSONParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ line, reason string }{
		{`not json`, "not a JSON object"},
		{`["time","status"]`, "not a JSON object"},
		{`{"time":"2026-11-23T10:00:00Z","status":200`, "malformed JSON"},
		{`{"time":"2026-11-23T10:00:00Z","status":200}}`, "malformed JSON"},
		{`{"time":"2026-11-23T10:00:00Z" "status":200}`, "malformed JSON"},
		{`{"time":"2026-11-23T10:00:00Z","status":2OO}`, "bad status"},
		{`{"status":200}`, "missing time"},
		{`{"time":"2026-11-23T10:00:00Z"}`, "missing status"},
		{`{"time":"2026-11-23T10:00:00Z","status":"-"}`, "missing status"},
		{`{"time":"soon","status":200}`, "bad time"},
		{`{"time":"2026-13-23T10:00:00Z","status":200}`, "bad time"},
		{`{"time":"2026-11-23T10:00:00Z","status":"OK"}`, "bad status"},
		{`{"time":"2026-11-23T10:00:00Z","status":42}`, "bad status"},
		{`{"time":"2026-11-23T10:00:00Z","status":1000}`, "bad status"},
		{`{"time":"2026-11-23T10:00:00Z","status":200,"http_user_agent":"\x41"}`, "bad string escape"},
		{`{"time":"2026-11-23T10:00:00Z","status":200,"http_user_agent":"\u12"}`, "bad string escape"},
		{`{}`, "missing time"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			t.Parallel()
			_, err := parseJSONLine(t, "nginx_json", tt.line)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if pe.Reason != tt.reason || pe.Format != "nginx_json" {
				t.Errorf("err = %v, want nginx_json: %s", err, tt.reason)
			}
		})
	}
	for _, blank := range []string{"", "  ", "\t\r\n"} {
		if _, err := parseJSONLine(t, "nginx_json", blank); err != ErrEmptyLine {
			t.Errorf("Parse(%q) = %v, want ErrEmptyLine", blank, err)
		}
	}
}

func TestParseEpochAuto(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 11, 23, 10, 0, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"1795428005", want, true},
		{"1795428005.25", want.Add(250 * time.Millisecond), true},
		{"1795428005250", want.Add(250 * time.Millisecond), true},
		{"1795428005250123", want.Add(250123 * time.Microsecond), true},
		{"1795428005250123456", want.Add(250123456), true},
		{"0", time.Time{}, false},
		{"", time.Time{}, false},
		{"-1795428005", time.Time{}, false},
		{"17954280x5", time.Time{}, false},
		{"1795428005.2x", time.Time{}, false},
		{"99999999999999999999", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := parseEpochAuto([]byte(tt.in))
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseEpochAuto(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestJSONDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		unit time.Duration
		want time.Duration
		ok   bool
	}{
		{"0.042", time.Second, 42 * time.Millisecond, true},
		{"0.000001", time.Second, time.Microsecond, true},
		{"12", time.Millisecond, 12 * time.Millisecond, true},
		{"12.5", time.Millisecond, 12500 * time.Microsecond, true},
		{"12345678", time.Nanosecond, 12345678, true},
		{"2E-3", time.Second, 2 * time.Millisecond, true},
		{"-1", time.Second, 0, false},
		{".5", time.Second, 0, false},
		{"5.", time.Second, 0, false},
		{"1e400", time.Second, 0, false},
		{"99999999999999999999", time.Second, 0, false},
		{"9223372037", time.Second, 0, false},
	}
	for _, tt := range tests {
		got, ok := jsonDuration([]byte(tt.in), tt.unit)
		if ok != tt.ok || got != tt.want {
			t.Errorf("jsonDuration(%q, %v) = %v, %v; want %v, %v", tt.in, tt.unit, got, ok, tt.want, tt.ok)
		}
	}
}

// inside reports whether s points into b.
func inside(s string, b []byte) bool {
	if s == "" || len(b) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	start := uintptr(unsafe.Pointer(&b[0]))
	return p >= start && p+uintptr(len(s)) <= start+uintptr(len(b))
}

func TestJSONStringsAliasLineOrArena(t *testing.T) {
	t.Parallel()
	p, err := NewParser("nginx_json", ParserOptions{})
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(`{"time":"2026-11-23T10:00:00Z","status":200,"host":"plain.example","http_user_agent":"esc\"aped"}`)
	var ev Event
	if err := p.Parse(line, &ev); err != nil {
		t.Fatal(err)
	}
	if !inside(ev.Host, line) {
		t.Error("an unescaped value was copied instead of aliasing the line")
	}
	if ev.UserAgent != `esc"aped` || inside(ev.UserAgent, line) || !inside(ev.UserAgent, ev.scratch) {
		t.Errorf("escaped value %q not unescaped into the event's arena", ev.UserAgent)
	}
}

// TestJSONZeroAllocs pins the hot path: a line without escapes costs no
// allocation in any JSON format.
func TestJSONZeroAllocs(t *testing.T) {
	for name, lines := range benchJSONLines {
		if name == "nginx_json_escaped" {
			continue
		}
		p, err := NewParser(name, ParserOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			line := []byte(l)
			var ev Event
			allocs := testing.AllocsPerRun(100, func() {
				ev.Reset()
				if err := p.Parse(line, &ev); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s: %v allocs per line, want 0", name, allocs)
			}
		}
	}
}

func TestJSONReuseAcrossLines(t *testing.T) {
	t.Parallel()
	// A field set by one line must not leak into the next.
	p, err := NewParser("nginx_json", ParserOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	first := `{"time":"2026-11-23T10:00:00Z","status":200,"ssl_client_s_dn":"CN=a","ssl_client_verify":"FAILED:x","request_uri":"/a?b=c"}`
	second := `{"time":"2026-11-23T10:00:01Z","status":201,"ssl_client_s_dn":"CN=b","uri":"/d"}`
	if err := p.Parse([]byte(first), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Raw.MTLSSubject != "" {
		t.Errorf("unverified subject kept: %q", ev.Raw.MTLSSubject)
	}
	ev.Reset()
	if err := p.Parse([]byte(second), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Raw.MTLSSubject != "CN=b" || ev.Path != "/d" || ev.Raw.RawQuery != "" || ev.Status != 201 {
		t.Errorf("state leaked between lines: %+v", ev)
	}
}

func TestCompileJSONSchema(t *testing.T) {
	t.Parallel()
	s := compileJSONSchema(jsonSchemaSpec{Format: "t", Keys: []jsonKey{
		{"a.b.c", fHost, rankPrimary},
		{"Request-Id", fRequestID, rankPrimary},
	}})
	if _, ok := s.fields["request_id"]; !ok {
		t.Error("key not folded")
	}
	for _, c := range []string{"a", "a.b"} {
		if _, ok := s.containers[c]; !ok {
			t.Errorf("container %q missing", c)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("duplicate (after folding) keys accepted")
		}
	}()
	compileJSONSchema(jsonSchemaSpec{Format: "t", Keys: []jsonKey{{"x-y", fHost, rankPrimary}, {"X_Y", fHost, rankPrimary}}})
}
