package ingest

import "testing"

func TestKongQueryObject(t *testing.T) {
	t.Parallel()
	const head = `{"started_at":1795428000123,"response":{"status":200},"request":{"method":"GET",`
	tests := []struct{ req, want string }{
		{`"url":"http://h/p","querystring":{"a":"1","flag":true,"off":false,"n":2,"multi":["x","y"],"sp":"a b&c=d%e","u":"caf\u00e9"}`,
			"a=1&flag&off=false&n=2&multi=x&multi=y&sp=a%20b%26c%3Dd%25e&u=caf%C3%A9"},
		{`"uri":"/p?from=uri","querystring":{"from":"object"}`, "from=uri"},
		{`"uri":"/p","querystring":{}`, ""},
		{`"uri":"/p","querystring":{"bad":"\x"}`, "bad="},
	}
	for _, tt := range tests {
		ev, err := parseJSONLine(t, "kong", head+tt.req+`}}`)
		if err != nil {
			t.Fatalf("%s: %v", tt.req, err)
		}
		if ev.Raw.RawQuery != tt.want || ev.Path != "/p" {
			t.Errorf("%s: path %q query %q, want /p and %q", tt.req, ev.Path, ev.Raw.RawQuery, tt.want)
		}
	}
}

func TestKongIdentity(t *testing.T) {
	t.Parallel()
	const head = `{"started_at":1795428000123,"response":{"status":200},"request":{"uri":"/"},`
	tests := []struct{ rest, keyID, apiKey string }{
		{`"consumer":{"username":"app","id":"c-1"},"authenticated_entity":{"id":"cred-1"}}`, "c-1", ""},
		{`"consumer":{"username":"app"}}`, "app", ""},
		{`"authenticated_entity":{"id":"cred-1"}}`, "cred-1", ""},
		{`"request":{"uri":"/","headers":{"apikey":"secret-1"}}}`, "", "secret-1"},
		{`"request":{"uri":"/","headers":{"apikey":"REDACTED","authorization":"REDACTED"}}}`, "", ""},
	}
	for _, tt := range tests {
		ev, err := parseJSONLine(t, "kong", head+tt.rest)
		if err != nil {
			t.Fatalf("%s: %v", tt.rest, err)
		}
		if ev.Raw.APIKeyID != tt.keyID || ev.Raw.APIKey != tt.apiKey || ev.Raw.Authorization != "" {
			t.Errorf("%s: raw %+v", tt.rest, ev.Raw)
		}
	}
}

func FuzzKong(f *testing.F) {
	fuzzFormat(f, "kong", ParserOptions{},
		`{"started_at":1,"response":{"status":200},"request":{"querystring":{"a":["b",{"c":1}],"d":[[]]}}}`)
}
