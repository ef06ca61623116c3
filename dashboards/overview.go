package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// overview is the fleet at a glance: traffic, server errors and auth
// failures over time, who is behind them, and what the detectors found.
func overview(opts Options) *dashboard.DashboardBuilder {
	events := table(tableEvents)
	inRange := "WHERE $__timeFilter(time)"
	return addPanels(base(opts, uidOverview, "gatewatch: overview",
		"Fleet traffic, server errors and auth failures over time, the clients behind them, and the detectors' findings."),
		[]panelSpec{
			{
				kind: kindStat, title: "Requests", w: 6, h: 4, unit: "short",
				description: "Requests in the time range.",
				sql:         sqlLines("SELECT count() AS requests", "FROM "+events, inRange),
			},
			{
				kind: kindStat, title: "5xx ratio", w: 6, h: 4, unit: "percentunit",
				description: "Share of requests answered with a 5xx status in the time range.",
				sql:         sqlLines("SELECT if(count() = 0, 0, countIf("+is5xx+") / count()) AS ratio_5xx", "FROM "+events, inRange),
			},
			{
				kind: kindStat, title: "Auth failures", w: 6, h: 4, unit: "short",
				description: "Requests whose credentials were missing, rejected (401) or not allowed (403) in the time range.",
				sql:         sqlLines("SELECT countIf("+authFailure+") AS auth_failures", "FROM "+events, inRange),
			},
			{
				kind: kindStat, title: "Open incidents", w: 6, h: 4, unit: "short",
				description: "Incidents with an emission in the time range whose latest emission is not resolved.",
				sql: sqlLines("SELECT count() AS open_incidents",
					"FROM ("+latestEmissions("$__timeFilter(window_end)")+")",
					"WHERE status != "+statusResolved),
			},
			{
				kind: kindTimeSeries, title: "Requests/s", w: 12, h: 8, unit: "reqps",
				description: "Requests per second across all clients.",
				sql: sqlLines("SELECT "+bucket("time")+" AS t, count() / $__interval_s AS requests_per_s",
					"FROM "+events, inRange, "GROUP BY t", "ORDER BY t"),
			},
			{
				kind: kindTimeSeries, title: "5xx ratio over time", w: 12, h: 8, unit: "percentunit",
				description: "Share of requests answered with a 5xx status.",
				sql: sqlLines("SELECT "+bucket("time")+" AS t, countIf("+is5xx+") / count() AS ratio_5xx",
					"FROM "+events, inRange, "GROUP BY t", "ORDER BY t"),
			},
			{
				kind: kindTimeSeries, title: "Auth failures/s", w: 12, h: 8, unit: "reqps",
				description: "Requests per second whose credentials were missing, rejected (401) or not allowed (403), by outcome.",
				seriesLabel: "auth",
				sql: sqlLines("SELECT "+bucket("time")+" AS t, auth, count() / $__interval_s AS failures_per_s",
					"FROM "+events, inRange+" AND "+authFailure, "GROUP BY t, auth", "ORDER BY t"),
			},
			{
				kind: kindBars, title: "Incidents opened, by detector", w: 12, h: 8, unit: "short",
				description: "New incidents (their first, \"open\" emission) per interval, stacked by detector.",
				seriesLabel: "detector",
				sql: sqlLines("SELECT "+bucket("window_end")+" AS t, detector, uniqExact(incident_id) AS incidents",
					"FROM "+table(tableFindings), "WHERE $__timeFilter(window_end) AND status = "+statusOpen,
					"GROUP BY t, detector", "ORDER BY t"),
			},
			topClients("Top clients by requests", "requests", "", "The busiest clients in the time range."),
			topClients("Top clients by 5xx", "errors_5xx", "errors_5xx > 0", "Clients with the most 5xx answers in the time range."),
			topClients("Top clients by auth failures", "auth_failures", "auth_failures > 0",
				"Clients with the most failed or forbidden authentications in the time range."),
			{
				kind: kindTable, title: "Open incidents, most severe first", w: 24, h: 10, clientColumn: "client",
				description: "The latest emission of every unresolved incident with an emission in the time range, most severe first. Click a client for its drill-down.",
				sql: sqlLines("SELECT severity, detector, client, status, window_start AS since, window_end AS last_window, windows,",
					"  round(observed, 2) AS observed, round(expected, 2) AS expected, unit, round(score, 3) AS score, summary, incident_id",
					"FROM ("+latestEmissions("$__timeFilter(window_end)")+")",
					"WHERE status != "+statusResolved,
					"ORDER BY "+severityRank+" DESC, window_end DESC, incident_id",
					"LIMIT 500"),
			},
		})
}

// topClients is a table of the 20 clients with the most of orderBy in the
// time range, from the events table (storage.TopClients' query).
func topClients(title, orderBy, having, description string) panelSpec {
	sql := sqlLines("SELECT client, any(client_kind) AS kind, count() AS requests,",
		"  countIf("+is5xx+") AS errors_5xx, countIf("+authFailure+") AS auth_failures",
		"FROM "+table(tableEvents),
		"WHERE $__timeFilter(time)",
		"GROUP BY client")
	if having != "" {
		sql = sqlLines(sql, "HAVING "+having)
	}
	sql = sqlLines(sql, "ORDER BY "+orderBy+" DESC, client", "LIMIT 20")
	return panelSpec{kind: kindTable, title: title, description: description + " Click a client for its drill-down.",
		w: 8, h: 10, sql: sql, clientColumn: "client", sortBy: orderBy}
}
