package dashboards

import (
	"slices"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// client is one client's drill-down: what it did, how that compares
// with its baseline, and what the detectors found about it.
func client(opts Options) *dashboard.DashboardBuilder {
	events := table(tableEvents)
	// The events sort key starts with client, so this reads one narrow
	// range of each day's parts.
	mine := "WHERE client = ${" + varClient + ":sqlstring} AND $__timeFilter(time)"
	windows := table(tableWindows)
	myWindows := "WHERE client = ${" + varClient + ":sqlstring} AND $__timeFilter(window_start)"
	// A fleet finding names the clients behind it in top_clients.
	myFindings := "(client = ${" + varClient + ":sqlstring} OR has(top_clients, ${" + varClient + ":sqlstring})) AND $__timeFilter(window_end)"

	b := base(opts, uidClient, "gatewatch: client drill-down",
		"One client: its requests over time, status mix, routes, its windows against its baseline, and its findings with their explanations.")
	b.WithVariable(queryVar(varClient, "Client", clientListSQL()).AllowCustomValue(true).
		Description("Clients with findings in the time range first, then the busiest; type any other client key."))
	return addPanels(b, slices.Concat(
		clientTotals(events, mine),
		clientTraffic(events, mine),
		clientBaseline(windows, myWindows),
		clientDetail(events, mine, myFindings),
	))
}

// clientTotals are the client drill-down's first row: the client's
// requests, 5xx ratio, auth failures and routes in the time range, from
// the events table with the client's filter where.
func clientTotals(events, where string) []panelSpec {
	return []panelSpec{
		{
			kind: kindStat, title: "Requests", w: 6, h: 4, unit: "short",
			description: "The client's requests in the time range.",
			sql:         sqlLines("SELECT count() AS requests", "FROM "+events, where),
		},
		{
			kind: kindStat, title: "5xx ratio", w: 6, h: 4, unit: "percentunit",
			description: "Share of the client's requests answered with a 5xx status.",
			sql:         sqlLines("SELECT if(count() = 0, 0, countIf("+is5xx+") / count()) AS ratio_5xx", "FROM "+events, where),
		},
		{
			kind: kindStat, title: "Auth failures", w: 6, h: 4, unit: "short",
			description: "The client's requests with missing, rejected (401) or not allowed (403) credentials.",
			sql:         sqlLines("SELECT countIf("+authFailure+") AS auth_failures", "FROM "+events, where),
		},
		{
			kind: kindStat, title: "Routes", w: 6, h: 4, unit: "short",
			description: "Distinct route templates the client called.",
			sql:         sqlLines("SELECT uniqExact(route) AS routes", "FROM "+events, where),
		},
	}
}

// clientTraffic plots the client's requests over time by status class
// and its status mix, from the events table with the client's filter
// where.
func clientTraffic(events, where string) []panelSpec {
	return []panelSpec{
		{
			kind: kindBars, title: "Requests/s by status class", w: 16, h: 8, unit: "reqps",
			description: "The client's requests per second, stacked by status class (2xx, 4xx, 5xx...).",
			seriesLabel: "class",
			sql: sqlLines("SELECT "+bucket("time")+" AS t, concat(toString(intDiv(status, 100)), 'xx') AS class,",
				"  count() / $__interval_s AS requests_per_s",
				"FROM "+events, where, "GROUP BY t, class", "ORDER BY t, class"),
		},
		{
			kind: kindPie, title: "Status mix", w: 8, h: 8,
			description: "The client's requests by status code.",
			sql: sqlLines("SELECT toString(status) AS code, count() AS requests",
				"FROM "+events, where, "GROUP BY code", "ORDER BY requests DESC", "LIMIT 12"),
		},
	}
}

// clientBaseline plots the client's windows against its baseline, from
// the windows table with the client's filter where.
func clientBaseline(windows, where string) []panelSpec {
	return []panelSpec{
		observedVsExpected("Requests per window: observed vs expected", "short",
			"The client's requests in each detection window against what its baseline expected (0: no baseline yet).",
			"requests", "expected_requests", windows, where),
		observedVsExpected("5xx ratio per window: observed vs expected", "percentunit",
			"Share of 5xx answers in each window against the baseline's expected ratio.",
			"if(requests = 0, 0, errors / requests)", "expected_error_ratio", windows, where),
		observedVsExpected("Auth failures per window: observed vs expected", "short",
			"Auth failures in each window against what the baseline expected.",
			"auth_failures", "expected_auth_failures", windows, where),
	}
}

// clientDetail are the client drill-down's tables: its findings (those
// matching myFindings), its top routes and its latest requests (events
// matching where).
func clientDetail(events, where, myFindings string) []panelSpec {
	return []panelSpec{
		{
			kind: kindTable, title: "Findings", w: 24, h: 10,
			description: "The latest emission of each incident about this client (or naming it among a fleet finding's top clients), with the explanation: why it is anomalous, the routes involved and sample requests.",
			sql: sqlLines("SELECT window_start AS since, window_end AS last_window, status, severity, detector, windows,",
				"  round(observed, 2) AS observed, round(expected, 2) AS expected, unit, round(score, 3) AS score, baseline,",
				"  summary, why, arrayStringConcat(routes, ', ') AS route_list, arrayStringConcat(samples, ' | ') AS sample_requests, incident_id",
				"FROM ("+latestEmissions(myFindings)+")",
				"ORDER BY window_end DESC, incident_id",
				"LIMIT 200"),
		},
		{
			kind: kindTable, title: "Top routes", w: 24, h: 10, sortBy: "requests",
			description: "The client's routes by requests, with errors, auth failures, p95 latency and bytes sent.",
			sql: sqlLines("SELECT route, method, count() AS requests, countIf("+is5xx+") AS errors_5xx,",
				"  countIf("+authFailure+") AS auth_failures, uniq(path) AS paths,",
				"  round(quantile(0.95)(latency_us) / 1000, 1) AS p95_ms, sum(bytes_out) AS bytes_out",
				"FROM "+events, where,
				"GROUP BY route, method",
				"ORDER BY requests DESC, route, method",
				"LIMIT 50"),
		},
		{
			kind: kindTable, title: "Latest requests", w: 24, h: 12,
			description: "The client's latest requests in the time range (up to 500), newest first: the audit trail.",
			// FINAL: a replayed batch not merged yet would show twice.
			sql: sqlLines("SELECT time, time_us, method, host, path, query, status, auth, round(latency_us / 1000, 1) AS latency_ms,",
				"  bytes_out, IPv6NumToString(ip) AS remote_ip, user_agent, request_id, source",
				"FROM "+events+" FINAL", where,
				"ORDER BY time DESC, time_us DESC",
				"LIMIT 500"),
		},
	}
}

// clientListSQL lists the $client choices: clients with findings in the
// range first, then the busiest 1000 by requests.
func clientListSQL() string {
	return sqlLines("SELECT client FROM (",
		"  SELECT client, toUInt64(1) AS flagged, toUInt64(0) AS requests FROM "+table(tableFindings),
		"  WHERE $__timeFilter(window_end)",
		"  UNION ALL",
		"  SELECT client, toUInt64(0) AS flagged, count() AS requests FROM "+table(tableEvents),
		"  WHERE $__timeFilter(time) GROUP BY client ORDER BY requests DESC LIMIT 1000",
		")",
		"GROUP BY client",
		"ORDER BY max(flagged) DESC, sum(requests) DESC, client")
}

// observedVsExpected plots one of client_windows' measures against its
// baseline expectation, one point per window. FINAL: a replayed window
// is one row.
func observedVsExpected(title, unit, description, observed, expected, windows, where string) panelSpec {
	return panelSpec{
		kind: kindTimeSeries, title: title, w: 8, h: 8, unit: unit, description: description,
		sql: sqlLines("SELECT window_start AS t, "+observed+" AS observed, "+expected+" AS expected",
			"FROM "+windows+" FINAL", where, "ORDER BY t"),
	}
}
