package storage

import (
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHealthSamples(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	rows := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatewatch_store_rows_total", Help: "h"}, []string{"table", "b"})
	rows.WithLabelValues("events", "x").Add(42)
	lag := prometheus.NewGauge(prometheus.GaugeOpts{Name: "gatewatch_lag", Help: "h"})
	lag.Set(7)
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gatewatch_latency_seconds", Help: "h"})
	hist.Observe(1)
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "process_other_total", Help: "h"})
	other.Inc()
	reg.MustRegister(rows, lag, hist, other)
	now := time.Unix(1_800_000_000, 0)
	hs, err := GatheredSamples(reg, "store", "host-1", now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, h := range hs {
		if h.Component != "store" || h.Instance != "host-1" || !h.Time.Equal(now) {
			t.Errorf("sample %+v", h)
		}
		got[h.Metric] = h.Value
	}
	want := map[string]float64{`gatewatch_lag`: 7, `gatewatch_store_rows_total{b="x",table="events"}`: 42}
	if !maps.Equal(got, want) {
		t.Errorf("samples %v, want %v", got, want)
	}
}
