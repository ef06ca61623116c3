package ingest

import (
	"testing"
	"time"
)

func TestTraefikJSON(t *testing.T) {
	t.Parallel()
	ev, err := parseJSONLine(t, "traefik_json",
		`{"StartLocal":"2026-11-23T11:20:00.5+01:00","StartUTC":"2026-11-23T10:20:00.123456789Z","time":"2026-11-23T10:21:00Z",`+
			`"ClientAddr":"[2001:db8::1]:443","ClientHost":"2001:db8::1","OriginStatus":0,"DownstreamStatus":401,`+
			`"Duration":1500000,"OriginDuration":0,"TLSVersion":"1.2","RequestAddr":"api.example.com:8443","RequestHost":"api.example.com",`+
			`"RequestPath":"/a?b=c","request_Authorization":"REDACTED","ClientUsername":"bob"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 23, 10, 20, 0, 123456789, time.UTC)
	if !ev.Time.Equal(want) || ev.Status != 401 || ev.Latency != 1500*time.Microsecond || ev.TLSVersion != "TLSv1.2" ||
		ev.Host != "api.example.com" || ev.Raw.RemoteAddr != "2001:db8::1" || ev.Path != "/a" || ev.Raw.RawQuery != "b=c" ||
		ev.Raw.Authorization != "" || ev.Raw.ClaimedUser != "bob" || ev.Scheme != "https" {
		t.Errorf("unexpected event %+v", *ev)
	}
	for in, want := range map[string]string{"1.0": "TLSv1", "1.1": "TLSv1.1", "1.3": "TLSv1.3", "TLSv1.3": "TLSv1.3", "SSLv3": "SSLv3"} {
		if got := jsonTLSVersion(in); got != want {
			t.Errorf("jsonTLSVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzTraefikJSON(f *testing.F) {
	fuzzFormat(f, "traefik_json", ParserOptions{})
}
