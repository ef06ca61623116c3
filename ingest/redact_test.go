package ingest

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// credentialParams are real-world spellings of query parameters that carry
// credentials: each must be redacted.
var credentialParams = []string{
	// OAuth 2 / OpenID Connect
	"access_token", "refresh_token", "id_token", "code", "client_secret", "code_verifier",
	"assertion_token", "subject_token", "actor_token", "device_code_token", "oauth_token",
	"oauth_verifier", "oauth_signature",
	// generic tokens and keys
	"token", "auth_token", "authToken", "AuthToken", "private_token", "PRIVATE-TOKEN",
	"api_key", "apikey", "apiKey", "API_KEY", "x-api-key", "X-API-KEY", "api-key", "APIKey",
	"key", "access_key", "accessKey", "secret_key", "secretKey", "private_key", "privateKey",
	"client_key", "app_key", "appKey", "license_key", "master_key", "subscription-key",
	"Ocp-Apim-Subscription-Key", "consumer_key", "consumer_secret",
	"secret", "app_secret", "webhook_secret", "bearer", "bearer_token", "jwt", "JWT", "jwt_token",
	"authorization", "Authorization", "auth", "x-auth", "x_auth_token", "authcode",
	// sessions
	"session", "sessionToken", "session_token", "sessionid", "session_id", "SESSIONID",
	"JSESSIONID", "PHPSESSID", "ASP.NET_SessionId", "sid", "connect.sid",
	// passwords and one-time codes
	"password", "Password", "passwd", "pwd", "pass", "new_password", "old_password",
	"user[password]", "passphrase", "pw", "otp", "totp_code_otp", "pin_otp",
	// cloud signatures and credentials
	"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "x-amz-signature",
	"X-Goog-Signature", "X-Goog-Credential", "Signature", "signature", "sig",
	"AWSAccessKeyId", "credential", "credentials", "sas_token",
	// single sign-on
	"SAMLResponse", "SAMLRequest", "ticket",
	// percent-encoded and oddly spelled
	"%61pi_key", "to%6Ben", "access%5Ftoken", "%41PI%2DKEY", "api%5fkey", "%73ig",
}

// ordinaryParams are names whose values must be kept.
var ordinaryParams = []string{
	"q", "query", "page", "per_page", "id", "sort", "order", "limit", "offset", "keyword",
	"keywords", "monkey", "turkey", "hockey", "keyboard", "author", "authors", "passenger",
	"compass", "design", "signup", "sigma", "utm_source", "utm_medium", "utm_campaign",
	"order_id", "user_id", "client_id", "redirect_uri", "state", "scope", "response_type",
	"lang", "format", "fields", "include", "filter", "from", "to", "since", "cursor_id",
	"sv", "se", "sp", "spr", "srt", "ss", "st", "X-Amz-Date", "X-Amz-Expires", "X-Amz-Algorithm",
	"X-Amz-SignedHeaders", "grant_type", "v", "callback",
}

func TestSecurityCredentialParamCorpus(t *testing.T) {
	t.Parallel()
	if len(credentialParams) < 60 {
		t.Fatalf("corpus has %d spellings, want at least 60", len(credentialParams))
	}
	for _, name := range credentialParams {
		if !defaultRedactor.sensitiveName(name) {
			t.Errorf("%q is not redacted", name)
		}
	}
	for _, name := range ordinaryParams {
		if defaultRedactor.sensitiveName(name) {
			t.Errorf("%q is redacted", name)
		}
	}
}

// TestSecurityCredentialParamsThroughDecoder: every spelling, and every
// credential shape, in a real access-log line through the parser and the
// normaliser, in the request's query and in the referer.
func TestSecurityCredentialParamsThroughDecoder(t *testing.T) {
	t.Parallel()
	d, err := NewDecoder(DecoderOptions{Format: "nginx_combined", Normalizer: NormalizerOptions{HMACKey: []byte("k")}})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cr3tVALUE"
	var ev Event
	for _, name := range credentialParams {
		line := `203.0.113.7 - - [23/Nov/2026:10:00:00 +0000] "GET /api/v1/x?page=2&` + name + `=` + secret +
			`&q=shoes HTTP/1.1" 200 5 "https://app.example/cb?` + name + `=` + secret + `" "curl/8"`
		if err := d.Decode([]byte(line), &ev); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if want := "page=2&" + name + "=REDACTED&q=shoes"; ev.Query != want {
			t.Errorf("%s: query %q, want %q", name, ev.Query, want)
		}
		if strings.Contains(ev.Referer, secret) {
			t.Errorf("%s: referer %q keeps the secret", name, ev.Referer)
		}
	}
	for _, v := range credentialValues {
		line := `203.0.113.7 - - [23/Nov/2026:10:00:00 +0000] "GET /cb?state=` + v + `&page=2 HTTP/1.1" 302 5 "https://idp.example/x?next=` + v + `" "curl/8"`
		if err := d.Decode([]byte(line), &ev); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		// Redacted for its shape alone, a value keeps its length.
		want := "state=" + Redacted + strings.Repeat("x", max(len(v)-len(Redacted), 0)) + "&page=2"
		if ev.Query != want || strings.Contains(ev.Referer, v) {
			t.Errorf("value %q: query %q, referer %q", v, ev.Query, ev.Referer)
		}
	}
}

// credentialValues are values redacted by their shape, whatever their
// parameter's name.
var credentialValues = []string{
	// JWTs: HS256, RS256, unsigned (empty signature), a JWE
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
	"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTg4MTIifQ.c2lnbmF0dXJl",
	"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.",
	"eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji.XFBoMYUZodetZdvTiFvSkQ",
	// random tokens: Stripe-like, GitHub, Slack, base64 and base64url, long hex
	"sk_live_51Hx9KzLmNoPqRsTuVwXyZ012345",
	"ghp_16C7e42F292c6912E7710c838347Ae178B4a",
	"xoxb-2634159878-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
	"dGhpcyBpcyBhIHNlY3JldCB0b2tlbiB2YWx1ZSE9PQ==",
	"Zm9vYmFyYmF6cXV4MTIz-_Zm9vYmFyYmF6cXV4",
	"Zm9vYmFyYmF6cXV4MTIz%2BZm9vYmFyYmF6cXV4%3D",
	"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
	"abcd1234efgh5678ijkl9012mnop3456qrst",
}

// ordinaryValues are values kept, however long.
var ordinaryValues = []string{
	"550e8400-e29b-41d4-a716-446655440000", "F47AC10B-58CC-4372-A567-0E02B2C3D479",
	"d41d8cd98f00b204e9800998ecf8427e", "123456", "100000000000000000000000001",
	"ORD-2026-000123456789", "the-quick-brown-fox-jumps-over-the-lazy-dog",
	"2026-11-23T10:00:00Z", "https%3A%2F%2Fapp.example.com%2Fcallback", "shoes",
	"application/json", "created_at,updated_at,name,description", "eyJ",
	"ThisIsJustAVeryLongCamelCaseWordWithoutDigits",
}

func TestSecurityCredentialValueShapes(t *testing.T) {
	t.Parallel()
	n, err := NewNormalizer(NormalizerOptions{HMACKey: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		values []string
		redact bool
	}{{credentialValues, true}, {ordinaryValues, false}} {
		for _, v := range tc.values {
			ev := Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", Target: "/orders/" + v + "?page=1&ref=" + v}}
			n.Normalize(&ev)
			want := "page=1&ref=" + v
			if tc.redact { // for its shape alone: the length kept
				want = "page=1&ref=" + Redacted + strings.Repeat("x", max(len(v)-len(Redacted), 0))
			}
			if ev.Query != want {
				t.Errorf("value %q: query %q, want %q", v, ev.Query, want)
			}
			if ev.Path != "/orders/"+v {
				t.Errorf("value %q: path %q changed", v, ev.Path)
			}
		}
	}
	// A bare JWT as a whole query ("?eyJ...") is redacted too.
	ev := Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", RawQuery: credentialValues[0] + "&a=1"}}
	n.Normalize(&ev)
	if ev.Query != "REDACTED&a=1" {
		t.Errorf("bare jwt: query %q", ev.Query)
	}
}

func TestSecurityConfiguredParams(t *testing.T) {
	t.Parallel()
	n, err := NewNormalizer(NormalizerOptions{HMACKey: []byte("k"), SensitiveParams: []string{"X-Tenant-Pin"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", RawQuery: "x_tenant_pin=1234&code=abc&page=2"}}
	n.Normalize(&ev)
	if ev.Query != "x_tenant_pin=REDACTED&code=REDACTED&page=2" {
		t.Errorf("query %q: a configured name, and the defaults, must be redacted", ev.Query)
	}
}

func TestRedactLine(t *testing.T) {
	t.Parallel()
	jwt := credentialValues[1]
	for _, tc := range []struct{ in, want string }{
		{`GET /a?token=abc&page=2 HTTP/1.1`, `GET /a?token=REDACTED&page=2 HTTP/1.1`},
		{`"Authorization: Bearer ` + jwt + `"`, `"Authorization: REDACTED"`},
		{`authorization=Bearer%20opaque-token-123`, `authorization=REDACTED`},
		{`{"http_authorization":"Basic YWxpY2U6d29uZGVybGFuZA==","status":200}`, `{"http_authorization":"REDACTED","status":200}`},
		{`x Basic YWxpY2U6d29uZGVybGFuZA== y`, `x Basic REDACTED y`},
		// A scheme whose credential ends with another scheme: both go.
		{`BeArer &Bearer 0000`, `BeArer REDACTED`},
		{`Authorization: Bearer Bearer s3cr3t-token x`, `Authorization: REDACTED x`},
		{`curl -H 'X-Api-Key: k-123' https://h/x`, `curl -H 'X-Api-Key: REDACTED' https://h/x`},
		{`trace ` + jwt + ` end`, `trace REDACTED end`},
		{`{"msg":"{\"password\":\"hunter2\"}"}`, `{"msg":"{\"password\":\"REDACTED\"}"}`},
		{`ref=` + credentialValues[4] + `&q=1`, `ref=REDACTED&q=1`},
		{`keyword=shoes&monkey=1&id=550e8400-e29b-41d4-a716-446655440000`, `keyword=shoes&monkey=1&id=550e8400-e29b-41d4-a716-446655440000`},
		{`GET /api/v1/orders/17 HTTP/1.1" 200`, `GET /api/v1/orders/17 HTTP/1.1" 200`},
	} {
		if got := string(RedactLine(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("RedactLine(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestFoldNameWords(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"apiKey": "api|key", "APIKey": "api|key", "api_key": "api|key", "X-Amz-Signature": "x|amz|signature",
		"%61pi_key": "api|key", "keyword": "keyword", "connect.sid": "connect|sid", "sessionToken": "session|token",
	} {
		var buf [maxNameBytes]byte
		folded, starts := foldName(name, &buf)
		var b strings.Builder
		for i := 0; i < len(folded); i++ {
			if i > 0 && starts&(1<<i) != 0 {
				b.WriteByte('|')
			}
			b.WriteByte(folded[i])
		}
		if b.String() != want {
			t.Errorf("foldName(%q) words %q, want %q", name, b.String(), want)
		}
	}
}

func BenchmarkRedactQuery(b *testing.B) {
	n, _ := NewNormalizer(NormalizerOptions{HMACKey: []byte("k")})
	var ev Event
	b.ReportAllocs()
	for b.Loop() {
		ev.Reset()
		ev.Status = 200
		ev.Raw = RawFields{RemoteAddr: "203.0.113.7", Target: "/v1/search?q=shoes&page=2&sort=price&utm_source=newsletter&limit=50"}
		n.Normalize(&ev)
	}
}

// FuzzRedact: redaction never panics, never drops a byte outside what it
// redacts (a line without credentials comes back unchanged), is
// idempotent, keeps valid UTF-8 valid, and leaves no secret it was given
// under a credential name.
func FuzzRedact(f *testing.F) {
	f.Add("token=abc&page=2", "s3cret")
	f.Add(`{"authorization":"Bearer x"}`, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig")
	f.Add("%61pi_key=1", "k")
	f.Add("a=b&&=&c", "")
	n, err := NewNormalizer(NormalizerOptions{HMACKey: []byte("k")})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q, secret string) {
		out := RedactLine(nil, []byte(q))
		if again := RedactLine(nil, out); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q", q, out, again)
		}
		if utf8.ValidString(q) && !utf8.Valid(out) {
			t.Fatalf("%q: redaction broke UTF-8: %q", q, out)
		}
		ev := Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", RawQuery: q}}
		n.Normalize(&ev)
		if !n.redact.hasSensitive(q) && ev.Query != q && !ev.Truncated {
			t.Fatalf("query %q changed to %q with nothing sensitive", q, ev.Query)
		}
		if again := string(n.redact.appendRedactedQuery(nil, ev.Query)); again != ev.Query && !ev.Truncated {
			t.Fatalf("query redaction not idempotent: %q -> %q -> %q", q, ev.Query, again)
		}
		if len(secret) < 4 || strings.Contains(q, secret) || strings.IndexFunc(secret, func(r rune) bool {
			return r > 0x7f || !isNameByte(byte(r)) || strings.ContainsRune("%[]", r)
		}) >= 0 {
			return // the property holds for secrets of token bytes
		}
		for _, line := range []string{"token=" + secret, `"password":"` + secret + `"`, "Bearer " + secret} {
			if bytes.Contains(RedactLine(nil, []byte(q+"&"+line)), []byte(secret)) {
				t.Fatalf("%q: secret %q kept", q+"&"+line, secret)
			}
		}
	})
}

// TestRedactLineLinear: hostile lines cost one pass, not one per word.
func TestRedactLineLinear(t *testing.T) {
	t.Parallel()
	for _, unit := range []string{"a=", "eyJ", "a:\"", "Bearer ", "x&", "eyJaaaaaaaaaaa."} {
		line := []byte(strings.Repeat(unit, (1<<20)/len(unit)))
		start := time.Now()
		RedactLine(nil, line)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("a megabyte of %q took %v", unit, d)
		}
	}
}

func TestWordStems(t *testing.T) {
	t.Parallel()
	for _, s := range wordStems {
		if !isWordStem(s) || isWordStem(s+"x") || isWordStem(s[1:]) {
			t.Errorf("isWordStem disagrees with wordStems on %q", s)
		}
	}
}

// TestNameVerdictCache: remembered verdicts agree with fresh ones, however
// names collide in the cache.
func TestNameVerdictCache(t *testing.T) {
	t.Parallel()
	q := queryRedactor{r: defaultRedactor}
	names := append(append([]string(nil), credentialParams...), ordinaryParams...)
	for round := 0; round < 3; round++ {
		for i := range names {
			name := names[(i*7+round*13)%len(names)]
			if got, want := q.sensitiveName(name), defaultRedactor.sensitiveName(name); got != want {
				t.Fatalf("round %d: %q cached %v, fresh %v", round, name, got, want)
			}
		}
	}
}
