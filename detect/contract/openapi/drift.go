package openapi

import (
	"cmp"
	"slices"
	"strings"

	"github.com/gatewatch/gatewatch/detect/contract"
)

// Operation is a documented operation.
type Operation struct {
	Method     string // "GET"
	Path       string // as the specification writes it, without a server's base path: "/orders/{orderId}"
	Deprecated bool
}

// DriftReport is the drift between a specification and the traffic.
type DriftReport struct {
	// Undocumented are the learnt routes, known to the contract, that no
	// operation matches, under the API's base paths (as Check judges).
	Undocumented []contract.Route
	// Unused are the documented operations that no known learnt route
	// matches, sorted by path and method.
	Unused []Operation
}

// Drift compares a specification with the routes learnt from traffic
// (contract.Model.Routes), both ways. Only routes known to the contract
// (contract.Route.Known: shown by enough clients, answered below 400)
// count, so attacks neither use an operation nor appear undocumented.
// A learnt template matches a documented path segment by segment: a
// placeholder ({id}) matches any templated segment ({orderId}), a literal
// (123) matches the same literal or a templated segment, and the
// methods match as in Check (HEAD uses GET; OPTIONS any documented
// method).
func Drift(spec *Spec, routes []contract.Route) DriftReport {
	var rep DriftReport
	used := map[*operation]bool{}
	for _, rt := range routes {
		if !rt.Known || rt.Template == "" {
			continue
		}
		var r route
		if e := spec.root.find(rt.Template, rt.Method, &r, 0); e != nil {
			used[e.op] = true
			continue
		}
		if r.near != nil && rt.Method == "OPTIONS" {
			continue
		}
		if _, zombie := spec.retiredVersion(rt.Template); zombie || spec.inScope(rt.Template) || r.near != nil {
			rep.Undocumented = append(rep.Undocumented, rt)
		}
	}
	for _, op := range spec.ops {
		if !used[op] {
			rep.Unused = append(rep.Unused, Operation{Method: op.method, Path: op.path, Deprecated: op.deprecated})
		}
	}
	slices.SortFunc(rep.Unused, func(a, b Operation) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Method, b.Method))
	})
	return rep
}

// Operations lists the documented operations, sorted by path and method.
func (s *Spec) Operations() []Operation {
	out := make([]Operation, len(s.ops))
	for i, op := range s.ops {
		out[i] = Operation{Method: op.method, Path: op.path, Deprecated: op.deprecated}
	}
	slices.SortFunc(out, func(a, b Operation) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Method, b.Method))
	})
	return out
}
