// Package ingest turns gateway access-log lines into normalised access
// events. It is the first stage of gatewatch's one-way pipeline:
//
//	ingest -> detect -> storage, alert
//
// A Parser reads one log format (nginx, Apache, Envoy, Kong, Traefik,
// HAProxy, AWS ALB, AWS API Gateway) into an Event; a Normalizer derives what
// the detectors key on (the client key, the trusted remote IP, the route
// template) and strips secrets; a Decoder is the one decode step every path
// runs (skip blank lines, parse, reject with a reason, normalise, refuse
// times from the future); the wire encoding (wire.go) carries events
// between processes.
//
// Inputs share one shape: a Source (FileSource for files and standard
// input, SyslogListener, HTTPListener, and transport.RawSource for the raw
// Kafka topic) hands what it reads to a Handler, and Intake is the Handler
// every consumer uses, so the decode step, dead letters and counters are
// the same whatever the input. ParseStream decodes a whole stream on
// several goroutines for the batch jobs. The stages built on these are
// libraries of their own: ingest/collect (inputs to Kafka),
// detect/pipeline (inputs to the detectors in one process),
// detect/analyze (log files replayed in event time).
//
// The hot path allocates nothing per line: strings in an Event alias the
// line it was parsed from or the Event's own scratch buffer, and are valid
// only until the Event or the line is reused. Call Event.Clone to keep one.
package ingest
