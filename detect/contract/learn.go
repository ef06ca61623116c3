package contract

import (
	"math/bits"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatewatch/gatewatch/ingest"
)

// hashClient is the hash a support counts client s by: SipHash-2-4 under
// the model's key, so the hashes a saved model holds stay valid in the
// process that loads it (the key is saved with it).
func (m *Model) hashClient(s string) uint64 { return sipHash(m.key[0], m.key[1], s) }

// sipHash is SipHash-2-4 of s under the key (k0, k1): fast on the short
// keys clients have, and stable across processes and Go versions.
func sipHash(k0, k1 uint64, s string) uint64 {
	v0, v1 := k0^0x736f6d6570736575, k1^0x646f72616e646f6d
	v2, v3 := k0^0x6c7967656e657261, k1^0x7465646279746573
	t := uint64(len(s)) << 56
	for ; len(s) >= 8; s = s[8:] {
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		v3 ^= w
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= w
	}
	for i := range len(s) {
		t |= uint64(s[i]) << (8 * i)
	}
	v3 ^= t
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= t
	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13) ^ v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16) ^ v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21) ^ v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17) ^ v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// Learn adds an event to what the model learns. Only requests answered
// below 400 teach it: what the API refused is not part of its contract.
// Events after Freeze are ignored.
func (m *Model) Learn(ev *ingest.Event) {
	if m.frozen || ev.Status >= 400 || ev.Status < 100 || ev.Route == "" {
		return
	}
	h := m.hashClient(ev.ClientKey)
	r := m.route(ev)
	if r == nil {
		return
	}
	r.seen.add(h)
	prefixesOf(ev.Route, func(p string) bool {
		m.supportOf(m.prefixes, ev.Host+" "+p).add(h)
		return true
	})
	if ev.APIVersion != "" {
		m.supportOf(m.versions, ev.Host+" "+ev.APIVersion).add(h)
	}
	if x := extension(ev.Path); x != "" {
		m.supportOf(m.exts, ev.Host+" "+x).add(h)
	}
	learn := func(name, value string, decoded bool) {
		p := m.param(r, name)
		if p == nil {
			return
		}
		p.seen.add(h)
		if value == ingest.Redacted {
			return
		}
		s := shapeOfParam(value, decoded)
		p.kinds[s.Kind].add(h)
		for c := s.Class; c != 0; c &= c - 1 {
			p.classes[bitsTrailing(c)].add(h)
		}
		p.learnLen(s.Len, h)
		if s.Kind == KindInt && !isPathParam(name) {
			p.learnInt(intValue(value), h)
		}
		p.values++
		p.learnEnum(value, h)
	}
	forEachPathValue(ev.Route, ev.Path, learn)
	forEachParam(ev.Query, learn)
}

// route returns the route of ev, created when new and room is left.
func (m *Model) route(ev *ingest.Event) *route {
	k := routeKey(ev.Host, ev.Method, ev.Route)
	r := m.routes[k]
	if r == nil && len(m.routes) < m.opts.MaxRoutes {
		r = &route{params: map[string]*param{}}
		m.routes[strings.Clone(k)] = r
	}
	return r
}

// supportOf returns the support of key in set, created when new (sets
// are bounded by the routes: a route has at most two prefixes).
func (m *Model) supportOf(set map[string]*support, key string) *support {
	s := set[key]
	if s == nil {
		if len(set) >= 2*m.opts.MaxRoutes {
			return &support{}
		}
		s = &support{}
		set[strings.Clone(key)] = s
	}
	return s
}

// param returns route r's parameter name, created when new and room is
// left (nil when not).
func (m *Model) param(r *route, name string) *param {
	p := r.params[name]
	if p == nil {
		if len(r.params) >= m.opts.MaxParams {
			r.overflow = true
			return nil
		}
		p = &param{}
		r.params[strings.Clone(name)] = p
	}
	return p
}

// learnLen keeps n among the longest lengths of distinct clients.
func (p *param) learnLen(n int, h uint64) {
	t := &p.longest
	for i := range t {
		if t[i].h == h && t[i].n > 0 {
			if n <= t[i].n {
				return
			}
			copy(t[i:], t[i+1:]) // the client's shorter entry goes
			t[len(t)-1] = lenClient{}
			break
		}
	}
	for i := range t {
		if n > t[i].n {
			copy(t[i+1:], t[i:len(t)-1])
			t[i] = lenClient{n: n, h: h}
			return
		}
	}
}

// learnEnum counts value among the parameter's few distinct values.
func (p *param) learnEnum(value string, h uint64) {
	if p.enumOff {
		return
	}
	for i := range p.enum {
		if p.enum[i].v == value {
			p.enum[i].s.add(h)
			return
		}
	}
	if len(p.enum) == maxEnum || len(value) > 32 {
		p.enum, p.enumOff = nil, true
		return
	}
	e := enumValue{v: strings.Clone(value)}
	e.s.add(h)
	p.enum = append(p.enum, e)
}

// Freeze turns what was learned into the contract Check uses. Learning
// stops.
func (m *Model) Freeze() {
	m.frozen = true
	lone := map[string][2]int{} // per prefix: routes of one client, known routes
	for k, r := range m.routes {
		r.known = m.keep(r.seen)
		for name, p := range r.params {
			m.freezeParam(p, name)
		}
		host, rest, _ := strings.Cut(k, " ")
		_, tmpl, _ := strings.Cut(rest, " ")
		prefixesOf(tmpl, func(p string) bool {
			c := lone[host+" "+p]
			if r.known {
				c[1]++
			} else if r.seen.n == 1 {
				c[0]++
			}
			lone[host+" "+p] = c
			return true
		})
	}
	m.open = map[string]bool{}
	for p, c := range lone {
		if c[0] >= openLone && c[0] > openRatio*c[1] {
			m.open[p] = true
		}
	}
}

// A prefix under which at least openLone routes were each requested by
// one client, more than openRatio times its known routes, is a tree of
// files (a download directory, a blog's pages): a route not learnt there
// is content nobody else happened to ask for, not a route the API lacks.
const (
	openLone  = 10
	openRatio = 1
)

// freezeParam sets the contract of parameter name from what was learnt.
func (m *Model) freezeParam(p *param, name string) {
	p.known = m.keep(p.seen)
	for k, s := range p.kinds {
		if m.keep(s) {
			p.kindSet |= 1 << k
		}
	}
	for c, s := range p.classes {
		if m.keep(s) {
			p.classSet |= 1 << c
		}
	}
	p.maxLen = p.longest[m.opts.MinClients-1].n
	p.shaped = p.values >= minShapeValues
	if !p.enumOff && p.values >= minEnumValues {
		for _, e := range p.enum {
			if m.keep(e.s) {
				p.enumSet = append(p.enumSet, e.v)
			}
		}
		slices.Sort(p.enumSet)
	}
	p.enum = nil
	m.freezeRange(p, name)
}

// forEachParam calls f with each parameter of a query string, its name
// and value percent-decoded (decoded is false when the value did not
// decode, and is passed as it was).
func forEachParam(q string, f func(name, value string, decoded bool)) {
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(k); err == nil {
			k = n
		}
		d, err := url.QueryUnescape(v)
		if err != nil {
			f(k, v, false)
			continue
		}
		f(k, d, true)
	}
}

// forEachPathValue calls f with the values of the templated segments of
// path ("{id}" in route /orders/{id}), each named for its placeholder and
// position ("{id}@2"), decoded. Nothing when route and path do not have
// the same segments.
func forEachPathValue(route, path string, f func(name, value string, decoded bool)) {
	if strings.IndexByte(route, '{') < 0 || strings.Count(route, "/") != strings.Count(path, "/") {
		return
	}
	for i := 0; route != ""; i++ {
		var rs, ps string
		rs, route, _ = strings.Cut(route, "/")
		ps, path, _ = strings.Cut(path, "/")
		if len(rs) < 2 || rs[0] != '{' {
			continue
		}
		name := rs + "@" + strconv.Itoa(i)
		if d, err := url.PathUnescape(ps); err == nil {
			f(name, d, true)
		} else {
			f(name, ps, false)
		}
	}
}

// shapeOfParam is the shape of a parameter value; one that did not
// decode counts as double-encoded.
func shapeOfParam(v string, decoded bool) Shape {
	s := ShapeOf(v)
	if !decoded {
		s.Class |= ClassPercent
	}
	return s
}

func bitsTrailing(c Class) int {
	n := 0
	for c&1 == 0 {
		c >>= 1
		n++
	}
	return n
}

// extension is the lower-cased extension of path's last segment (".gz",
// "~" for an editor's backup), "" for none.
func extension(path string) string {
	base := path[strings.LastIndexByte(path, '/')+1:]
	if strings.HasSuffix(base, "~") {
		return "~"
	}
	i := strings.LastIndexByte(base, '.')
	if i <= 0 || len(base)-i > 12 {
		return ""
	}
	return strings.ToLower(base[i:])
}
