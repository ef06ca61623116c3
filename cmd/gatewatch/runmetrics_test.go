package main

import (
	"fmt"
	"testing"
)

// TestLateBySource checks the late-events counter's source label: counted
// per source, and bounded when senders name sources at will.
func TestLateBySource(t *testing.T) {
	m := newRunMetrics()
	late := m.lateBySource()
	late("edge")
	late("edge")
	for i := range 100 {
		late(fmt.Sprintf("sender-%d", i))
	}
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "gatewatch_detect_late_events_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			got[mt.GetLabel()[0].GetValue()] = mt.GetCounter().GetValue()
		}
	}
	if len(got) != maxLateSources+1 || got["edge"] != 2 || got["other"] != 100-(maxLateSources-1) {
		t.Errorf("%d label values (want %d), edge %v (want 2), other %v (want %d)",
			len(got), maxLateSources+1, got["edge"], got["other"], 100-(maxLateSources-1))
	}
}
