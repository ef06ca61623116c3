package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/buger/jsonparser"
)

// JSON access logs (nginx escape=json, Envoy, Kong, Traefik, AWS API
// Gateway) differ only in which keys carry which value, so they share one
// decoder driven by a per-format table: key path -> field kind.
//
// The walk is a small single-pass walker of our own (jsonWalker, below),
// chosen by measuring the options on the benchmark lines (Xeon, 2 shared
// cores, Go 1.26; bench_json_test.go). The bare walk of the 984-byte Kong
// line, into every nested object, costs:
//
//	jsonparser.ObjectEach, descending by walking each value again  1.98µs
//	ObjectEach over the top level only, every nested object skipped 0.85µs
//	valyala/fastjson Parse (0.80µs) plus a Visit of the tree        1.30µs
//	jsonWalker                                                      0.71µs
//
// ObjectEach, the walker this decoder first had, delimits every value
// before its callback sees it, so a nested object we need is scanned once
// to find its end and again to descend (request.headers three times).
// Skipping the subtrees a table has no key under cannot fix that: ObjectEach
// already skips them with one bracket-counting scan, and even skipping every
// nested object (the second row, an unreachable floor since we need
// request.*) costs more than a whole single-pass walk. Nor can a walk with
// jsonparser descend without the second scan: all of its entry points
// (ObjectEach, Get, EachKey) find a value's end first, and EachKey, its one
// single-pass multi-key walk, matches keys by exact case, cannot count the
// known keys detection needs, and stops as soon as it has all paths
// without checking the rest of the line. fastjson validates and builds a
// tree of the whole line, the header maps we ignore included, copies the
// input (so every string would be copied into the event's arena), and
// would be one more dependency; it parses no faster than jsonWalker walks.
//
// jsonWalker still uses jsonparser's value types and Unescape, follows its
// rules for what a value is, and is fuzzed against it (FuzzJSONWalk): it
// accepts no line ObjectEach rejected, and reports the same keys and values
// on every line it accepts. Full parse, before and
// after (ns/line, best of 5): Kong 2775 -> 1531, nginx 1209 -> 989, Envoy
// 1379 -> 1143, Traefik 1898 -> 1545, API Gateway 1002 -> 779; 0 allocs.
//
// The per-key table lookup is now the largest cost (a third of a Kong
// line); a hand-rolled open-addressing table was measured against the map
// with no gain, so it stays a plain map.

// fieldKind says how a JSON value is decoded and where it lands.
type fieldKind uint8

const (
	fIgnore        fieldKind = iota // a known key carrying nothing we keep; counts for detection
	fTime                           // ISO 8601, CLF, or epoch seconds/ms/µs/ns (told apart by magnitude)
	fMethod                         // request method
	fTarget                         // request target: path?query, or an absolute URL
	fPath                           // path without the query
	fQuery                          // query string without '?'
	fQueryObject                    // an object of query parameters (Kong's request.querystring)
	fRequestLine                    // "GET /path?q HTTP/1.1" (nginx $request)
	fURL                            // absolute URL scheme://host[:port]/path?query
	fRouteKey                       // "GET /pets/{id}" (API Gateway HTTP APIs)
	fStatus                         // HTTP status
	fBytesIn                        // request size
	fBytesOut                       // response size
	fLatencySec                     // latency in (fractional) seconds
	fLatencyMS                      // latency in (fractional) milliseconds
	fLatencyNS                      // latency in nanoseconds
	fRemoteAddr                     // peer or client address, with or without port
	fXFF                            // X-Forwarded-For
	fHost                           // Host / authority
	fScheme                         // http or https
	fTLSVersion                     // TLSv1.3, or a bare 1.3
	fUserAgent                      // User-Agent
	fReferer                        // Referer
	fRequestID                      // request id
	fAPIKey                         // API key in clear
	fAPIKeyID                       // gateway key / consumer id
	fAuthorization                  // Authorization header
	fJWTSub                         // subject the gateway extracted from a verified credential
	fMTLSSubject                    // client certificate subject or URI SAN
	fClientVerify                   // nginx $ssl_client_verify: the subject counts only when "SUCCESS"
	fVersion                        // API version header
	fAWSError                       // API Gateway $context.error.message
	fVerified                       // the configured ParserOptions.VerifiedField
	fClaimedUser                    // a user name the request claims, not known to be verified
)

// jsonSlot is a destination in the event. Each key is primary or fallback for
// its slot: a fallback fills the slot only when no primary key (and no
// earlier fallback) did, whatever order the keys come in.
type jsonSlot uint8

const (
	slotTime jsonSlot = iota
	slotMethod
	slotTarget
	slotPath
	slotQuery
	slotStatus
	slotBytesIn
	slotBytesOut
	slotLatency
	slotRemote
	slotXFF
	slotHost
	slotScheme
	slotTLS
	slotUserAgent
	slotReferer
	slotRequestID
	slotAPIKey
	slotAPIKeyID
	slotAuthz
	slotJWTSub
	slotMTLS
	slotVersion
	slotClaimedUser
	slotNone // not a slot: a kind that fills several or none
)

// keyRank says whether a key is the preferred source for its slot.
type keyRank bool

const (
	rankPrimary  keyRank = false
	rankFallback keyRank = true
)

// jsonKey is one row of a format's table. Name is a key, or a dotted path
// into nested objects ("request.headers.user-agent"); a dotted path also
// matches a flat key spelled with dots ("identity.sourceIp"). Matching
// ignores ASCII case and treats '-' as '_'.
type jsonKey struct {
	name string
	kind fieldKind
	rank keyRank
}

// jsonField is a compiled table row, or a path the table has keys under,
// or both.
type jsonField struct {
	kind      fieldKind
	weak      bool
	slot      jsonSlot // the one slot the kind fills, or slotNone
	known     bool     // a key of the table
	container bool     // an object the table has keys under
}

// kindSlot is the slot each single-slot kind fills; kinds that fill
// several slots or none map to slotNone.
var kindSlot = [...]jsonSlot{
	fTime: slotTime, fMethod: slotMethod, fTarget: slotTarget, fPath: slotPath, fQuery: slotQuery,
	fStatus: slotStatus, fBytesIn: slotBytesIn, fBytesOut: slotBytesOut,
	fLatencySec: slotLatency, fLatencyMS: slotLatency, fLatencyNS: slotLatency,
	fRemoteAddr: slotRemote, fXFF: slotXFF, fHost: slotHost, fScheme: slotScheme, fTLSVersion: slotTLS,
	fUserAgent: slotUserAgent, fReferer: slotReferer, fRequestID: slotRequestID, fAPIKey: slotAPIKey,
	fAPIKeyID: slotAPIKeyID, fAuthorization: slotAuthz, fJWTSub: slotJWTSub, fMTLSSubject: slotMTLS,
	fVersion: slotVersion,
	fIgnore:  slotNone, fQueryObject: slotNone, fRequestLine: slotNone, fURL: slotNone, fRouteKey: slotNone,
	fClientVerify: slotNone, fAWSError: slotNone, fVerified: slotNone, fClaimedUser: slotClaimedUser,
}

// jsonSchemaSpec describes one JSON format.
type jsonSchemaSpec struct {
	Format string
	Keys   []jsonKey
	// LeafFallback matches an unknown dotted path by its last segment and
	// descends into every nested object, for formats whose key names (and
	// nesting) are the user's choice, like nginx's log_format.
	LeafFallback bool
	// AllowZeroStatus accepts status 0, which Envoy logs when the client
	// went away before a response was sent.
	AllowZeroStatus bool
	// DefaultScheme is the scheme when the line does not say.
	DefaultScheme string
}

// jsonSchema is a compiled jsonSchemaSpec. It is built in init and never
// changed, so parsers share it.
type jsonSchema struct {
	jsonSchemaSpec
	fields map[string]jsonField // folded key path -> row; containers too, so one lookup per key
}

// maxJSONDepth bounds descent into nested objects; access logs are shallow
// and a bound keeps hostile input from recursing deeply.
const maxJSONDepth = 4

func compileJSONSchema(spec jsonSchemaSpec) *jsonSchema {
	s := &jsonSchema{
		jsonSchemaSpec: spec,
		fields:         make(map[string]jsonField, len(spec.Keys)),
	}
	for _, k := range spec.Keys {
		name := string(appendFoldedKey(nil, []byte(k.name)))
		f := s.fields[name]
		if f.known {
			panic("ingest: " + spec.Format + ": JSON key listed twice: " + k.name)
		}
		f.kind, f.weak, f.slot, f.known = k.kind, bool(k.rank), kindSlot[k.kind], true
		s.fields[name] = f
		for i := 0; i < len(name); i++ {
			if name[i] == '.' {
				c := s.fields[name[:i]]
				c.container = true
				s.fields[name[:i]] = c
			}
		}
	}
	return s
}

// newParser returns a parser for the schema; it has the registry's factory
// signature.
func (s *jsonSchema) newParser(opts ParserOptions) (Parser, error) {
	p := &jsonParser{}
	p.dec.schema = s
	if opts.VerifiedField != "" {
		p.dec.verified = appendFoldedKey(nil, []byte(opts.VerifiedField))
	}
	p.dec.key = make([]byte, 0, 128)
	p.dec.onElem = p.dec.visitElem
	p.dec.onParam = p.dec.visitParam
	p.dec.onParamElem = p.dec.visitParamElem
	return p, nil
}

// jsonAction tells jsonWalker what to do with the value of a key.
type jsonAction uint8

const (
	actSkip    jsonAction = iota // find the value's end without reporting it
	actValue                     // report the value to the visitor
	actDescend                   // walk into the value if it is an object, else skip it
)

// jsonVisitor receives the keys and values jsonWalker finds.
type jsonVisitor interface {
	// visitKey is called for each key of an object walked at the given
	// depth (0 for the line itself), unescaped; k is valid only during the
	// call.
	visitKey(k []byte, depth int) jsonAction
	// visitValue is called with the value of a key visitKey answered
	// actValue to: a string's contents without the quotes (escapes left
	// in), or the whole text of any other value. A non-nil error stops the
	// walk.
	visitValue(v []byte, t jsonparser.ValueType) error
}

// maxJSONNesting bounds the nesting of the values the walker skips over;
// skipping is recursive, and the bound keeps hostile input from growing
// the stack. Access logs nest a handful of levels.
const maxJSONNesting = 64

// errMalformedJSON is the walker's one syntax error: the decoder reports
// every syntax problem with the same fixed reason.
var errMalformedJSON = errors.New("malformed JSON")

// jsonWalker walks a JSON object in a single pass, descending into the
// nested objects its visitor asks for as it meets them and skipping the
// rest. jsonparser.ObjectEach delimits every value before its callback
// sees it, so descending into a nested object there scans it twice (and a
// grandchild three times); here each byte of the line is looked at once.
//
// It accepts what ObjectEach accepts in the values it reports (numbers are
// any token starting with a digit or '-', and string escapes are checked
// only when the decoder unescapes a value), and it checks the structure of
// the values it skips, which ObjectEach did by bracket counting only, so it
// never accepts a line ObjectEach rejected; FuzzJSONWalk holds it to that.
type jsonWalker struct {
	keyBuf []byte // unescaped key
}

// walk walks the object at data[0] and returns the offset just past its
// closing brace.
func (w *jsonWalker) walk(data []byte, v jsonVisitor) (int, error) {
	if len(data) == 0 || data[0] != '{' {
		return 0, errMalformedJSON
	}
	return w.object(data, 0, 0, v)
}

// object walks the object that starts at data[i], at the given depth.
func (w *jsonWalker) object(data []byte, i, depth int, v jsonVisitor) (int, error) {
	i = skipJSONSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return 0, errMalformedJSON
		}
		end, escaped := jsonStringEnd(data, i+1)
		if end < 0 {
			return 0, errMalformedJSON
		}
		key := data[i+1 : end]
		if escaped {
			if cap(w.keyBuf) < len(key) {
				w.keyBuf = make([]byte, len(key))
			}
			u, err := jsonparser.Unescape(key, w.keyBuf[:len(key)])
			if err != nil {
				return 0, errMalformedJSON
			}
			key = u
		}
		i = skipJSONSpace(data, end+1)
		if i >= len(data) || data[i] != ':' {
			return 0, errMalformedJSON
		}
		i = skipJSONSpace(data, i+1)
		if i >= len(data) {
			return 0, errMalformedJSON
		}
		var err error
		switch act := v.visitKey(key, depth); {
		case act == actValue:
			var val []byte
			var t jsonparser.ValueType
			if val, t, i, err = jsonValueAt(data, i); err == nil {
				err = v.visitValue(val, t)
			}
		case act == actDescend && data[i] == '{' && depth < maxJSONDepth:
			i, err = w.object(data, i, depth+1, v)
		default:
			i, err = skipJSONValue(data, i, 0)
		}
		if err != nil {
			return 0, err
		}
		i = skipJSONSpace(data, i)
		if i >= len(data) {
			return 0, errMalformedJSON
		}
		switch data[i] {
		case '}':
			return i + 1, nil
		case ',':
			i = skipJSONSpace(data, i+1)
		default:
			return 0, errMalformedJSON
		}
	}
}

// jsonValueAt delimits the value that starts at data[i] and returns it the
// way jsonparser.Get does, with the offset just past it.
func jsonValueAt(data []byte, i int) ([]byte, jsonparser.ValueType, int, error) {
	switch data[i] {
	case '"':
		end, _ := jsonStringEnd(data, i+1)
		if end < 0 {
			return nil, jsonparser.String, 0, errMalformedJSON
		}
		return data[i+1 : end], jsonparser.String, end + 1, nil
	case '{', '[':
		t := jsonparser.Object
		if data[i] == '[' {
			t = jsonparser.Array
		}
		end, err := skipJSONValue(data, i, 0)
		if err != nil {
			return nil, t, 0, err
		}
		return data[i:end], t, end, nil
	}
	end := jsonTokenEnd(data, i)
	t := jsonLiteralType(data[i:end])
	if t == jsonparser.Unknown {
		return nil, t, 0, errMalformedJSON
	}
	return data[i:end], t, end, nil
}

// skipJSONValue returns the offset just past the value that starts at
// data[i], checking its structure; nest is how deep the value is inside
// skipped containers.
func skipJSONValue(data []byte, i, nest int) (int, error) {
	switch data[i] {
	case '"':
		end, _ := jsonStringEnd(data, i+1)
		if end < 0 {
			return 0, errMalformedJSON
		}
		return end + 1, nil
	case '{':
		return skipJSONContainer(data, i, '}', nest)
	case '[':
		return skipJSONContainer(data, i, ']', nest)
	}
	end := jsonTokenEnd(data, i)
	if jsonLiteralType(data[i:end]) == jsonparser.Unknown {
		return 0, errMalformedJSON
	}
	return end, nil
}

// skipJSONContainer skips the object or array at data[i], which closes
// with closer.
func skipJSONContainer(data []byte, i int, closer byte, nest int) (int, error) {
	if nest >= maxJSONNesting {
		return 0, errMalformedJSON
	}
	i = skipJSONSpace(data, i+1)
	if i < len(data) && data[i] == closer {
		return i + 1, nil
	}
	for {
		if i >= len(data) {
			return 0, errMalformedJSON
		}
		if closer == '}' {
			if data[i] != '"' {
				return 0, errMalformedJSON
			}
			end, _ := jsonStringEnd(data, i+1)
			if end < 0 {
				return 0, errMalformedJSON
			}
			i = skipJSONSpace(data, end+1)
			if i >= len(data) || data[i] != ':' {
				return 0, errMalformedJSON
			}
			i = skipJSONSpace(data, i+1)
			if i >= len(data) {
				return 0, errMalformedJSON
			}
		}
		var err error
		if i, err = skipJSONValue(data, i, nest+1); err != nil {
			return 0, err
		}
		i = skipJSONSpace(data, i)
		if i >= len(data) {
			return 0, errMalformedJSON
		}
		switch data[i] {
		case closer:
			return i + 1, nil
		case ',':
			i = skipJSONSpace(data, i+1)
		default:
			return 0, errMalformedJSON
		}
	}
}

func skipJSONSpace(data []byte, i int) int {
	for i < len(data) && isJSONSpace(data[i]) {
		i++
	}
	return i
}

// jsonTokenEnd returns the end of the number or literal at data[i]: like
// jsonparser, the first whitespace, ',', '}' or ']'.
func jsonTokenEnd(data []byte, i int) int {
	for ; i < len(data); i++ {
		switch data[i] {
		case ' ', '\t', '\r', '\n', ',', '}', ']':
			return i
		}
	}
	return i
}

// jsonLiteralType classifies a number or literal the way jsonparser does:
// true, false and null exactly, and a token starting with a digit or '-'
// as a number, so that "status":2OO is a bad status rather than bad JSON
// (the decoder checks the numbers it uses). A token holding a quote or an
// opening bracket is rejected: ObjectEach's bracket counting would take it
// for the start of a string or container, and the walker must not accept
// what ObjectEach would have rejected.
func jsonLiteralType(tok []byte) jsonparser.ValueType {
	if len(tok) == 0 {
		return jsonparser.Unknown
	}
	switch c := tok[0]; {
	case c >= '0' && c <= '9' || c == '-':
		for _, c := range tok[1:] {
			if c == '"' || c == '{' || c == '[' {
				return jsonparser.Unknown
			}
		}
		return jsonparser.Number
	case string(tok) == "true" || string(tok) == "false":
		return jsonparser.Boolean
	case string(tok) == "null":
		return jsonparser.Null
	}
	return jsonparser.Unknown
}

// jsonStringEnd returns the offset of the quote that closes the string
// whose contents start at data[i], or -1, and whether the string has
// escapes. It looks at eight bytes at a time for a quote or a backslash:
// strings are most of an access log line.
func jsonStringEnd(data []byte, i int) (int, bool) {
	const (
		lsb       = 0x0101010101010101
		msb       = 0x8080808080808080
		quote     = '"' * lsb
		backslash = '\\' * lsb
	)
	escaped := false
	for {
		for i+8 <= len(data) {
			w := binary.LittleEndian.Uint64(data[i:])
			q, b := w^quote, w^backslash
			// A zero byte in q or b is a quote or backslash in w; the lowest
			// set bit of the mask is exactly the first one.
			m := ((q-lsb)&^q | (b-lsb)&^b) & msb
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for ; i < len(data); i++ {
			if c := data[i]; c == '"' || c == '\\' {
				break
			}
		}
		if i >= len(data) {
			return -1, escaped
		}
		if data[i] == '"' {
			return i, escaped
		}
		escaped = true
		i += 2 // a backslash escapes the next byte, a quote included
	}
}

// appendFoldedKey appends key lower-cased, with '-' as '_', so that
// "START_TIME", "request_User-Agent" and "user-agent" meet the table.
func appendFoldedKey(dst, key []byte) []byte {
	for _, c := range key {
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '-':
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

// jsonParser parses one JSON access-log format.
type jsonParser struct {
	dec jsonDecoder
}

func (p *jsonParser) Format() string { return p.dec.schema.Format }

// detectScore is how many keys of the last parsed line the format knew; the
// auto-detector prefers the JSON format that explains a line best.
func (p *jsonParser) detectScore() int { return p.dec.matched }

// Parse implements Parser.
func (p *jsonParser) Parse(line []byte, ev *Event) error {
	err := p.parse(line, ev)
	p.dec.release()
	return err
}

func (p *jsonParser) parse(line []byte, ev *Event) error {
	d := &p.dec
	obj, err := d.begin(line, ev)
	if err != nil {
		return err
	}
	end, err := d.walker.walk(obj, d)
	return d.complete(obj, end, err)
}

// begin resets the decoder for a line and returns the line's object, with
// the surrounding whitespace trimmed, and past a syslog header when the
// line went through syslog to a file ("Mar  1 10:00:00 web1 nginx: {...").
func (d *jsonDecoder) begin(line []byte, ev *Event) ([]byte, error) {
	line = trimJSONSpace(line)
	if len(line) == 0 {
		return nil, ErrEmptyLine
	}
	d.reset(ev)
	if line[0] != '{' {
		line = trimJSONSpace(syslogBody(line, &d.zones))
	}
	if len(line) == 0 || line[0] != '{' {
		return nil, d.fail("not a JSON object")
	}
	if line[len(line)-1] != '}' {
		return nil, d.fail("malformed JSON")
	}
	return line, nil
}

// trimJSONSpace returns b without JSON whitespace around it.
func trimJSONSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isJSONSpace(b[i]) {
		i++
	}
	for j > i && isJSONSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// complete judges the walk of obj, which stopped at end with err, and
// completes the event.
func (d *jsonDecoder) complete(obj []byte, end int, err error) error {
	if d.reason != "" {
		return d.fail(d.reason)
	}
	if err != nil || end != len(obj) { // trailing garbage such as a second '}'
		return d.fail("malformed JSON")
	}
	return d.finish()
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// errStopWalk aborts the walk once a line is known to be bad; the reason
// is in jsonDecoder.reason.
var errStopWalk = errors.New("stop")

// jsonDecoder holds the per-line state of a walk; it is reused across lines
// so that parsing allocates nothing.
type jsonDecoder struct {
	schema *jsonSchema
	ev     *Event
	walker jsonWalker
	key    []byte                // folded path of the key being visited
	prefix [maxJSONDepth + 1]int // len(key) of the object path at each depth
	field  jsonField             // table row of the key being visited

	verified []byte // folded ParserOptions.VerifiedField, or nil

	strong, weak uint32 // slots filled by primary / fallback keys
	matched      int    // known keys seen, for detection
	reason       string // why the line is rejected, once known

	target, path, query string
	queryObj            []byte
	awsError            string
	verifyFailed        bool
	badTime, badStatus  bool

	zones      zoneCache
	tmp        []byte // unescape buffer
	joinPos    int    // joinArray: start of the joined value in the arena, or -1
	queryStart int    // buildQuery: start of the query in the arena
	paramKey   []byte // buildQuery: name of a repeated parameter

	// Method values bound once, so passing them to jsonparser costs no
	// allocation per line.
	onElem      func(value []byte, t jsonparser.ValueType, off int, err error)
	onParam     func(key, value []byte, t jsonparser.ValueType, off int) error
	onParamElem func(value []byte, t jsonparser.ValueType, off int, err error)
}

func (d *jsonDecoder) reset(ev *Event) {
	d.ev = ev
	d.key = d.key[:0]
	d.strong, d.weak, d.matched, d.reason = 0, 0, 0, ""
	d.target, d.path, d.query, d.queryObj, d.awsError = "", "", "", nil, ""
	d.verifyFailed, d.badTime, d.badStatus = false, false, false
}

// release drops the references into the line and the event, which a
// parser must not keep; the counters stay for detectScore.
func (d *jsonDecoder) release() {
	d.ev = nil
	d.target, d.path, d.query, d.queryObj, d.awsError = "", "", "", nil, ""
}

func (d *jsonDecoder) fail(reason string) error {
	return &ParseError{Format: d.schema.Format, Reason: reason}
}

// visitKey implements jsonVisitor: it looks the key's folded path up in the
// table and says whether to decode its value, descend into it or skip it.
func (d *jsonDecoder) visitKey(k []byte, depth int) jsonAction {
	d.key = d.key[:d.prefix[depth]]
	if depth > 0 {
		d.key = append(d.key, '.')
	}
	d.key = appendFoldedKey(d.key, k)
	f := d.schema.fields[string(d.key)]
	if !f.known && d.schema.LeafFallback {
		if i := bytes.LastIndexByte(d.key, '.'); i >= 0 {
			if leaf := d.schema.fields[string(d.key[i+1:])]; leaf.known {
				f = leaf
			}
		}
	}
	if !f.known && d.verified != nil && d.isVerifiedKey() {
		d.field = jsonField{kind: fVerified, slot: slotNone}
		return actValue
	}
	switch {
	case f.known:
		d.matched++
		d.field = f
		return actValue
	case f.container || d.schema.LeafFallback:
		if depth < maxJSONDepth {
			d.prefix[depth+1] = len(d.key)
		}
		return actDescend
	}
	return actSkip
}

// isVerifiedKey reports whether the key being visited is the configured
// VerifiedField: the same folded path, or a path ending in it, optionally
// as an nginx header variable ("http_x_jwt_verified").
func (d *jsonDecoder) isVerifiedKey() bool {
	k := d.key
	if !bytes.HasSuffix(k, d.verified) {
		return false
	}
	k = bytes.TrimSuffix(k[:len(k)-len(d.verified)], []byte("http_"))
	return len(k) == 0 || k[len(k)-1] == '.'
}

// visitValue implements jsonVisitor.
func (d *jsonDecoder) visitValue(v []byte, t jsonparser.ValueType) error {
	d.set(d.field, v, t)
	if d.reason != "" {
		return errStopWalk
	}
	return nil
}

// claim reports whether a value for slot s from a key of the given rank
// may be stored, and records that it was.
func (d *jsonDecoder) claim(s jsonSlot, weak bool) bool {
	bit := uint32(1) << s
	if weak {
		if (d.strong|d.weak)&bit != 0 {
			return false
		}
		d.weak |= bit
		return true
	}
	d.strong |= bit
	return true
}

func (d *jsonDecoder) has(s jsonSlot) bool { return (d.strong|d.weak)&(uint32(1)<<s) != 0 }

// set decodes one known value into its slot.
func (d *jsonDecoder) set(f jsonField, v []byte, t jsonparser.ValueType) {
	if f.weak && f.slot != slotNone && d.has(f.slot) {
		return // a better key already filled the slot: skip the decoding
	}
	ev := d.ev
	switch f.kind {
	case fIgnore:
	case fTime:
		tm, ok := d.timeValue(v, t)
		if !ok {
			if t != jsonparser.Null && !jsonDash(v) && len(v) > 0 {
				d.badTime = true
			}
			return
		}
		if d.claim(slotTime, f.weak) {
			ev.Time = tm
		}
	case fStatus:
		n, ok := jsonInt(v, t)
		if !ok || n > 999 || (n < 100 && !(n == 0 && d.schema.AllowZeroStatus)) {
			if t != jsonparser.Null && !jsonDash(v) && len(v) > 0 {
				d.badStatus = true
			}
			return
		}
		if d.claim(slotStatus, f.weak) {
			ev.Status = int(n)
		}
	case fBytesIn, fBytesOut:
		n, ok := jsonInt(v, t)
		if !ok {
			return
		}
		if f.kind == fBytesIn && d.claim(slotBytesIn, f.weak) {
			ev.BytesIn = n
		} else if f.kind == fBytesOut && d.claim(slotBytesOut, f.weak) {
			ev.BytesOut = n
		}
	case fLatencySec, fLatencyMS, fLatencyNS:
		if t != jsonparser.String && t != jsonparser.Number {
			return
		}
		unit := time.Second
		if f.kind == fLatencyMS {
			unit = time.Millisecond
		} else if f.kind == fLatencyNS {
			unit = time.Nanosecond
		}
		lat, ok := jsonDuration(firstUpstreamValue(v), unit)
		if ok && d.claim(slotLatency, f.weak) {
			ev.Latency = lat
		}
	case fQueryObject:
		if t == jsonparser.Object {
			d.queryObj = v
		}
	case fClientVerify:
		if s, ok := d.text(v, t); ok && s != "SUCCESS" {
			d.verifyFailed = true
		}
	case fVerified:
		if t == jsonparser.Boolean {
			d.ev.Raw.IdentityVerified = bytesString(v) // true or false
		} else if s, ok := d.text(v, t); ok {
			d.ev.Raw.IdentityVerified = s
		}
	default:
		s, ok := d.text(v, t)
		if !ok {
			return
		}
		d.setText(f, s)
	}
}

// setText stores a decoded string value.
func (d *jsonDecoder) setText(f jsonField, s string) {
	switch f.kind {
	case fTarget:
		if isAbsoluteURL(s) {
			d.setURL(s, f.weak)
			return
		}
	case fQuery:
		s = strings.TrimPrefix(s, "?")
	case fTLSVersion:
		s = jsonTLSVersion(s)
	case fAPIKey, fAuthorization:
		if isMaskedCredential(s) {
			return
		}
	case fRequestLine:
		method, target, _ := strings.Cut(s, " ")
		if i := strings.LastIndexByte(target, ' '); i >= 0 && strings.HasPrefix(target[i+1:], "HTTP/") {
			target = target[:i]
		}
		d.store(slotMethod, true, method)
		if isAbsoluteURL(target) {
			d.setURL(target, true)
		} else {
			d.store(slotTarget, true, target)
		}
		return
	case fURL:
		d.setURL(s, f.weak)
		return
	case fRouteKey:
		method, route, ok := strings.Cut(s, " ")
		if !ok || !strings.HasPrefix(route, "/") {
			return // "$default" and other keys without a path
		}
		if method != "ANY" {
			d.store(slotMethod, true, method)
		}
		d.store(slotPath, true, route)
		return
	case fAWSError:
		d.awsError = s
		return
	}
	d.store(f.slot, f.weak, s)
}

// store puts a non-empty string into slot s if a key of that rank may.
func (d *jsonDecoder) store(s jsonSlot, weak bool, v string) {
	if v == "" {
		return
	}
	if dst := d.textSlot(s); dst != nil && d.claim(s, weak) {
		*dst = v
	}
}

// textSlot returns where a text slot's value goes.
func (d *jsonDecoder) textSlot(s jsonSlot) *string {
	ev := d.ev
	switch s {
	case slotMethod:
		return &ev.Method
	case slotTarget:
		return &d.target
	case slotPath:
		return &d.path
	case slotQuery:
		return &d.query
	case slotRemote:
		return &ev.Raw.RemoteAddr
	case slotXFF:
		return &ev.Raw.XForwardedFor
	case slotHost:
		return &ev.Host
	case slotScheme:
		return &ev.Scheme
	case slotTLS:
		return &ev.TLSVersion
	case slotUserAgent:
		return &ev.UserAgent
	case slotReferer:
		return &ev.Referer
	case slotRequestID:
		return &ev.RequestID
	case slotAPIKey:
		return &ev.Raw.APIKey
	case slotAPIKeyID:
		return &ev.Raw.APIKeyID
	case slotAuthz:
		return &ev.Raw.Authorization
	case slotJWTSub:
		return &ev.Raw.JWTSub
	case slotMTLS:
		return &ev.Raw.MTLSSubject
	case slotVersion:
		return &ev.Raw.Version
	case slotClaimedUser:
		return &ev.Raw.ClaimedUser
	}
	return nil
}

// setURL splits an absolute URL into scheme, host and target. The scheme
// and host only fill slots no dedicated key filled.
func (d *jsonDecoder) setURL(u string, weak bool) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || scheme == "" {
		return
	}
	host, target := rest, "/"
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		host, target = rest[:i], rest[i:] // "h?x=1" leaves target "?x=1": finish makes the path "/"
	}
	d.store(slotScheme, true, scheme)
	d.store(slotHost, true, host)
	d.store(slotTarget, weak, target)
}

// finish checks the minimum fields and resolves what depends on several
// keys.
func (d *jsonDecoder) finish() error {
	ev := d.ev
	if !d.has(slotTime) {
		if d.badTime {
			return d.fail("bad time")
		}
		return d.fail("missing time")
	}
	if !d.has(slotStatus) {
		if d.badStatus {
			return d.fail("bad status")
		}
		return d.fail("missing status")
	}
	ev.Format = d.schema.Format

	// A raw request target beats a normalised path: it is what the client
	// actually sent (nginx $request_uri vs $uri).
	tpath, tquery := d.target, ""
	if i := strings.IndexByte(tpath, '?'); i >= 0 {
		tpath, tquery = tpath[:i], tpath[i+1:]
	}
	if d.target != "" && tpath == "" {
		tpath = "/"
	}
	ev.Path = tpath
	if ev.Path == "" {
		ev.Path = d.path
	}
	ev.Raw.RawQuery = tquery
	if tquery == "" {
		ev.Raw.RawQuery = d.query
	}
	if ev.Raw.RawQuery == "" && d.queryObj != nil {
		d.buildQuery()
	}

	if d.verifyFailed {
		ev.Raw.MTLSSubject = "" // a presented but unverified certificate proves nothing
	}
	if ev.Scheme == "" {
		switch {
		case ev.TLSVersion != "":
			ev.Scheme = "https"
		default:
			ev.Scheme = d.schema.DefaultScheme
		}
	}
	if d.awsError != "" && (ev.Status == 401 || ev.Status == 403) {
		ev.Raw.AuthOutcome = awsAuthOutcome(d.awsError)
	}
	return nil
}

// awsAuthOutcome classifies an API Gateway error message on a 401/403.
// API Gateway answers 403 both when it rejects a credential (bad API key,
// bad SigV4 signature, "Missing Authentication Token") and when an
// authenticated caller is denied, so the status alone cannot tell an
// authentication failure from an authorisation one; the message can.
func awsAuthOutcome(msg string) AuthOutcome {
	if strings.Contains(msg, "not authorized to") {
		return AuthForbidden // authorizer or IAM policy deny
	}
	return AuthFailed
}

// text returns a string value, aliasing the line when it has no escapes and
// unescaped into the event's arena when it has. Unquoted numbers are taken
// as text; "", "-", null, booleans and objects are absent. An array of
// strings (a repeated header) is joined with ", ".
func (d *jsonDecoder) text(v []byte, t jsonparser.ValueType) (string, bool) {
	switch t {
	case jsonparser.String:
	case jsonparser.Number:
		return bytesString(v), true
	case jsonparser.Array:
		return d.joinArray(v)
	default:
		return "", false
	}
	if len(v) == 0 || jsonDash(v) {
		return "", false
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return bytesString(v), true
	}
	u, ok := d.unescape(v)
	if !ok {
		return "", false
	}
	return d.ev.AppendString(u), true
}

// unescape decodes JSON escapes into d.tmp, which grows to the longest
// value seen (the result is never longer than the input).
func (d *jsonDecoder) unescape(v []byte) ([]byte, bool) {
	if cap(d.tmp) < len(v) {
		d.tmp = make([]byte, len(v))
	}
	u, err := jsonparser.Unescape(v, d.tmp[:len(v)])
	if err != nil {
		if d.reason == "" {
			d.reason = "bad string escape"
		}
		return nil, false
	}
	return u, true
}

func (d *jsonDecoder) joinArray(v []byte) (string, bool) {
	d.joinPos = -1
	if _, err := jsonparser.ArrayEach(v, d.onElem); err != nil {
		return "", false
	}
	if d.joinPos < 0 {
		return "", false
	}
	s := bytesString(d.ev.scratch[d.joinPos:])
	d.joinPos = -1
	return s, s != ""
}

// visitElem is the ArrayEach callback of joinArray.
func (d *jsonDecoder) visitElem(v []byte, t jsonparser.ValueType, _ int, err error) {
	if err != nil || t != jsonparser.String || len(v) == 0 {
		return
	}
	u := v
	if bytes.IndexByte(v, '\\') >= 0 {
		var ok bool
		if u, ok = d.unescape(v); !ok {
			return
		}
	}
	ev := d.ev
	if d.joinPos < 0 {
		d.joinPos = len(ev.scratch)
	} else {
		ev.scratch = append(ev.scratch, ',', ' ')
	}
	ev.scratch = append(ev.scratch, u...)
}

// buildQuery writes a query-parameter object (Kong logs the decoded query
// as {"name": "value" | true | ["v1","v2"]}) back as a query string, in the
// event's arena, so that the Normalizer can redact it like any other.
func (d *jsonDecoder) buildQuery() {
	ev := d.ev
	d.queryStart = len(ev.scratch)
	if err := jsonparser.ObjectEach(d.queryObj, d.onParam); err != nil {
		ev.scratch = ev.scratch[:d.queryStart]
		return
	}
	ev.Raw.RawQuery = bytesString(ev.scratch[d.queryStart:])
}

// visitParam is the ObjectEach callback of buildQuery.
func (d *jsonDecoder) visitParam(key, value []byte, t jsonparser.ValueType, _ int) error {
	if t != jsonparser.Array {
		d.appendParam(key, value, t)
		return nil
	}
	// A repeated parameter: the name waits in paramKey while ArrayEach
	// visits the values.
	d.paramKey = append(d.paramKey[:0], key...)
	_, err := jsonparser.ArrayEach(value, d.onParamElem)
	return err
}

// visitParamElem is the ArrayEach callback of visitParam.
func (d *jsonDecoder) visitParamElem(v []byte, t jsonparser.ValueType, _ int, err error) {
	if err == nil {
		d.appendParam(d.paramKey, v, t)
	}
}

func (d *jsonDecoder) appendParam(key, value []byte, t jsonparser.ValueType) {
	ev := d.ev
	if len(ev.scratch) > d.queryStart {
		ev.scratch = append(ev.scratch, '&')
	}
	ev.scratch = appendQueryParam(ev.scratch, key)
	switch t {
	case jsonparser.Boolean:
		if string(value) == "true" {
			return // a flag without a value: ?debug
		}
		ev.scratch = append(ev.scratch, "=false"...)
	case jsonparser.String:
		ev.scratch = append(ev.scratch, '=')
		if bytes.IndexByte(value, '\\') >= 0 {
			if cap(d.tmp) < len(value) {
				d.tmp = make([]byte, len(value))
			}
			u, err := jsonparser.Unescape(value, d.tmp[:len(value)])
			if err != nil {
				return // keep the name: it is what redaction and detectors look at
			}
			value = u
		}
		ev.scratch = appendQueryParam(ev.scratch, value)
	case jsonparser.Number:
		ev.scratch = append(ev.scratch, '=')
		ev.scratch = append(ev.scratch, value...)
	default:
		ev.scratch = append(ev.scratch, '=')
	}
}

// appendQueryParam percent-encodes the bytes that would change the shape
// of a query string (and controls, spaces and non-ASCII), leaving the rest
// readable.
func appendQueryParam(dst, s []byte) []byte {
	const hexDigits = "0123456789ABCDEF"
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || c == '&' || c == '=' || c == '#' || c == '%' || c == '+' {
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// timeValue parses a time in any of the shapes gateways log: CLF
// ("23/Nov/2026:10:00:00 +0000"), ISO 8601, or a number since the epoch.
func (d *jsonDecoder) timeValue(v []byte, t jsonparser.ValueType) (time.Time, bool) {
	if t != jsonparser.String && t != jsonparser.Number {
		return time.Time{}, false
	}
	switch {
	case len(v) == 26 && v[2] == '/':
		return parseCLFTime(v, &d.zones)
	case len(v) >= 19 && v[4] == '-':
		return parseISOTime(v, &d.zones)
	default:
		return parseEpochAuto(v)
	}
}

// parseEpochAuto parses a decimal time since the epoch, telling seconds,
// milliseconds, microseconds and nanoseconds apart by the number of integer
// digits (10, 13, 16, 19 for present-day times): nginx $msec and Traefik
// log seconds with a fraction, Kong and API Gateway milliseconds.
func parseEpochAuto(v []byte) (time.Time, bool) {
	intPart, frac, _ := bytes.Cut(v, []byte{'.'})
	for _, c := range frac {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
	}
	n, ok := jsonUint(intPart)
	if !ok || n == 0 {
		return time.Time{}, false
	}
	switch len(intPart) {
	case 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11:
		return parseEpoch(v)
	case 12, 13, 14:
		return time.UnixMilli(n).UTC(), true
	case 15, 16, 17:
		return time.UnixMicro(n).UTC(), true
	default:
		return time.Unix(0, n).UTC(), true
	}
}

// jsonUint parses a non-negative decimal integer that fits an int64.
func jsonUint(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// jsonInt reads a non-negative integer logged quoted or unquoted.
func jsonInt(v []byte, t jsonparser.ValueType) (int64, bool) {
	if t != jsonparser.String && t != jsonparser.Number {
		return 0, false
	}
	return jsonUint(v)
}

// jsonDuration parses a non-negative decimal number of units ("0.042"
// seconds, "12" ms) without going through float64, so that "0.001" s is
// exactly 1ms; exponent forms fall back to strconv.
func jsonDuration(v []byte, unit time.Duration) (time.Duration, bool) {
	i := 0
	var whole int64
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		if whole > math.MaxInt64/10/int64(unit) {
			return 0, false
		}
		whole = whole*10 + int64(v[i]-'0')
		i++
	}
	if i == 0 {
		return 0, false
	}
	var frac time.Duration
	if i < len(v) && v[i] == '.' {
		i++
		start := i
		for scale := unit / 10; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
			frac += time.Duration(v[i]-'0') * scale
			scale /= 10
		}
		if i == start {
			return 0, false
		}
	}
	if i < len(v) {
		if v[i] != 'e' && v[i] != 'E' {
			return 0, false
		}
		f, err := strconv.ParseFloat(bytesString(v), 64)
		if err != nil || f < 0 || f*float64(unit) >= math.MaxInt64 {
			return 0, false
		}
		return time.Duration(f * float64(unit)), true
	}
	if whole > math.MaxInt64/int64(unit) {
		return 0, false
	}
	return time.Duration(whole)*unit + frac, true
}

// firstUpstreamValue returns the first of nginx's comma- or colon-separated
// upstream values ("0.012, 0.100 : 0.003").
func firstUpstreamValue(v []byte) []byte {
	for i, c := range v {
		if c == ',' || c == ' ' || c == ':' {
			return v[:i]
		}
	}
	return v
}

func jsonDash(v []byte) bool { return len(v) == 1 && v[0] == '-' }

func isAbsoluteURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// jsonTLSVersion spells a TLS version the way nginx and Envoy do, so that
// Traefik's bare "1.3" and nginx's "TLSv1.3" compare equal.
func jsonTLSVersion(s string) string {
	switch s {
	case "1.0":
		return "TLSv1"
	case "1.1":
		return "TLSv1.1"
	case "1.2":
		return "TLSv1.2"
	case "1.3":
		return "TLSv1.3"
	}
	return s
}

// isMaskedCredential reports whether a credential value is a gateway's redaction
// placeholder: hashing one would merge every client into one key.
func isMaskedCredential(s string) bool {
	s = strings.Trim(s, "[]<>*")
	for _, m := range [...]string{"", "redacted", "masked", "hidden", "filtered", "xxx", "xxxx"} {
		if strings.EqualFold(s, m) {
			return true
		}
	}
	return false
}
