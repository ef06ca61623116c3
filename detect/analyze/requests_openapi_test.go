package analyze

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/detect/contract/openapi"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// countingSpec flags every DELETE as a shadow endpoint and counts the
// requests it is shown.
type countingSpec struct{ n int64 }

func (c *countingSpec) Check(ev *ingest.Event, out []contract.Violation) []contract.Violation {
	c.n++
	if ev.Method == "DELETE" {
		out = append(out, contract.Violation{Reason: contract.ShadowEndpoint, Got: ev.Method})
	}
	return out
}

// TestRequestsSpec: RequestOptions.Spec sees every judged request and no
// learnt one; its violations follow the learnt contract's in the same
// report; and with the shop's real specification, every /api/v1 call is a
// zombie endpoint.
func TestRequestsSpec(t *testing.T) {
	t.Parallel()
	log, labels, err := simulate.APIRequests(simulate.APIConfig{Seed: 8, Learn: 4000, Normal: 4000, Attacks: 400})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "api.log")
	if err := os.WriteFile(path, log, 0o600); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(log), "\n")
	shop, err := openapi.Load("../contract/openapi/testdata/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingSpec{}
	for _, tc := range []struct {
		name string
		spec interface {
			Check(*ingest.Event, []contract.Violation) []contract.Violation
		}
	}{{"counting", counting}, {"shop.yaml", shop}} {
		var out bytes.Buffer
		sum, err := Requests(context.Background(), RequestOptions{Inputs: []string{path}, Output: &out, LearnLines: 4000, Spec: tc.spec})
		if err != nil {
			t.Fatal(err)
		}
		reports := readReports(t, &out, lines)
		for _, l := range labels[4000:] {
			r, ok := reports[int64(l.Line)]
			var reasons []contract.Reason
			for _, v := range r.Reasons {
				reasons = append(reasons, v.Reason)
			}
			switch {
			case tc.name == "counting" && r.Method == "DELETE" && reasons[len(reasons)-1] != contract.ShadowEndpoint:
				t.Errorf("line %d: the specification's violation is not last: %v", l.Line, reasons)
			case tc.name == "shop.yaml" && l.Attack == simulate.AttackDeprecatedVersion && (!ok || !slices.Contains(reasons, contract.ZombieEndpoint)):
				t.Errorf("line %d: /api/v1 call not a zombie endpoint: %v", l.Line, reasons)
			}
		}
		if sum.ByReason[contract.ShadowEndpoint] == 0 {
			t.Errorf("%s: no shadow endpoint: %v", tc.name, sum.ByReason)
		}
	}
	if counting.n != 4400 {
		t.Errorf("the specification saw %d requests, want the 4,400 judged", counting.n)
	}
}
