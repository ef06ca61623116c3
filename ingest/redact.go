package ingest

import (
	"math/bits"
	"strings"
)

// Redaction by name and by shape.
//
// A query parameter's value is replaced by Redacted when its name names a
// credential or when the value looks like one, wherever it is in the
// query; the same rules, applied to a whole line, redact dead letters.
//
// Names are matched after percent-decoding and ignoring case, so
// "%61pi_key", "API-KEY" and "apiKey" are one name. A name is sensitive
// when
//
//   - it is one of the configured names (DefaultSensitiveParams, or
//     NormalizerOptions.SensitiveParams), ignoring every byte but letters
//     and digits ('-', '_', '.', '[', ...);
//   - it contains a stem that is a credential wherever it appears
//     (token, secret, passw, pwd, signature, credential, apikey, jwt,
//     session, sessid, bearer, authorization, verifier, passphrase, saml,
//     privatekey, accesskey): "sessionToken", "X-Amz-Security-Token",
//     "client_secret", "X-Goog-Signature";
//   - one of its words (split at separators and camelCase) is a short stem
//     that is a credential only as a word (key, sig, auth, pass, pw, otp,
//     sid, ticket): "api_key", "privateKey", "sig", "x-auth", "connect.sid";
//     so "keyword", "monkey", "author", "passenger" and "signup" are not.
//     A word "key" also catches "sort_key" and "primary_key": redacting a
//     harmless value costs less than keeping a secret.
//
// Values are sensitive by shape, whatever their name:
//
//   - a JWT (or JWE): "eyJ", base64url, a dot, base64url...;
//   - a long random token: 24 to 64 bytes of the base64 or the base64url
//     alphabet, not both (the escapes %2B, %2F and %3D allowed, no other;
//     a bare '+' is a space in a query), with at least 3 digits and
//     letters, at least 10 distinct bytes, and both cases or at least 32
//     bytes; or 40 to 64 hex digits (API keys, session ids, personal
//     access tokens are 20 to 64 bytes). Digits alone
//     (order numbers), letters alone (words, slugs), UUIDs (8-4-4-4-12)
//     and 32-hex ids are kept: they are how ordinary ids look, and a key
//     named by its parameter is caught by name anyway. So is anything
//     with a space, a quote or another escape (search text, an injection
//     attempt: detection needs to see those), and anything longer (a data
//     blob, whose length the API contract judges; credentials that long —
//     SAML responses, GCS signatures — come under a credential name).
//
// Only query strings (and a referer's) are redacted by shape in events: a
// path is the route's raw material and ids in it are templated, not
// redacted.

// nameStems are credential stems wherever they appear in a folded name,
// by first byte, so a name is scanned once.
var nameStems = [26][]string{
	'a' - 'a': {"apikey", "authorization", "accesskey"},
	'b' - 'a': {"bearer"},
	'c' - 'a': {"credential"},
	'j' - 'a': {"jwt"},
	'p' - 'a': {"passw", "pwd", "passphrase", "privatekey"},
	's' - 'a': {"secret", "signature", "session", "sessid", "saml"},
	't' - 'a': {"token"},
	'v' - 'a': {"verifier"},
}

// wordStems are credential stems only as a whole word of a name.
var wordStems = [...]string{"key", "sig", "auth", "pass", "pw", "otp", "sid", "ticket"}

// maxNameBytes is how much of a decoded parameter name is looked at; real
// credential names are far shorter.
const maxNameBytes = 64

// redactor decides what is a credential. The zero value knows only the
// stems and shapes; newRedactor adds exact names.
type redactor struct {
	// exact are the folded names (lower case, alphanumerics only) the
	// stems do not already catch, by length: a name is compared with the
	// few of its length, which costs less than hashing it.
	exact [maxNameBytes + 1][]string
}

// defaultRedactor is the redactor of DefaultSensitiveParams, for dead
// letters and callers without options.
var defaultRedactor = newRedactor(DefaultSensitiveParams)

func newRedactor(names []string) *redactor {
	r := &redactor{}
	for _, p := range names {
		var buf [maxNameBytes]byte
		folded, _ := foldName(p, &buf)
		// A stem matches whatever the spelling; a word stem does not
		// ("auth_code" is two words, "authcode" one), so only the first
		// makes an exact name redundant.
		if folded == "" || hasNameStem(folded) || r.isExact(folded) {
			continue
		}
		r.exact[len(folded)] = append(r.exact[len(folded)], strings.Clone(folded))
	}
	return r
}

// isExact reports whether a folded name is one of the exact names.
func (r *redactor) isExact(folded string) bool {
	for _, e := range r.exact[len(folded)] {
		if e == folded {
			return true
		}
	}
	return false
}

// foldName percent-decodes name (up to maxNameBytes) into buf, keeping
// letters and digits lower-cased. It returns the folded name viewed as a
// string (valid while buf is) and where each word starts, as a bit per
// folded byte: a separator, a lower-to-upper change of case ("apiKey")
// and the last capital of an acronym followed by a lower-case letter
// ("APIKey": API|Key) start a word.
func foldName(name string, buf *[maxNameBytes]byte) (string, uint64) {
	j, starts := 0, uint64(0)
	newWord := true
	var prev, prevPrev byte // previous decoded letters, with their case
	for i := 0; i < len(name) && j < maxNameBytes; i++ {
		c := name[i]
		if c == '%' && i+2 < len(name) && isHex(name[i+1]) && isHex(name[i+2]) {
			c = unhex(name[i+1])<<4 | unhex(name[i+2])
			i += 2
		}
		lower := c
		switch {
		case 'A' <= c && c <= 'Z':
			lower = c + 'a' - 'A'
			if isLowerAlnum(prev) {
				newWord = true // camelCase: "apiKey"
			}
		case 'a' <= c && c <= 'z':
			if isUpper(prev) && isUpper(prevPrev) {
				starts |= 1 << (j - 1) // acronym then word: "APIKey" -> API|Key
			}
		case '0' <= c && c <= '9':
		default:
			newWord, prev, prevPrev = true, 0, 0
			continue
		}
		if newWord {
			starts |= 1 << j
			newWord = false
		}
		buf[j] = lower
		j++
		prevPrev, prev = prev, c
	}
	return bytesString(buf[:j]), starts
}

// isUpper reports whether c is an ASCII capital.
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

// isLowerAlnum reports whether c is an ASCII lower-case letter or a digit.
func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// sensitiveName reports whether a parameter name, as logged, names a
// credential.
func (r *redactor) sensitiveName(name string) bool {
	if name == "" {
		return false
	}
	var buf [maxNameBytes]byte
	folded, starts := foldName(name, &buf)
	if folded == "" {
		return false
	}
	return r.isExact(folded) || hasNameStem(folded) || hasWordStem(folded, starts)
}

// stemBigrams marks the first two letters of every nameStems entry, so
// most positions of a name are dismissed with one lookup.
var stemBigrams = func() (t [26 * 26]bool) {
	for _, stems := range nameStems {
		for _, s := range stems {
			t[int(s[0]-'a')*26+int(s[1]-'a')] = true
		}
	}
	return t
}()

// hasNameStem reports whether a folded name contains one of nameStems.
func hasNameStem(folded string) bool {
	for i := 0; i+1 < len(folded); i++ {
		c, d := folded[i], folded[i+1]
		if c < 'a' || c > 'z' || d < 'a' || d > 'z' || !stemBigrams[int(c-'a')*26+int(d-'a')] {
			continue
		}
		for _, s := range nameStems[c-'a'] {
			if strings.HasPrefix(folded[i:], s) {
				return true
			}
		}
	}
	return false
}

// hasWordStem reports whether one of the words of a folded name (starts
// has a bit set at each word's first byte) is one of wordStems.
func hasWordStem(folded string, starts uint64) bool {
	starts &= 1<<len(folded) - 1
	for starts != 0 {
		i := bits.TrailingZeros64(starts)
		starts &= starts - 1
		end := len(folded)
		if starts != 0 {
			end = bits.TrailingZeros64(starts)
		}
		if isWordStem(folded[i:end]) {
			return true
		}
	}
	return false
}

// isWordStem reports whether w is one of wordStems (TestWordStems keeps
// the two in step).
func isWordStem(w string) bool {
	switch len(w) {
	case 2:
		return w == "pw"
	case 3:
		return w == "key" || w == "sig" || w == "otp" || w == "sid"
	case 4:
		return w == "auth" || w == "pass"
	case 6:
		return w == "ticket"
	}
	return false
}

// sensitiveValue reports whether a value looks like a credential whatever
// its name: a JWT or a long random token.
func sensitiveValue(v string) bool {
	if len(v) < 16 {
		return false // every shape below is longer: the common case costs one compare
	}
	return isJWTShaped(v) || isRandomToken(v)
}

// isJWTShaped reports whether v holds a JWT or JWE: "eyJ" (base64url of
// `{"`), then base64url, a dot and more base64url.
func isJWTShaped(v string) bool {
	for off := 0; ; {
		i := strings.Index(v[off:], "eyJ")
		if i < 0 {
			return false
		}
		i += off
		end, run := jwtEnd(v, i)
		if end > 0 {
			return true
		}
		// Every "eyJ" inside the same base64url run meets the same dot:
		// skip the run, so "eyJeyJeyJ..." costs one pass.
		off = max(i+3, run)
	}
}

// jwtEnd returns the end of the JWT that starts at v[i], or 0 when there
// is none: a first segment of at least 10 base64url bytes, a dot, then a
// second segment of at least 2 (a third, possibly empty, may follow). It
// also returns the end of the first segment.
func jwtEnd(v string, i int) (end, run int) {
	j := i
	for j < len(v) && isB64URL(v[j]) {
		j++
	}
	if j-i < 10 || j >= len(v) || v[j] != '.' {
		return 0, j
	}
	k := j + 1
	for k < len(v) && (isB64URL(v[k]) || v[k] == '.') {
		k++
	}
	if k-j-1 < 2 {
		return 0, j
	}
	return k, j
}

func isB64URL(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// isRandomToken reports whether v is a long random-looking token (see the
// rules at the top of this file).
func isRandomToken(v string) bool {
	if len(v) < 24 || len(v) > maxTokenShape || len(v) == 36 && isUUID(v) {
		return false
	}
	var seen [4]uint64 // distinct bytes
	var upper, lower, hexOnly, std, url = false, false, true, false, false
	n, digits := 0, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'A' <= c && c <= 'Z':
			upper = true
			hexOnly = hexOnly && c <= 'F'
		case 'a' <= c && c <= 'z':
			lower = true
			hexOnly = hexOnly && c <= 'f'
		case '0' <= c && c <= '9':
			digits++
		case c == '-' || c == '_':
			hexOnly, url = false, true
		case c == '/':
			hexOnly, std = false, true
		case c == '=' || c == '.' || c == '~':
			hexOnly = false
		case c == '%' && i+2 < len(v) && isBase64Escape(v[i+1], v[i+2]):
			i += 2
			hexOnly, std = false, std || v[i] != 'd' && v[i] != 'D'
			if url && std {
				return false // "/orders/c8aaf2be-42c8-...": a path, not a token
			}
		default:
			return false
		}
		seen[c>>6] |= 1 << (c & 63)
		n++
	}
	distinct := 0
	for _, w := range seen {
		for ; w != 0; w &= w - 1 {
			distinct++
		}
	}
	if url && std {
		return false // "/orders/c8aaf2be-42c8-...": a path, not a token
	}
	letters := upper || lower
	if hexOnly && digits > 0 && letters {
		return n >= 40
	}
	return letters && digits >= 3 && distinct >= 10 && (upper && lower || n >= 32)
}

// maxTokenShape is the longest value redacted for its shape alone.
const maxTokenShape = 64

// isBase64Escape reports whether %hi lo escapes a base64 byte: + / =.
func isBase64Escape(hi, lo byte) bool {
	lo |= 0x20 // lower case
	return hi == '2' && (lo == 'b' || lo == 'f') || hi == '3' && lo == 'd'
}

// queryRedactor redacts query strings for one Normalizer, remembering
// the verdicts on the parameter names it met last: a log repeats a few
// names over and over, and a remembered name costs a compare instead of
// a fold and a stem search. It is not safe for concurrent use.
type queryRedactor struct {
	r     *redactor
	names [64]nameVerdict
}

// nameVerdict is a remembered parameter name and whether it is sensitive.
type nameVerdict struct {
	n         uint8 // length of name; 0: empty slot
	sensitive bool
	name      [maxCachedName]byte
}

// maxCachedName is the longest parameter name remembered.
const maxCachedName = 30

// sensitiveName is redactor.sensitiveName through the cache of verdicts.
func (q *queryRedactor) sensitiveName(k string) bool {
	if k == "" || len(k) > maxCachedName {
		return q.r.sensitiveName(k)
	}
	slot := &q.names[(uint(len(k))*131+uint(k[0])*31+uint(k[len(k)-1]))&63]
	if int(slot.n) == len(k) && string(slot.name[:len(k)]) == k {
		return slot.sensitive
	}
	hit := q.r.sensitiveName(k)
	slot.n, slot.sensitive = uint8(copy(slot.name[:], k)), hit
	return hit
}

// sensitivePair reports whether one query pair ("name=value", or a bare
// "value") must be redacted, where its value starts, and whether for its
// value's shape alone.
func (q *queryRedactor) sensitivePair(pair string) (hit bool, at int, byShape bool) {
	k, v, hasValue := strings.Cut(pair, "=")
	if !hasValue {
		return sensitiveValue(pair), 0, false
	}
	if v == "" {
		return false, 0, false
	}
	if q.sensitiveName(k) {
		return true, len(k) + 1, false
	}
	return sensitiveValue(v), len(k) + 1, true
}

// hasSensitive reports whether any pair of query s must be redacted.
func (q *queryRedactor) hasSensitive(s string) bool {
	for s != "" {
		var pair string
		if i := strings.IndexByte(s, '&'); i >= 0 {
			pair, s = s[:i], s[i+1:]
		} else {
			pair, s = s, ""
		}
		if hit, _, _ := q.sensitivePair(pair); hit {
			return true
		}
	}
	return false
}

// appendRedactedQuery appends s to dst with every sensitive value (or
// bare sensitive pair) replaced by Redacted. A value redacted for its
// shape alone keeps its length, Redacted padded with 'x' (a token is 24 to
// 64 bytes): the parameter's name may not be a credential's, and the API
// contract still judges the value's length.
func (q *queryRedactor) appendRedactedQuery(dst []byte, s string) []byte {
	for {
		pair, rest, more := strings.Cut(s, "&")
		if hit, at, byShape := q.sensitivePair(pair); hit {
			dst = append(dst, pair[:at]...)
			dst = append(dst, Redacted...)
			for n := len(Redacted); byShape && n < len(pair)-at; n++ {
				dst = append(dst, 'x')
			}
		} else {
			dst = append(dst, pair...)
		}
		if !more {
			return dst
		}
		dst = append(dst, '&')
		s = rest
	}
}

// RedactLine appends line to dst with the credentials it can recognise
// replaced by Redacted: values of sensitive names in name=value,
// name: value and JSON "name":"value" form (query strings, headers, JSON
// logs), values shaped like a JWT or a random token after '=', JWTs
// anywhere, and the credential after an HTTP auth scheme (Bearer, Basic,
// Digest, Negotiate). It is for lines nothing could parse (dead letters),
// so it assumes no format.
func RedactLine(dst, line []byte) []byte { return defaultRedactor.appendRedactedLine(dst, line) }

func (r *redactor) appendRedactedLine(dst, line []byte) []byte {
	s := bytesString(line)
	l := lineScan{s: s}
	for i := 0; i < len(s); {
		if !isNameByte(s[i]) || (i > 0 && isNameByte(s[i-1])) {
			dst = append(dst, s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		dst, i = r.redactWord(dst, &l, i, j)
	}
	return dst
}

// lineScan is the state of one RedactLine.
type lineScan struct {
	s string
	// runStart and runEnd delimit the last unquoted value looked at.
	// Words inside it end their own unquoted values at the same byte, so
	// it is not scanned again for each: a line of a=b=c=... costs one
	// pass, not one per word.
	runStart, runEnd int
}

// valueEnd is valueEnd(l.s, vs, quote), remembering unquoted runs.
func (l *lineScan) valueEnd(vs int, quote byte) int {
	if quote != 0 {
		return valueEnd(l.s, vs, quote)
	}
	if vs >= l.runStart && vs < l.runEnd {
		return l.runEnd
	}
	l.runStart, l.runEnd = vs, valueEnd(l.s, vs, 0)
	return l.runEnd
}

// isNameByte reports whether c may be part of a parameter name or a token
// in a line: letters, digits, and - _ . % [ ].
func isNameByte(c byte) bool {
	return isB64URL(c) || c == '.' || c == '%' || c == '[' || c == ']'
}

// redactWord handles the word s[i:j] of a line: it appends the word (or
// Redacted) and whatever credential follows it, and returns where the
// scan goes on.
func (r *redactor) redactWord(dst []byte, l *lineScan, i, j int) ([]byte, int) {
	s := l.s
	word := s[i:j]
	if strings.HasPrefix(word, "eyJ") {
		if end, _ := jwtEnd(word, 0); end > 0 {
			return append(dst, Redacted...), j
		}
	}
	dst = append(dst, word...)
	if isAuthScheme(word) {
		if end := schemeCredentialEnd(s, j); end > 0 {
			dst = append(dst, s[j:credentialStart(s, j)]...)
			return append(dst, Redacted...), chainedCredentialEnd(s, end)
		}
	}
	vs, quote, sep := valueStart(s, j)
	if vs < 0 {
		return dst, j
	}
	inRun := quote == 0 && vs >= l.runStart && vs < l.runEnd
	ve := l.valueEnd(vs, quote)
	v := s[vs:ve]
	// A value inside a run already judged by its shape is not judged
	// again: that would cost a pass per word of a=b=c=... (a JWT anywhere
	// in the run was caught with it).
	if v == "" || !(r.sensitiveName(word) || sep == '=' && !inRun && sensitiveValue(v)) {
		return dst, j
	}
	if quote == 0 && isAuthScheme(v) { // Authorization: Bearer <token>
		if end := schemeCredentialEnd(s, ve); end > 0 {
			ve = chainedCredentialEnd(s, end)
		}
	}
	dst = append(dst, s[j:vs]...)
	return append(dst, Redacted...), ve
}

// valueStart finds the value after a name ending at s[j]: an optional
// closing quote of the name, '=' or ':', spaces, an optional opening
// quote. It returns the value's start (-1 when no separator follows), its
// quote (0 when unquoted) and the separator.
func valueStart(s string, j int) (int, byte, byte) {
	k := j
	if k < len(s) && (s[k] == '"' || s[k] == '\'') {
		k++
	} else if k+1 < len(s) && s[k] == '\\' && s[k+1] == '"' { // a key in JSON inside a JSON string
		k += 2
	}
	if k >= len(s) || (s[k] != '=' && s[k] != ':') {
		return -1, 0, 0
	}
	sep := s[k]
	k++
	for k < len(s) && s[k] == ' ' && sep == ':' {
		k++
	}
	if k < len(s) && (s[k] == '"' || s[k] == '\'') {
		return k + 1, s[k], sep
	}
	if k < len(s) && s[k] == '\\' && k+1 < len(s) && s[k+1] == '"' { // JSON inside a JSON string
		return k + 2, '\\', sep
	}
	return k, 0, sep
}

// valueEnd returns the end of the value starting at s[i]: its closing
// quote, or for an unquoted value the first byte that ends a value in a
// query, a header or a JSON object.
func valueEnd(s string, i int, quote byte) int {
	for j := i; j < len(s); j++ {
		c := s[j]
		switch {
		case quote == '\\':
			if c == '\\' {
				return j
			}
		case quote != 0:
			if c == quote {
				return j
			}
			if c == '\\' {
				j++
			}
		case c == '&' || c == ' ' || c == '\t' || c == '"' || c == '\'' || c == ',' || c == ';' ||
			c == '}' || c == ']' || c == ')' || c == '<' || c == '>' || c == '\r' || c == '\n':
			return j
		}
	}
	return len(s)
}

// isAuthScheme reports whether w names an HTTP authentication scheme whose
// credential follows it.
func isAuthScheme(w string) bool {
	return strings.EqualFold(w, "bearer") || strings.EqualFold(w, "basic") ||
		strings.EqualFold(w, "digest") || strings.EqualFold(w, "negotiate")
}

// credentialStart skips the separator after an auth scheme at s[j]: one
// space, '+' or "%20".
func credentialStart(s string, j int) int {
	switch {
	case strings.HasPrefix(s[j:], "%20"):
		return j + 3
	case j < len(s) && (s[j] == ' ' || s[j] == '+'):
		return j + 1
	}
	return -1
}

// chainedCredentialEnd extends a credential ending at s[end] over the
// credentials of auth schemes it ends with: in "Bearer &Bearer 0000" the
// first scheme's credential is "&Bearer", and "0000" is the second's,
// which the scan, resuming after the first, would not see.
func chainedCredentialEnd(s string, end int) int {
	for {
		w := end
		for w > 0 && isNameByte(s[w-1]) {
			w--
		}
		if !isAuthScheme(s[w:end]) {
			return end
		}
		next := schemeCredentialEnd(s, end)
		if next == 0 {
			return end
		}
		end = next
	}
}

// schemeCredentialEnd returns the end of the credential after an auth
// scheme ending at s[j], or 0 when none follows: at least 4 bytes with no
// space, quote or comma.
func schemeCredentialEnd(s string, j int) int {
	k := credentialStart(s, j)
	if k < 0 {
		return 0
	}
	e := k
	for e < len(s) {
		c := s[e]
		if c == ' ' || c == '"' || c == '\'' || c == '\\' || c == ',' || c == '\t' || c == '\r' || c == '\n' {
			break
		}
		e++
	}
	if e-k < 4 {
		return 0
	}
	return e
}
