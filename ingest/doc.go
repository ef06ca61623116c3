// Package ingest turns gateway access-log lines into normalised access
// events. It is the first stage of gatewatch's one-way pipeline:
//
//	ingest -> detect -> storage, alert
//
// A Parser reads one log format (nginx, Apache, Envoy, Kong, Traefik,
// HAProxy, AWS ALB, AWS API Gateway) into an Event; a Normalizer derives what
// the detectors key on (the client key, the trusted remote IP, the route
// template) and strips secrets; the wire encoding (wire.go) carries events
// between processes.
//
// The hot path allocates nothing per line: strings in an Event alias the
// line it was parsed from or the Event's own scratch buffer, and are valid
// only until the Event or the line is reused. Call Event.Clone to keep one.
package ingest
