package ingest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/netip"
	"strings"

	"github.com/buger/jsonparser"
)

// DefaultSensitiveParams are query parameters whose values are always
// redacted, by exact name (ignoring case, percent-encoding and
// separators). Most credential names are caught by their stems besides
// (redact.go): this list holds those no stem covers ("code", the OAuth
// authorization code) and documents the common ones.
var DefaultSensitiveParams = []string{
	"password", "passwd", "pwd", "pass", "secret", "client_secret",
	"token", "access_token", "refresh_token", "id_token", "auth", "authorization",
	"api_key", "apikey", "key", "signature", "sig", "session", "sessionid", "sid",
	"code", "auth_code", "otp", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
}

// Redacted replaces the value of a sensitive query parameter.
const Redacted = "REDACTED"

// NormalizerOptions configure a Normalizer. The zero value works: no trusted
// proxies, the default sensitive parameters, and a random HMAC key (client
// keys derived from credentials then change from one process to the next,
// which is fine for tests and one-off analysis but not for a deployment).
type NormalizerOptions struct {
	// HMACKey keys the hash of API keys, opaque tokens and unverified
	// identity claims. Keep it secret and stable: client baselines are
	// keyed by its output.
	HMACKey []byte
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// SensitiveParams are query parameters redacted besides
	// DefaultSensitiveParams and what the stems and shapes of redact.go
	// catch (which cannot be turned off).
	SensitiveParams []string
	// Source names the log source on every event, unless a parser set one.
	Source string
	// Identity says which identity claims the gateway verified.
	Identity IdentityOptions
}

// IdentityOptions say when an identity claim found in a request — the
// "sub" of a JWT bearer token, the user of a Basic Authorization header,
// Traefik's ClientUsername (RawFields.ClaimedUser), none of which this
// process can verify — may name the client. By default it
// may not: the request is keyed by IP and the claim kept only as an HMAC
// (Event.ClaimedSubject), because anyone can send a token naming anyone.
//
// Identities the gateway itself resolved are trusted whatever these say,
// unless it rejected the request (401): a consumer or API-key id (Kong,
// API Gateway), a subject it extracted from a token it verified
// ($jwt_claim_sub, authorizer claims), a verified client certificate.
// API keys and opaque tokens are keyed by their keyed HMAC, which no
// client can choose to match another's without knowing its secret.
type IdentityOptions struct {
	// VerifiedField names the log field or request header the gateway
	// sets once it verified the caller's credentials (e.g. x-jwt-verified
	// or x-authenticated-user); parsers of JSON logs and nginx log_format
	// read it (ParserOptions.VerifiedField). Logged as "1", "true", "yes",
	// "ok", "success", "verified" or "valid", it makes the request's claim
	// the client; as "0", "false", "no", "failed", "invalid" or the like it
	// keeps the claim out; any other value is the verified user name
	// itself and names the client ("user:<value>"). The field must be one
	// the gateway writes (or strips from incoming requests), never a
	// header a client can send as is.
	VerifiedField string
	// TrustClaims trusts the claims of every request the gateway did not
	// reject, for gateways that verify every credential they pass on. A
	// VerifiedField logged on a line still decides for that line.
	TrustClaims bool
}

// A Normalizer derives an Event's client key, remote IP, route template,
// redacted query, API version and auth outcome from what a parser found,
// and clears the parser's raw fields so no secret outlives it.
//
// A Normalizer is not safe for concurrent use; NewNormalizer is cheap
// enough to make one per goroutine from shared options.
type Normalizer struct {
	opts   NormalizerOptions
	key    []byte
	mac    hash.Hash
	redact queryRedactor
	sum    [sha256.Size]byte
	tmp    [1024]byte
	hdr    [256]byte // a JWT's decoded header
}

// NewNormalizer returns a Normalizer for opts.
func NewNormalizer(opts NormalizerOptions) (*Normalizer, error) {
	key := opts.HMACKey
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("normalizer: random hmac key: %w", err)
		}
	}
	red := defaultRedactor
	if len(opts.SensitiveParams) > 0 {
		red = newRedactor(append(append([]string(nil), DefaultSensitiveParams...), opts.SensitiveParams...))
	}
	return &Normalizer{opts: opts, key: key, mac: hmac.New(sha256.New, key), redact: queryRedactor{r: red}}, nil
}

// Normalize completes ev in place. It never fails: what cannot be derived
// is left empty (a missing client identity falls back to the remote IP,
// and to "unknown" when there is none). Every field ends within its
// limit (Event.Bound): the route is templated from the cut path.
func (n *Normalizer) Normalize(ev *Event) {
	if ev.Source == "" {
		ev.Source = n.opts.Source
	}
	n.remoteIP(ev)
	if ev.Path == "" && ev.Raw.Target != "" {
		t := ev.Raw.Target
		if i := strings.IndexByte(t, '?'); i >= 0 {
			ev.Path, ev.Raw.RawQuery = t[:i], t[i+1:]
		} else {
			ev.Path = t
		}
	}
	boundInputs(ev)
	if ev.Raw.RawQuery != "" {
		ev.Query = n.redactQuery(ev, ev.Raw.RawQuery)
	}
	if i := strings.IndexByte(ev.Referer, '?'); i >= 0 && n.redact.hasSensitive(ev.Referer[i+1:]) {
		// A referer is another page's URL: its tokens are as secret as ours.
		start := len(ev.scratch)
		ev.scratch = append(ev.scratch, ev.Referer[:i+1]...)
		q := n.redactQuery(ev, ev.Referer[i+1:])
		ev.Referer = bytesString(ev.scratch[start : start+i+1+len(q)])
	}
	ev.Route = RouteTemplate(ev, ev.Path)
	if ev.APIVersion == "" {
		ev.APIVersion = pathVersion(ev.Path)
		if ev.APIVersion == "" {
			ev.APIVersion = ev.Raw.Version
		}
	}
	n.auth(ev)
	n.clientKey(ev)
	ev.Raw = RawFields{}
	ev.Bound()
}

// boundInputs cuts the path, the raw query and the referer to their
// limits before the Normalizer derives anything from them, so a
// megabyte-long path costs no megabyte-long route. Cutting before
// redaction leaks nothing: only a value's tail can go, never its key.
// (Redaction can lengthen a query; Bound cuts it again afterwards.)
func boundInputs(ev *Event) {
	for _, f := range [...]struct {
		s     *string
		limit int
	}{{&ev.Path, MaxPathBytes}, {&ev.Raw.RawQuery, MaxQueryBytes}, {&ev.Referer, MaxRefererBytes}} {
		if len(*f.s) > f.limit {
			*f.s, ev.Truncated = truncateUTF8(*f.s, f.limit), true
		}
	}
}

// remoteIP sets ev.RemoteIP from the peer address, walking X-Forwarded-For
// right to left past trusted proxies only: a client can prepend anything to
// the header, so only hops added by our own proxies are believed.
func (n *Normalizer) remoteIP(ev *Event) {
	if ev.RemoteIP.IsValid() {
		ev.RemoteIP = ev.RemoteIP.WithZone("") // see parseHostIP
		return
	}
	peer, ok := parseHostIP(ev.Raw.RemoteAddr)
	if !ok {
		// Some logs have only the forwarded chain.
		if ev.Raw.XForwardedFor != "" && ev.Raw.RemoteAddr == "" {
			xff := ev.Raw.XForwardedFor
			if i := strings.IndexByte(xff, ','); i >= 0 {
				xff = xff[:i]
			}
			if ip, ok := parseHostIP(strings.TrimSpace(xff)); ok {
				ev.RemoteIP = ip
			}
		}
		return
	}
	ev.RemoteIP = peer
	if len(n.opts.TrustedProxies) == 0 || ev.Raw.XForwardedFor == "" || !n.trusted(peer) {
		return
	}
	xff := ev.Raw.XForwardedFor
	for xff != "" {
		var hop string
		if i := strings.LastIndexByte(xff, ','); i >= 0 {
			hop, xff = xff[i+1:], xff[:i]
		} else {
			hop, xff = xff, ""
		}
		ip, ok := parseHostIP(strings.TrimSpace(hop))
		if !ok {
			return // a garbled hop: stop at the last address we believe
		}
		ev.RemoteIP = ip
		if !n.trusted(ip) {
			return
		}
	}
}

func (n *Normalizer) trusted(ip netip.Addr) bool {
	for _, p := range n.opts.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseHostIP parses "1.2.3.4", "1.2.3.4:5678", "[::1]:80" or "::1". An
// IPv6 zone ("fe80::1%eth0") is dropped: it names an interface of the
// host that logged the address, not the client, and is as long as the
// sender likes.
func parseHostIP(s string) (netip.Addr, bool) {
	if s == "" || s == "-" {
		return netip.Addr{}, false
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.WithZone("").Unmap(), true
	}
	if s[0] == '[' {
		if i := strings.IndexByte(s, ']'); i > 0 {
			ip, err := netip.ParseAddr(s[1:i])
			return ip.WithZone(""), err == nil
		}
		return netip.Addr{}, false
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && strings.IndexByte(s[:i], ':') < 0 {
		ip, err := netip.ParseAddr(s[:i])
		return ip.WithZone("").Unmap(), err == nil
	}
	return netip.Addr{}, false
}

// redactQuery returns q with sensitive values replaced by Redacted (see
// redact.go). When nothing is sensitive it returns q itself, without
// copying.
func (n *Normalizer) redactQuery(ev *Event, q string) string {
	if !n.redact.hasSensitive(q) {
		return q
	}
	start := len(ev.scratch)
	ev.scratch = n.redact.appendRedactedQuery(ev.scratch, q)
	return bytesString(ev.scratch[start:])
}

// pathVersion finds an API version segment such as v1, v2 or v1.2 among the
// first three path segments.
func pathVersion(p string) string {
	for seg := 0; seg < 3 && p != ""; seg++ {
		p = strings.TrimLeft(p, "/")
		end := strings.IndexByte(p, '/')
		if end < 0 {
			end = len(p)
		}
		s := p[:end]
		if isVersionSegment(s) {
			return s
		}
		p = p[end:]
	}
	return ""
}

func isVersionSegment(s string) bool {
	if len(s) < 2 || len(s) > 8 || (s[0] != 'v' && s[0] != 'V') || s[1] < '0' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

func (n *Normalizer) auth(ev *Event) {
	switch {
	case ev.Raw.AuthOutcome != AuthUnknown:
		ev.Auth = ev.Raw.AuthOutcome
	case ev.Status == 401 || ev.Status == 407:
		ev.Auth = AuthFailed
	case ev.Status == 403:
		ev.Auth = AuthForbidden
	case ev.Raw.APIKey != "" || ev.Raw.APIKeyID != "" || ev.Raw.Authorization != "" ||
		ev.Raw.JWTSub != "" || ev.Raw.MTLSSubject != "" || ev.Raw.ClaimedUser != "":
		ev.Auth = AuthOK
	default:
		ev.Auth = AuthNone
	}
}

// clientKey picks the strongest identity the gateway vouched for. A
// credential the gateway rejected (401) is an unverified claim, not an
// identity: such requests are keyed by IP, so a credential-stuffing run
// shows up as one client with many failures rather than many clients with
// one each. A claim only the client makes (a JWT's "sub", a Basic user) is
// no identity either unless IdentityOptions say the gateway verified it.
func (n *Normalizer) clientKey(ev *Event) {
	if ev.Auth == AuthFailed {
		n.authorizationKey(ev, false) // only to keep the claim, hashed
	} else if n.credentialKey(ev) {
		return
	}
	r := &ev.Raw
	if ev.RemoteIP.IsValid() {
		start := len(ev.scratch)
		ev.scratch = ev.RemoteIP.AppendTo(ev.scratch)
		ev.ClientKey, ev.ClientKind = bytesString(ev.scratch[start:]), ClientIP
		return
	}
	if isHostName(r.RemoteAddr) {
		start := len(ev.scratch)
		for i := 0; i < len(r.RemoteAddr); i++ {
			c := r.RemoteAddr[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			ev.scratch = append(ev.scratch, c)
		}
		ev.ClientKey, ev.ClientKind = bytesString(ev.scratch[start:]), ClientHost
		return
	}
	ev.ClientKey, ev.ClientKind = "unknown", ClientUnknown
}

// credentialKey sets the client key from the request's credentials and
// reports whether it did: identities the gateway resolved first, then
// what the Authorization header proves.
func (n *Normalizer) credentialKey(ev *Event) bool {
	r := &ev.Raw
	switch said, user := verifiedValue(r.IdentityVerified); {
	case r.APIKeyID != "":
		ev.ClientKey, ev.ClientKind = n.prefixed(ev, "key:", r.APIKeyID), ClientAPIKey
	case r.APIKey != "":
		ev.ClientKey, ev.ClientKind = n.hmacKey(ev, "k_", r.APIKey), ClientAPIKey
	case r.JWTSub != "":
		ev.ClientKey, ev.ClientKind = n.prefixed(ev, "sub:", r.JWTSub), ClientJWTSub
	case said == verifiedYes && user != "":
		ev.ClientKey, ev.ClientKind = n.prefixed(ev, "user:", user), ClientJWTSub
	case r.MTLSSubject != "":
		ev.ClientKey, ev.ClientKind = n.prefixed(ev, "mtls:", r.MTLSSubject), ClientMTLS
	case r.Authorization != "" || r.ClaimedUser != "":
		trusted := said == verifiedYes || said == verifiedUnsaid && n.opts.Identity.TrustClaims
		return n.authorizationKey(ev, trusted)
	default:
		return false
	}
	return true
}

// authorizationKey keys ev by its Authorization header (or a user name
// the log claims) and reports whether it did. A JWT's subject or a user
// (Basic, or ClaimedUser) names the client only when trusted, and never
// for a token whose "alg" is none or missing: anyone can mint one. An
// untrusted claim is kept as an HMAC in Event.ClaimedSubject. An opaque
// token is keyed by its HMAC; anything else falls back to the address.
func (n *Normalizer) authorizationKey(ev *Event, trusted bool) bool {
	authz := ev.Raw.Authorization
	prefix, claim, isJWT, signed := n.claim(ev)
	switch {
	case claim != nil && trusted && signed:
		ev.ClientKey, ev.ClientKind = n.prefixed(ev, prefix, bytesString(claim)), ClientJWTSub
		return true
	case claim != nil:
		ev.ClaimedSubject = n.hmacParts(ev, "c_", prefix, bytesString(claim))
	}
	// A JWT is a carrier of claims, and one we cannot trust names nobody:
	// not even by its hash, which changes with every refresh and which
	// anyone can vary at will with an unsigned token. Nor does a Basic
	// header, whose hash would be one of its password.
	if authz == "" || isJWT || ev.Auth == AuthFailed || basicUser(authz, n.tmp[:]) != nil {
		return false
	}
	ev.ClientKey, ev.ClientKind = n.hmacKey(ev, "t_", authz), ClientToken
	return true
}

// claim returns the identity a request claims, with the prefix of its
// kind: the "sub" of a JWT bearer token, else the user of a Basic header,
// else the log's ClaimedUser. It also reports whether the Authorization
// header is a JWT and whether the claim is signed (always, but for a JWT
// whose alg is none or missing). The claim aliases n.tmp or the event.
func (n *Normalizer) claim(ev *Event) (prefix string, claim []byte, isJWT, signed bool) {
	if claim, isJWT, signed = n.bearerSubject(ev.Raw.Authorization); isJWT {
		return "sub:", claim, true, signed
	}
	if claim = basicUser(ev.Raw.Authorization, n.tmp[:]); claim == nil && ev.Raw.ClaimedUser != "" {
		claim = stringBytes(ev.Raw.ClaimedUser)
	}
	return "user:", claim, false, true
}

// A verdict is what a line's VerifiedField says.
type verdict uint8

const (
	verifiedUnsaid verdict = iota // the field is not configured or not logged
	verifiedYes
	verifiedNo
)

// verifiedValue reads a VerifiedField value: a yes, a no, or a user name
// (which is a yes).
func verifiedValue(v string) (verdict, string) {
	v = strings.TrimSpace(v)
	if v == "" || v == "-" {
		return verifiedUnsaid, ""
	}
	for _, w := range [...]string{"1", "true", "yes", "y", "on", "ok", "success", "succeeded", "verified", "valid", "authenticated"} {
		if strings.EqualFold(v, w) {
			return verifiedYes, ""
		}
	}
	for _, w := range [...]string{"0", "false", "no", "n", "off", "none", "null", "fail", "failed", "failure",
		"invalid", "unverified", "denied", "anonymous", "unauthenticated"} {
		if strings.EqualFold(v, w) {
			return verifiedNo, ""
		}
	}
	return verifiedYes, v
}

// isHostName reports whether s, logged where an address belongs, is a
// resolved host name ("pcp740115pcs.reston01.va.comcast.net"): letters,
// digits, hyphens and at least one inner dot, at most 253 bytes. Anything
// else ("-", "unknown", garbage) leaves the client unknown.
func isHostName(s string) bool {
	if len(s) < 3 || len(s) > 253 || s[0] == '.' || s[0] == '-' || s[len(s)-1] == '.' {
		return false
	}
	dot, letter := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			dot = true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letter = true
		case '0' <= c && c <= '9', c == '-':
		default:
			return false
		}
	}
	return dot && letter
}

func (n *Normalizer) prefixed(ev *Event, prefix, s string) string {
	start := len(ev.scratch)
	ev.scratch = append(ev.scratch, prefix...)
	ev.scratch = append(ev.scratch, s...)
	return bytesString(ev.scratch[start:])
}

// hmacKey returns prefix + the first 64 bits of HMAC-SHA256(key, secret) in
// hex: enough to tell clients apart, useless for recovering the secret.
func (n *Normalizer) hmacKey(ev *Event, prefix, secret string) string {
	return n.hmacParts(ev, prefix, secret, "")
}

// hmacParts is hmacKey of the concatenation a+b, without building it.
func (n *Normalizer) hmacParts(ev *Event, prefix, a, b string) string {
	n.mac.Reset()
	n.mac.Write(stringBytes(a))
	n.mac.Write(stringBytes(b))
	sum := n.mac.Sum(n.sum[:0])
	start := len(ev.scratch)
	ev.scratch = append(ev.scratch, prefix...)
	ev.scratch = hex.AppendEncode(ev.scratch, sum[:8])
	return bytesString(ev.scratch[start:])
}

// Key returns the HMAC key in use (generated when none was configured),
// so a caller can persist it and keep client keys stable.
func (n *Normalizer) Key() []byte { return append([]byte(nil), n.key...) }

// HashSecret returns the keyed hash this Normalizer uses for secrets, for
// callers that must compare a configured token with logged ones.
func (n *Normalizer) HashSecret(prefix, secret string) string {
	var ev Event
	return n.hmacKey(&ev, prefix, secret)
}

// bearerSubject looks at a Bearer Authorization header. It reports
// whether the token is a JWT, its "sub" claim decoded into n.tmp (nil when
// it has none), and whether the token claims a signature at all: an
// "alg" that is missing, not a string, or "none" in any case means anyone
// could have minted it. The signature itself is not checked here: the
// caller trusts the claim only when the gateway verified it.
func (n *Normalizer) bearerSubject(authz string) (sub []byte, isJWT, signed bool) {
	const bearer = "bearer "
	if len(authz) <= len(bearer) || !strings.EqualFold(authz[:len(bearer)], bearer) {
		return nil, false, false
	}
	tok := strings.TrimSpace(authz[len(bearer):])
	header, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return nil, false, false
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, false, false
	}
	signed = n.jwtSigned(header)
	claims, ok := decodeB64URL(n.tmp[:], payload)
	if !ok {
		return nil, true, signed
	}
	v, typ, _, err := jsonparser.Get(claims, "sub")
	if err != nil || typ != jsonparser.String || len(v) == 0 {
		return nil, true, signed
	}
	return v, true, signed
}

// jwtSigned reports whether a JWT header segment names a signing
// algorithm other than "none".
func (n *Normalizer) jwtSigned(header string) bool {
	h, ok := decodeB64URL(n.hdr[:], header)
	if !ok {
		return false
	}
	alg, typ, _, err := jsonparser.Get(h, "alg")
	if err != nil || typ != jsonparser.String || bytes.IndexByte(alg, '\\') >= 0 {
		return false // an escaped alg ("non\u0065") is judged unsigned rather than decoded
	}
	a := strings.TrimSpace(bytesString(alg))
	return a != "" && !strings.EqualFold(a, "none")
}

// decodeB64URL decodes a base64url segment (padded or not) into buf.
func decodeB64URL(buf []byte, seg string) ([]byte, bool) {
	seg = strings.TrimRight(seg, "=")
	if base64.RawURLEncoding.DecodedLen(len(seg)) > len(buf) {
		return nil, false
	}
	m, err := base64.RawURLEncoding.Decode(buf, stringBytes(seg))
	if err != nil {
		return nil, false
	}
	return buf[:m], true
}

// basicUser returns the user name of an HTTP Basic Authorization header,
// decoded into buf, or nil. The password is never looked at beyond the ':'.
func basicUser(authz string, buf []byte) []byte {
	const basic = "basic "
	if len(authz) <= len(basic) || !strings.EqualFold(authz[:len(basic)], basic) {
		return nil
	}
	enc := strings.TrimSpace(authz[len(basic):])
	if base64.StdEncoding.DecodedLen(len(enc)) > len(buf) {
		return nil
	}
	m, err := base64.StdEncoding.Decode(buf, stringBytes(enc))
	if err != nil {
		return nil
	}
	dec := buf[:m]
	for i, c := range dec {
		if c == ':' {
			if i == 0 {
				return nil
			}
			return dec[:i]
		}
	}
	return nil
}
