package simulate

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
)

// The extended attacks and traps: the detectors beyond volume, errors and
// auth failures. They are not part of the default scenario (Config.Attacks
// nil), which stays as it was for the demo and the existing tests; ask for
// them with ExtendedAttackKinds and ExtendedTrapKinds.
const (
	Scanning              Kind = "scanning"                // a new address requests ~80-200 distinct non-existent paths a minute, answered 404 (some 403)
	Enumeration           Kind = "enumeration"             // an existing client (~20 req/min) walks /api/v1/orders/{id} sequentially at ~150-300 ids a minute
	InjectionProbe        Kind = "injection"               // a new address sends SQLi, XSS, traversal and command-injection payloads in query values and paths, ~20-40 requests a minute
	Exfiltration          Kind = "exfiltration"            // an existing client at its usual rate gets 2-8 MB bulk-export responses
	CredentialSharing     Kind = "credential_sharing"      // an API key used from one address is used from 30-80 addresses in many networks
	DistributedBruteForce Kind = "distributed_brute_force" // fleet-wide: many new addresses, each 1-2 POST /login a minute, nearly all 401: each below every per-client floor
	FleetFlood            Kind = "fleet_flood"             // fleet-wide: many new addresses at ordinary per-client rates, together ~1.5x the fleet's traffic
	TrapNormal404         Kind = "trap_normal_404"         // from the start, a client that gets 404 on ~40 distinct paths every minute (a cache warmer probing SKUs): must NOT alert
	TrapBatchJob          Kind = "trap_batch_job"          // silent between runs; every 40 minutes a 6-minute run of ~400 req/min with large exports: must NOT alert
	TrapRoamingKey        Kind = "trap_roaming_key"        // from the start, an API key used from ~8 mobile networks every minute: must NOT alert
)

// FleetClient is the Client of fleet-wide attack labels; it matches the
// client key of the detector's fleet-wide findings ("*fleet*").
const FleetClient = "*fleet*"

// More detector names used in Label.Detectors.
const (
	DetectorScanning     = "scanning"
	DetectorEnumeration  = "enumeration"
	DetectorInjection    = "injection"
	DetectorExfiltration = "exfiltration"
	DetectorSharing      = "credential_sharing"
	DetectorFleetVolume  = "fleet_volume"
	DetectorFleetAuth    = "fleet_auth_failures"
)

// ExtendedAttackKinds lists the attacks of the extended detectors.
func ExtendedAttackKinds() []Kind {
	return []Kind{Scanning, Enumeration, InjectionProbe, Exfiltration, CredentialSharing, DistributedBruteForce, FleetFlood}
}

// ExtendedTrapKinds lists the traps of the extended detectors.
func ExtendedTrapKinds() []Kind { return []Kind{TrapNormal404, TrapBatchJob, TrapRoamingKey} }

// isFleetAttack reports whether k is carried by many clients at once.
func isFleetAttack(k Kind) bool { return k == DistributedBruteForce || k == FleetFlood }

func extendedDetectors(k Kind) []string {
	switch k {
	case Scanning:
		return []string{DetectorScanning}
	case Enumeration:
		return []string{DetectorEnumeration}
	case InjectionProbe:
		return []string{DetectorInjection}
	case Exfiltration:
		return []string{DetectorExfiltration}
	case CredentialSharing:
		return []string{DetectorSharing}
	case DistributedBruteForce:
		return []string{DetectorFleetAuth}
	case FleetFlood:
		return []string{DetectorFleetVolume}
	}
	return nil
}

// fleetMembers is how many addresses a fleet-wide attack uses.
func fleetMembers(normal int) int { return min(max(normal/10, 50), 400) }

// memberAddr is the i-th address of fleet attack number a: IPv6
// documentation space the fleet's random addresses practically never hit
// (uniqueAddr would step past one that did).
func (b *fleetBuilder) memberAddr(a, i int) netip.Addr {
	for {
		var x [16]byte
		x[0], x[1], x[2], x[3] = 0x20, 0x01, 0x0d, 0xb8
		x[4], x[5] = 0x0b, byte(0xa0+a)
		x[6], x[7] = byte(i>>8), byte(i)
		x[15] = byte(1 + b.r.IntN(254))
		ad := netip.AddrFrom16(x)
		if _, dup := b.used[ad]; !dup {
			b.used[ad] = struct{}{}
			return ad
		}
	}
}

// extendedClients builds the clients of an extended kind: one, or the
// members of a fleet-wide attack. fleetRate is the fleet's total expected
// requests per minute.
func (b *fleetBuilder) extendedClients(k Kind, normal int, fleetRate float64) ([]client, error) {
	r := b.r
	var c client
	switch k {
	case Scanning, InjectionProbe:
		if b.attacker >= 2*254 {
			return nil, fmt.Errorf("simulate: too many attacker addresses (at most %d)", 2*254)
		}
		c = client{kind: k, kindIdx: b.kindIdx(k), proto: "HTTP/1.1"}
		c.addr = b.attackerAddr().String()
		c.ua = cliAgents[r.IntN(len(cliAgents))]
		c.attackRate, c.attackShape = 80+120*r.Float64(), 30
		if k == InjectionProbe {
			c.attackRate = 20 + 20*r.Float64()
		}
	case Enumeration:
		c = b.base(b.archetype("partner"), k)
		c.rate, c.shape = 15+10*r.Float64(), 8
		c.attackRate, c.attackShape = 150+150*r.Float64(), 30
	case Exfiltration:
		c = b.base(b.archetype("partner"), k)
		c.rate, c.shape = 20+10*r.Float64(), 8
	case CredentialSharing, TrapRoamingKey:
		c = b.base(b.archetype("partner"), k)
		c.rate, c.shape = 20+10*r.Float64(), 8
		c.apiKeyID = "partner-" + strconv.Itoa(1000+r.IntN(9000))
		if k == TrapRoamingKey {
			c = b.base(b.archetype("mobile"), k)
			c.rate, c.shape = 40+20*r.Float64(), 10
			c.apiKeyID = "app-" + strconv.Itoa(1000+r.IntN(9000))
			for i := range c.roam {
				c.roam[i] = b.uniqueAddr(poolCGNAT).String()
			}
		}
	case TrapNormal404:
		c = b.base(b.archetype("service"), k)
		c.rate, c.shape = 50+20*r.Float64(), 12
	case TrapBatchJob:
		c = b.base(b.archetype("service"), k)
		c.rate, c.shape = 350+100*r.Float64(), 20
	case DistributedBruteForce, FleetFlood:
		n := fleetMembers(normal)
		a := 0
		if k == FleetFlood {
			a = 1
		}
		out := make([]client, n)
		for i := range out {
			m := client{kind: k, kindIdx: b.kindIdx(k), proto: "HTTP/1.1"}
			m.addr = b.memberAddr(a, i).String()
			m.ua = browserAgents[r.IntN(len(browserAgents))]
			if k == DistributedBruteForce {
				m.attackRate, m.attackShape = 1+r.Float64(), 20
				m.loginPath = "/login"
				m.successRate = 0.02
			} else {
				m.attackRate, m.attackShape = 1.5*fleetRate/float64(n)*(0.7+0.6*r.Float64()), 20
				b.pickRoutes(&m)
			}
			out[i] = m
		}
		return out, nil
	default:
		return nil, fmt.Errorf("simulate: no client for kind %q", k)
	}
	c.tokens = false
	return []client{c}, nil
}

// Word lists for scanners: no digits, so the paths are not templated as
// ids and each is its own route.
var (
	scanDirs  = []string{"admin", "backup", "wp-admin", ".git", "config", "old", "test", "private", "phpmyadmin", "cgi-bin", "server-status", "debug", "console", "actuator", "manager", "uploads", "internal", "staging"}
	scanFiles = []string{"index.php", "config.json", "login", ".htaccess", "db.sql", "setup.php", ".env", "dump.tar.gz", "shell.jsp", "web.config", "settings.py", "id_rsa", "credentials", "heapdump", "info.php"}
	skuWords  = []string{"alpha", "bravo", "delta", "echo", "kilo", "lima", "nova", "oscar", "papa", "sierra", "tango", "zulu"}
	payloads  = []string{
		"1%27%20OR%20%271%27%3D%271", "1%20UNION%20SELECT%20username%2Cpassword%20FROM%20users--",
		"%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E", "%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
		"..%2F..%2F..%2F..%2Fetc%2Fpasswd", "%3Bcat%20%2Fetc%2Fpasswd", "%24(id)", "1%3B%20DROP%20TABLE%20orders--",
		"admin%27--", "%7Cwhoami",
	}
)

// fillExtended draws a request of an extended kind into g.ev; false when
// the kind has no special request and the ordinary path applies.
func (g *generator) fillExtended(c *client, attack bool) bool {
	r, ev := g.r, &g.ev
	switch {
	case c.kind == Scanning:
		g.scanTarget()
	case c.kind == InjectionProbe:
		g.injectionTarget()
	case c.kind == Enumeration && attack:
		g.enumerationTarget()
	case c.kind == Exfiltration && attack && r.IntN(2) == 0:
		g.exportRequest("/download?token=REDACTED")
		ev.BytesOut = int64(2e6 + 6e6*r.Float64())
		return true
	case c.kind == TrapNormal404 && r.IntN(10) < 7:
		g.skuTarget()
	case c.kind == TrapBatchJob && r.IntN(10) < 3:
		g.exportRequest("")
		ev.BytesOut = int64(250_000 * math.Exp(0.6*r.NormFloat64()))
		return true
	default:
		return false
	}
	ev.Raw.Target = ev.AppendString(g.target)
	ev.BytesOut = int64(60 + r.IntN(240))
	return true
}

// scanTarget draws a scanner's GET of a non-existent /dir/file into
// g.target, answered 404 (a tenth 403).
func (g *generator) scanTarget() {
	r, ev := g.r, &g.ev
	ev.Method = "GET"
	b := append(g.target[:0], '/')
	b = append(b, scanDirs[r.IntN(len(scanDirs))]...)
	b = append(b, '/')
	b = append(b, scanFiles[r.IntN(len(scanFiles))]...)
	g.target = b
	ev.Status = 404
	if r.IntN(10) == 0 {
		ev.Status = 403
	}
}

// injectionTarget draws an injection prober's GET into g.target: mostly a
// payload in a query value, refused 400 (a third 200), else an ordinary
// search.
func (g *generator) injectionTarget() {
	r, ev := g.r, &g.ev
	ev.Method = "GET"
	b := g.target[:0]
	if r.IntN(10) < 7 {
		p := payloads[r.IntN(len(payloads))]
		switch r.IntN(3) {
		case 0:
			b = append(b, "/api/v2/search?q="...)
			b = append(b, p...)
		case 1:
			b = append(b, "/api/v1/products/10042?include="...)
			b = append(b, p...)
		default:
			b = append(b, "/api/v1/files?name="...)
			b = append(b, p...)
		}
		ev.Status = 400
		if r.IntN(3) == 0 {
			ev.Status = 200
		}
	} else {
		b = append(b, "/api/v2/search?q="...)
		b = append(b, searchTerms[r.IntN(len(searchTerms))]...)
		ev.Status = 200
	}
	g.target = b
}

// enumerationTarget puts the next order id of an enumeration into
// g.target, answered 200, 404 or 403.
func (g *generator) enumerationTarget() {
	r, ev := g.r, &g.ev
	ev.Method = "GET"
	b := append(g.target[:0], "/api/v1/orders/"...)
	g.enumNext++
	g.target = strconv.AppendInt(b, 4_000_000+g.enumNext, 10)
	ev.Status = 200
	if u := r.IntN(10); u < 3 {
		ev.Status = 404
	} else if u < 4 {
		ev.Status = 403
	}
}

// exportRequest draws a successful GET of a random export, with suffix
// after its id, into g.target and ev.Raw.Target. The caller sets the size.
func (g *generator) exportRequest(suffix string) {
	r, ev := g.r, &g.ev
	ev.Method = "GET"
	b := append(g.target[:0], "/api/v1/exports/"...)
	b = strconv.AppendInt(b, int64(100_000+r.IntN(900_000)), 10)
	g.target = append(b, suffix...)
	ev.Status = 200
	ev.Raw.Target = ev.AppendString(g.target)
}

// skuTarget draws a cache warmer's GET of a SKU that does not exist into
// g.target, answered 404.
func (g *generator) skuTarget() {
	r, ev := g.r, &g.ev
	ev.Method = "GET"
	b := append(g.target[:0], "/api/v1/catalog/sku-"...)
	b = append(b, skuWords[r.IntN(len(skuWords))]...)
	b = append(b, '-')
	g.target = append(b, skuWords[r.IntN(len(skuWords))]...)
	ev.Status = 404
}

// extendedRate is rate for the extended kinds; ok false for other kinds.
func (g *generator) extendedRate(c *client, m int, day float64, attack bool) (lam, shape float64, ok bool) {
	switch c.kind {
	case Scanning, InjectionProbe, DistributedBruteForce, FleetFlood:
		if attack {
			return c.attackRate, c.attackShape, true
		}
		return 0, 0, true
	case Enumeration:
		if attack {
			return c.attackRate, c.attackShape, true
		}
	case TrapBatchJob:
		if m%40 < 6 {
			return c.rate, c.shape, true
		}
		return 0, 0, true
	default:
		return 0, 0, false
	}
	return c.rate * day, c.shape, true
}

// setRemote sets the address a request of c comes from and the API key
// it presents.
func (g *generator) setRemote(c *client, attack bool) {
	ev := &g.ev
	ev.Raw.APIKeyID = c.apiKeyID
	switch {
	case c.kind == CredentialSharing && attack:
		// Partners' and carriers' address space: many networks.
		a := randomAddr(g.r, pool(1+g.r.IntN(2)))
		ev.Raw.RemoteAddr = ev.AppendString(a.AppendTo(g.target[:0]))
	case c.kind == TrapRoamingKey:
		ev.Raw.RemoteAddr = c.roam[g.r.IntN(len(c.roam))]
	default:
		ev.Raw.RemoteAddr = c.addr
	}
}
