package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"

	"gonum.org/v1/gonum/stat/distuv"
)

// maxRoutes bounds how many endpoints one client uses: real API consumers
// call a handful of operations over and over.
const maxRoutes = 6

// client is one simulated caller: how much it sends, when, what it calls
// and how the gateway answers it. Fixed at New; per-run state (whether an
// intermittent client is active) lives in the generator.
type client struct {
	kind    Kind
	kindIdx uint8
	addr    string // IP text, as logged and as the Normalizer keys it
	proto   string // "HTTP/1.1" or "HTTP/2.0"
	ua      string // fixed user agent; empty means rotate (stuffing tools do)
	referer string // page a browser client calls from; "" for none

	rate    float64 // baseline requests per minute, before the diurnal factor
	shape   float64 // gamma shape of the per-minute rate multiplier: larger is steadier
	monitor int     // > 0: a health checker sending one request every monitor seconds

	// Intermittent clients are active only some minutes: a two-state Markov
	// chain gives realistic on and off runs rather than scattered minutes.
	intermittent   bool
	pActive        float64 // stationary share of active minutes (the initial state)
	pStop, pResume float64 // per-minute transition probabilities

	attackRate  float64 // requests per minute during the attack (QuietSpike, CredentialStuffing, Flood)
	attackShape float64
	growth      float64 // TrapOrganicGrowth: rate multiplier reached at the run's end

	routes  [maxRoutes]uint8
	cum     [maxRoutes]float64 // cumulative route weights, cum[nRoutes-1] == 1
	nRoutes int

	userID  string // the caller's own user id (a UUID)
	account int    // the caller's account number

	// Baseline response mix, as probabilities per request.
	pAuth, p4xx, p5xx, p304 float64
	attackAuth, attack5xx   float64 // the mix during the attack (AuthFailureJump, ErrorRatioJump)
	successRate             float64 // CredentialStuffing: share of guesses that work
	loginPath               string  // CredentialStuffing target

	tokens bool // a bearer-token client: takes part in the fleet-wide token refresh

	apiKeyID string    // a gateway key id the client presents; "" for none (keyed by IP)
	roam     [8]string // TrapRoamingKey: the addresses it roams over
}

// archetype is a family of clients that share an address space, user
// agents and habits.
type archetype struct {
	name         string
	weight       float64
	pools        []pool
	agents       []string
	http2        float64 // share speaking HTTP/2
	intermittent float64 // share active only some minutes
	browser      bool    // sends a Referer
	monitor      bool
}

// pool is an address range clients are drawn from. Only documentation,
// benchmarking, private and shared ranges are used, so the traffic never
// names a real third party.
type pool uint8

const (
	poolInternal pool = iota // 10.0.0.0/8: in-cluster services
	poolExternal             // 198.18.0.0/15: partners and home users ("public" looking)
	poolCGNAT                // 100.64.0.0/10: mobile carriers
	poolIPv6                 // 2001:db8::/32
	poolAttacker             // 203.0.113.0/24 and 192.0.2.0/24: never used by the fleet
)

var (
	serverAgents = []string{
		"python-requests/2.32.3", "Go-http-client/1.1", "Go-http-client/2.0", "okhttp/4.12.0",
		"Apache-HttpClient/4.5.14 (Java/17.0.12)", "axios/1.7.7", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
		"Java/21.0.4", "aiohttp/3.10.10", "Ruby", "Faraday v2.12.0", "Microsoft.Net.Http/8.0",
	}
	mobileAgents = []string{
		"ShopApp/5.3.1 (iPhone; iOS 18.1; Scale/3.00)", "ShopApp/5.3.0 (iPhone; iOS 17.6.1; Scale/3.00)",
		"ShopApp/5.3.1 (Android 14; Pixel 8)", "ShopApp/5.2.9 (Android 13; SM-A546B)", "Dart/3.5 (dart:io)",
		"okhttp/4.12.0",
	}
	browserAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
	}
	monitorAgents = []string{"kube-probe/1.31", "Datadog/Synthetics", "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", "Prometheus/2.55.0"}
	cliAgents     = []string{"curl/8.5.0", "curl/7.88.1", "PostmanRuntime/7.42.0", "HTTPie/3.2.4", "Wget/1.21.4"}
	referers      = []string{
		"https://shop.example.com/", "https://shop.example.com/cart", "https://shop.example.com/checkout",
		"https://shop.example.com/account/orders", "https://app.example.com/dashboard",
	}
)

// The tables above and below are read-only: they are data, not state.
var archetypes = []archetype{
	{name: "service", weight: 0.30, pools: []pool{poolInternal}, agents: serverAgents, http2: 0.2, intermittent: 0.10},
	{name: "partner", weight: 0.25, pools: []pool{poolExternal}, agents: serverAgents, http2: 0.3, intermittent: 0.25},
	{name: "mobile", weight: 0.25, pools: []pool{poolCGNAT, poolCGNAT, poolIPv6}, agents: mobileAgents, http2: 0.9, intermittent: 0.35},
	{name: "browser", weight: 0.15, pools: []pool{poolExternal, poolIPv6}, agents: browserAgents, http2: 0.95, intermittent: 0.30, browser: true},
	{name: "monitor", weight: 0.03, pools: []pool{poolInternal}, agents: monitorAgents, monitor: true},
	{name: "cli", weight: 0.02, pools: []pool{poolExternal}, agents: cliAgents, http2: 0.1, intermittent: 0.70},
}

// fleetBuilder draws client profiles from the profile stream.
type fleetBuilder struct {
	src      *rand.PCG
	r        *rand.Rand
	used     map[netip.Addr]struct{}
	attacker int // attacker addresses handed out
	kinds    []Kind
	minutes  int
}

func newFleetBuilder(src *rand.PCG, s *Scenario) *fleetBuilder {
	return &fleetBuilder{
		src: src, r: rand.New(src), used: make(map[netip.Addr]struct{}),
		kinds: []Kind{Normal}, minutes: s.minutes,
	}
}

func (b *fleetBuilder) kindIdx(k Kind) uint8 {
	for i, kk := range b.kinds {
		if kk == k {
			return uint8(i)
		}
	}
	b.kinds = append(b.kinds, k)
	return uint8(len(b.kinds) - 1)
}

func (b *fleetBuilder) pickArchetype() *archetype {
	u := b.r.Float64()
	for i := range archetypes {
		if u < archetypes[i].weight {
			return &archetypes[i]
		}
		u -= archetypes[i].weight
	}
	return &archetypes[0]
}

func (b *fleetBuilder) archetype(name string) *archetype {
	for i := range archetypes {
		if archetypes[i].name == name {
			return &archetypes[i]
		}
	}
	return &archetypes[0]
}

// base fills what every client has: an address, an agent, a route mix and
// the ordinary response mix.
func (b *fleetBuilder) base(a *archetype, k Kind) client {
	r := b.r
	c := client{kind: k, kindIdx: b.kindIdx(k), proto: "HTTP/1.1"}
	c.addr = b.uniqueAddr(a.pools[r.IntN(len(a.pools))]).String()
	c.ua = a.agents[r.IntN(len(a.agents))]
	if r.Float64() < a.http2 {
		c.proto = "HTTP/2.0"
	}
	if a.browser {
		c.referer = referers[r.IntN(len(referers))]
	}
	c.userID = string(appendUUID(nil, r))
	c.account = 10_000 + r.IntN(90_000)
	c.shape = 3 + 7*r.Float64()
	// Ordinary response mix: ~98% 2xx/3xx, ~0.7% 401/403, ~0.9% other 4xx,
	// ~0.4% 5xx, varying a little from client to client.
	c.pAuth = 0.004 + 0.006*r.Float64()
	c.p4xx = 0.006 + 0.006*r.Float64()
	c.p5xx = 0.0025 + 0.003*r.Float64()
	c.p304 = 0.01 + 0.04*r.Float64()
	if a.monitor {
		c.routes[0], c.cum[0], c.nRoutes = routeHealth, 1, 1
		c.pAuth, c.p4xx, c.p5xx, c.p304 = 0, 0, 0.002, 0
		return c
	}
	c.tokens = r.Float64() < 0.92
	b.pickRoutes(&c)
	return c
}

// pickRoutes gives a client 2..maxRoutes endpoints, by catalog popularity,
// with skewed per-client weights (a client mostly repeats one call).
func (b *fleetBuilder) pickRoutes(c *client) {
	r := b.r
	n := 2 + r.IntN(maxRoutes-1)
	var total float64
	for c.nRoutes < n {
		ri := pickWeighted(r)
		dup := false
		for _, have := range c.routes[:c.nRoutes] {
			if have == ri {
				dup = true
			}
		}
		if dup {
			continue
		}
		w := r.ExpFloat64() * math.Pow(0.5, float64(c.nRoutes))
		total += w
		c.routes[c.nRoutes] = ri
		c.cum[c.nRoutes] = total
		c.nRoutes++
	}
	for i := range c.nRoutes {
		c.cum[i] /= total
	}
	c.cum[c.nRoutes-1] = 1
}

func (b *fleetBuilder) normalClient() client {
	a := b.pickArchetype()
	c := b.base(a, Normal)
	r := b.r
	if a.monitor {
		intervals := [...]int{10, 15, 30, 60}
		c.monitor = intervals[r.IntN(len(intervals))]
		c.rate = 60 / float64(c.monitor)
		return c
	}
	// Heavy-tailed baseline: median 3 req/min, a few clients in the hundreds.
	c.rate = math.Min(distuv.LogNormal{Mu: math.Log(3), Sigma: 1.35, Src: b.src}.Rand(), 900)
	if r.Float64() < a.intermittent {
		c.intermittent = true
		c.pActive = 0.2 + 0.5*r.Float64()
		meanOn := 3 + 17*r.Float64() // minutes per active run
		c.pStop = 1 / meanOn
		c.pResume = c.pStop * c.pActive / (1 - c.pActive)
	}
	return c
}

// labelledClient builds the client behind an attack or a per-client trap.
// Existing clients come from the fleet's own address space and habits so
// nothing but their behaviour in the attack window gives them away.
func (b *fleetBuilder) labelledClient(k Kind) (client, error) {
	r := b.r
	var c client
	switch k {
	case QuietSpike:
		c = b.base(b.archetype("partner"), k)
		c.rate, c.shape = 2, 6
		c.attackRate, c.attackShape = 40+20*r.Float64(), 20
	case CredentialStuffing:
		if b.attacker >= 2*254 {
			return client{}, fmt.Errorf("simulate: too many %s clients (at most %d)", k, 2*254)
		}
		c = client{kind: k, kindIdx: b.kindIdx(k), proto: "HTTP/1.1"}
		c.addr = b.attackerAddr().String()
		c.attackRate, c.attackShape = 100+300*r.Float64(), 40
		c.successRate = 0.01 + 0.04*r.Float64()
		c.loginPath = "/login"
		if r.IntN(2) == 0 {
			c.loginPath = "/oauth/token"
		}
	case AuthFailureJump:
		c = b.base(b.archetype("partner"), k)
		c.rate, c.shape = 20+10*r.Float64(), 8
		c.pAuth = 0.01
		c.attackAuth = 0.3 + 0.3*r.Float64()
	case ErrorRatioJump:
		c = b.base(b.archetype("service"), k)
		c.rate, c.shape = 30+20*r.Float64(), 8
		c.p5xx = 0.005
		c.attack5xx = 0.3 + 0.2*r.Float64()
	case Flood:
		c = b.base(b.archetype("partner"), k)
		c.rate, c.shape = 90+20*r.Float64(), 6
		c.attackRate, c.attackShape = c.rate*(50+50*r.Float64()), 30
	case TrapSteadyHeavy:
		c = b.base(b.archetype("service"), k)
		c.rate, c.shape = 3000+1000*r.Float64(), 40
	case TrapOrganicGrowth:
		c = b.base(b.archetype("partner"), k)
		c.rate, c.shape = 15+15*r.Float64(), 12
		c.growth = 3 + r.Float64()
	default:
		return client{}, fmt.Errorf("simulate: no client for kind %q", k)
	}
	// Labelled clients are not part of the fleet-wide token refresh, so
	// their labels describe all of their unusual traffic.
	c.tokens = false
	return c, nil
}

func (b *fleetBuilder) uniqueAddr(p pool) netip.Addr {
	for {
		a := randomAddr(b.r, p)
		if _, dup := b.used[a]; !dup {
			b.used[a] = struct{}{}
			return a
		}
	}
}

func (b *fleetBuilder) attackerAddr() netip.Addr {
	// Attackers come from ranges the fleet never uses, so a stuffing client
	// is genuinely new. The caller bounds how many are asked for.
	for {
		i := b.r.IntN(2 * 254)
		var a netip.Addr
		if i < 254 {
			a = netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + i)})
		} else {
			a = netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i - 254)})
		}
		if _, dup := b.used[a]; !dup {
			b.used[a] = struct{}{}
			b.attacker++
			return a
		}
	}
}

func randomAddr(r *rand.Rand, p pool) netip.Addr {
	host := func() byte { return byte(1 + r.IntN(254)) }
	switch p {
	case poolExternal:
		return netip.AddrFrom4([4]byte{198, byte(18 + r.IntN(2)), byte(r.IntN(256)), host()})
	case poolCGNAT:
		return netip.AddrFrom4([4]byte{100, byte(64 + r.IntN(64)), byte(r.IntN(256)), host()})
	case poolIPv6:
		var a [16]byte
		a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
		hi, lo := r.Uint64(), r.Uint64()
		for i := range 4 {
			a[4+i] = byte(hi >> (8 * i))
		}
		// Interface ids: mostly SLAAC-like random, some small (servers).
		if r.IntN(4) == 0 {
			a[15] = byte(1 + r.IntN(254))
		} else {
			for i := range 8 {
				a[8+i] = byte(lo >> (8 * i))
			}
		}
		return netip.AddrFrom16(a)
	default:
		return netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), host()})
	}
}

const hexDigits = "0123456789abcdef"

// appendUUID appends a random version-4 UUID.
func appendUUID(b []byte, r *rand.Rand) []byte {
	var u [16]byte
	hi, lo := r.Uint64(), r.Uint64()
	for i := range 8 {
		u[i], u[8+i] = byte(hi>>(8*i)), byte(lo>>(8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0x0f])
	}
	return b
}
