package ingest

import (
	"encoding/base64"
	"net/netip"
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
		{name: "jwt sub", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", Authorization: "Bearer " + jwt(`{"sub":"alice","exp":1}`)}},
			key: "sub:alice", kind: ClientJWTSub, ip: "203.0.113.7", auth: AuthOK},
		{name: "opaque bearer hashed", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", Authorization: "Bearer opaque-token"}},
			key: tokenHash, kind: ClientToken, ip: "203.0.113.7", auth: AuthOK},
		{name: "basic user", in: Event{Status: 200, Raw: RawFields{RemoteAddr: "203.0.113.7", Authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:hunter2"))}},
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
