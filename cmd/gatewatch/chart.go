package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/alert/slack"
	"github.com/gatewatch/gatewatch/dashboards/bandplot"
	"github.com/gatewatch/gatewatch/dashboards/report"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/internal/config"
)

// chartContext is how much of the client's traffic a Slack chart shows
// on each side of the incident.
const chartContext = 30 * time.Minute

// storeChart is the Slack sink's charter in "gatewatch alert": the
// client's windows stored in ClickHouse when the config names one, none
// otherwise. done disconnects it.
func (c *cli) storeChart(cfg config.Config, log *slog.Logger) (ch slack.Charter, done func()) {
	if cfg.Storage.Addr == "" {
		return nil, func() {}
	}
	sc := &storeCharter{connect: func(ctx context.Context) (windowSource, error) {
		db, err := c.openStorage(ctx, cfg, log, false)
		if err != nil {
			return nil, err
		}
		return db, nil
	}}
	return sc, func() {
		if err := sc.Close(); err != nil {
			log.Warn("chart: closing the ClickHouse connection", "err", err)
		}
	}
}

// liveChart is the Slack sink's charter in "gatewatch run": the live
// report's series; none without a live report.
func liveChart(live *liveReport) slack.Charter {
	if live == nil {
		return nil
	}
	return reportCharter{rep: live.rep}
}

// storeCharter draws an incident's band from its client's windows in
// ClickHouse, as "explain --png" does. It connects at its first chart,
// and again after a failed connection, so a ClickHouse that is down
// costs charts, never alerts.
type storeCharter struct {
	connect func(context.Context) (windowSource, error)

	mu  sync.Mutex
	src windowSource // nil until connected
}

// Chart implements slack.Charter: nil for a campaign or fleet incident.
func (sc *storeCharter) Chart(ctx context.Context, f detect.Finding) ([]byte, error) {
	if !perClient(f) {
		return nil, nil
	}
	src, err := sc.source(ctx)
	if err != nil {
		return nil, fmt.Errorf("chart of incident %s: %w", f.IncidentID, err)
	}
	ex, err := explainFinding(ctx, src, f, chartContext)
	if err != nil {
		return nil, fmt.Errorf("chart of incident %s: %w", f.IncidentID, err)
	}
	png, err := ex.png()
	if err != nil {
		return nil, fmt.Errorf("chart of incident %s: %w", f.IncidentID, err)
	}
	return png, nil
}

// source returns the windows' source, connecting when not connected.
func (sc *storeCharter) source(ctx context.Context) (windowSource, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.src == nil {
		src, err := sc.connect(ctx)
		if err != nil {
			return nil, err
		}
		sc.src = src
	}
	return sc.src, nil
}

// Close disconnects from ClickHouse, if connected.
func (sc *storeCharter) Close() error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	cl, ok := sc.src.(io.Closer)
	sc.src = nil
	if !ok {
		return nil
	}
	return cl.Close()
}

// reportCharter draws an incident's band from the series the live
// report holds for it.
type reportCharter struct {
	rep *report.Collector
}

// Chart implements slack.Charter: nil when the report holds no series
// of the incident (a campaign or fleet incident, one it dropped).
func (rc reportCharter) Chart(_ context.Context, f detect.Finding) ([]byte, error) {
	if rc.rep == nil || !perClient(f) {
		return nil, nil
	}
	d := rc.rep.Data()
	for i := range d.Incidents {
		if inc := &d.Incidents[i]; inc.Finding.IncidentID == f.IncidentID {
			png, err := seriesPNG(f, inc.Series, d.Window)
			if err != nil {
				return nil, fmt.Errorf("chart of incident %s: %w", f.IncidentID, err)
			}
			return png, nil
		}
	}
	return nil, nil
}

// seriesPNG draws f's band from the live report's series of windows of
// length win, with explain's metric for f's detector; nil without
// points.
func seriesPNG(f detect.Finding, series []report.SeriesPoint, win time.Duration) ([]byte, error) {
	if len(series) == 0 {
		return nil, nil
	}
	m := metricFor(f.Detector)
	s := bandSeries(f, m.unit(win))
	for _, p := range series {
		obs, exp, spread := m.point(p)
		s.Points = append(s.Points, bandplot.Point{Time: p.Start, Observed: obs, Expected: exp, Spread: spread})
	}
	return drawBand(s)
}
