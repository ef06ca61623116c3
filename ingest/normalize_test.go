package ingest

import (
	"encoding/base64"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func jwt(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256"}`)) + "." + enc([]byte(payload)) + ".c2lnbmF0dXJl"
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	opts := NormalizerOptions{
		HMACKey:        []byte("test-key"),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Source:         "edge",
	}
	n, err := NewNormalizer(opts)
	if err != nil {
		t.Fatal(err)
	}
	apiKeyHash := n.HashSecret("k_", "sk_live_abc")
	tokenHash := n.HashSecret("t_", "Bearer opaque-token")
	for _, tc := range []struct {
		name string
		in   Event
		key  string
		kind ClientKind
		ip   string
		auth AuthOutcome
		q    string
		ref  string
	}{
		{name: "ip only", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7"}},
			key: "203.0.113.7", kind: ClientIP, ip: "203.0.113.7", auth: AuthNone},
		{name: "ip with port", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7:5123"}},
			key: "203.0.113.7", kind: ClientIP, ip: "203.0.113.7", auth: AuthNone},
		{name: "ipv6 bracketed", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "[2001:db8::1]:443"}},
			key: "2001:db8::1", kind: ClientIP, ip: "2001:db8::1", auth: AuthNone},
		{name: "xff from untrusted peer ignored", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "198.51.100.1", XForwardedFor: "1.2.3.4"}},
			key: "198.51.100.1", kind: ClientIP, ip: "198.51.100.1", auth: AuthNone},
		{name: "xff through trusted proxies", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "10.0.0.5", XForwardedFor: "6.6.6.6, 203.0.113.9, 10.1.1.1"}},
			key: "203.0.113.9", kind: ClientIP, ip: "203.0.113.9", auth: AuthNone},
		{name: "xff garbage hop stops the walk", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "10.0.0.5", XForwardedFor: "203.0.113.9, junk"}},
			key: "10.0.0.5", kind: ClientIP, ip: "10.0.0.5", auth: AuthNone},
		{name: "no peer, xff only", in: Event{Status: 200, Raw: RawFields{XForwardedFor: "203.0.113.4, 10.0.0.1"}},
			key: "203.0.113.4", kind: ClientIP, ip: "203.0.113.4", auth: AuthNone},
		{name: "api key hashed", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", APIKey: "sk_live_abc"}},
			key: apiKeyHash, kind: ClientAPIKey, ip: "203.0.113.7", auth: AuthOK},
		{name: "rejected api key is keyed by ip", in: Event{Status: 401, Raw: RawFields{RemoteAddr: "203.0.113.7", APIKey: "sk_wrong"}},
			key: "203.0.113.7", kind: ClientIP, ip: "203.0.113.7", auth: AuthFailed},
		{name: "forbidden keeps the identity", in: Event{Status: 403, Raw: RawFields{RemoteAddr: "203.0.113.7", APIKeyID: "consumer-1"}},
			key: "key:consumer-1", kind: ClientAPIKey, ip: "203.0.113.7", auth: AuthForbidden},
		{name: "unverified jwt sub is keyed by ip", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", Authorization: "Bearer " + jwt(`{"sub":"alice","exp":1}`)}},
			key: "203.0.113.7", kind: ClientIP, ip: "203.0.113.7", auth: AuthOK},
		{name: "jwt sub the gateway verified", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", IdentityVerified: "true", Authorization: "Bearer " + jwt(`{"sub":"alice","exp":1}`)}},
			key: "sub:alice", kind: ClientJWTSub, ip: "203.0.113.7", auth: AuthOK},
		{name: "user the gateway authenticated", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", IdentityVerified: "carol"}},
			key: "user:carol", kind: ClientJWTSub, ip: "203.0.113.7", auth: AuthNone},
		{name: "opaque bearer hashed", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", Authorization: "Bearer opaque-token"}},
			key: tokenHash, kind: ClientToken, ip: "203.0.113.7", auth: AuthOK},
		{name: "unverified basic user is keyed by ip", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", Authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:hunter2"))}},
			key: "203.0.113.7", kind: ClientIP, ip: "203.0.113.7", auth: AuthOK},
		{name: "basic user the gateway verified", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", IdentityVerified: "1", Authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:hunter2"))}},
			key: "user:bob", kind: ClientJWTSub, ip: "203.0.113.7", auth: AuthOK},
		{name: "mtls", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", MTLSSubject: "CN=svc-a"}},
			key: "mtls:CN=svc-a", kind: ClientMTLS, ip: "203.0.113.7", auth: AuthOK},
		{name: "gateway auth outcome wins", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", AuthOutcome: AuthFailed}},
			key: "203.0.113.7", kind: ClientIP, ip: "203.0.113.7", auth: AuthFailed},
		{name: "nothing", in: Event{Status: 200}, key: "unknown", kind: ClientUnknown, auth: AuthNone},
		{name: "host name logged for the address", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "PCP740115pcs.reston01.va.comcast.net"}},
			key: "pcp740115pcs.reston01.va.comcast.net", kind: ClientHost, auth: AuthNone},
		{name: "dash is no host", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "-"}}, key: "unknown", kind: ClientUnknown, auth: AuthNone},
		{name: "word is no host", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "unknown"}}, key: "unknown", kind: ClientUnknown, auth: AuthNone},
		{name: "garbage is no host", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "a.b;rm -rf"}}, key: "unknown", kind: ClientUnknown, auth: AuthNone},
		{name: "query redaction", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", Target: "/login?user=a&Pass-Word=x&API_KEY=y&page=2&token"}},
			key: "203.0.113.7", kind: ClientIP, ip: "203.0.113.7", auth: AuthNone, q: "user=a&Pass-Word=REDACTED&API_KEY=REDACTED&page=2&token"},
		{name: "percent-encoded underscore", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", RawQuery: "access%5Ftoken=abc"}},
			key: "203.0.113.7", kind: ClientIP, ip: "203.0.113.7", auth: AuthNone, q: "access%5Ftoken=REDACTED"},
		{name: "referer redaction", in: Event{Status: 200, Referer: "https://app.example/cb?code=xyz&state=1", Raw: RawFields{RemoteAddr: "203.0.113.7"}},
			key: "203.0.113.7", kind: ClientIP, ip: "203.0.113.7", auth: AuthNone, ref: "https://app.example/cb?code=REDACTED&state=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.in
			n.Normalize(&ev)
			ip := ""
			if ev.RemoteIP.IsValid() {
				ip = ev.RemoteIP.String()
			}
			if ev.ClientKey != tc.key || ev.ClientKind != tc.kind || ip != tc.ip || ev.Auth != tc.auth || ev.Query != tc.q {
				t.Fatalf("got key %q kind %v ip %q auth %v query %q\nwant key %q kind %v ip %q auth %v query %q",
					ev.ClientKey, ev.ClientKind, ip, ev.Auth, ev.Query, tc.key, tc.kind, tc.ip, tc.auth, tc.q)
			}
			if tc.ref != "" && ev.Referer != tc.ref {
				t.Fatalf("referer %q, want %q", ev.Referer, tc.ref)
			}
			if ev.Raw != (RawFields{}) {
				t.Fatal("raw fields (credentials) survived normalisation")
			}
			if ev.Source != "edge" {
				t.Fatalf("source %q", ev.Source)
			}
			for _, secret := range []string{"sk_live_abc", "opaque-token", "hunter2", "xyz"} {
				if c := ev.Clone(); strings.Contains(c.ClientKey+c.Query+c.Referer+c.Path, secret) {
					t.Fatalf("secret %q leaked into the event", secret)
				}
			}
		})
	}
	if !strings.HasPrefix(apiKeyHash, "k_") || len(apiKeyHash) != 18 {
		t.Fatalf("hmac key form %q", apiKeyHash)
	}
	other, _ := NewNormalizer(NormalizerOptions{HMACKey: []byte("another-key")})
	if other.HashSecret("k_", "sk_live_abc") == apiKeyHash {
		t.Fatal("HMAC does not depend on the key")
	}
}

func TestPathVersion(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/v1/orders": "v1", "/api/v2/users": "v2", "/api/internal/v3.1/x": "v3.1",
		"/orders": "", "/a/b/c/v1": "", "/video/1": "",
	} {
		if got := pathVersion(path); got != want {
			t.Errorf("pathVersion(%q) = %q, want %q", path, got, want)
		}
	}
}

func BenchmarkNormalizeAPIKey(b *testing.B) {
	n, _ := NewNormalizer(NormalizerOptions{HMACKey: []byte("k")})
	var ev Event
	b.ReportAllocs()
	for b.Loop() {
		ev.Reset()
		ev.Status = 200
		ev.Raw = RawFields{RemoteAddr: "203.0.113.7", APIKey: "sk_live_abcdef", Target: "/v1/orders/123?token=x"}
		n.Normalize(&ev)
	}
}

// rawJWT builds a token from a header and a payload in clear, with a
// signature segment that proves nothing.
func rawJWT(header, payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + ".c2lnbmF0dXJl"
}

// nginxJSONLine is an nginx escape=json access-log line; extra is spliced
// in as more JSON members.
func nginxJSONLine(addr string, status int, authz, extra string) []byte {
	line := `{"time_iso8601":"2026-11-23T10:00:00+00:00","remote_addr":"` + addr +
		`","request":"GET /api/v1/orders/17 HTTP/1.1","status":` + strconv.Itoa(status) +
		`,"http_user_agent":"curl/8.4.0","http_authorization":"` + authz + `"`
	if extra != "" {
		line += "," + extra
	}
	return []byte(line + "}")
}

func decodeLine(t *testing.T, opts DecoderOptions, line []byte) *Event {
	t.Helper()
	if opts.Normalizer.HMACKey == nil {
		opts.Normalizer.HMACKey = []byte("test-key")
	}
	d, err := NewDecoder(opts)
	if err != nil {
		t.Fatal(err)
	}
	ev := new(Event)
	if err := d.Decode(line, ev); err != nil {
		t.Fatalf("decode %s: %v", line, err)
	}
	c := ev.Clone()
	return &c
}

// TestSecurityForgedIdentity: a client cannot choose its client key by
// sending a token or a Basic header that names someone; only the gateway's
// word (VerifiedField, or TrustClaims) makes a claim the client.
func TestSecurityForgedIdentity(t *testing.T) {
	t.Parallel()
	forged := "Bearer " + rawJWT(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"alice@victim"}`)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice@victim:guess"))
	n, _ := NewNormalizer(NormalizerOptions{HMACKey: []byte("test-key")})
	claimSub, claimUser := n.HashSecret("c_", "sub:alice@victim"), n.HashSecret("c_", "user:alice@victim")
	trust := IdentityOptions{TrustClaims: true}
	field := IdentityOptions{VerifiedField: "x-jwt-verified"}
	for _, tc := range []struct {
		name      string
		identity  IdentityOptions
		line      []byte
		key       string
		kind      ClientKind
		claimedAs string
	}{
		{"forged jwt on a 404", IdentityOptions{}, nginxJSONLine("203.0.113.9", 404, forged, ""), "203.0.113.9", ClientIP, claimSub},
		{"forged jwt on a 200", IdentityOptions{}, nginxJSONLine("203.0.113.9", 200, forged, ""), "203.0.113.9", ClientIP, claimSub},
		{"forged basic user", IdentityOptions{}, nginxJSONLine("203.0.113.9", 200, basic, ""), "203.0.113.9", ClientIP, claimUser},
		{"verified field absent", field, nginxJSONLine("203.0.113.9", 200, forged, ""), "203.0.113.9", ClientIP, claimSub},
		{"verified field says no", field, nginxJSONLine("203.0.113.9", 200, forged, `"http_x_jwt_verified":"false"`), "203.0.113.9", ClientIP, claimSub},
		{"trust overruled by the field", IdentityOptions{VerifiedField: "x-jwt-verified", TrustClaims: true},
			nginxJSONLine("203.0.113.9", 200, forged, `"x_jwt_verified":"0"`), "203.0.113.9", ClientIP, claimSub},
		{"verified field says yes", field, nginxJSONLine("203.0.113.9", 200, forged, `"x_jwt_verified":"1"`), "sub:alice@victim", ClientJWTSub, ""},
		{"verified field as a JSON boolean", field, nginxJSONLine("203.0.113.9", 200, forged, `"x_jwt_verified":true`), "sub:alice@victim", ClientJWTSub, ""},
		{"verified field under headers", field, nginxJSONLine("203.0.113.9", 200, basic, `"headers":{"X-JWT-Verified":"yes"}`), "user:alice@victim", ClientJWTSub, ""},
		{"trust claims", trust, nginxJSONLine("203.0.113.9", 200, forged, ""), "sub:alice@victim", ClientJWTSub, ""},
		{"verified but rejected", field, nginxJSONLine("203.0.113.9", 401, forged, `"x_jwt_verified":"1"`), "203.0.113.9", ClientIP, claimSub},
		{"gateway names the user", IdentityOptions{VerifiedField: "x-authenticated-user"},
			nginxJSONLine("203.0.113.9", 200, forged, `"http_x_authenticated_user":"carol"`), "user:carol", ClientJWTSub, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := decodeLine(t, DecoderOptions{Format: "nginx_json", Normalizer: NormalizerOptions{Identity: tc.identity}}, tc.line)
			if ev.ClientKey != tc.key || ev.ClientKind != tc.kind || ev.ClaimedSubject != tc.claimedAs {
				t.Fatalf("client %q (%v) claimed %q, want %q (%v) claimed %q", ev.ClientKey, ev.ClientKind, ev.ClaimedSubject, tc.key, tc.kind, tc.claimedAs)
			}
			if tc.kind == ClientIP && strings.Contains(ev.ClientKey+ev.ClaimedSubject, "alice") {
				t.Fatal("the claimed subject is kept in clear")
			}
		})
	}
}

// TestSecurityForgedIdentityLogFormat: the verified field read from an
// nginx log_format variable.
func TestSecurityForgedIdentityLogFormat(t *testing.T) {
	t.Parallel()
	const format = `$remote_addr [$time_local] "$request" $status "$http_authorization" "$http_x_jwt_verified"`
	forged := "Bearer " + rawJWT(`{"alg":"RS256"}`, `{"sub":"alice@victim"}`)
	for _, tc := range []struct{ verified, key string }{
		{"-", "203.0.113.9"}, {"false", "203.0.113.9"}, {"true", "sub:alice@victim"},
	} {
		line := `203.0.113.9 [23/Nov/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 "` + forged + `" "` + tc.verified + `"`
		ev := decodeLine(t, DecoderOptions{Format: "nginx", ParserOptions: ParserOptions{LogFormat: format},
			Normalizer: NormalizerOptions{Identity: IdentityOptions{VerifiedField: "X-JWT-Verified"}}}, []byte(line))
		if ev.ClientKey != tc.key {
			t.Errorf("verified %q: client %q, want %q", tc.verified, ev.ClientKey, tc.key)
		}
	}
}

// TestSecurityAlgNoneNeverNamesClient: a token that claims no signature
// names nobody, however much the configuration trusts claims.
func TestSecurityAlgNoneNeverNamesClient(t *testing.T) {
	t.Parallel()
	for _, header := range []string{
		`{"alg":"none"}`, `{"alg":"None","typ":"JWT"}`, `{"alg":"NONE"}`, `{"alg":" nOnE "}`, `{"alg":"non\u0065"}`,
		`{"typ":"JWT"}`, `{"alg":""}`, `{"alg":null}`, `{"alg":0}`, `not json`,
	} {
		tok := "Bearer " + rawJWT(header, `{"sub":"alice@victim"}`)
		for _, id := range []IdentityOptions{{TrustClaims: true}, {VerifiedField: "x_jwt_verified"}} {
			ev := decodeLine(t, DecoderOptions{Format: "nginx_json", Normalizer: NormalizerOptions{Identity: id}},
				nginxJSONLine("198.51.100.4", 404, tok, `"x_jwt_verified":"true"`))
			if ev.ClientKey != "198.51.100.4" || ev.ClientKind != ClientIP {
				t.Errorf("header %s, %+v: client %q (%v)", header, id, ev.ClientKey, ev.ClientKind)
			}
			if strings.Contains(ev.ClientKey+ev.ClaimedSubject, "alice") {
				t.Errorf("header %s: subject kept in clear", header)
			}
		}
	}
	// An unsigned token without a subject is not hashed into a client either.
	ev := decodeLine(t, DecoderOptions{Format: "nginx_json", Normalizer: NormalizerOptions{Identity: IdentityOptions{TrustClaims: true}}},
		nginxJSONLine("198.51.100.4", 200, "Bearer "+rawJWT(`{"alg":"none"}`, `{"iss":"x"}`), ""))
	if ev.ClientKind != ClientIP {
		t.Errorf("unsigned token without sub: client %q (%v)", ev.ClientKey, ev.ClientKind)
	}
}

// TestSecurityIPv6Zone: a zone id on the client address never reaches the
// client key, however long.
func TestSecurityIPv6Zone(t *testing.T) {
	t.Parallel()
	zone := strings.Repeat("z", 5000)
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name, format string
		line         string
		want         string
	}{
		{"combined", "nginx_combined", `fe80::1%eth0 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "x"`, "fe80::1"},
		{"combined long zone", "nginx_combined", `fe80::1%` + zone + ` - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "x"`, "fe80::1"},
		{"json bracketed", "nginx_json", string(nginxJSONLine("[fe80::2%"+zone+"]:443", 200, "", "")), "fe80::2"},
		{"json forwarded", "nginx_json", string(nginxJSONLine("10.0.0.1", 200, "", `"http_x_forwarded_for":"fe80::3%`+zone+`"`)), "fe80::3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := decodeLine(t, DecoderOptions{Format: tc.format, Normalizer: NormalizerOptions{TrustedProxies: proxy}}, []byte(tc.line))
			if ev.ClientKey != tc.want || ev.ClientKind != ClientIP || ev.RemoteIP.Zone() != "" || ev.Truncated {
				t.Fatalf("client %q (%v), ip %v, truncated %v; want %q", ev.ClientKey, ev.ClientKind, ev.RemoteIP, ev.Truncated, tc.want)
			}
		})
	}
}

// TestSecurityTraefikClaimedUser: Traefik logs as ClientUsername the user
// of the request URL (GET http://victim@host/ HTTP/1.1) when no auth
// middleware ran, so it is a claim, not an identity.
func TestSecurityTraefikClaimedUser(t *testing.T) {
	t.Parallel()
	line := []byte(`{"ClientAddr":"192.0.2.30:40001","ClientHost":"192.0.2.30","ClientUsername":"victim","DownstreamStatus":200,` +
		`"Duration":5000000,"RequestHost":"api.example.com","RequestMethod":"GET","RequestPath":"/a","RequestProtocol":"HTTP/1.1",` +
		`"StartUTC":"2026-11-23T10:20:02Z","time":"2026-11-23T10:20:02Z"}`)
	n, _ := NewNormalizer(NormalizerOptions{HMACKey: []byte("test-key")})
	for _, tc := range []struct {
		identity       IdentityOptions
		key, claimedAs string
	}{
		{IdentityOptions{}, "192.0.2.30", n.HashSecret("c_", "user:victim")},
		{IdentityOptions{TrustClaims: true}, "user:victim", ""},
	} {
		ev := decodeLine(t, DecoderOptions{Format: "traefik_json", Normalizer: NormalizerOptions{Identity: tc.identity}}, line)
		if ev.ClientKey != tc.key || ev.ClaimedSubject != tc.claimedAs {
			t.Errorf("%+v: client %q claimed %q, want %q claimed %q", tc.identity, ev.ClientKey, ev.ClaimedSubject, tc.key, tc.claimedAs)
		}
	}
}
