// Package dashboards builds gatewatch's Grafana dashboards as code, over
// the ClickHouse tables package storage writes:
//
//   - overview (uid gatewatch-overview): fleet requests/s, 5xx ratio and
//     auth failures over time, the top clients by requests, 5xx and auth
//     failures, incidents opened by detector, the open incidents;
//   - client drill-down (gatewatch-client): one client ($client) — its
//     requests by status class, status mix, top routes, its detection
//     windows against its baseline (observed vs expected), its findings
//     with their explanations, and its latest requests;
//   - findings (gatewatch-findings): every incident in the range, filtered
//     by severity, detector and current status, and each one's lifecycle;
//   - pipeline (gatewatch-pipeline): the pipeline's own metrics, which
//     "store" and "run" write to pipeline_health: rates and latest values;
//   - endpoints (gatewatch-endpoints): the API's endpoint inventory from
//     the endpoints table, filtered by host — every endpoint called in the
//     range with its traffic, status mix, authentication and response
//     size, and the endpoints first seen in the range.
//
// The dashboards are built with grafana-foundation-sdk; the ClickHouse
// queries are Query targets for grafana-clickhouse-datasource, picked
// through a ${datasource} variable, reading tables in a ${database}
// constant (Options.Database). Every query runs on ClickHouse 18.16: time
// buckets use integer division instead of the plugin's $__timeInterval,
// which expands to toStartOfInterval.
//
// All returns the dashboards, Write writes them as JSON for Grafana's file
// provisioning; the committed copies live in dashboards/json. Expand
// turns a query into what the plugin sends to ClickHouse, for testing the
// queries on a real server.
//
// It reads only what storage wrote; nothing imports it but cmd.
package dashboards

//go:generate go run ./gen -out json
