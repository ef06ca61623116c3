package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// pipeline is gatewatch watching itself: the metrics "store" and "run"
// write to pipeline_health every clickhouse.health_interval
// (storage.GatheredHealth), as rates and as their latest values, so a
// stalled collector or a failing ClickHouse insert shows beside the
// traffic it would have audited, with history /metrics does not keep.
func pipeline(opts Options) *dashboard.DashboardBuilder {
	return addPanels(base(opts, uidPipeline, "gatewatch: pipeline",
		"The pipeline's own metrics from the pipeline_health table: lines read, unparsable lines, rows stored, insert errors, and every metric's latest value."),
		[]panelSpec{
			counterRate("Lines read/s", "gatewatch_ingest_lines_total", "Access-log lines read by \"gatewatch run\", per instance and source."),
			counterRate("Unparsable lines/s", "gatewatch_ingest_parse_errors_total", "Lines no parser understood (kept in the dead-letter files), per instance and source."),
			counterRate("Rows stored/s", "gatewatch_store_rows_total", "Rows \"gatewatch store\" inserted into ClickHouse and committed in Kafka, per instance and table."),
			counterRate("Insert errors/s", "gatewatch_store_insert_errors_total", "Failed INSERT attempts of \"gatewatch store\" (each is retried; rows are not lost)."),
			{
				kind: kindTable, title: "Latest values", w: 24, h: 12,
				description: "Every metric's latest sample in the time range, per component and instance. A sample older than a few health intervals means the process stopped writing.",
				sql: sqlLines("SELECT component, instance, metric, argMax(value, time) AS value, max(time) AS sampled_at",
					"FROM "+table(tableHealth),
					"WHERE $__timeFilter(time)",
					"GROUP BY component, instance, metric",
					"ORDER BY component, instance, metric"),
			},
		})
}

// counterRate is a time series of the per-second increase of counter name
// (every label set of it), per instance. Samples come about once a
// minute, so the rate between two of them is the increase over the time
// between them, whatever the panel's interval; a counter that went down
// (its process restarted) counts as 0 for that step.
func counterRate(title, name, description string) panelSpec {
	return panelSpec{
		kind: kindTimeSeries, title: title, description: description, w: 12, h: 8, unit: "short", seriesLabel: "series",
		sql: sqlLines(
			"SELECT t, series, greatest(d, 0) / dt AS per_s",
			"FROM (",
			"  SELECT concat(instance, ' ', metric) AS series, arraySort(groupArray((t, v))) AS pts,",
			"    arrayMap(p -> p.1, pts) AS ts, arrayDifference(arrayMap(p -> p.2, pts)) AS ds,",
			"    arrayDifference(arrayMap(p -> toUInt32(p.1), pts)) AS dts",
			"  FROM (",
			"    SELECT "+bucket("time")+" AS t, instance, metric, max(value) AS v",
			"    FROM "+table(tableHealth),
			"    WHERE $__timeFilter(time) AND (metric = "+quote(name)+" OR startsWith(metric, "+quote(name+"{")+"))",
			"    GROUP BY t, instance, metric)",
			"  GROUP BY series)",
			"ARRAY JOIN ts AS t, ds AS d, dts AS dt",
			"WHERE dt > 0",
			"ORDER BY t, series"),
	}
}
