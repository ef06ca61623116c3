package openapi

import (
	"cmp"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
)

// operation is a documented operation with its parameters' checks.
type operation struct {
	method, path string // "GET", "/orders/{orderId}" (without a server's base path)
	deprecated   bool
	op           *openapi3.Operation
	query        []*param
	inPath       []*param // path parameters
	strict       bool     // unknown query parameters are violations
	required     bool     // a query parameter is required
}

// param is a documented query or path parameter.
type param struct {
	name       string
	required   bool
	allowEmpty bool             // an empty value is accepted (allowEmptyValue)
	schema     *openapi3.Schema // nil: not checked (content, or an object)
	array      bool             // schema is an array of items
	explode    bool             // an array repeats the parameter; else its items are comma-separated
	deep       bool             // deepObject: name[key]=value
	item       *openapi3.Schema // the schema of a value: schema, or its items'
	plainItems bool             // an array whose schema says nothing but what its items are: they are judged one by one
	kinds      kindSet          // the types a value (an item, for arrays) may be read as
	accept     map[string]bool  // values known to be accepted: an enum's, as written, each checked once by Load
	plain      *plain           // the check of a plain item schema, before the validator; nil when not plain
	expected   string           // what the schema accepts, for violations
}

// kindSet are the JSON types a parameter's value may be read as.
type kindSet uint8

const (
	kindInt kindSet = 1 << iota
	kindNumber
	kindBool
	kindString
)

// newOperation gathers an operation's parameters: those of its path item,
// overridden by its own of the same name and location.
func newOperation(method, path string, item *openapi3.PathItem, op *openapi3.Operation, strictDoc bool,
	opts []openapi3.SchemaValidationOption) *operation {
	o := &operation{method: method, path: path, op: op, deprecated: op.Deprecated,
		strict: strictDoc || flag(op.Extensions, extStrict)}
	var all []*openapi3.Parameter
	add := func(ps openapi3.Parameters) {
		for _, ref := range ps {
			if ref == nil || ref.Value == nil {
				continue
			}
			p := ref.Value
			for i, q := range all {
				if q.Name == p.Name && q.In == p.In {
					all = append(all[:i], all[i+1:]...)
					break
				}
			}
			all = append(all, p)
		}
	}
	add(item.Parameters)
	add(op.Parameters)
	for _, p := range all {
		switch p.In {
		case openapi3.ParameterInQuery:
			o.query = append(o.query, newParam(p, opts))
			o.required = o.required || p.Required
		case openapi3.ParameterInPath:
			o.inPath = append(o.inPath, newParam(p, opts))
		}
	}
	return o
}

// newParam prepares the check of one parameter.
func newParam(p *openapi3.Parameter, opts []openapi3.SchemaValidationOption) *param {
	q := &param{name: p.Name, required: p.Required, allowEmpty: p.AllowEmptyValue, deep: p.Style == openapi3.SerializationDeepObject,
		explode: p.Explode == nil || *p.Explode}
	if p.Schema == nil || p.Schema.Value == nil || q.deep {
		return q
	}
	s := p.Schema.Value
	item := s
	if s.Type.Is(openapi3.TypeArray) {
		if s.Items == nil || s.Items.Value == nil {
			return q
		}
		q.array, item = true, s.Items.Value
	}
	if item.Type.Is(openapi3.TypeObject) || item.Type.Is(openapi3.TypeArray) {
		return q // objects and arrays of arrays: not in a query string's simple forms
	}
	q.schema, q.item, q.kinds = s, item, kindsOf(item)
	q.plainItems = q.array && plainArray(s)
	q.accept = accepted(item, q.kinds, opts)
	q.plain = newPlain(item, q.kinds)
	q.expected = describe(item)
	if q.array {
		sep := ""
		if !q.explode {
			sep = "comma-separated "
		}
		q.expected = sep + "list of " + q.expected + itemsText(s)
	}
	return q
}

// plainArray reports whether an array schema says nothing but what its
// items are (a minimum of one item aside, which any value meets).
func plainArray(s *openapi3.Schema) bool {
	return s.MaxItems == nil && s.MinItems <= 1 && !s.UniqueItems && len(s.Enum) == 0 && s.Const == nil &&
		len(s.AllOf)+len(s.AnyOf)+len(s.OneOf)+len(s.PrefixItems) == 0 && s.Not == nil && s.Contains == nil && s.If == nil
}

// accepted are the values of an enum, as a query string writes them,
// that the schema accepts: a shortcut past the validator for the values
// most requests carry.
func accepted(s *openapi3.Schema, kinds kindSet, opts []openapi3.SchemaValidationOption) map[string]bool {
	if len(s.Enum) == 0 {
		return nil
	}
	ok := map[string]bool{}
	for _, v := range s.Enum {
		w := fmt.Sprint(v)
		if f, isNum := v.(float64); isNum {
			w = strconv.FormatFloat(f, 'f', -1, 64)
		}
		if x, conv := convert(w, kinds); conv && s.VisitJSON(x, opts...) == nil {
			ok[w] = true
		}
	}
	return ok
}

// kindsOf are the types a schema's values may be read as; a string when
// it says nothing.
func kindsOf(s *openapi3.Schema) kindSet {
	if s.Type == nil || len(*s.Type) == 0 {
		return kindString
	}
	var k kindSet
	for _, t := range *s.Type {
		switch t {
		case openapi3.TypeInteger:
			k |= kindInt
		case openapi3.TypeNumber:
			k |= kindNumber
		case openapi3.TypeBoolean:
			k |= kindBool
		case openapi3.TypeString:
			k |= kindString
		}
	}
	if k == 0 {
		return kindString
	}
	return k
}

// Check appends to out the ways ev falls outside the specification and
// returns it: a shadow endpoint, a zombie endpoint, and one schema
// violation per parameter the operation's schema refuses. Nothing for a
// request that fits, or one outside the API's base paths. Values
// redacted by the Normalizer (ingest.Redacted) are not judged.
func (s *Spec) Check(ev *ingest.Event, out []contract.Violation) []contract.Violation {
	if ev.Path == "" {
		return out
	}
	var r route
	e := s.root.find(ev.Path, ev.Method, &r, 0)
	if e == nil {
		return s.unmatched(ev, &r, out)
	}
	switch {
	case e.retired:
		out = append(out, contract.Violation{Reason: contract.ZombieEndpoint, Expected: "server " + cmp.Or(e.base, "/") + " is retired",
			Got: ev.Method + " " + quote(ev.Path)})
	case e.op.deprecated:
		out = append(out, contract.Violation{Reason: contract.ZombieEndpoint, Expected: e.op.method + " " + e.doc + " is deprecated",
			Got: ev.Method + " " + quote(ev.Path)})
	}
	out = s.checkPath(e.op, &r, out)
	return s.checkQuery(e.op, ev.Query, out)
}

// unmatched judges a request no operation matches.
func (s *Spec) unmatched(ev *ingest.Event, r *route, out []contract.Violation) []contract.Violation {
	got := ev.Method + " " + quote(ev.Path)
	if r.near != nil {
		if ev.Method == "OPTIONS" {
			return out
		}
		return append(out, contract.Violation{Reason: contract.ShadowEndpoint, Expected: r.near.documented(), Got: got})
	}
	if current, zombie := s.retiredVersion(ev.Path); zombie {
		return append(out, contract.Violation{Reason: contract.ZombieEndpoint, Expected: "a current version: " + current, Got: got})
	}
	if !s.inScope(ev.Path) {
		return out
	}
	return append(out, contract.Violation{Reason: contract.ShadowEndpoint, Expected: "a documented operation", Got: got})
}

// retiredVersion reports whether path has a version segment that no
// current server under the same prefix has, while some server there has
// one, and lists the current versions there.
func (s *Spec) retiredVersion(path string) (current string, zombie bool) {
	prefix, v := versionIn(path)
	if v == "" {
		return "", false
	}
	versioned := false
	for _, b := range s.scope {
		if b.version == "" || b.prefix != prefix {
			continue
		}
		versioned = true
		if b.retired {
			continue
		}
		if strings.EqualFold(b.version, v) {
			return "", false
		}
		if !strings.Contains(", "+current+", ", ", "+b.version+", ") {
			current = strings.TrimPrefix(current+", "+b.version, ", ")
		}
	}
	return cmp.Or(current, "none"), versioned
}

// inScope reports whether path is under one of the document's servers.
func (s *Spec) inScope(path string) bool {
	for _, b := range s.scope {
		if b.path == "" || path == b.path || strings.HasPrefix(path, b.path) && path[len(b.path)] == '/' {
			return true
		}
	}
	return false
}

// checkPath checks the values of the templated segments the request went
// through.
func (s *Spec) checkPath(op *operation, r *route, out []contract.Violation) []contract.Violation {
	for _, c := range r.caps[:min(r.n, len(r.caps))] {
		if c.e.re == nil {
			raw := c.seg[len(c.e.prefix) : len(c.seg)-len(c.e.suffix)]
			out = s.checkPathValue(op, c.e.name, raw, out)
			continue
		}
		m := c.e.re.FindStringSubmatch(c.seg)
		for i, name := range c.e.names {
			if i+1 < len(m) {
				out = s.checkPathValue(op, name, m[i+1], out)
			}
		}
	}
	return out
}

// checkPathValue checks the raw value of path parameter name.
func (s *Spec) checkPathValue(op *operation, name, raw string, out []contract.Violation) []contract.Violation {
	var p *param
	for _, q := range op.inPath {
		if q.name == name {
			p = q
			break
		}
	}
	if p == nil || p.schema == nil {
		return out
	}
	v, err := url.PathUnescape(raw)
	if err != nil {
		return append(out, contract.Violation{Reason: contract.SchemaViolation, Param: "{" + name + "}",
			Expected: "percent-encoded " + p.expected, Got: quote(raw)})
	}
	if p.array {
		if s.validArray(p, []string{v}) {
			return out
		}
	} else if s.valid(p, v) {
		return out
	}
	return append(out, contract.Violation{Reason: contract.SchemaViolation, Param: "{" + name + "}", Expected: p.expected, Got: quote(v)})
}

// pair is a query parameter: its name, decoded, and its raw value.
type pair struct{ name, raw string }

// maxPairs is how many query parameters are split without allocating.
const maxPairs = 16

// splitQuery appends q's parameters to pairs, their names decoded.
func splitQuery(q string, pairs []pair) []pair {
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		for i := 0; i < len(k); i++ {
			if k[i] == '%' || k[i] == '+' {
				if d, err := url.QueryUnescape(k); err == nil {
					k = d
				}
				break
			}
		}
		pairs = append(pairs, pair{k, v})
	}
	return pairs
}

// checkQuery checks the query parameters the operation documents, and
// with strict parameters, that it documents every one.
func (s *Spec) checkQuery(op *operation, q string, out []contract.Violation) []contract.Violation {
	if q == "" && !op.required {
		return out
	}
	var buf [maxPairs]pair
	pairs := splitQuery(q, buf[:0])
	for _, p := range op.query {
		out = s.checkParam(p, pairs, out)
	}
	if op.strict {
		out = checkUnknown(op, pairs, out)
	}
	return out
}

// checkParam checks each occurrence of query parameter p among pairs: at
// most one violation.
func (s *Spec) checkParam(p *param, pairs []pair, out []contract.Violation) []contract.Violation {
	seen := false
	var buf [8]string
	items := buf[:0]
	for _, kv := range pairs {
		if !p.named(kv.name) {
			continue
		}
		seen = true
		if kv.raw == ingest.Redacted || p.schema == nil {
			continue
		}
		v, err := url.QueryUnescape(kv.raw)
		switch {
		case err == nil && v == "" && p.allowEmpty:
		case err != nil:
			return append(out, contract.Violation{Reason: contract.SchemaViolation, Param: p.name,
				Expected: "percent-encoded " + p.expected, Got: quote(kv.raw)})
		case p.array && p.explode:
			items = append(items, v)
		case p.array:
			items = append(items, strings.Split(v, ",")...)
		case !s.valid(p, v):
			return append(out, contract.Violation{Reason: contract.SchemaViolation, Param: p.name, Expected: p.expected, Got: quote(v)})
		}
	}
	switch {
	case !seen && p.required:
		return append(out, contract.Violation{Reason: contract.SchemaViolation, Param: p.name, Expected: "required " + p.expected, Got: "missing"})
	case len(items) > 0 && !s.validArray(p, items):
		return append(out, contract.Violation{Reason: contract.SchemaViolation, Param: p.name, Expected: p.expected,
			Got: quote(strings.Join(items, ","))})
	}
	return out
}

// named reports whether a decoded query parameter name names p.
func (p *param) named(k string) bool {
	if p.deep {
		return len(k) > len(p.name) && k[len(p.name)] == '[' && k[:len(p.name)] == p.name
	}
	return k == p.name
}

// checkUnknown reports each query parameter the operation does not
// document.
func checkUnknown(op *operation, pairs []pair, out []contract.Violation) []contract.Violation {
	for _, kv := range pairs {
		known := false
		for _, p := range op.query {
			if p.named(kv.name) {
				known = true
				break
			}
		}
		if known {
			continue
		}
		v := kv.raw
		if d, err := url.QueryUnescape(v); err == nil && v != ingest.Redacted {
			v = d
		}
		out = append(out, contract.Violation{Reason: contract.SchemaViolation, Param: quote(kv.name),
			Expected: "one of the documented parameters: " + paramNames(op), Got: quote(v)})
	}
	return out
}

// paramNames lists an operation's query parameters ("sku|qty|coupon").
func paramNames(op *operation) string {
	names := make([]string, len(op.query))
	for i, p := range op.query {
		names[i] = p.name
	}
	return cmp.Or(strings.Join(names, "|"), "none")
}

// valid reports whether p's schema (its items', for an array) accepts v.
func (s *Spec) valid(p *param, v string) bool {
	if p.accept[v] {
		return true
	}
	if p.plain != nil && p.plain.accepts(v) {
		return true
	}
	x, ok := convert(v, p.kinds)
	return ok && p.item.VisitJSON(x, s.opts...) == nil
}

// validArray reports whether the schema of array parameter p accepts
// items.
func (s *Spec) validArray(p *param, items []string) bool {
	if p.plainItems {
		for _, v := range items {
			if !s.valid(p, v) {
				return false
			}
		}
		return true
	}
	xs := make([]any, len(items))
	for i, v := range items {
		x, ok := convert(v, p.kinds)
		if !ok {
			return false
		}
		xs[i] = x
	}
	return p.schema.VisitJSON(xs, s.opts...) == nil
}

// convert reads a parameter's value as the first of kinds it is: an
// integer, a JSON number (not NaN, Inf, hexadecimal or out of range), a
// boolean, or else a string.
func convert(v string, kinds kindSet) (any, bool) {
	if kinds&kindInt != 0 {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return float64(n), true
		}
	}
	if kinds&kindNumber != 0 && jsonNumber(v) {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f, true
		}
	}
	if kinds&kindBool != 0 && (v == "true" || v == "false") {
		return v == "true", true
	}
	if kinds&kindString != 0 {
		return v, true
	}
	return nil, false
}

// jsonNumber reports whether v is a number in JSON's syntax.
func jsonNumber(v string) bool {
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		return i - j
	}
	if n := digits(); n == 0 || n > 1 && v[i-n] == '0' {
		return false
	}
	if i < len(v) && v[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(v)
}

// maxGot bounds the part of a value a Violation quotes, as in
// detect/contract.
const maxGot = 64

// quote quotes v for a Violation as detect/contract does: Go syntax
// (control bytes and invalid UTF-8 escaped), cut to maxGot bytes.
func quote(v string) string {
	if len(v) > maxGot {
		cut := maxGot
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		return strconv.Quote(v[:cut]) + "…"
	}
	return strconv.Quote(v)
}

// describe says in a few words what a scalar schema accepts: "integer
// 1-99", "one of asc|desc", "date", "string of at most 200 characters".
func describe(s *openapi3.Schema) string {
	if len(s.Enum) > 0 {
		vs := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			vs[i] = fmt.Sprint(v)
		}
		return "one of " + strings.Join(vs, "|")
	}
	k := kindsOf(s)
	var parts []string
	if k&kindInt != 0 && k&kindNumber == 0 {
		parts = append(parts, "integer")
	}
	if k&kindNumber != 0 {
		parts = append(parts, "number")
	}
	if k&(kindInt|kindNumber) != 0 {
		if r := rangeText(s); r != "" {
			parts[len(parts)-1] += " " + r
		}
	}
	if k&kindBool != 0 {
		parts = append(parts, "true or false")
	}
	if k&kindString != 0 {
		parts = append(parts, stringText(s))
	}
	return strings.Join(parts, " or ")
}

// stringText describes a string schema: its format, or else its pattern,
// and its lengths.
func stringText(s *openapi3.Schema) string {
	d := "string"
	switch {
	case s.Format != "":
		d = s.Format
	case s.Pattern != "":
		d = "string matching " + s.Pattern
	case len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 || s.Not != nil:
		d = "a value the schema accepts"
	}
	switch {
	case s.MaxLength != nil && s.MinLength > 0:
		d += fmt.Sprintf(" of %d-%d characters", s.MinLength, *s.MaxLength)
	case s.MaxLength != nil:
		d += fmt.Sprintf(" of at most %d characters", *s.MaxLength)
	case s.MinLength > 0:
		d += fmt.Sprintf(" of at least %d characters", s.MinLength)
	}
	return d
}

// rangeText describes a number schema's bounds: "1-99", "from -90 to
// 90", ">= 1", "> 0 and <= 1".
func rangeText(s *openapi3.Schema) string {
	lo, loEx := bound(s.Min, s.ExclusiveMin)
	hi, hiEx := bound(s.Max, s.ExclusiveMax)
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	switch {
	case lo != nil && hi != nil && !loEx && !hiEx && *lo >= 0:
		return num(*lo) + "-" + num(*hi)
	case lo != nil && hi != nil && !loEx && !hiEx:
		return "from " + num(*lo) + " to " + num(*hi)
	}
	var parts []string
	if lo != nil {
		op := ">= "
		if loEx {
			op = "> "
		}
		parts = append(parts, op+num(*lo))
	}
	if hi != nil {
		op := "<= "
		if hiEx {
			op = "< "
		}
		parts = append(parts, op+num(*hi))
	}
	return strings.Join(parts, " and ")
}

// bound is a schema's minimum or maximum and whether it is exclusive,
// in OpenAPI 3.0's form (a flag) or 3.1's (the bound itself).
func bound(v *float64, ex openapi3.ExclusiveBound) (*float64, bool) {
	if ex.Value != nil {
		return ex.Value, true
	}
	return v, ex.Bool != nil && *ex.Bool
}

// itemsText describes an array schema's bounds on its items.
func itemsText(s *openapi3.Schema) string {
	switch {
	case s.MaxItems != nil && s.MinItems > 0:
		return fmt.Sprintf(", %d-%d items", s.MinItems, *s.MaxItems)
	case s.MaxItems != nil:
		return fmt.Sprintf(", at most %d items", *s.MaxItems)
	case s.MinItems > 1:
		return fmt.Sprintf(", at least %d items", s.MinItems)
	}
	if s.UniqueItems {
		return ", each once"
	}
	return ""
}
