// Package alert delivers findings from the detectors to people and
// systems. It is downstream of detect:
//
//	ingest -> detect -> storage, alert
//
// This package holds the local sinks used by the embedded pipeline: a
// line-per-finding Writer (JSON or text) for terminals and pipes, and Dir,
// a directory of daily JSON-lines files.
package alert
