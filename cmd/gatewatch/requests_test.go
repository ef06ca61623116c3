package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// TestAnalyzeRequests: "analyze --requests" learns from --learn, judges
// the input, prints one JSON report per request outside the contract and
// a summary naming the reasons; a log that is not the named format ends
// with the parse-error status.
func TestAnalyzeRequests(t *testing.T) {
	t.Parallel()
	log, labels, err := simulate.APIRequests(simulate.APIConfig{Seed: 9, Learn: 4000, Normal: 4000, Attacks: 400})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(log), "\n")
	dir := t.TempDir()
	learn, judge := filepath.Join(dir, "learn.log"), filepath.Join(dir, "today.log")
	os.WriteFile(learn, []byte(strings.Join(lines[:4000], "")), 0o600)
	os.WriteFile(judge, []byte(strings.Join(lines[4000:], "")), 0o600)
	code, out, stderr := runAnalyze(t, "", 0, 0, "--requests", "--learn", learn, judge)
	if code != 0 || !strings.Contains(stderr, "judged 4,400: ") || !strings.Contains(stderr, "outside the contract (") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	attacks := 0
	for _, l := range labels[4000:] {
		if l.Attack != "" {
			attacks++
		}
	}
	var reported int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Input   string
			Line    int
			Reasons []struct{ Reason, Param, Expected, Got string }
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Input != judge || len(r.Reasons) == 0 || r.Reasons[0].Reason == "" {
			t.Fatalf("report %q: %v", line, err)
		}
		if labels[4000+r.Line-1].Attack != "" {
			reported++
		}
	}
	if reported < attacks*9/10 {
		t.Errorf("%d of %d attack requests reported", reported, attacks)
	}
	code, _, stderr = runAnalyze(t, "", 0, 0, "--requests", "--format", "envoy_json", judge)
	if code != exitParseErrors {
		t.Errorf("wrong format: exit %d, want %d\n%s", code, exitParseErrors, stderr)
	}
}

// TestAnalyzeRequestsOpenAPI: with --openapi, "analyze --requests" also
// checks every request against the specification: each call of the
// retired /api/v1 is a zombie endpoint, each call of the undocumented
// DELETE /orders/{orderId} a shadow endpoint, each tampered type a schema
// violation, and the summary names the three reasons; a specification
// that does not load is an error naming it.
func TestAnalyzeRequestsOpenAPI(t *testing.T) {
	t.Parallel()
	const spec = "../../detect/contract/openapi/testdata/shop.yaml"
	log, labels, err := simulate.APIRequests(simulate.APIConfig{Seed: 11, Learn: 4000, Normal: 4000, Attacks: 400})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(log), "\n")
	dir := t.TempDir()
	learn, judge := filepath.Join(dir, "learn.log"), filepath.Join(dir, "today.log")
	os.WriteFile(learn, []byte(strings.Join(lines[:4000], "")), 0o600)
	os.WriteFile(judge, []byte(strings.Join(lines[4000:], "")), 0o600)
	code, out, stderr := runAnalyze(t, "", 0, 0, "--requests", "--learn", learn, "--openapi", spec, judge)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, r := range []string{"shadow_endpoint", "zombie_endpoint", "schema_violation"} {
		if !strings.Contains(stderr, " "+r) {
			t.Errorf("summary without %s: %s", r, stderr)
		}
	}
	reasons := map[int][]string{} // line of the whole log: reasons
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Line, Status int
			Method, Path string
			Reasons      []struct{ Reason, Param, Expected, Got string }
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("report %q: %v", line, err)
		}
		for _, v := range r.Reasons {
			reasons[4000+r.Line] = append(reasons[4000+r.Line], v.Reason)
		}
	}
	want := map[string]int{}
	missed := map[string]int{}
	for _, l := range labels[4000:] {
		var reason string
		switch {
		case l.Attack == simulate.AttackDeprecatedVersion:
			reason = "zombie_endpoint"
		case l.Attack == simulate.AttackTypeTamper && l.Param != "{id}":
			reason = "schema_violation"
		case l.Attack == "" && strings.HasPrefix(lines[l.Line-1][strings.Index(lines[l.Line-1], `"`):], `"DELETE /api/v2/orders/`):
			reason = "shadow_endpoint"
		default:
			continue
		}
		want[reason]++
		if !slices.Contains(reasons[l.Line], reason) {
			missed[reason]++
		}
	}
	for _, r := range []string{"shadow_endpoint", "zombie_endpoint", "schema_violation"} {
		if want[r] == 0 || missed[r] > 0 {
			t.Errorf("%s: %d of %d requests not reported", r, missed[r], want[r])
		}
	}
	code, _, stderr = runAnalyze(t, "", 0, 0, "--requests", "--openapi", filepath.Join(dir, "nope.yaml"), judge)
	if code != 1 || !strings.Contains(stderr, "nope.yaml") {
		t.Errorf("missing specification: exit %d\n%s", code, stderr)
	}
}

// TestAnalyzeRequestsByClient: --by-client groups the same requests the
// per-request audit reports into client incidents: the same clients, and
// every request counted once.
func TestAnalyzeRequestsByClient(t *testing.T) {
	t.Parallel()
	log, labels, err := simulate.APIRequests(simulate.APIConfig{Seed: 9, Learn: 4000, Normal: 4000, Attacks: 400})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(log), "\n")
	dir := t.TempDir()
	learn, judge := filepath.Join(dir, "learn.log"), filepath.Join(dir, "today.log")
	os.WriteFile(learn, []byte(strings.Join(lines[:4000], "")), 0o600)
	os.WriteFile(judge, []byte(strings.Join(lines[4000:], "")), 0o600)
	_, perRequest, _ := runAnalyze(t, "", 0, 0, "--requests", "--learn", learn, judge)
	want := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(perRequest), "\n") {
		var r struct{ Client string }
		json.Unmarshal([]byte(line), &r)
		want[r.Client]++
	}
	code, out, stderr := runAnalyze(t, "", 0, 0, "--by-client", "--learn", learn, judge)
	if code != 0 || !strings.Contains(stderr, " client incidents") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var in contract.Incident
		if err := json.Unmarshal([]byte(line), &in); err != nil || in.Input != judge || in.FirstLine <= 0 || in.Summary == "" ||
			len(in.Samples) == 0 || in.Last.Before(in.First) {
			t.Fatalf("incident %q: %v", line, err)
		}
		got[in.Client] += in.Requests
	}
	if !maps.Equal(got, want) {
		t.Errorf("requests per client: incidents %v, per-request audit %v", got, want)
	}
	attackers := map[string]bool{}
	for _, l := range labels[4000:] {
		if l.Attack != "" {
			attackers[l.Client] = true
		}
	}
	found := 0
	for c := range attackers {
		if got[c] > 0 {
			found++
		}
	}
	if found < len(attackers)*9/10 {
		t.Errorf("%d of %d attacking clients in an incident", found, len(attackers))
	}
	t.Logf("%d incidents' clients, %d of %d attackers", len(got), found, len(attackers))
}
