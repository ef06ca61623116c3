package main

import (
	"context"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatewatch/gatewatch/storage"
)

// recordHealth writes the gatewatch_* counters and gauges of reg to
// ClickHouse's pipeline_health table every interval until ctx ends, and
// once more then (storage.DB.HealthLoop): the dashboards show the
// pipeline's own throughput, errors and backlog beside the traffic it
// audits, with history that /metrics alone (a scrape of now) does not
// keep. A failed write is logged and the next interval tries again;
// health samples are not worth holding back the pipeline for.
func recordHealth(ctx context.Context, db *storage.DB, reg prometheus.Gatherer, component string, every time.Duration, log *slog.Logger) {
	db.HealthLoop(ctx, every, healthSource(reg, component), func(err error) {
		log.Warn("pipeline health not written", "err", err)
	})
}

// healthSource returns the samples of reg for storage's health loop,
// from this host.
func healthSource(reg prometheus.Gatherer, component string) func(time.Time) ([]storage.HealthSample, error) {
	instance, _ := os.Hostname()
	return func(now time.Time) ([]storage.HealthSample, error) {
		return healthSamples(reg, component, instance, now)
	}
}

// healthSamples turns reg's gatewatch_* counters and gauges into rows: the
// metric is the series name with its labels, as Prometheus prints it
// (gatewatch_store_rows_total{table="events"}).
func healthSamples(reg prometheus.Gatherer, component, instance string, now time.Time) ([]storage.HealthSample, error) {
	fams, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	var out []storage.HealthSample
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
			out = append(out, storage.HealthSample{Time: now, Component: component, Instance: instance, Metric: seriesName(f.GetName(), m.GetLabel()), Value: v})
		}
	}
	return out, nil
}

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
