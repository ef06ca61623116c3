package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/buger/jsonparser"
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
	all := map[string][]string{"kong": {benchKongFullLine}}
	for name, lines := range benchJSONLines {
		all[name] = append(all[name], lines...)
	}
	for name, lines := range all {
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
	if f := s.fields["request_id"]; !f.known || f.kind != fRequestID {
		t.Error("key not folded")
	}
	for _, c := range []string{"a", "a.b"} {
		if f := s.fields[c]; !f.container || f.known {
			t.Errorf("container %q: %+v", c, f)
		}
	}
	if f := s.fields["a.b.c"]; !f.known || f.container {
		t.Errorf("leaf a.b.c: %+v", f)
	}
	defer func() {
		if recover() == nil {
			t.Error("duplicate (after folding) keys accepted")
		}
	}()
	compileJSONSchema(jsonSchemaSpec{Format: "t", Keys: []jsonKey{{"x-y", fHost, rankPrimary}, {"X_Y", fHost, rankPrimary}}})
}

// objectEachWalk is how the decoder walked a line before jsonWalker: with
// jsonparser.ObjectEach, which delimits each value before its callback sees
// it, descending by walking a delimited object again. It is the reference
// jsonWalker is held to.
func objectEachWalk(obj []byte, v jsonVisitor) (int, error) {
	end := 1
	var walk func(data []byte, depth int) error
	walk = func(data []byte, depth int) error {
		return jsonparser.ObjectEach(data, func(key, value []byte, t jsonparser.ValueType, off int) error {
			if depth == 0 {
				end = off
			}
			switch act := v.visitKey(key, depth); {
			case act == actValue:
				return v.visitValue(value, t)
			case act == actDescend && t == jsonparser.Object && depth < maxJSONDepth:
				if err := walk(value, depth+1); err != nil && err != errStopWalk {
					return errMalformedJSON
				} else if err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := walk(obj, 0); err != nil {
		return 0, err
	}
	// ObjectEach stops at the first '}' after a value and would not notice
	// trailing garbage.
	if string(bytes.TrimLeft(obj[end:], " \t\r\n")) != "}" {
		return 0, errMalformedJSON
	}
	return len(obj), nil
}

// traceVisitor records what a walker reports. Its answer to a key depends
// only on the key, its depth and the seed, so two walkers given the same
// seed make the same decisions.
type traceVisitor struct {
	seed  byte
	trace []byte
}

func (v *traceVisitor) visitKey(k []byte, depth int) jsonAction {
	v.trace = fmt.Appendf(v.trace, "%d%q", depth, k)
	h := v.seed + byte(depth)
	for _, c := range k {
		h = h*31 + c
	}
	return jsonAction(h % 3)
}

func (v *traceVisitor) visitValue(val []byte, t jsonparser.ValueType) error {
	v.trace = fmt.Appendf(v.trace, "=%v%q;", t, val)
	return nil
}

// jsonNesting returns how deeply valid JSON nests.
func jsonNesting(b []byte) int {
	depth, maxDepth, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			maxDepth = max(maxDepth, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return maxDepth
}

// walkableJSON reports whether the walker must accept obj: it is valid
// JSON, an object, and within the walker's nesting bound.
func walkableJSON(obj []byte) bool {
	return json.Valid(obj) && len(obj) > 0 && obj[0] == '{' && jsonNesting(obj) <= maxJSONNesting
}

// checkWalkerMatchesObjectEach holds jsonWalker to the reference walk on
// obj (a trimmed line starting with '{' and ending with '}'): whatever it
// accepts, ObjectEach accepted with the same keys and values; and it
// accepts all valid JSON within its nesting bound.
func checkWalkerMatchesObjectEach(t *testing.T, obj []byte) {
	t.Helper()
	for seed := byte(0); seed < 3; seed++ {
		var w jsonWalker
		got, want := &traceVisitor{seed: seed}, &traceVisitor{seed: seed}
		end, err := w.walk(obj, got)
		ok := err == nil && end == len(obj)
		_, refErr := objectEachWalk(obj, want)
		if ok && refErr != nil {
			t.Fatalf("seed %d: walker accepted %q, ObjectEach did not (%v); walker trace %s", seed, obj, refErr, got.trace)
		}
		if ok && !bytes.Equal(got.trace, want.trace) {
			t.Fatalf("seed %d: %q: walker trace\n%s\nObjectEach trace\n%s", seed, obj, got.trace, want.trace)
		}
		if !ok && walkableJSON(obj) {
			t.Fatalf("seed %d: walker rejected valid JSON %q: end %d of %d, %v", seed, obj, end, len(obj), err)
		}
	}
}

// parseWithObjectEach parses line the way jsonParser.Parse does, walking
// it with objectEachWalk.
func parseWithObjectEach(p *jsonParser, line []byte, ev *Event) error {
	d := &p.dec
	obj, err := d.begin(line, ev)
	if err == nil {
		end, werr := objectEachWalk(obj, d)
		err = d.complete(obj, end, werr)
	}
	d.release()
	return err
}

var jsonFormats = []string{"nginx_json", "envoy_json", "kong", "traefik_json", "aws_apigw"}

// checkParseMatchesObjectEach holds every JSON format's parser to the same
// parser walking with ObjectEach: equal events for the lines it accepts,
// and equal errors on valid JSON.
func checkParseMatchesObjectEach(t *testing.T, line []byte) {
	t.Helper()
	for _, format := range jsonFormats {
		np, err := NewParser(format, ParserOptions{})
		if err != nil {
			t.Fatal(err)
		}
		op, _ := NewParser(format, ParserOptions{})
		var got, want Event
		gotErr := np.Parse(line, &got)
		wantErr := parseWithObjectEach(op.(*jsonParser), line, &want)
		valid := walkableJSON(bytes.TrimSpace(line))
		switch {
		case gotErr == nil && wantErr != nil:
			t.Fatalf("%s: %q: walker parsed, ObjectEach said %v", format, line, wantErr)
		case gotErr == nil:
			got.scratch, want.scratch = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: %q:\nwalker     %+v\nObjectEach %+v", format, line, got, want)
			}
		case valid && fmt.Sprint(gotErr) != fmt.Sprint(wantErr):
			t.Fatalf("%s: valid JSON %q: walker said %v, ObjectEach %v", format, line, gotErr, wantErr)
		}
	}
}

func TestJSONWalker(t *testing.T) {
	t.Parallel()
	deep := func(n int) string { return `{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}` }
	tests := []struct {
		in string
		ok bool
	}{
		{`{}`, true},
		{"{ \t\r\n}", true},
		{`{"a":1,"b":-2.5e3,"c":true,"d":false,"e":null,"f":"s","g":[],"h":{}}`, true},
		{`{"a":[1,{"b":"}"}],"c":"\"}","d":{"e":{"f":{"g":{"h":{"i":[{"j":1}]}}}}}}`, true},
		{`{"\u0061\"":1, "b" : [ "x" , { } ] }`, true},
		{`{"a":"\x"}`, true}, // escapes are checked only in values the decoder unescapes
		{`{"a":2OO}`, true},  // a number to jsonparser: the decoder calls it a bad status
		{deep(maxJSONNesting - 1), true},
		{deep(maxJSONNesting + 1), false},
		{`{"a":1,}`, false},
		{`{"a":[1,]}`, false},
		{`{"a":{"b":1,}}`, false},
		{`{"a":[1 2]}`, false},
		{`{"a":{"b":[}]}}`, false},
		{`{"a":[{]}}`, false},
		{`{"a":tru}`, false},
		{`{"a":{"b":nul}}`, false},
		{`{"a":1"}`, false},
		{`{"a":1{}`, false},
		{`{"a" 1}`, false},
		{`{"a":1 "b":2}`, false},
		{`{a:1}`, false},
		{`{"a":}`, false},
		{`{"a":"x}`, false},
		{`{"\u00zz":1}`, false},
		{`{"a":1}}`, false}, // the walker stops at the first object's end
		{`{"a":1} `, false},
		{`{`, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			var w jsonWalker
			end, err := w.walk([]byte(tt.in), &traceVisitor{})
			if ok := err == nil && end == len(tt.in); ok != tt.ok {
				t.Errorf("walk: end %d of %d, err %v; want ok=%v", end, len(tt.in), err, tt.ok)
			}
			if strings.TrimSpace(tt.in) == tt.in { // as Parse hands it over
				checkWalkerMatchesObjectEach(t, []byte(tt.in))
			}
		})
	}
}

func TestJSONStringEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		end     int
		escaped bool
	}{
		{`"`, 0, false},
		{`abc"`, 3, false},
		{`0123456789abcdef0123"x"`, 20, false},
		{`a\"b"`, 4, true},
		{`a\\"b"`, 3, true},
		{`0123456\\\"89abcdef\\"`, 21, true},
		{`01234567\"`, -1, true},
		{`0123456789abcdef`, -1, false},
		{`é"`, 2, false},
		{`\`, -1, true},
		{``, -1, false},
	}
	for _, tt := range tests {
		end, escaped := jsonStringEnd([]byte(tt.in), 0)
		if end != tt.end || escaped != tt.escaped {
			t.Errorf("jsonStringEnd(%q) = %d, %v; want %d, %v", tt.in, end, escaped, tt.end, tt.escaped)
		}
	}
}

func TestJSONParseMatchesObjectEach(t *testing.T) {
	t.Parallel()
	for _, line := range jsonSeedLines(t) {
		checkParseMatchesObjectEach(t, line)
		if obj := bytes.TrimSpace(line); len(obj) > 1 && obj[0] == '{' && obj[len(obj)-1] == '}' {
			checkWalkerMatchesObjectEach(t, obj)
		}
	}
}

// jsonSeedLines returns the JSON golden inputs and benchmark lines.
func jsonSeedLines(t testing.TB) [][]byte {
	lines := [][]byte{[]byte(benchKongFullLine)}
	for _, ls := range benchJSONLines {
		for _, l := range ls {
			lines = append(lines, []byte(l))
		}
	}
	for _, format := range append(jsonFormats, "nginx_json.nested") {
		b, err := os.ReadFile(filepath.Join("testdata", "golden", format+".log"))
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, bytes.Split(bytes.TrimSpace(b), []byte("\n"))...)
	}
	return lines
}

// FuzzJSONWalk holds the single-pass walker, and every JSON parser built
// on it, to jsonparser.ObjectEach.
func FuzzJSONWalk(f *testing.F) {
	for _, l := range jsonSeedLines(f) {
		f.Add(l)
	}
	for _, s := range []string{
		`{"a":{"b":[}]}}`, `{"a":[{]},"b":"}"}`, `{"r":{"a":1"},"x":"}"}`, `{"a":1,}`, `{"request":{"headers":{"host":1,}}}`,
		`{"a":"\"\\","b":{"c":{"d":{"e":{"f":{"g":1}}}}}}`, `{"\u0072equest":{"uri":"/x"},"started_at":1,"response":{"status":200}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkParseMatchesObjectEach(t, line)
		if obj := bytes.TrimSpace(line); len(obj) > 1 && obj[0] == '{' && obj[len(obj)-1] == '}' {
			checkWalkerMatchesObjectEach(t, obj)
		}
	})
}
