// Package inventory learns an API's endpoint inventory from its traffic:
// per host, every route template and method, how often and by how many
// clients it is called, its status mix, its typical response size,
// whether it normally requires authentication, when it was first and last
// seen and which API versions call it.
//
// An Inventory observes normalised events (ingest.Event) one by one in
// bounded memory: at most Options.MaxEndpoints endpoints, each about a
// kilobyte (its clients, counted exactly while few and then by a
// HyperLogLog, and a log-bucket histogram of its response sizes), with
// the endpoints least worth keeping evicted when a new one comes. It is saved to and restored from
// a versioned JSON file (Save, Load), so learning continues across runs,
// and two inventories merge (Merge). ReadLogs reads access-log files into
// one; WriteTable and WriteJSON print what it learnt.
//
// # Authentication required
//
// A request carries credentials when the Normalizer keyed its client by
// one (an API key, a JWT or basic-auth subject, a client certificate, a
// bearer token: ingest.ClientKind other than ip, host or unknown) or the
// log says the gateway accepted them (ingest.AuthOK, AuthForbidden). An
// endpoint requires authentication when at least MinAuthEvidence requests
// came without credentials and at least AnonDeniedShare (80%) of them were
// answered 401 or 403, and the requests with credentials, when there are
// at least MinAuthEvidence of them, were mostly (more than half) not
// answered 401 or 403: an endpoint that turns everyone away is broken or
// retired, not protected. A log that records no credentials at all
// (nginx's combined format without $remote_user) shows every request as
// anonymous, so there an endpoint requires authentication only when at
// least 80% of all its callers are turned away.
package inventory

import (
	"cmp"
	"math/bits"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/gatewatch/gatewatch/ingest"
)

// DefaultMaxEndpoints is Options.MaxEndpoints when it is not set.
const DefaultMaxEndpoints = 10_000

// MaxVersions bounds the API versions kept per endpoint; further versions
// are not recorded.
const MaxVersions = 8

// The authentication rule (see the package doc).
const (
	// MinAuthEvidence is the fewest requests, without or with
	// credentials, the rule judges from.
	MinAuthEvidence = 5
	// AnonDeniedShare is the share of requests without credentials that
	// must be answered 401 or 403.
	AnonDeniedShare = 0.8
)

// Options configure an Inventory.
type Options struct {
	// MaxEndpoints bounds the endpoints kept (DefaultMaxEndpoints when 0
	// or less). Beyond it the endpoints with the fewest requests, least
	// recently seen first, are evicted.
	MaxEndpoints int
}

// Inventory is the endpoint inventory learnt from traffic. It is not
// safe for concurrent use. Create one with New or Load.
type Inventory struct {
	max     int
	byKey   map[key]*endpoint
	list    []*endpoint // every endpoint, in insertion order but for evictions
	evicted int64
	skipped int64 // events without a route
	victims []*endpoint
}

// key identifies an endpoint.
type key struct{ host, method, route string }

// endpoint is what an Inventory keeps of one endpoint.
type endpoint struct {
	key
	idx         int // position in Inventory.list
	requests    int64
	status      [statusSlots]int64
	anon        int64 // requests without credentials
	anonDenied  int64 // of them, answered 401 or 403
	cred        int64 // requests with credentials
	credDenied  int64 // of them, answered 401 or 403
	first, last int64 // event times, Unix nanoseconds; 0 when none had a time
	versions    []string
	clients     clients
	sizes       hist
}

// Status slots of endpoint.status, in StatusMix's order.
const (
	s2xx = iota
	s3xx
	s4xx
	s5xx
	s401403
	s404
	statusSlots
)

// New returns an empty Inventory.
func New(o Options) *Inventory {
	if o.MaxEndpoints <= 0 {
		o.MaxEndpoints = DefaultMaxEndpoints
	}
	return &Inventory{max: o.MaxEndpoints, byKey: make(map[key]*endpoint)}
}

// MaxEndpoints is the bound on the endpoints kept.
func (inv *Inventory) MaxEndpoints() int { return inv.max }

// Observe counts one request. Events without a route are skipped. It
// allocates only for an endpoint it has not seen (and a new API version
// of one).
func (inv *Inventory) Observe(ev *ingest.Event) {
	if ev.Route == "" {
		inv.skipped++
		return
	}
	e := inv.byKey[key{ev.Host, ev.Method, ev.Route}]
	if e == nil {
		e = inv.insert(key{strings.Clone(ev.Host), ownMethod(ev.Method), strings.Clone(ev.Route)})
	}
	e.requests++
	denied := ev.Status == 401 || ev.Status == 403
	e.countStatus(ev.Status, 1)
	if hasCredentials(ev) {
		e.cred++
		e.credDenied += b2i(denied)
	} else {
		e.anon++
		e.anonDenied += b2i(denied)
	}
	e.clients.add(clientHash(ev.ClientKey))
	e.sizes.add(bucketOf(ev.BytesOut), 1)
	if !ev.Time.IsZero() {
		e.seen(ev.Time.UnixNano(), ev.Time.UnixNano())
	}
	if ev.APIVersion != "" && !slices.Contains(e.versions, ev.APIVersion) && len(e.versions) < MaxVersions {
		e.versions = append(e.versions, strings.Clone(ev.APIVersion))
	}
}

// ownMethod returns a copy of the method the event may alias, sharing
// the common ones.
func ownMethod(m string) string {
	for _, c := range [...]string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"} {
		if m == c {
			return c
		}
	}
	return strings.Clone(m)
}

// hasCredentials reports whether a request carried credentials: its
// client is keyed by one, or the gateway logged that it accepted them.
func hasCredentials(ev *ingest.Event) bool {
	switch ev.ClientKind {
	case ingest.ClientAPIKey, ingest.ClientJWTSub, ingest.ClientMTLS, ingest.ClientToken:
		return true
	}
	return ev.Auth == ingest.AuthOK || ev.Auth == ingest.AuthForbidden
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// countStatus adds n responses of a status to the mix.
func (e *endpoint) countStatus(status int, n int64) {
	if c := status/100 - 2; c >= 0 && c <= 3 {
		e.status[c] += n
	}
	switch status {
	case 401, 403:
		e.status[s401403] += n
	case 404:
		e.status[s404] += n
	}
}

// seen widens the first and last seen times to [first, last].
func (e *endpoint) seen(first, last int64) {
	if e.first == 0 || first < e.first {
		e.first = first
	}
	if last > e.last {
		e.last = last
	}
}

// insert adds an endpoint, first evicting when the inventory is full.
func (inv *Inventory) insert(k key) *endpoint {
	if len(inv.list) >= inv.max {
		inv.evict()
	}
	e := &endpoint{key: k, idx: len(inv.list)}
	inv.byKey[k] = e
	inv.list = append(inv.list, e)
	return e
}

// authRequired applies the authentication rule (see the package doc).
func (e *endpoint) authRequired() bool {
	if e.anon < MinAuthEvidence || float64(e.anonDenied) < AnonDeniedShare*float64(e.anon) {
		return false
	}
	return e.cred < MinAuthEvidence || 2*e.credDenied < e.cred
}

// Endpoint is what the inventory learnt of one endpoint: a host, a method
// and a route template.
type Endpoint struct {
	Host     string `json:"host"`
	Method   string `json:"method"`
	Route    string `json:"route"`
	Requests int64  `json:"requests"`
	// Clients is the number of distinct clients: exact up to 32, then a
	// HyperLogLog estimate (a standard error of 6.5%).
	Clients int64     `json:"clients"`
	Status  StatusMix `json:"status"`
	// AuthRequired: requests without credentials are mostly answered
	// 401 or 403, those with credentials mostly not (see the package
	// doc).
	AuthRequired bool `json:"auth_required"`
	// BytesP50 and BytesP95 are the median and 95th percentile of the
	// response body size, within 12.5%.
	BytesP50  int64     `json:"bytes_p50"`
	BytesP95  int64     `json:"bytes_p95"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Versions are the API versions of its requests, sorted (at most
	// MaxVersions).
	Versions []string `json:"versions"`
	// MemoryBytes is the approximate memory the inventory holds for it.
	MemoryBytes int `json:"memory_bytes"`
}

// StatusMix counts an endpoint's responses by status class, and the
// 401/403 and 404 responses among the 4xx.
type StatusMix struct {
	S2xx     int64 `json:"2xx"`
	S3xx     int64 `json:"3xx"`
	S4xx     int64 `json:"4xx"`
	S5xx     int64 `json:"5xx"`
	S401403  int64 `json:"401_403"`
	NotFound int64 `json:"404"`
}

// Endpoints returns a snapshot of the inventory, sorted by host, route
// and method.
func (inv *Inventory) Endpoints() []Endpoint {
	out := make([]Endpoint, 0, len(inv.list))
	for _, e := range inv.list {
		out = append(out, e.snapshot())
	}
	slices.SortFunc(out, func(a, b Endpoint) int {
		return cmp.Or(strings.Compare(a.Host, b.Host), strings.Compare(a.Route, b.Route), strings.Compare(a.Method, b.Method))
	})
	return out
}

// snapshot is e as an Endpoint.
func (e *endpoint) snapshot() Endpoint {
	s := e.status
	ep := Endpoint{
		Host: e.host, Method: e.method, Route: e.route, Requests: e.requests, Clients: e.clients.estimate(),
		Status:       StatusMix{S2xx: s[s2xx], S3xx: s[s3xx], S4xx: s[s4xx], S5xx: s[s5xx], S401403: s[s401403], NotFound: s[s404]},
		AuthRequired: e.authRequired(), BytesP50: e.sizes.quantile(0.5), BytesP95: e.sizes.quantile(0.95),
		Versions: slices.Sorted(slices.Values(e.versions)), MemoryBytes: e.memory(),
	}
	if ep.Versions == nil {
		ep.Versions = []string{}
	}
	if e.first != 0 {
		ep.FirstSeen, ep.LastSeen = time.Unix(0, e.first).UTC(), time.Unix(0, e.last).UTC()
	}
	return ep
}

// entryOverhead approximates what the map entry and list slot of one
// endpoint cost beyond the endpoint itself: the key's three string
// headers, the pointer, the map's control bytes and slack, the slot.
const entryOverhead = int(unsafe.Sizeof(key{})) + 8 + 16 + 8

// memory approximates the bytes held for e.
func (e *endpoint) memory() int {
	n := int(unsafe.Sizeof(*e)) + entryOverhead + len(e.host) + len(e.method) + len(e.route)
	n += cap(e.versions) * int(unsafe.Sizeof(""))
	for _, v := range e.versions {
		n += len(v)
	}
	return n
}

// Bytes is the approximate memory the inventory holds.
func (inv *Inventory) Bytes() int {
	n := int(unsafe.Sizeof(*inv)) + (cap(inv.list)+cap(inv.victims))*8
	for _, e := range inv.list {
		n += e.memory()
	}
	return n
}

// Stats are an Inventory's counters.
type Stats struct {
	Endpoints int   // endpoints kept
	Evicted   int64 // endpoints evicted to stay within MaxEndpoints
	Skipped   int64 // events without a route, not counted
	Bytes     int   // approximate memory held
}

// Stats returns the inventory's counters.
func (inv *Inventory) Stats() Stats {
	return Stats{Endpoints: len(inv.list), Evicted: inv.evicted, Skipped: inv.skipped, Bytes: inv.Bytes()}
}

// evictionClass orders endpoints for eviction: by the power of two of
// their requests, so an endpoint called a handful of times goes before
// one called thousands of times however long ago that was.
func (e *endpoint) evictionClass() int { return bits.Len64(uint64(e.requests)) }
