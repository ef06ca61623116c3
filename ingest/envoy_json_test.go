package ingest

import (
	"testing"
	"time"
)

func TestEnvoyJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line string
		check      func(*Event) bool
	}{
		{"client went away: status 0",
			`{"start_time":"2026-11-23T10:10:06.777Z","method":"GET","path":"/s","response_code":0,"response_flags":"DC","duration":15000}`,
			func(e *Event) bool { return e.Status == 0 && e.Latency == 15*time.Second }},
		{"original path wins over the rewritten one",
			`{"path":"/users/42","x_envoy_original_path":"/api/v2/users/42?x=1","start_time":"2026-11-23T10:10:00Z","response_code":200}`,
			func(e *Event) bool { return e.Path == "/api/v2/users/42" && e.Raw.RawQuery == "x=1" }},
		{"SPIFFE SAN when the subject is empty",
			`{"start_time":"2026-11-23T10:10:00Z","response_code":200,"downstream_peer_subject":"","downstream_peer_uri_san":"spiffe://c/ns/a/sa/b"}`,
			func(e *Event) bool { return e.Raw.MTLSSubject == "spiffe://c/ns/a/sa/b" }},
		{"subject beats SAN",
			`{"start_time":"2026-11-23T10:10:00Z","response_code":200,"downstream_peer_uri_san":"spiffe://c/ns/a/sa/b","downstream_peer_subject":"CN=x"}`,
			func(e *Event) bool { return e.Raw.MTLSSubject == "CN=x" }},
		{"upper-case keys",
			`{"START_TIME":"2026-11-23T10:10:00Z","RESPONSE_CODE":"503","DURATION":"7","BYTES_SENT":"9","DOWNSTREAM_REMOTE_ADDRESS":"[::1]:5"}`,
			func(e *Event) bool {
				return e.Status == 503 && e.Latency == 7*time.Millisecond && e.BytesOut == 9 && e.Raw.RemoteAddr == "[::1]:5"
			}},
		{"upstream time is only a fallback",
			`{"start_time":"2026-11-23T10:10:00Z","response_code":200,"upstream_service_time":"5","duration":8}`,
			func(e *Event) bool { return e.Latency == 8*time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := parseJSONLine(t, "envoy_json", tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(ev) {
				t.Errorf("unexpected event %+v", *ev)
			}
		})
	}
	if _, err := parseJSONLine(t, "nginx_json", `{"time":"2026-11-23T10:10:00Z","status":0}`); err == nil {
		t.Error("status 0 accepted outside Envoy")
	}
}

func FuzzEnvoyJSON(f *testing.F) {
	fuzzFormat(f, "envoy_json", ParserOptions{})
}
