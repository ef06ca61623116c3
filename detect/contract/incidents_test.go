package contract

import (
	"testing"
	"time"
)

func TestIncidents(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	report := func(client string, at time.Duration, line int64, route string, vs ...Violation) *Located {
		return &Located{Input: "api.log", Line: line, Report: Report{Time: t0.Add(at), Client: client, Method: "GET", Route: route, Violations: vs}}
	}
	kind := Violation{Reason: WrongKind, Param: "qty", Expected: "integer", Got: `"4' OR 1=1"`}
	param := Violation{Reason: UnknownParam, Param: `"debug"`, Got: `"1"`}
	var got []*Incident
	g := NewIncidents(0, func(in *Incident) error { got = append(got, in); return nil })
	for _, r := range []*Located{
		report("a", 0, 10, "/orders", kind),
		report("b", time.Minute, 11, "/cart", param),
		report("a", 9*time.Minute, 12, "/orders", kind, param), // 9 min later: the same incident
		report("a", 25*time.Minute, 13, "/orders", kind),       // 16 min later: a new one
	} {
		if err := g.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d incidents, want 3: %+v", len(got), got)
	}
	first := got[0]
	want := `client a: 2 requests outside the API contract (2 wrong_kind, 1 unknown_param) on GET /orders; e.g. qty is integer; got "4' OR 1=1"`
	if first.Client != "a" || first.Requests != 2 || first.FirstLine != 10 || len(first.Samples) != 2 || first.Summary != want ||
		!first.Last.Equal(t0.Add(9*time.Minute)) {
		t.Errorf("first incident %+v\nsummary %q\nwant    %q", first, first.Summary, want)
	}
	if got[1].Client != "b" || got[2].Client != "a" || got[2].FirstLine != 13 {
		t.Errorf("incidents %s@%d, %s@%d, want b then a@13", got[1].Client, got[1].FirstLine, got[2].Client, got[2].FirstLine)
	}
}
