// Package transport ships ingest events to Kafka.
//
// Config says how to reach the brokers (PLAINTEXT by default; TLS and SASL
// PLAIN/SCRAM when configured) and builds the kafka-go Dialer and Transport
// the rest of gatewatch uses. Producer publishes events in the versioned
// wire encoding (ingest.AppendWire), keyed by client so that all of one
// client's events land on one partition, in order.
//
// A Producer holds what it has accepted in a bounded buffer until the
// brokers acknowledge it (acks=all). When the brokers are unreachable it
// keeps retrying, the buffer fills and Publish blocks: the pipeline slows
// down instead of losing events or growing without bound.
package transport
