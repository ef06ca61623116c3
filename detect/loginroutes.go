package detect

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"

	"github.com/gatewatch/gatewatch/ingest"
)

// Login routes learned from traffic.
//
// A route whose POSTs (and PUTs) are mostly refused — 401 or 403 — for
// several clients is where credentials are tried, whatever its name:
// /api/v2/credentials/check, /administrator/index.php behind an auth
// proxy. Each POST route's POSTs and refusals are counted with the login
// campaigns' half-life (loginHalfLife windows); once learnDenied
// refusals from learnClients distinct clients make at least learnShare
// of its POSTs, the route is a login route like one known by name: its
// POSTs are login attempts for brute_force and the login campaigns. It
// is forgotten when refusals fall below unlearnShare of its POSTs (a
// fixed deployment, an expired client fixed).
//
// A route answered 200 or 302 to every attempt is not learned: without a
// refusal nothing in a log tells a login form from an upload endpoint.
// Those are recognised by name or listed in Options.LoginRoutes.
const (
	learnDenied  = 20
	learnClients = 3
	learnShare   = 0.5
	unlearnShare = 0.2
	// maxRouteAuth bounds the routes counted; when full, routes whose
	// counts have decayed below half a POST (one POST a half-life ago),
	// and whose route baseline (routesurge.go), if any, saw no request
	// for routeHorizon windows, make room; otherwise a new route is not
	// counted.
	maxRouteAuth = 4096
)

// routeAuth is one POST route's decayed counts.
type routeAuth struct {
	posts, denied float64
	lastW         int64                // window of the last update
	clients       [learnClients]uint64 // hashes of the distinct refused clients, the first learnClients
	nClients      uint8
	learned       bool
	// key and stats: the route's baseline across its clients
	// (routesurge.go), for routes that have one.
	key   string
	stats *routeStats
}

// decayTo ages the counts to window w and forgets a route whose refusals
// fell below unlearnShare.
func (r *routeAuth) decayTo(w int64) {
	if w > r.lastW {
		f := math.Exp2(-float64(w-r.lastW) / loginHalfLife)
		r.posts, r.denied, r.lastW = r.posts*f, r.denied*f, w
	}
	if r.learned && r.denied < unlearnShare*r.posts {
		r.learned, r.nClients = false, 0
	}
}

// add counts one POST, refused or not, by the client whose key hashes to
// client.
func (r *routeAuth) add(denied bool, client uint64) {
	r.posts++
	if !denied {
		return
	}
	r.denied++
	if int(r.nClients) < learnClients && !slices.Contains(r.clients[:r.nClients], client) {
		r.clients[r.nClients] = client
		r.nClients++
	}
	if !r.learned && r.denied >= learnDenied && int(r.nClients) == learnClients && r.denied >= learnShare*r.posts {
		r.learned = true
	}
}

// loginAttempt reports whether ev is a login attempt: a POST or PUT to a
// login route, known by name, by configuration or learned. It counts the
// POST to its route in window w.
func (e *Engine) loginAttempt(ev *ingest.Event, w int64) bool {
	if ev.Method != "POST" && ev.Method != "PUT" || ev.Route == "" {
		return false
	}
	r := e.routeAuth[ev.Route]
	if r == nil {
		if r = e.newRouteAuth(ev.Route, w); r == nil {
			return e.isLoginRoute(ev.Route)
		}
	}
	r.decayTo(w)
	r.add(ev.Status == 401 || ev.Status == 403, hashString(ev.ClientKey))
	return r.learned || e.isLoginRoute(ev.Route)
}

// newRouteAuth starts counting a route, or returns nil when maxRouteAuth
// routes are counted and none has decayed away.
func (e *Engine) newRouteAuth(route string, w int64) *routeAuth {
	if e.routeAuth == nil {
		e.routeAuth = make(map[string]*routeAuth)
	}
	if len(e.routeAuth) >= maxRouteAuth {
		for k, r := range e.routeAuth {
			if r.decayTo(w); !r.learned && r.posts < 0.5 && (r.stats == nil || w-r.stats.seenW > routeHorizon) {
				if r.stats != nil {
					e.routeStatsN--
				}
				delete(e.routeAuth, k)
			}
		}
		if len(e.routeAuth) >= maxRouteAuth {
			return nil
		}
	}
	r := &routeAuth{lastW: w}
	e.routeAuth[strings.Clone(route)] = r
	return r
}

// LearnedLoginRoutes returns the routes learned as login routes from
// their refused POSTs, sorted.
func (e *Engine) LearnedLoginRoutes() []string {
	var out []string
	for k, r := range e.routeAuth {
		if r.learned {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// appendRouteAuth writes the counted routes, sorted by route (version 5).
func (e *Engine) appendRouteAuth(b []byte) []byte {
	keys := make([]string, 0, len(e.routeAuth))
	for k := range e.routeAuth {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		r := e.routeAuth[k]
		b = appendString(b, k)
		b = appendFloat(b, r.posts)
		b = appendFloat(b, r.denied)
		b = binary.AppendVarint(b, r.lastW)
		learned := byte(0)
		if r.learned {
			learned = 1
		}
		b = append(b, learned, r.nClients)
		for _, h := range r.clients[:r.nClients] {
			b = binary.AppendUvarint(b, h)
		}
	}
	return b
}

// restoreRouteAuth reads what appendRouteAuth wrote.
func (e *Engine) restoreRouteAuth(d *decoder) error {
	n := d.int(min(len(d.B), maxRouteAuth))
	prev := ""
	for i := range n {
		k := d.string()
		if i > 0 && k <= prev {
			return d.Fail("login routes out of order")
		}
		prev = k
		r := &routeAuth{posts: d.finite(), denied: d.finite(), lastW: d.Varint()}
		learned, nc := d.Byte(), d.Byte()
		if learned > 1 || int(nc) > learnClients || !(r.posts >= 0) || !(r.denied >= 0) {
			return d.Fail("a login route's counts")
		}
		r.learned, r.nClients = learned == 1, nc
		for j := range r.clients[:nc] {
			r.clients[j] = d.Uvarint()
		}
		if e.routeAuth == nil {
			e.routeAuth = make(map[string]*routeAuth)
		}
		e.routeAuth[k] = r
	}
	return d.Err
}
