package simulate

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// route is one API operation in the simulated catalogue.
type route struct {
	method string
	ok     int     // status of a successful call
	size   float64 // median response body bytes on success
	weight float64 // popularity when clients pick their endpoints; 0: never picked
	// build appends the request target (path and query). unix is the
	// request time, for time-based query parameters.
	build func(b []byte, r *rand.Rand, c *client, unix int64) []byte
}

// Catalogue indices referred to by name.
const (
	routeHealth uint8 = iota
	routeOAuthToken
)

// tokenFetch is the share of a bearer-token client's calls that fetch a
// fresh token.
const tokenFetch = 0.005

var (
	orderStatuses = []string{"open", "shipped", "delivered", "cancelled"}
	searchTerms   = []string{
		"running+shoes", "usb-c+cable", "coffee", "desk+lamp", "headphones", "backpack",
		"water+bottle", "gift+card", "phone+case", "yoga+mat", "standing+desk", "espresso+beans",
	}
	categories = []string{"electronics", "home", "outdoor", "books", "toys", "grocery"}
)

// catalogue is the API the simulated gateway fronts: REST routes with
// numeric and UUID ids, list endpoints with query strings, a legacy
// token-in-query download and the OAuth token endpoint. Read-only.
var catalogue = []route{
	routeHealth: {method: "GET", ok: 200, size: 15, build: func(b []byte, _ *rand.Rand, _ *client, _ int64) []byte {
		return append(b, "/healthz"...)
	}},
	// Token fetches are rare in every client's mix (see tokenFetch), never
	// one of its main calls.
	routeOAuthToken: {method: "POST", ok: 200, size: 1100, build: func(b []byte, _ *rand.Rand, _ *client, _ int64) []byte {
		return append(b, "/oauth/token"...)
	}},
	{method: "GET", ok: 200, size: 1800, weight: 10, build: func(b []byte, r *rand.Rand, _ *client, _ int64) []byte {
		b = append(b, "/api/v1/orders/"...)
		return strconv.AppendInt(b, int64(1_000_000+r.IntN(9_000_000)), 10)
	}},
	{method: "GET", ok: 200, size: 9000, weight: 6, build: func(b []byte, r *rand.Rand, _ *client, _ int64) []byte {
		b = append(b, "/api/v1/orders?status="...)
		b = append(b, orderStatuses[r.IntN(len(orderStatuses))]...)
		b = append(b, "&page="...)
		b = strconv.AppendInt(b, int64(1+r.IntN(5)), 10)
		return append(b, "&limit=50"...)
	}},
	{method: "POST", ok: 201, size: 900, weight: 3, build: func(b []byte, _ *rand.Rand, _ *client, _ int64) []byte {
		return append(b, "/api/v1/orders"...)
	}},
	{method: "GET", ok: 200, size: 700, weight: 6, build: func(b []byte, r *rand.Rand, c *client, _ int64) []byte {
		b = append(b, "/api/v1/users/"...)
		if r.IntN(8) == 0 {
			return appendUUID(b, r)
		}
		return append(b, c.userID...)
	}},
	{method: "PATCH", ok: 200, size: 700, weight: 1.5, build: func(b []byte, _ *rand.Rand, c *client, _ int64) []byte {
		b = append(b, "/api/v1/users/"...)
		return append(b, c.userID...)
	}},
	{method: "GET", ok: 200, size: 4200, weight: 8, build: func(b []byte, r *rand.Rand, _ *client, _ int64) []byte {
		b = append(b, "/api/v1/products/"...)
		b = strconv.AppendInt(b, int64(10_000+r.IntN(890_000)), 10)
		if r.IntN(3) == 0 {
			b = append(b, "?include=reviews,stock"...)
		}
		return b
	}},
	{method: "GET", ok: 200, size: 12000, weight: 5, build: func(b []byte, r *rand.Rand, _ *client, _ int64) []byte {
		b = append(b, "/api/v2/search?q="...)
		b = append(b, searchTerms[r.IntN(len(searchTerms))]...)
		if r.IntN(4) == 0 {
			b = append(b, "&page="...)
			b = strconv.AppendInt(b, int64(2+r.IntN(4)), 10)
		}
		return b
	}},
	{method: "GET", ok: 200, size: 5000, weight: 2, build: func(b []byte, _ *rand.Rand, c *client, _ int64) []byte {
		b = append(b, "/api/v1/accounts/"...)
		b = strconv.AppendInt(b, int64(c.account), 10)
		return append(b, "/invoices?from=2026-10-01&to=2026-10-31"...)
	}},
	{method: "DELETE", ok: 204, size: 0, weight: 1.5, build: func(b []byte, r *rand.Rand, c *client, _ int64) []byte {
		b = append(b, "/api/v1/carts/"...)
		b = strconv.AppendInt(b, int64(c.account)*10+int64(r.IntN(3)), 10)
		b = append(b, "/items/"...)
		return strconv.AppendInt(b, int64(10_000+r.IntN(890_000)), 10)
	}},
	{method: "PUT", ok: 200, size: 300, weight: 2, build: func(b []byte, r *rand.Rand, _ *client, _ int64) []byte {
		b = append(b, "/api/v2/inventory/"...)
		return strconv.AppendInt(b, int64(10_000+r.IntN(890_000)), 10)
	}},
	{method: "GET", ok: 200, size: 600, weight: 4, build: func(b []byte, _ *rand.Rand, _ *client, _ int64) []byte {
		return append(b, "/api/v1/me"...)
	}},
	{method: "GET", ok: 200, size: 250_000, weight: 0.3, build: func(b []byte, r *rand.Rand, _ *client, _ int64) []byte {
		// A pre-signed download link: the token must come out redacted.
		b = append(b, "/api/v1/exports/"...)
		b = strconv.AppendInt(b, int64(100_000+r.IntN(900_000)), 10)
		b = append(b, "/download?token="...)
		for range 2 {
			x := r.Uint64()
			for range 16 {
				b = append(b, hexDigits[x&0xf])
				x >>= 4
			}
		}
		return b
	}},
	{method: "POST", ok: 201, size: 450, weight: 1.5, build: func(b []byte, _ *rand.Rand, _ *client, _ int64) []byte {
		return append(b, "/api/v1/payments"...)
	}},
	{method: "GET", ok: 200, size: 3000, weight: 2, build: func(b []byte, r *rand.Rand, _ *client, _ int64) []byte {
		b = append(b, "/api/v2/catalog/categories"...)
		if r.IntN(2) == 0 {
			b = append(b, '/')
			b = append(b, categories[r.IntN(len(categories))]...)
		}
		return b
	}},
	{method: "GET", ok: 200, size: 1500, weight: 3, build: func(b []byte, r *rand.Rand, _ *client, unix int64) []byte {
		b = append(b, "/api/v1/notifications?since="...)
		b = strconv.AppendInt(b, unix-int64(60+r.IntN(3600)), 10)
		return append(b, "&limit=20"...)
	}},
}

// pickWeighted draws a catalogue route by popularity.
func pickWeighted(r *rand.Rand) uint8 {
	var total float64
	for i := range catalogue {
		total += catalogue[i].weight
	}
	u := r.Float64() * total
	for i := range catalogue {
		if u < catalogue[i].weight {
			return uint8(i)
		}
		u -= catalogue[i].weight
	}
	return routeOAuthToken + 1
}

// pickRoute draws one of a client's own routes.
func (c *client) pickRoute(r *rand.Rand) *route {
	u := r.Float64()
	for i := range c.nRoutes {
		if u < c.cum[i] {
			return &catalogue[c.routes[i]]
		}
	}
	return &catalogue[c.routes[c.nRoutes-1]]
}

// status draws a response status from the client's mix. pAuth and p5xx
// are passed in because attacks change them.
func status(r *rand.Rand, c *client, rt *route, pAuth, p5xx, pForbidden float64) int {
	u := r.Float64()
	switch {
	case u < pAuth:
		if r.Float64() < pForbidden {
			return 403
		}
		return 401
	case u < pAuth+p5xx:
		switch v := r.IntN(20); {
		case v < 7:
			return 500
		case v < 12:
			return 502
		case v < 18:
			return 503
		default:
			return 504
		}
	case u < pAuth+p5xx+c.p4xx:
		switch v := r.IntN(20); {
		case v < 8:
			return 404
		case v < 12:
			return 400
		case v < 15:
			return 422
		case v < 17:
			return 409
		default:
			return 429
		}
	case rt.method == "GET" && u > 1-c.p304:
		return 304
	}
	return rt.ok
}

// bodyBytes draws the response size for a status: log-normal around the
// route's median on success, small error documents otherwise.
func bodyBytes(r *rand.Rand, rt *route, st int) int64 {
	switch {
	case st == 204 || st == 304:
		return 0
	case st < 300:
		if rt.size == 0 {
			return 0
		}
		return int64(rt.size * math.Exp(0.6*r.NormFloat64()))
	case st == 401 || st == 403:
		return int64(40 + r.IntN(50))
	case st >= 500:
		return int64(150 + r.IntN(450))
	}
	return int64(60 + r.IntN(240))
}
