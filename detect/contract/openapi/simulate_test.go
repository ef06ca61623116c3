package openapi

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// apiEvents decodes simulate.APIRequests' log as the request audit does,
// calling f with each event and its label.
func apiEvents(t *testing.T, cfg simulate.APIConfig, f func(ev *ingest.Event, l simulate.RequestLabel)) {
	t.Helper()
	log, labels, err := simulate.APIRequests(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := ingest.NewDecoder(ingest.DecoderOptions{Format: "nginx_combined", MaxSkew: -1})
	if err != nil {
		t.Fatal(err)
	}
	var ev ingest.Event
	for i, line := range bytes.Split(bytes.TrimSuffix(log, []byte("\n")), []byte("\n")) {
		if err := dec.Decode(line, &ev); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, line)
		}
		f(&ev, labels[i])
	}
}

// planted says which of the specification's planted operations an
// ordinary request calls: "shadow" (DELETE /orders/{orderId}, not
// documented), "zombie" (GET /search, deprecated), or "" for a
// documented, current operation.
func planted(ev *ingest.Event) string {
	switch {
	case ev.Method == "DELETE" && strings.HasPrefix(ev.Path, "/api/v2/orders/"):
		return "shadow"
	case ev.Path == "/api/v2/search":
		return "zombie"
	}
	return ""
}

// TestSimulatedAPI: on the typed shop API's labelled traffic, checked
// against testdata/shop.yaml: no ordinary request to a documented,
// current operation is flagged; every call of the undocumented and of
// the deprecated operation is; the attacks the specification can see
// are found: every /api/v1 call (zombie), every request to a route never
// served (shadow, or a schema violation where a template takes the
// segment), every tampered type and over-long value, every CR/LF, and
// the unknown parameters of the one operation with strict parameters.
func TestSimulatedAPI(t *testing.T) {
	t.Parallel()
	for _, one := range []bool{false, true} {
		s := loadShop(t)
		var ordinary, flagged, plantedN, plantedFound int
		attacks, found, schema := map[string]int{}, map[string]int{}, map[string]int{}
		var vs []contract.Violation
		apiEvents(t, simulate.APIConfig{Seed: 5, OnePerClient: one}, func(ev *ingest.Event, l simulate.RequestLabel) {
			vs = s.Check(ev, vs[:0])
			if l.Attack == "" {
				want := planted(ev)
				switch {
				case want == "":
					ordinary++
					if len(vs) > 0 {
						flagged++
						if flagged <= 5 {
							t.Errorf("ordinary request flagged: %s %s?%s: %+v", ev.Method, ev.Path, ev.Query, vs)
						}
					}
				default:
					plantedN++
					if len(vs) > 0 && string(vs[0].Reason) == want+"_endpoint" {
						plantedFound++
					}
				}
				return
			}
			attacks[l.Attack]++
			if len(vs) > 0 {
				found[l.Attack]++
			}
			if slices.ContainsFunc(vs, func(v contract.Violation) bool { return v.Reason == contract.SchemaViolation }) {
				schema[l.Attack]++
			}
		})
		t.Logf("one per client %v: %d of %d ordinary requests to documented operations flagged; planted shadow and zombie calls %d of %d",
			one, flagged, ordinary, plantedFound, plantedN)
		for _, k := range simulate.APIAttackKinds() {
			t.Logf("  %-18s %4d of %4d found (%5.1f%%), %4d schema violations", k, found[k], attacks[k], 100*float64(found[k])/float64(attacks[k]), schema[k])
		}
		if flagged*200 > ordinary { // 0.5%
			t.Errorf("%d of %d ordinary requests flagged", flagged, ordinary)
		}
		if plantedFound != plantedN || plantedN == 0 {
			t.Errorf("planted shadow and zombie calls: %d of %d found", plantedFound, plantedN)
		}
		for _, k := range []string{simulate.AttackDeprecatedVersion, simulate.AttackUnknownRoute, simulate.AttackTypeTamper,
			simulate.AttackOverlong, simulate.AttackCRLF} {
			if found[k] != attacks[k] || attacks[k] == 0 {
				t.Errorf("%s: %d of %d found", k, found[k], attacks[k])
			}
		}
		for _, k := range []string{simulate.AttackTypeTamper, simulate.AttackOverlong} {
			if schema[k]*100 < attacks[k]*95 {
				t.Errorf("%s: %d of %d are schema violations", k, schema[k], attacks[k])
			}
		}
		if schema[simulate.AttackUnknownParam] == 0 {
			t.Errorf("no unknown parameter of POST /orders (strict) found")
		}
	}
}

// TestSimulatedDrift: the contract learnt from the shop's ordinary
// traffic drifts from testdata/shop.yaml by exactly what was planted:
// DELETE /orders/{orderId} undocumented, GET /categories unused.
func TestSimulatedDrift(t *testing.T) {
	t.Parallel()
	s := loadShop(t)
	m := contract.New(contract.Options{})
	apiEvents(t, simulate.APIConfig{Seed: 6, Normal: -1, Attacks: -1}, func(ev *ingest.Event, _ simulate.RequestLabel) { m.Learn(ev) })
	m.Freeze()
	rep := Drift(s, m.Routes())
	var undocumented []string
	for _, r := range rep.Undocumented {
		undocumented = append(undocumented, r.Method+" "+r.Template)
	}
	if want := []string{"DELETE /api/v2/orders/{id}"}; !slices.Equal(undocumented, want) {
		t.Errorf("undocumented %q, want %q", undocumented, want)
	}
	if want := []Operation{{Method: "GET", Path: "/categories"}}; !slices.Equal(rep.Unused, want) {
		t.Errorf("unused %+v, want %+v", rep.Unused, want)
	}
}
