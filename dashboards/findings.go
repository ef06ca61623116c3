package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// findings is the incident list: every incident with an emission in the
// time range, filtered by severity, detector and current status, and the
// lifecycle of each (every emission, open to resolved).
func findings(opts Options) *dashboard.DashboardBuilder {
	f := table(tableFindings)
	inRange := "$__timeFilter(window_end)"
	// The filters apply to each incident's latest emission: its current
	// severity and status.
	filters := filter("severity", varSeverity) + " AND " + filter("detector", varDetector) + " AND " + filter("status", varStatus)
	latest := "(" + latestEmissions(inRange) + ")"

	b := base(opts, uidFindings, "gatewatch: findings",
		"Every incident in the time range, filtered by severity, detector and status, with its explanation and lifecycle.")
	b.WithVariable(multiAll(customVar(varSeverity, "Severity", severities())))
	b.WithVariable(multiAll(queryVar(varDetector, "Detector",
		sqlLines("SELECT DISTINCT detector FROM "+f, "WHERE "+inRange, "ORDER BY detector"))))
	b.WithVariable(multiAll(customVar(varStatus, "Status", statuses())).
		Description("The incident's current status: its latest emission's."))
	return addPanels(b, []panelSpec{
		{
			kind: kindStat, title: "Incidents", w: 6, h: 4, unit: "short",
			description: "Incidents matching the filters.",
			sql:         sqlLines("SELECT count() AS incidents", "FROM "+latest, "WHERE "+filters),
		},
		{
			kind: kindStat, title: "Unresolved", w: 6, h: 4, unit: "short",
			description: "Incidents matching the filters whose latest emission is not resolved.",
			sql: sqlLines("SELECT countIf(status != "+statusResolved+") AS unresolved",
				"FROM "+latest, "WHERE "+filters),
		},
		{
			kind: kindStat, title: "High or critical", w: 6, h: 4, unit: "short",
			description: "Incidents matching the filters whose current severity is high or critical.",
			sql: sqlLines("SELECT countIf("+severityRank+" >= 2) AS high_or_critical",
				"FROM "+latest, "WHERE "+filters),
		},
		{
			kind: kindStat, title: "Median time anomalous", w: 6, h: 4, unit: "s",
			description: "Median span from an incident's first anomalous window's start to its last one's end, over the resolved incidents matching the filters.",
			sql: sqlLines("SELECT if(count() = 0, 0, median(toUInt32(window_end) - toUInt32(window_start))) AS median_s",
				"FROM "+latest, "WHERE "+filters+" AND status = "+statusResolved),
		},
		{
			kind: kindBars, title: "Incidents opened, by severity", w: 24, h: 8, unit: "short",
			description: "New incidents per interval, stacked by their severity when opened.",
			seriesLabel: "severity",
			sql: sqlLines("SELECT "+bucket("window_end")+" AS t, severity, uniqExact(incident_id) AS incidents",
				"FROM "+f,
				"WHERE "+inRange+" AND status = "+statusOpen+" AND "+filter("severity", varSeverity)+" AND "+filter("detector", varDetector),
				"GROUP BY t, severity", "ORDER BY t"),
		},
		{
			kind: kindTable, title: "Incident list", w: 24, h: 12, clientColumn: "client",
			description: "Each incident's latest emission, most severe and most recent first, with its explanation and how many times it was emitted. Click a client for its drill-down.",
			sql: sqlLines("SELECT severity, status, detector, client, client_kind, window_start AS since, window_end AS last_window, windows,",
				"  emissions, first_emitted, last_emitted,",
				"  round(observed, 2) AS observed, round(expected, 2) AS expected, round(spread, 2) AS spread, unit,",
				"  round(score, 3) AS score, p_value, baseline, history, summary, why,",
				"  arrayStringConcat(routes, ', ') AS route_list, arrayStringConcat(samples, ' | ') AS sample_requests,",
				"  arrayStringConcat(top_clients, ', ') AS fleet_top_clients, incident_id",
				// Both sides named: current servers (the analyzer, 24.3+) refuse
				// a JOIN of subqueries without aliases; 18.16 takes either.
				"FROM "+latest+" AS latest",
				"ANY LEFT JOIN (",
				"  SELECT incident_id, count() AS emissions, min(emitted_at) AS first_emitted, max(emitted_at) AS last_emitted",
				"  FROM "+f, "  WHERE "+inRange, "  GROUP BY incident_id",
				") AS counts USING incident_id",
				"WHERE "+filters,
				"ORDER BY "+severityRank+" DESC, window_end DESC, incident_id",
				"LIMIT 1000"),
		},
		{
			kind: kindTable, title: "Lifecycle", w: 24, h: 12, clientColumn: "client",
			description: "Every emission of the incidents above, in order: open, the updates as an incident grew or went on, resolved.",
			sql: sqlLines("SELECT incident_id, emitted_at, status, severity, detector, client, windows, window_start, window_end,",
				"  round(observed, 2) AS observed, round(expected, 2) AS expected, unit, round(score, 3) AS score, summary",
				"FROM "+f,
				"WHERE "+inRange+" AND incident_id IN (SELECT incident_id FROM "+latest+" WHERE "+filters+")",
				"ORDER BY incident_id, window_end, windows, status = "+statusResolved,
				"LIMIT 5000"),
		},
	})
}
