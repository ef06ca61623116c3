package storage

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// DefaultHealthEvery is how often HealthLoop writes samples when given no
// interval.
const DefaultHealthEvery = time.Minute

// HealthLoop writes the samples collect returns to the pipeline_health
// table every interval (DefaultHealthEvery when zero) until ctx ends, and
// once more then, bounded by 5 seconds: the dashboards show the
// pipeline's own throughput, errors and backlog beside the traffic it
// audits, with history that a metrics scrape of now does not keep.
//
// A failed collect or write goes to report (when set) and the next
// interval tries again: health samples are not worth holding back the
// pipeline for.
func (db *DB) HealthLoop(ctx context.Context, every time.Duration, collect func(now time.Time) ([]HealthSample, error), report func(error)) {
	if every <= 0 {
		every = DefaultHealthEvery
	}
	write := func(ctx context.Context) {
		hs, err := collect(time.Now())
		if err == nil {
			err = db.InsertHealth(ctx, hs)
		}
		if err != nil && report != nil {
			report(err)
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			write(ctx)
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			write(final)
			cancel()
			return
		}
	}
}

// GatheredHealth returns HealthLoop's collect function for a process that
// keeps its metrics in Prometheus: the samples GatheredSamples makes of
// g's gatewatch_* series, for component on instance.
func GatheredHealth(g prometheus.Gatherer, component, instance string) func(now time.Time) ([]HealthSample, error) {
	return func(now time.Time) ([]HealthSample, error) {
		return GatheredSamples(g, component, instance, now)
	}
}

// GatheredSamples turns g's gatewatch_* counters and gauges into health
// rows at now: the metric is the series name with its labels, as
// Prometheus prints it (gatewatch_store_rows_total{table="events"}).
// Other series and other metric types are left out.
func GatheredSamples(g prometheus.Gatherer, component, instance string, now time.Time) ([]HealthSample, error) {
	fams, err := g.Gather()
	if err != nil {
		return nil, err
	}
	var out []HealthSample
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "gatewatch_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var v float64
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				v = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				v = m.GetGauge().GetValue()
			default:
				continue
			}
			out = append(out, HealthSample{Time: now, Component: component, Instance: instance, Metric: seriesName(f.GetName(), m.GetLabel()), Value: v})
		}
	}
	return out, nil
}

// seriesName is a series as Prometheus prints it, labels sorted.
func seriesName(name string, labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return name
	}
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, l.GetName()+"=\""+l.GetValue()+"\"")
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}
