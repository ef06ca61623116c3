// Package contract learns the shape of an API from its traffic — each
// route's methods and, per query parameter, the kinds of value, the
// character classes, the lengths and the integer range it takes — and
// says which requests
// fall outside it: "this request is unlike anything this API accepts",
// where the detectors' baselines say "this client behaves unlike itself".
//
// A Model learns from events (Learn), is frozen into a contract (Freeze),
// then checks events against it (Check). What it learns is robust to
// poisoning: a route, a parameter, a kind, a character class, a length
// or the bound of a range becomes part of the contract only once Options.MinClients distinct
// clients have shown it in requests answered below 400, so one attacker
// present during learning — or an attack refused by the API — does not
// widen it.
//
// Checks: an unknown route under a prefix the API serves (or a retired
// API version), a probe for a backup, config or source file, an unknown
// parameter name, a value of another kind (SQL where an integer belongs),
// a value far longer than any learned, an integer far outside the range
// a query parameter takes (qty=100000 where 1 to 99 are learnt), and
// characters of a class the parameter never takes (a quote in an
// identifier, markup in free text, control bytes, double encoding, "..").
package contract

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// Options configure a Model. The zero value works.
type Options struct {
	// MinClients is how many distinct clients must show a route, a
	// parameter, a kind, a character class or a length before it is part
	// of the contract (default 2, at most 3).
	MinClients int
	// MaxRoutes bounds the routes learned (default 2,000) and MaxParams
	// the parameters per route (default 48); beyond, new ones are not
	// learned, and a route whose parameters overflowed has its unknown
	// names let through.
	MaxRoutes, MaxParams int
	// LengthSlack: a value may be up to LengthSlack times the longest
	// learned length plus 8 bytes (default 2).
	LengthSlack float64
}

func (o Options) withDefaults() Options {
	o.MinClients = min(max(o.MinClients, 0), 3)
	if o.MinClients == 0 {
		o.MinClients = 2
	}
	if o.MaxRoutes <= 0 {
		o.MaxRoutes = 2000
	}
	if o.MaxParams <= 0 {
		o.MaxParams = 48
	}
	if !(o.LengthSlack >= 1) || math.IsInf(o.LengthSlack, 0) {
		o.LengthSlack = 2
	}
	return o
}

// support counts distinct clients, up to three, by key hash.
type support struct {
	a, b uint64
	n    uint8
}

func (s *support) add(h uint64) {
	switch {
	case s.n == 0:
		s.a, s.n = h, 1
	case s.n == 1 && h != s.a:
		s.b, s.n = h, 2
	case s.n == 2 && h != s.a && h != s.b:
		s.n = 3
	}
}

// lenClient is a length learnt and the client that sent it.
type lenClient struct {
	n int
	h uint64
}

// minShapeValues is how many values a parameter needs before its values'
// kinds, characters and lengths are judged: fewer say too little of what
// it takes (only its name is checked then).
const minShapeValues = 30

// maxEnum is how many distinct values an enumerated parameter may have.
const maxEnum = 12

// minEnumValues is how many learned values make a parameter an enum.
const minEnumValues = 100

// param is what is learned of one parameter of one route.
type param struct {
	seen    support
	kinds   [numKinds]support
	classes [numClasses]support
	longest [3]lenClient // the longest values of distinct clients, longest first
	values  int          // values learned
	enum    []enumValue  // distinct values, while at most maxEnum
	enumOff bool         // more than maxEnum distinct values
	ints    *intExtremes // of a query parameter's integer values; nil before the first

	// The contract, set by Freeze.
	known    bool
	kindSet  uint16
	classSet Class
	maxLen   int      // the MinClients-th longest length from distinct clients
	shaped   bool     // minShapeValues learnt: kinds, characters and lengths are judged
	enumSet  []string // nil: not an enum
	// ranged: integers outside [below, above] are out of range; [lo, hi]
	// is the range learnt (freezeRange).
	ranged               bool
	lo, hi, below, above int64
}

type enumValue struct {
	v string
	s support
}

// route is what is learned of one method and route template.
type route struct {
	seen     support
	params   map[string]*param
	overflow bool
	known    bool
}

// Model learns a contract from events and checks events against it. It
// is not safe for concurrent use.
type Model struct {
	opts     Options
	routes   map[string]*route // host, method and template
	prefixes map[string]*support
	versions map[string]*support // host and API version
	exts     map[string]*support // host and file extension served (".gz")
	open     map[string]bool     // prefixes of many routes each seen by one client: a file tree, not an API (Freeze)
	frozen   bool
	key      [2]uint64 // of the client hashes (hashClient), random, saved with the model
	// learnStart and learnedN are a Checker's learning progress, saved
	// with the model (Checker.Save) and restored by LoadChecker.
	learnStart time.Time
	learnedN   int64
}

// New returns an empty Model.
func New(opts Options) *Model {
	m := newModel(opts)
	var k [16]byte
	_, _ = rand.Read(k[:]) // never fails (crypto/rand.Read crashes the program rather)
	m.key = [2]uint64{binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:])}
	return m
}

// newModel returns an empty Model with a zero key.
func newModel(opts Options) *Model {
	return &Model{opts: opts.withDefaults(), routes: map[string]*route{}, prefixes: map[string]*support{},
		versions: map[string]*support{}, exts: map[string]*support{}}
}

// Frozen reports whether the model was frozen: it checks and learns no
// more.
func (m *Model) Frozen() bool { return m.frozen }

// routeKey is the key of a route: host, method and template.
func routeKey(host, method, tmpl string) string {
	return host + " " + method + " " + tmpl
}

// prefixesOf calls f with each proper path prefix of tmpl of one or two
// segments ("/api/v2", then "/api"), longest first, until f returns false.
func prefixesOf(tmpl string, f func(p string) bool) {
	var ends [2]int
	n := 0
	for i := 1; i < len(tmpl) && n < 2; i++ {
		if tmpl[i] == '/' {
			ends[n] = i
			n++
		}
	}
	for j := n - 1; j >= 0; j-- {
		if !f(tmpl[:ends[j]]) {
			return
		}
	}
}

// keep reports whether s shows enough distinct clients.
func (m *Model) keep(s support) bool { return int(s.n) >= m.opts.MinClients }

// Route is a route the model learnt, with what the contract says of it.
type Route struct {
	Host, Method, Template string
	Known                  bool     // MinClients clients were answered below 400 (after Freeze)
	Params                 []string // its parameters known to the contract, sorted (after Freeze)
}

// Routes returns the routes learnt, sorted by host, template and method.
func (m *Model) Routes() []Route {
	out := make([]Route, 0, len(m.routes))
	for k, r := range m.routes {
		host, rest, _ := strings.Cut(k, " ")
		method, tmpl, _ := strings.Cut(rest, " ")
		rt := Route{Host: host, Method: method, Template: tmpl, Known: r.known}
		for name, p := range r.params {
			if p.known && !strings.HasPrefix(name, "{") {
				rt.Params = append(rt.Params, name)
			}
		}
		slices.Sort(rt.Params)
		out = append(out, rt)
	}
	slices.SortFunc(out, func(a, b Route) int {
		return cmp.Or(strings.Compare(a.Host, b.Host), strings.Compare(a.Template, b.Template), strings.Compare(a.Method, b.Method))
	})
	return out
}

// Stats are the size of a Model.
type Stats struct {
	Routes      int `json:"routes"`       // routes learnt
	KnownRoutes int `json:"known_routes"` // routes part of the contract (after Freeze; 0 before)
	Params      int `json:"params"`       // parameters learnt, over all routes
	Sets        int `json:"sets"`         // path prefixes, API versions and file extensions learnt
	// Bytes is an estimate of the memory the model holds, from the sizes
	// of its structures, its strings and its maps' slots: within a
	// quarter or so of what the heap holds for it. BytesPerRoute is Bytes
	// over Routes.
	Bytes         int64 `json:"bytes"`
	BytesPerRoute int64 `json:"bytes_per_route"`
}

// Stats returns the size of the model.
func (m *Model) Stats() Stats {
	st := Stats{Routes: len(m.routes), Sets: len(m.prefixes) + len(m.versions) + len(m.exts)}
	b := int64(unsafe.Sizeof(*m))
	b += mapBytes(len(m.routes), unsafe.Sizeof(""), unsafe.Sizeof(&route{}))
	for k, r := range m.routes {
		if r.known {
			st.KnownRoutes++
		}
		st.Params += len(r.params)
		b += int64(len(k)) + allocBytes(unsafe.Sizeof(*r)) + mapBytes(len(r.params), unsafe.Sizeof(""), unsafe.Sizeof(&param{}))
		for name, p := range r.params {
			b += int64(len(name)) + allocBytes(unsafe.Sizeof(*p)) + int64(cap(p.enum))*int64(unsafe.Sizeof(enumValue{}))
			for _, e := range p.enum {
				b += int64(len(e.v))
			}
			b += int64(cap(p.enumSet)) * int64(unsafe.Sizeof(""))
			if p.ints != nil {
				b += allocBytes(unsafe.Sizeof(*p.ints))
			}
		}
	}
	for _, set := range []map[string]*support{m.prefixes, m.versions, m.exts} {
		b += mapBytes(len(set), unsafe.Sizeof(""), unsafe.Sizeof(&support{}))
		for k := range set {
			b += int64(len(k)) + allocBytes(unsafe.Sizeof(support{}))
		}
	}
	b += mapBytes(len(m.open), unsafe.Sizeof(""), unsafe.Sizeof(true))
	for k := range m.open {
		b += int64(len(k))
	}
	st.Bytes = b
	if st.Routes > 0 {
		st.BytesPerRoute = b / int64(st.Routes)
	}
	return st
}

// mapBytes estimates the memory of a map of n entries: its slots (a
// control byte, the key and the element), three in two taken on average
// (Go's tables are between 7/16 and 7/8 full), and a header.
func mapBytes(n int, key, elem uintptr) int64 {
	return 48 + int64(n)*int64(key+elem+1)*3/2
}

// allocBytes estimates the memory an allocation of n bytes takes: n
// rounded up to the allocator's size classes (16 bytes apart up to 256,
// then about an eighth apart).
func allocBytes(n uintptr) int64 {
	if n <= 256 {
		return int64((n + 15) &^ 15)
	}
	step := uintptr(1) << (bits.Len(uint(n)) - 4)
	return int64((n + step - 1) &^ (step - 1))
}
