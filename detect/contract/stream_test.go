package contract

import (
	"fmt"
	"testing"
	"time"
)

// TestCheckerLearningPeriod: nothing is judged until both the learning
// time and the event count have passed; then a request outside the
// contract is reported, and a frozen model given at the start is used
// from the first event.
func TestCheckerLearningPeriod(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	c := NewChecker(CheckerOptions{LearnFor: time.Hour, MinLearned: 100})
	odd := func(at time.Time) []Violation {
		ev := event("203.0.113.9", "GET", "/api/v2/items", "/api/v2/items", "page=1%27--", 200)
		ev.Time = at
		return c.Observe(ev, nil)
	}
	for i := range 200 {
		ev := event(fmt.Sprintf("10.0.0.%d", i%20), "GET", "/api/v2/items", "/api/v2/items", fmt.Sprintf("page=%d", i%9+1), 200)
		ev.Time = t0.Add(time.Duration(i) * 10 * time.Second) // 200 events over 33 minutes
		if vs := c.Observe(ev, nil); len(vs) != 0 {
			t.Fatalf("judged during the learning period: %v", vs)
		}
	}
	if !c.Learning() || len(odd(t0.Add(40*time.Minute))) != 0 {
		t.Fatal("learning ended before its hour")
	}
	if vs := odd(t0.Add(61 * time.Minute)); c.Learning() || len(vs) == 0 {
		t.Fatalf("after the learning period: learning %v, violations %v", c.Learning(), vs)
	}
	frozen := NewChecker(CheckerOptions{Model: c.Model()})
	ev := event("203.0.113.9", "GET", "/api/v2/items", "/api/v2/items", "page=x", 200)
	if frozen.Learning() || len(frozen.Observe(ev, nil)) == 0 {
		t.Error("a frozen model is not checked against from the first event")
	}
}
