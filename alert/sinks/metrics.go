package sinks

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewatch/gatewatch/alert"
)

// Collector exports each sink's delivery figures (alert.SinkStats) as
// Prometheus metrics labelled by sink; register it on the ops registry.
type Collector struct {
	stats func() []alert.SinkStats
	descs map[string]*prometheus.Desc
}

// NewCollector returns a Collector reading stats on every scrape.
func NewCollector(stats func() []alert.SinkStats) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("gatewatch_alert_"+name, help, append([]string{"sink"}, labels...), nil)
	}
	return &Collector{stats: stats, descs: map[string]*prometheus.Desc{
		"queue":        d("queue_depth", "Findings waiting for the sink, in flight included."),
		"oldest":       d("oldest_undelivered_seconds", "Age of the oldest finding in flight (0 when idle)."),
		"delivered":    d("delivered_total", "Notifications the sink took."),
		"retries":      d("retries_total", "Failed deliveries that were retried."),
		"throttled":    d("throttled_total", "Retries the receiver asked for (429, Retry-After)."),
		"dropped":      d("dropped_total", "Notifications not delivered, by reason (rejected and undecodable are dead-lettered).", "reason"),
		"last_success": d("last_success_timestamp_seconds", "When the sink last took a notification (0: never)."),
		"failing":      d("failing_seconds", "How long the sink has been failing (0: healthy)."),
	}}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.stats() {
		g := func(key string, typ prometheus.ValueType, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(c.descs[key], typ, v, append([]string{st.Name}, labels...)...)
		}
		g("queue", prometheus.GaugeValue, float64(st.Queue))
		g("oldest", prometheus.GaugeValue, st.OldestAge.Seconds())
		g("delivered", prometheus.CounterValue, float64(st.Delivered))
		g("retries", prometheus.CounterValue, float64(st.Retries))
		g("throttled", prometheus.CounterValue, float64(st.Throttled))
		for _, reason := range []string{"rejected", "undecodable", "silenced", "duplicate"} {
			g("dropped", prometheus.CounterValue, float64(st.Dropped[reason]), reason)
		}
		var last, failing float64
		if !st.LastSuccess.IsZero() {
			last = float64(st.LastSuccess.UnixNano()) / 1e9
		}
		if !st.FailingSince.IsZero() {
			failing = time.Since(st.FailingSince).Seconds()
		}
		g("last_success", prometheus.GaugeValue, last)
		g("failing", prometheus.GaugeValue, failing)
	}
}
