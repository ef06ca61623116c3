package dashboards

import (
	"slices"
	"strconv"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// endpoints is the API's endpoint inventory, from the snapshots the
// inventory writes to the endpoints table (storage.DB.InsertEndpoints,
// Writer.WriteEndpoints): every endpoint called in the time range with
// its traffic, status mix, authentication and response size, and the
// endpoints first seen in the range (new, perhaps undocumented, API
// surface).
//
// Each endpoint is read from its newest snapshot, whatever the time
// range: the time range selects endpoints by when they were seen (first
// and last seen are request times), so an inventory learnt now from old
// logs shows under the logs' dates. The counts are the inventory's
// totals since it first saw the endpoint, not the range's.
func endpoints(opts Options) *dashboard.DashboardBuilder {
	latest := "(" + latestEndpoints(filter("host", varHost)) + ")"
	// Called in the range: seen at or after its start, first seen by its
	// end.
	active := "WHERE last_seen >= $__fromTime AND first_seen <= $__toTime"
	isNew := "WHERE $__timeFilter(first_seen)"

	b := base(opts, uidEndpoints, "gatewatch: endpoints",
		"The API's endpoint inventory learnt from traffic: every endpoint called in the time range, and the endpoints first seen in it.")
	b.WithVariable(multiAll(queryVar(varHost, "Host",
		sqlLines("SELECT DISTINCT host FROM "+table(tableEndpoints), "ORDER BY host"))))
	return addPanels(b, slices.Concat(endpointTotals(latest, active, isNew), []panelSpec{
		{
			kind: kindTable, title: "API endpoints", w: 24, h: 14, sortBy: "requests",
			description: "Every endpoint called in the time range, busiest first, as its newest inventory snapshot has it: requests and distinct clients since first seen, " +
				"the 2xx, 4xx and 5xx shares of its responses (%), whether it requires authentication, the 95th percentile response size, first and last seen, API versions.",
			sql: endpointList(latest, active, "requests DESC, host, route, method", 1000),
		},
		{
			kind: kindBars, title: "New endpoints over time", w: 24, h: 8, unit: "short",
			description: "New endpoints per interval, by when each was first called.",
			sql: sqlLines("SELECT "+bucket("first_seen")+" AS t, count() AS endpoints",
				"FROM "+latest, isNew, "GROUP BY t", "ORDER BY t"),
		},
		{
			kind: kindTable, title: "New endpoints, newest first", w: 24, h: 10,
			description: "The endpoints first seen in the time range, newest first.",
			sql:         endpointList(latest, isNew, "first_seen DESC, host, route, method", 500),
		},
	}))
}

// endpointTotals are the endpoints dashboard's first row: endpoints
// called in the range, new ones, those requiring authentication, hosts.
func endpointTotals(latest, active, isNew string) []panelSpec {
	return []panelSpec{
		{
			kind: kindStat, title: "Endpoints", w: 6, h: 4, unit: "short",
			description: "Endpoints (host, method, route template) called in the time range.",
			sql:         sqlLines("SELECT count() AS endpoints", "FROM "+latest, active),
		},
		{
			kind: kindStat, title: "New endpoints", w: 6, h: 4, unit: "short",
			description: "Endpoints first seen in the time range: new API surface, or calls to routes the API does not document.",
			sql:         sqlLines("SELECT count() AS new_endpoints", "FROM "+latest, isNew),
		},
		{
			kind: kindStat, title: "Requiring authentication", w: 6, h: 4, unit: "short",
			description: "Endpoints called in the time range that turn away requests without credentials (401/403) and serve those with them.",
			sql:         sqlLines("SELECT countIf(auth_required = 1) AS auth_required", "FROM "+latest, active),
		},
		{
			kind: kindStat, title: "Hosts", w: 6, h: 4, unit: "short",
			description: "Hosts with an endpoint called in the time range.",
			sql:         sqlLines("SELECT uniqExact(host) AS hosts", "FROM "+latest, active),
		},
	}
}

// endpointList is a table of the endpoints of latest matching where.
func endpointList(latest, where, orderBy string, limit int) string {
	share := func(col, as string) string {
		return "  if(requests = 0, 0, round(100 * " + col + " / requests, 1)) AS " + as + ","
	}
	return sqlLines("SELECT host, method, route, requests, clients,",
		share("status_2xx", "pct_2xx"), share("status_4xx", "pct_4xx"), share("status_5xx", "pct_5xx"),
		"  if(auth_required = 1, 'yes', 'no') AS auth, bytes_p95, first_seen, last_seen,",
		"  arrayStringConcat(versions, ', ') AS api_versions",
		"FROM "+latest, where,
		"ORDER BY "+orderBy,
		"LIMIT "+strconv.Itoa(limit))
}
