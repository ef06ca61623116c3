package inventory

import "github.com/gatewatch/gatewatch/detect/contract"

// The known rule (see Endpoint.Known).
const (
	// MinKnownClients is the fewest distinct clients a known endpoint
	// was called by.
	MinKnownClients = 2
	// KnownServedShare is the share of a known endpoint's requests that
	// must have been answered below 400 (2xx or 3xx).
	KnownServedShare = 0.5
)

// Known reports whether the traffic shows e as an endpoint the API
// serves: at least MinKnownClients (2) distinct clients called it, and at
// least KnownServedShare (half) of its requests were answered below 400
// (2xx or 3xx). So one client's calls, and scanners' probes answered 404
// however many of them there are, are not taken for the API's endpoints:
// a specification compared with the traffic (openapi.Drift) neither sees
// them as using an operation nor as undocumented.
func (e *Endpoint) Known() bool {
	served := e.Status.S2xx + e.Status.S3xx
	return e.Requests > 0 && e.Clients >= MinKnownClients && float64(served) >= KnownServedShare*float64(e.Requests)
}

// Routes converts endpoints into the contract's routes, in the same
// order, for openapi.Drift: Host, Method and Template (the endpoint's
// Route) as they are, Known as Endpoint.Known says. The inventory does
// not learn parameters, so Params is nil.
func Routes(endpoints []Endpoint) []contract.Route {
	out := make([]contract.Route, len(endpoints))
	for i := range endpoints {
		e := &endpoints[i]
		out[i] = contract.Route{Host: e.Host, Method: e.Method, Template: e.Route, Known: e.Known()}
	}
	return out
}
