package ingest

import "testing"

func TestNginxJSONAliases(t *testing.T) {
	t.Parallel()
	// The same request logged under the key names different nginx configs
	// use must come out the same.
	lines := []string{
		`{"time_local":"23/Nov/2026:10:00:00 +0000","remote_addr":"192.0.2.1","request_method":"GET","request_uri":"/v1/x?a=1","status":"200","body_bytes_sent":"5","request_time":"0.010","http_user_agent":"ua","http_referer":"ref","http_x_forwarded_for":"198.51.100.1","host":"h"}`,
		`{"timestamp":"2026-11-23T10:00:00Z","client_ip":"192.0.2.1","method":"GET","uri":"/v1/x","args":"a=1","status":200,"body_bytes_sent":5,"duration":0.01,"user_agent":"ua","referer":"ref","x_forwarded_for":"198.51.100.1","http_host":"h"}`,
		`{"@timestamp":"2026-11-23T10:00:00.000Z","nginx":{"remote_ip":"192.0.2.1","request":"GET /v1/x?a=1 HTTP/2.0","status":"200","bytes_sent":"5","request_time":"0.010"},"http":{"user_agent":"ua","referrer":"ref","xff":"198.51.100.1","server_name":"h"}}`,
		`{"nginx.msec":"1795428000.000","nginx.remote_addr":"192.0.2.1","nginx.request_method":"GET","nginx.path":"/v1/x","nginx.query_string":"a=1","nginx.status":"200","nginx.body_bytes_sent":"5","nginx.request_time":"0.010","nginx.http_user_agent":"ua","nginx.http_referer":"ref","nginx.http_x_forwarded_for":"198.51.100.1","nginx.host":"h"}`,
	}
	var want *Event
	for i, l := range lines {
		ev, err := parseJSONLine(t, "nginx_json", l)
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if want == nil {
			want = ev
			if ev.Method != "GET" || ev.Path != "/v1/x" || ev.Raw.RawQuery != "a=1" || ev.Host != "h" || ev.Latency.Milliseconds() != 10 {
				t.Fatalf("line 0 parsed as %+v", *ev)
			}
			continue
		}
		if !ev.Time.Equal(want.Time) || ev.Method != want.Method || ev.Path != want.Path || ev.Raw.RawQuery != want.Raw.RawQuery ||
			ev.Status != want.Status || ev.BytesOut != want.BytesOut || ev.Latency != want.Latency || ev.UserAgent != want.UserAgent ||
			ev.Referer != want.Referer || ev.Raw.XForwardedFor != want.Raw.XForwardedFor || ev.Host != want.Host ||
			ev.Raw.RemoteAddr != want.Raw.RemoteAddr {
			t.Errorf("line %d: %+v\nwant %+v", i, *ev, *want)
		}
	}
}

func TestNginxJSONClientVerify(t *testing.T) {
	t.Parallel()
	const head = `{"time":"2026-11-23T10:00:00Z","status":200,"ssl_client_s_dn":"CN=c",`
	for verify, want := range map[string]string{
		`"SUCCESS"`:        "CN=c",
		`"NONE"`:           "",
		`"FAILED:expired"`: "",
	} {
		ev, err := parseJSONLine(t, "nginx_json", head+`"ssl_client_verify":`+verify+`}`)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Raw.MTLSSubject != want {
			t.Errorf("verify %s: subject %q, want %q", verify, ev.Raw.MTLSSubject, want)
		}
	}
}

func FuzzNginxJSON(f *testing.F) {
	fuzzFormat(f, "nginx_json", ParserOptions{},
		`{"time":"2026-11-23T10:00:00Z","status":200,"a":{"b":{"c":{"d":{"e":{"request_uri":"/x"}}}}}}`,
		`{"time":"2026-11-23T10:00:00Z","status":200,"x_forwarded_for":["1.2.3.4","\u0035.6.7.8"]}`)
}
