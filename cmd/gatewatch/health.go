package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	return storage.GatheredHealth(reg, component, instance)
}
