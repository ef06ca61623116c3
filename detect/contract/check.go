package contract

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/corazawaf/libinjection-go"

	"github.com/gatewatch/gatewatch/ingest"
)

// Reason says how a request falls outside the contract.
type Reason string

// Reasons.
const (
	UnknownRoute   Reason = "unknown_route"    // a route never served, under a prefix that is
	UnknownVersion Reason = "unknown_version"  // an API version not in use (retired or never released)
	ProbeFile      Reason = "probe_file"       // a backup, config or source file asked for
	Traversal      Reason = "traversal"        // a path climbing out of its directory ("/scripts/../../winnt")
	UnknownParam   Reason = "unknown_param"    // a parameter name the route never takes
	WrongKind      Reason = "wrong_kind"       // a value of another kind, or not one of an enum's values
	TooLong        Reason = "too_long"         // a value far longer than any learned
	OutOfRange     Reason = "out_of_range"     // an integer far outside the range a query parameter takes
	UnexpectedChar Reason = "unexpected_chars" // characters of a class the parameter never takes
	Injection      Reason = "injection"        // SQL or script that libinjection recognises, in a value whose characters are allowed

	// Against an OpenAPI specification (detect/contract/openapi):
	ShadowEndpoint  Reason = "shadow_endpoint"  // an operation the specification does not document
	ZombieEndpoint  Reason = "zombie_endpoint"  // a deprecated operation, or one of a retired version or server
	SchemaViolation Reason = "schema_violation" // a parameter the operation's schema refuses (type, enum, pattern, range, length, required)
)

// Violation is one way a request falls outside the contract.
type Violation struct {
	Reason   Reason `json:"reason"`
	Param    string `json:"param,omitempty"`
	Expected string `json:"expected,omitempty"` // what the contract says: "integer", "an integer 1-99", "one of asc|desc", "at most 24 bytes"
	Got      string `json:"got,omitempty"`      // the value (quoted, cut to maxGot bytes) or what was asked for
}

// maxGot bounds the part of a value a Violation quotes.
const maxGot = 64

// Check appends to out the ways ev falls outside the contract and returns
// it; nothing for a request that fits, or one to a part of the API the
// model knows nothing of. Call Freeze first.
func (m *Model) Check(ev *ingest.Event, out []Violation) []Violation {
	if ev.Route == "" {
		return out
	}
	if ev.APIVersion != "" && len(m.versions) > 0 {
		if s := m.versions[ev.Host+" "+ev.APIVersion]; s == nil || !m.keep(*s) {
			if in := m.versionsOf(ev.Host); in != "" {
				out = append(out, Violation{Reason: UnknownVersion, Expected: in, Got: ev.APIVersion})
			}
		}
	}
	r := m.routes[routeKey(ev.Host, ev.Method, ev.Route)]
	if r == nil || !r.known {
		return m.checkUnknownRoute(ev, out)
	}
	each := func(name, value string, decoded bool) { out = m.checkParam(r, name, value, decoded, out) }
	forEachPathValue(ev.Route, ev.Path, each)
	forEachParam(ev.Query, each)
	return out
}

// checkUnknownRoute: a probe for a file, or a route under a served prefix.
func (m *Model) checkUnknownRoute(ev *ingest.Event, out []Violation) []Violation {
	if traversal(ev.Path) {
		return append(out, Violation{Reason: Traversal, Got: ev.Method + " " + quote(ev.Path)})
	}
	if probeFile(ev.Path) && !m.serves(ev.Host, ev.Path) {
		return append(out, Violation{Reason: ProbeFile, Got: ev.Method + " " + quote(ev.Path)})
	}
	prefixesOf(ev.Route, func(p string) bool {
		if m.open[ev.Host+" "+p] {
			return false
		}
		if s := m.prefixes[ev.Host+" "+p]; s != nil && m.keep(*s) {
			out = append(out, Violation{Reason: UnknownRoute, Expected: "a route served under " + p, Got: ev.Method + " " + quote(ev.Route)})
			return false
		}
		return true
	})
	return out
}

// checkParam checks one parameter of a known route.
func (m *Model) checkParam(r *route, name, value string, decoded bool, out []Violation) []Violation {
	p := r.params[name]
	if p == nil || !p.known {
		if r.overflow {
			return out
		}
		return append(out, Violation{Reason: UnknownParam, Param: quote(name), Got: quote(value)})
	}
	if value == ingest.Redacted || !p.shaped {
		return out
	}
	s := shapeOfParam(value, decoded)
	before := len(out)
	switch {
	case p.kindSet != 0 && !fits(s.Kind, p.kindSet):
		out = append(out, Violation{Reason: WrongKind, Param: name, Expected: p.kindText(), Got: quote(value)})
	case p.enumSet != nil && s.Kind != KindEmpty && !slices.Contains(p.enumSet, value):
		out = append(out, Violation{Reason: WrongKind, Param: name, Expected: "one of " + strings.Join(p.enumSet, "|"), Got: quote(value)})
	case p.ranged && s.Kind == KindInt && p.outOfRange(value):
		out = append(out, Violation{Reason: OutOfRange, Param: name, Expected: p.kindText(), Got: quote(value)})
	}
	if extra := s.Class &^ p.classSet; extra != 0 && p.kindSet != 0 {
		out = append(out, Violation{Reason: UnexpectedChar, Param: name, Expected: "only " + p.classSet.String(),
			Got: extra.String() + " in " + quote(value)})
	}
	if limit := int(m.opts.LengthSlack*float64(p.maxLen)) + 8; p.kindSet != 0 && s.Len > limit {
		out = append(out, Violation{Reason: TooLong, Param: name, Expected: "at most " + strconv.Itoa(p.maxLen) + " bytes",
			Got: strconv.Itoa(s.Len) + " bytes: " + quote(value)})
	}
	if len(out) == before && mayInject(s.Class, value) && injection(value) {
		out = append(out, Violation{Reason: Injection, Param: name, Expected: "no SQL or script", Got: quote(value)})
	}
	return out
}

// injectable are the classes without which a value cannot carry SQL or
// script that libinjection would recognise.
const injectable = ClassQuote | ClassAngle | ClassParen | ClassSemi | ClassPunct

// mayInject reports whether a value of classes c is worth libinjection's
// time (2-3 µs and dozens of allocations): it holds quotes, angle
// brackets, brackets or semicolons, or punctuation other than the
// separators of identifiers, dates, lists and addresses (- _ . , : ~ @ +,
// each alone: "--" and "@@" count). Ids like "u-1234", dates and "a,b"
// lists are most values with punctuation, and carry no SQL or script.
func mayInject(c Class, v string) bool {
	switch {
	case c&(injectable&^ClassPunct) != 0:
		return true
	case c&ClassPunct == 0:
		return false
	}
	for i := 0; i < len(v); i++ {
		switch b := v[i]; b {
		case '-', '@':
			if i+1 < len(v) && v[i+1] == b {
				return true
			}
		case '_', '.', ',', ':', '~', '+':
		default:
			if b < 0x80 && byteClass[b] == ClassPunct {
				return true
			}
		}
	}
	return false
}

// injection reports whether libinjection finds SQL or XSS in v.
func injection(v string) bool {
	if sqli, _ := libinjection.IsSQLi(v); sqli {
		return true
	}
	return libinjection.IsXSS(v)
}

// serves reports whether host serves files of path's extension: a site
// that publishes .gz archives is not probed by a request for one.
func (m *Model) serves(host, path string) bool {
	x := extension(path)
	s := m.exts[host+" "+x]
	return x != "" && s != nil && m.keep(*s)
}

// versionsOf lists the API versions in use on host ("v2" or "v1, v2").
func (m *Model) versionsOf(host string) string {
	var vs []string
	for k, s := range m.versions {
		if h, v, _ := strings.Cut(k, " "); h == host && m.keep(*s) {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	return strings.Join(vs, ", ")
}

// kindsText names a set of kinds ("integer or decimal").
func kindsText(set uint16) string {
	var names []string
	for k := range numKinds {
		if k != KindEmpty && set&(1<<k) != 0 {
			names = append(names, k.String())
		}
	}
	return strings.Join(names, " or ")
}

// quote quotes v for a Violation: Go syntax (control bytes and invalid
// UTF-8 escaped), cut to maxGot bytes.
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

// probeFile reports whether path asks for a backup, config, source or
// metadata file, which an API does not serve.
func probeFile(path string) bool {
	p := strings.ToLower(path)
	base := p[strings.LastIndexByte(p, '/')+1:]
	for _, s := range probeSuffixes {
		if strings.HasSuffix(base, s) {
			return true
		}
	}
	for _, s := range probeParts {
		if strings.Contains(p, s) {
			return true
		}
	}
	// A dotfile or a dot-directory (/.aws/credentials), but for
	// /.well-known/.
	for _, seg := range strings.Split(p, "/") {
		if len(seg) > 1 && seg[0] == '.' && seg[1] != '.' && seg != ".well-known" {
			return true
		}
	}
	return false
}

// traversal reports whether path has a ".." segment, plainly or
// percent-encoded, with either slash.
func traversal(path string) bool {
	if !strings.Contains(path, "..") && !strings.Contains(path, "%") {
		return false
	}
	p := strings.ReplaceAll(path, "\\", "/")
	if d, err := url.PathUnescape(p); err == nil {
		p = strings.ReplaceAll(d, "\\", "/")
	}
	return p == ".." || strings.HasPrefix(p, "../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "/../")
}

var (
	probeSuffixes = []string{"~", ".bak", ".backup", ".old", ".orig", ".save", ".swp", ".swo", ".tmp", ".copy", ".dist",
		".sql", ".sqlite", ".db", ".mdb", ".ini", ".conf", ".cfg", ".config", ".yml", ".yaml", ".toml", ".properties",
		".log", ".tar", ".tgz", ".gz", ".zip", ".rar", ".7z", ".war", ".jar", ".inc", ".pem", ".key"}
	probeParts = []string{"/.git/", "/.svn/", "/.hg/", "/web-inf/", "/meta-inf/", "/.well-known/../", "/wp-config", "/phpinfo"}
)
