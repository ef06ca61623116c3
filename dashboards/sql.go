package dashboards

import (
	"fmt"
	"strings"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/storage"
)

// Tables the dashboards read, named by storage. The real-server test runs
// every query on a database storage migrated.
const (
	tableEvents   = storage.TableEvents
	tableWindows  = storage.TableWindows
	tableFindings = storage.TableFindings
	tableHealth   = storage.TableHealth
	// tableEndpoints holds the endpoint inventory's snapshots.
	tableEndpoints = storage.TableEndpoints
)

// Tables lists the tables the dashboards query.
func Tables() []string {
	return []string{tableEvents, tableWindows, tableFindings, tableHealth, tableEndpoints}
}

// table is a table qualified by the ${database} dashboard constant.
func table(name string) string { return "${" + varDatabase + "}." + name }

// bucket is the start of col's $__interval_s bucket. The plugin's
// $__timeInterval(col) expands to toStartOfInterval, which ClickHouse
// 18.16 lacks; integer division of the epoch seconds works on every
// version and gives the same buckets.
func bucket(col string) string {
	return fmt.Sprintf("toDateTime(intDiv(toUInt32(%s), $__interval_s) * $__interval_s)", col)
}

// is5xx is true for an events row answered with a server error, the
// "errors" of storage.TopClients and of client_windows.
const is5xx = "status >= 500 AND status < 600"

// authFailure is true for an events row whose credentials were missing,
// rejected or not allowed (ingest.AuthOutcome.Failure).
var authFailure = fmt.Sprintf("auth IN (%s, %s)", quote(ingest.AuthFailed.String()), quote(ingest.AuthForbidden.String()))

// Incident statuses and severities, from detect.
var (
	statusOpen     = quote(string(detect.StatusOpen))
	statusResolved = quote(string(detect.StatusResolved))
)

// severityRank orders findings by severity, most severe highest.
var severityRank = fmt.Sprintf("multiIf(severity = %s, 3, severity = %s, 2, severity = %s, 1, 0)",
	quote(string(detect.SeverityCritical)), quote(string(detect.SeverityHigh)), quote(string(detect.SeverityMedium)))

// latestEmissions is every incident's latest emission among the findings
// rows matching where: the row with the greatest (window_end, windows), a
// resolved one last among equals, as storage.OpenFindings picks it.
// LIMIT 1 BY is several times faster on 18.16 than argMax over every
// column.
func latestEmissions(where string) string {
	return "SELECT * FROM " + table(tableFindings) + " WHERE " + where +
		" ORDER BY incident_id, window_end DESC, windows DESC, status = " + statusResolved + " DESC" +
		" LIMIT 1 BY incident_id"
}

// latestEndpoints is each endpoint's newest row among the endpoints rows
// matching where, every column under its own name: storage's own query
// (storage.LatestEndpointsSQL), so the panels and DB.Endpoints pick the
// same row.
func latestEndpoints(where string) string {
	return storage.LatestEndpointsSQL(table(tableEndpoints), where)
}

// quote is a ClickHouse string literal. Only constants from ingest and
// detect go through it; values from users arrive through Grafana's
// ${var:sqlstring} formatting instead.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// sqlLines joins the lines of a query with newlines: the JSON stays
// readable in Grafana's editor and in diffs.
func sqlLines(lines ...string) string { return strings.Join(lines, "\n") }
