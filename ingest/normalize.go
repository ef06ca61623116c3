package ingest

import (
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

// DefaultSensitiveParams are query parameters whose values are redacted
// unless NormalizerOptions.SensitiveParams replaces the list. Matching
// ignores case, '-' and '_'.
var DefaultSensitiveParams = []string{
	"password", "passwd", "pwd", "pass", "secret", "client_secret",
	"token", "access_token", "refresh_token", "id_token", "auth", "authorization",
	"api_key", "apikey", "key", "signature", "sig", "session", "sessionid", "sid",
	"code", "otp", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
}

// Redacted replaces the value of a sensitive query parameter.
const Redacted = "REDACTED"

// NormalizerOptions configure a Normalizer. The zero value works: no trusted
// proxies, the default sensitive parameters, and a random HMAC key (client
// keys derived from credentials then change from one process to the next,
// which is fine for tests and one-off analysis but not for a deployment).
type NormalizerOptions struct {
	// HMACKey keys the hash of API keys and opaque tokens. Keep it secret
	// and stable: client baselines are keyed by its output.
	HMACKey []byte
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// SensitiveParams overrides DefaultSensitiveParams when not nil.
	SensitiveParams []string
	// Source names the log source on every event, unless a parser set one.
	Source string
}

// A Normalizer derives an Event's client key, remote IP, route template,
// redacted query, API version and auth outcome from what a parser found,
// and clears the parser's raw fields so no secret outlives it.
//
// A Normalizer is not safe for concurrent use; NewNormalizer is cheap
// enough to make one per goroutine from shared options.
type Normalizer struct {
	opts      NormalizerOptions
	key       []byte
	mac       hash.Hash
	sensitive map[string]struct{}
	sum       [sha256.Size]byte
	tmp       [1024]byte
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
	params := opts.SensitiveParams
	if params == nil {
		params = DefaultSensitiveParams
	}
	sensitive := make(map[string]struct{}, len(params))
	for _, p := range params {
		sensitive[foldParam(p)] = struct{}{}
	}
	return &Normalizer{opts: opts, key: key, mac: hmac.New(sha256.New, key), sensitive: sensitive}, nil
}

func foldParam(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '-' || c == '_' {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
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
	if i := strings.IndexByte(ev.Referer, '?'); i >= 0 && n.hasSensitive(ev.Referer[i+1:]) {
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

// parseHostIP parses "1.2.3.4", "1.2.3.4:5678", "[::1]:80" or "::1".
func parseHostIP(s string) (netip.Addr, bool) {
	if s == "" || s == "-" {
		return netip.Addr{}, false
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Unmap(), true
	}
	if s[0] == '[' {
		if i := strings.IndexByte(s, ']'); i > 0 {
			ip, err := netip.ParseAddr(s[1:i])
			return ip, err == nil
		}
		return netip.Addr{}, false
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && strings.IndexByte(s[:i], ':') < 0 {
		ip, err := netip.ParseAddr(s[:i])
		return ip.Unmap(), err == nil
	}
	return netip.Addr{}, false
}

// redactQuery returns q with sensitive values replaced by Redacted. When
// nothing is sensitive it returns q itself, without copying.
func (n *Normalizer) redactQuery(ev *Event, q string) string {
	if !n.hasSensitive(q) {
		return q
	}
	start := len(ev.scratch)
	rest := q
	for first := true; ; first = false {
		var pair string
		if i := strings.IndexByte(rest, '&'); i >= 0 {
			pair, rest = rest[:i], rest[i+1:]
		} else {
			pair, rest = rest, ""
		}
		if !first {
			ev.scratch = append(ev.scratch, '&')
		}
		k, _, hasValue := strings.Cut(pair, "=")
		if hasValue && n.isSensitive(k) {
			ev.scratch = append(ev.scratch, k...)
			ev.scratch = append(ev.scratch, '=')
			ev.scratch = append(ev.scratch, Redacted...)
		} else {
			ev.scratch = append(ev.scratch, pair...)
		}
		if rest == "" {
			break
		}
	}
	return bytesString(ev.scratch[start:])
}

func (n *Normalizer) hasSensitive(q string) bool {
	for q != "" {
		var pair string
		if i := strings.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			pair, q = q, ""
		}
		if k, _, ok := strings.Cut(pair, "="); ok && n.isSensitive(k) {
			return true
		}
	}
	return false
}

func (n *Normalizer) isSensitive(k string) bool {
	var buf [40]byte
	j := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '-' || c == '_' {
			continue
		}
		if c == '%' && i+2 < len(k) { // %5F is '_', %2D is '-'
			if h := k[i+1 : i+3]; h == "5F" || h == "5f" || h == "2D" || h == "2d" {
				i += 2
				continue
			}
		}
		if j == len(buf) {
			return false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[j] = c
		j++
	}
	_, ok := n.sensitive[string(buf[:j])]
	return ok
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
		ev.Raw.JWTSub != "" || ev.Raw.MTLSSubject != "":
		ev.Auth = AuthOK
	default:
		ev.Auth = AuthNone
	}
}

// clientKey picks the strongest identity the gateway vouched for. A
// credential the gateway rejected (401) is an unverified claim, not an
// identity: such requests are keyed by IP, so a credential-stuffing run
// shows up as one client with many failures rather than many clients with
// one each.
func (n *Normalizer) clientKey(ev *Event) {
	r := &ev.Raw
	verified := ev.Auth != AuthFailed
	switch {
	case verified && r.APIKeyID != "":
		ev.ClientKey, ev.ClientKind = n.prefixed(ev, "key:", r.APIKeyID), ClientAPIKey
		return
	case verified && r.APIKey != "":
		ev.ClientKey, ev.ClientKind = n.hmacKey(ev, "k_", r.APIKey), ClientAPIKey
		return
	case verified && r.JWTSub != "":
		ev.ClientKey, ev.ClientKind = n.prefixed(ev, "sub:", r.JWTSub), ClientJWTSub
		return
	case verified && r.MTLSSubject != "":
		ev.ClientKey, ev.ClientKind = n.prefixed(ev, "mtls:", r.MTLSSubject), ClientMTLS
		return
	case verified && r.Authorization != "":
		if sub := n.bearerSubject(r.Authorization); sub != nil {
			ev.ClientKey, ev.ClientKind = n.prefixed(ev, "sub:", bytesString(sub)), ClientJWTSub
			return
		}
		if user := basicUser(r.Authorization, n.tmp[:]); user != nil {
			ev.ClientKey, ev.ClientKind = n.prefixed(ev, "user:", bytesString(user)), ClientJWTSub
			return
		}
		ev.ClientKey, ev.ClientKind = n.hmacKey(ev, "t_", r.Authorization), ClientToken
		return
	}
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
	n.mac.Reset()
	n.mac.Write(stringBytes(secret))
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

// bearerSubject returns the "sub" claim of a JWT bearer token, decoded into
// n.tmp, or nil. The signature is not checked here: the caller only uses the
// claim when the gateway accepted the request, i.e. verified the token.
func (n *Normalizer) bearerSubject(authz string) []byte {
	const bearer = "bearer "
	if len(authz) <= len(bearer) || !strings.EqualFold(authz[:len(bearer)], bearer) {
		return nil
	}
	tok := strings.TrimSpace(authz[len(bearer):])
	first := strings.IndexByte(tok, '.')
	if first < 0 {
		return nil
	}
	rest := tok[first+1:]
	second := strings.IndexByte(rest, '.')
	if second < 0 {
		return nil
	}
	payload := rest[:second]
	if base64.RawURLEncoding.DecodedLen(len(payload)) > len(n.tmp) {
		return nil
	}
	m, err := base64.RawURLEncoding.Decode(n.tmp[:], stringBytes(strings.TrimRight(payload, "=")))
	if err != nil {
		return nil
	}
	sub, typ, _, err := jsonparser.Get(n.tmp[:m], "sub")
	if err != nil || typ != jsonparser.String || len(sub) == 0 {
		return nil
	}
	return sub
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
