// Package report builds a self-contained HTML report of an analysis: one
// page with its styles, script and data inline, that fetches nothing and
// opens from disk or an e-mail attachment ("gatewatch analyze --report"),
// or is served live by Handler.
//
// A Collector gathers, in bounded memory, what the page shows while the
// pipeline runs: per-minute traffic (Event), each client's recent windows
// against its baselines (Window), the incidents (Finding) and the input's
// counters (Input). Data takes a JSON-serialisable snapshot and Render
// writes the page from it:
//
//   - a header with the input's span and counters, the incidents by
//     severity, and a red banner when much of the input failed to parse or
//     arrived late, so a run that parsed almost nothing does not look like
//     all clear;
//   - the incidents, sortable and filterable, each expanding to its
//     evidence and a chart of its client's series around it against the
//     expected band (or, for campaigns and fleet incidents, a timeline of
//     the clients taking part);
//   - traffic per minute (requests, 4xx, 5xx, auth failures) with the
//     incidents marked, the top clients and routes, and the status mix.
//
// Charts are SVG written in Go, so they show without the script; the
// script (vanilla, no library) sorts, filters and expands the table and,
// for a live page, refetches it. Every string from a log is hostile: it
// is shown with control bytes, bidirectional controls and invalid UTF-8
// escaped (\x1b), HTML-escaped, and the data the script reads sits in a
// <script type="application/json"> block where '<' is always \u003c.
//
// Memory: the overview holds at most Options.MaxBuckets buckets (coarser
// buckets for long inputs), top clients and routes a fixed number of
// Space-Saving counters, client series at most MaxClients rings of
// Context+1 windows (about 48 bytes a window), MaxIncidents incidents
// series of at most MaxSeriesPoints points, and MaxListed incidents. A
// page holds aggregates, never events: a day of a million lines with 500
// incidents renders to under 4 MB (TestRenderSizeBound).
package report
