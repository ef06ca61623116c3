// Package openapi checks requests against an OpenAPI 3 specification, as
// detect/contract checks them against the contract it learnt: a request
// to an operation the specification does not document is a shadow
// endpoint, one to a deprecated operation or a retired version a zombie
// endpoint, and a path or query parameter its schema refuses a schema
// violation. Drift compares the specification with the routes learnt
// from traffic, both ways.
//
// Specifications are read and validated with kin-openapi's loader; the
// parameters' schemas are checked with its validator. Routing is a tree
// of path segments built once by Load, which is cheap enough for the hot
// path of a request audit and needs no http.Request.
//
// What is judged: every path under one of the document's servers' base
// paths (a server of / or no server at all makes that every path), and
// the same paths under another version segment (/api/v1/... beside a
// server of /api/v2). Paths elsewhere (a website beside its API) are left
// to the learnt contract. Host names are not compared: logs often lack
// them, or name an internal host.
//
// The zombie rules:
//   - an operation marked deprecated: true;
//   - an operation reached only through a retired server: one whose
//     x-gatewatch-retired extension is true, or whose description says
//     "retired" or "deprecated";
//   - a path no operation matches whose version segment (v1, v2.1, among
//     its first three segments) is not that of a current server under the
//     same prefix: /api/v1/orders when the servers are /api/v2.
//
// Methods: HEAD is taken for GET when the path documents no HEAD, and
// OPTIONS to a documented path (a CORS preflight, answered by the
// gateway) is not judged. Parameters: query parameters in the form style
// (repeated for arrays, or comma-separated with explode: false) and path
// parameters in the simple style; headers, cookies and bodies are not in
// access logs and are not checked. An unknown query parameter is left to
// the learnt contract, unless the operation (or the document) sets
// x-gatewatch-strict-params: true.
package openapi

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Spec is a loaded OpenAPI specification, ready to check requests. It is
// safe for concurrent use.
type Spec struct {
	doc   *openapi3.T
	root  *node
	ops   []*operation // every operation, in the document's order
	scope []base       // the document's servers
	opts  []openapi3.SchemaValidationOption
}

// base is a server's base path.
type base struct {
	path    string // "/api/v2"; "" for the root
	prefix  string // the part before its version segment: "/api"
	version string // its version segment: "v2"; "" when none
	retired bool
}

// Extensions gatewatch reads.
const (
	extRetired = "x-gatewatch-retired"       // on a server: its operations are zombies
	extStrict  = "x-gatewatch-strict-params" // on an operation or the document: unknown query parameters are violations
)

// Load reads the OpenAPI 3 specification at path (YAML or JSON),
// validates it and builds its router. References to other local files
// are followed; references to URLs are refused.
func Load(path string) (*Spec, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	loader.ReadFromURIFunc = readLocal
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", path, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi: %s: invalid specification: %w", path, err)
	}
	s, err := build(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", path, err)
	}
	return s, nil
}

// readLocal reads a local file the specification refers to, and refuses
// any other location.
func readLocal(loader *openapi3.Loader, location *url.URL) ([]byte, error) {
	if location.Host != "" || (location.Scheme != "" && location.Scheme != "file") {
		return nil, fmt.Errorf("reference to %s: only local files are read", location.Redacted())
	}
	return openapi3.ReadFromFile(loader, location)
}

// build makes the router and the operations' parameter checks of a
// validated document.
func build(doc *openapi3.T) (*Spec, error) {
	s := &Spec{doc: doc, root: &node{}, opts: validationOptions(doc)}
	top, err := servers(doc.Servers)
	if err != nil {
		return nil, err
	}
	s.scope = top
	strictDoc := flag(doc.Extensions, extStrict)
	if doc.Paths == nil {
		return s, nil
	}
	for _, p := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(p)
		ops := item.Operations()
		for _, method := range slices.Sorted(maps.Keys(ops)) {
			op := newOperation(method, p, item, ops[method], strictDoc, s.opts)
			srv, err := top, error(nil)
			switch {
			case op.op.Servers != nil && len(*op.op.Servers) > 0:
				srv, err = servers(*op.op.Servers)
			case len(item.Servers) > 0:
				srv, err = servers(item.Servers)
			}
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, p, err)
			}
			for _, b := range srv {
				if err := s.root.insert(b.path+p, method, &entry{op: op, base: b.path, retired: b.retired, doc: b.path + p}); err != nil {
					return nil, fmt.Errorf("%s %s: %w", method, p, err)
				}
			}
			s.ops = append(s.ops, op)
		}
	}
	return s, nil
}

// validationOptions are the options the parameters are checked with:
// fail on the first error (the violation says what the schema expects,
// not why the validator refused), and validators of the formats uuid and
// email besides kin-openapi's own (date, date-time, byte).
func validationOptions(doc *openapi3.T) []openapi3.SchemaValidationOption {
	opts := []openapi3.SchemaValidationOption{openapi3.FailFast(), openapi3.VisitAsRequest(),
		openapi3.WithStringFormatValidators(map[string]openapi3.StringFormatValidator{
			"uuid":  openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562),
			"email": openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForEmail),
		})}
	return append(opts, doc.GetSchemaValidationOptions()...)
}

// servers are the base paths of a list of servers; the root when there
// is none.
func servers(list openapi3.Servers) ([]base, error) {
	var out []base
	for _, srv := range list {
		if srv == nil {
			continue
		}
		paths, err := serverPaths(srv)
		if err != nil {
			return nil, err
		}
		retired := flag(srv.Extensions, extRetired) || saysRetired(srv.Description)
		for _, p := range paths {
			b := base{path: p, retired: retired}
			b.prefix, b.version = versionIn(p)
			if !slices.Contains(out, b) {
				out = append(out, b)
			}
		}
	}
	if len(out) == 0 {
		out = append(out, base{})
	}
	return out, nil
}

// serverPaths are the base paths a server's URL stands for: its path,
// without scheme, host or trailing slash, with each variable replaced by
// its default and by each value of its enum.
func serverPaths(srv *openapi3.Server) ([]string, error) {
	u := srv.URL
	if _, rest, ok := strings.Cut(u, "://"); ok {
		u = ""
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			u = rest[i:]
		}
	}
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	u = "/" + strings.Trim(u, "/")
	paths := []string{u}
	for name, v := range srv.Variables {
		if v == nil || !strings.Contains(u, "{"+name+"}") {
			continue
		}
		values := append([]string{v.Default}, v.Enum...)
		var next []string
		for _, p := range paths {
			for _, val := range values {
				if q := strings.ReplaceAll(p, "{"+name+"}", val); !slices.Contains(next, q) {
					next = append(next, q)
				}
			}
		}
		paths = next
	}
	for i, p := range paths {
		if strings.ContainsAny(p, "{}") {
			return nil, fmt.Errorf("server %q: a variable without a value", srv.URL)
		}
		paths[i] = strings.TrimSuffix(p, "/")
	}
	return paths, nil
}

// saysRetired reports whether a server's description says it is retired.
func saysRetired(desc string) bool {
	d := strings.ToLower(desc)
	return strings.Contains(d, "retired") || strings.Contains(d, "deprecated")
}

// flag reports whether extension name is set to true.
func flag(ext map[string]any, name string) bool {
	switch v := ext[name].(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

// versionIn finds the version segment (v1, v2.1) among the first three
// segments of a path, and returns what comes before it and the segment.
func versionIn(path string) (prefix, version string) {
	rest := path
	for seg := 0; seg < 3 && strings.HasPrefix(rest, "/"); seg++ {
		s, after, _ := strings.Cut(rest[1:], "/")
		if isVersion(s) {
			return path[:len(path)-len(rest)], s
		}
		rest = "/" + after
		if after == "" {
			break
		}
	}
	return "", ""
}

// isVersion reports whether a path segment is an API version: v or V, a
// digit, then digits and dots, at most 8 bytes (as ingest reads them).
func isVersion(s string) bool {
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

// node is a node of the router: one path segment.
type node struct {
	lits   map[string]*node // literal segments
	params []*edge          // templated segments, in the order met
	ops    map[string]*entry
}

// entry is an operation reached through one server.
type entry struct {
	op      *operation
	base    string // the server's base path
	doc     string // the path as documented, under the server's base path
	retired bool   // the server is retired
}

// edge is a templated segment: "{id}", "{id}.json" or "v{major}.{minor}".
type edge struct {
	text           string // the segment as written
	prefix, suffix string
	name           string         // one variable
	re             *regexp.Regexp // several variables, in names
	names          []string
	next           *node
}

// maxDepth bounds the segments of a documented path.
const maxDepth = 64

// insert adds an operation's entry at path.
func (n *node) insert(path, method string, e *entry) error {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segs) > maxDepth {
		return fmt.Errorf("more than %d path segments", maxDepth)
	}
	for _, seg := range segs {
		if !strings.Contains(seg, "{") {
			if n.lits == nil {
				n.lits = map[string]*node{}
			}
			if n.lits[seg] == nil {
				n.lits[seg] = &node{}
			}
			n = n.lits[seg]
			continue
		}
		i := slices.IndexFunc(n.params, func(e *edge) bool { return e.text == seg })
		if i < 0 {
			ed, err := newEdge(seg)
			if err != nil {
				return err
			}
			n.params = append(n.params, ed)
			i = len(n.params) - 1
		}
		n = n.params[i].next
	}
	if n.ops == nil {
		n.ops = map[string]*entry{}
	}
	if old := n.ops[method]; old == nil || old.retired && !e.retired {
		n.ops[method] = e
	}
	return nil
}

var variable = regexp.MustCompile(`\{([^{}]+)\}`)

// newEdge compiles a templated segment.
func newEdge(seg string) (*edge, error) {
	e := &edge{text: seg, next: &node{}}
	vars := variable.FindAllStringSubmatchIndex(seg, -1)
	if len(vars) == 0 {
		return nil, fmt.Errorf("path segment %q: unbalanced braces", seg)
	}
	if len(vars) == 1 {
		v := vars[0]
		e.prefix, e.name, e.suffix = seg[:v[0]], seg[v[2]:v[3]], seg[v[1]:]
		return e, nil
	}
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, v := range vars {
		b.WriteString(regexp.QuoteMeta(seg[last:v[0]]))
		b.WriteString("([^/]+?)")
		e.names = append(e.names, seg[v[2]:v[3]])
		last = v[1]
	}
	b.WriteString(regexp.QuoteMeta(seg[last:]) + "$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("path segment %q: %w", seg, err)
	}
	e.re = re
	return e, nil
}

// matches reports whether a raw path segment fits the edge.
func (e *edge) matches(seg string) bool {
	if e.re != nil {
		return e.re.MatchString(seg)
	}
	return len(seg) > len(e.prefix)+len(e.suffix) && strings.HasPrefix(seg, e.prefix) && strings.HasSuffix(seg, e.suffix)
}

// capture is a templated segment a path went through, and its raw value.
type capture struct {
	e   *edge
	seg string
}

// route is where a path led: the entry of its method, the captures on the
// way, and otherwise a node of the same path with other methods.
type route struct {
	e    *entry
	caps [8]capture
	n    int
	near *node
}

// find follows path from n, literal segments before templated ones, and
// stops at the first node with an operation for method; the first node
// with operations for other methods is kept in r.near.
func (n *node) find(path, method string, r *route, depth int) *entry {
	if path == "" {
		if e := n.entry(method); e != nil {
			r.e = e
			return e
		}
		if n.ops != nil && r.near == nil {
			r.near = n
		}
		return nil
	}
	if path[0] != '/' || depth >= maxDepth {
		return nil
	}
	seg, rest := path[1:], ""
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg, rest = seg[:i], seg[i:]
	}
	lit := seg
	if strings.IndexByte(seg, '%') >= 0 {
		if d, err := url.PathUnescape(seg); err == nil {
			lit = d
		}
	}
	if next := n.lits[lit]; next != nil {
		if e := next.find(rest, method, r, depth+1); e != nil {
			return e
		}
	}
	for _, ed := range n.params {
		if !ed.matches(seg) {
			continue
		}
		k := r.n
		if k < len(r.caps) {
			r.caps[k] = capture{ed, seg}
		}
		r.n++
		if e := ed.next.find(rest, method, r, depth+1); e != nil {
			return e
		}
		r.n = k
	}
	return nil
}

// entry is the node's operation for method: HEAD falls back on GET.
func (n *node) entry(method string) *entry {
	if e := n.ops[method]; e != nil {
		return e
	}
	if method == "HEAD" {
		return n.ops["GET"]
	}
	return nil
}

// documented says what a node documents: "GET|POST on /api/v2/orders".
func (n *node) documented() string {
	ms := slices.Sorted(maps.Keys(n.ops))
	return strings.Join(ms, "|") + " on " + n.ops[ms[0]].doc
}
