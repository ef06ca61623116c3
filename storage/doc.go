// Package storage keeps gatewatch's audit trail in ClickHouse: every
// normalised event, every per-client window aggregate, every finding,
// every request outside the API's contract (contract_violations) and the
// endpoint inventory's snapshots (endpoints), queryable for audits and for the Grafana dashboards.
//
// It sits downstream of ingest and detect (it imports both, never cmd).
// The pieces, in the order a deployment uses them:
//
//   - Open connects over ClickHouse's native protocol (clickhouse-go/v2)
//     and detects the server version; Features says what that version
//     offers (TTL, LowCardinality, DateTime64, IPv6, insert deduplication
//     on non-replicated tables).
//   - DB.Migrate applies the versioned, idempotent schema migrations and
//     records them in the schema_migrations table. One generator writes
//     the DDL for every server: the 18.16 path (plain types, retention by
//     DB.EnforceRetention dropping whole day partitions) and the newer path
//     (LowCardinality, DateTime64, IPv6, TTL).
//   - Writer batches events, windows, findings, contract violations and
//     endpoint inventory snapshots (WriteEndpoints; DB.InsertEndpoints
//     unbatched) in memory (bounded by rows and time) and inserts them with retries;
//     DB.ConsumeEvents, DB.ConsumeFindings, DB.ConsumeWindows and
//     DB.ConsumeViolations read a Kafka topic through the MessageReader
//     interface (which *kafka.Reader satisfies) and commit offsets only
//     after ClickHouse acknowledged the batch that held them.
//   - Store is the store consumer of a split deployment ("gatewatch
//     store"): one member of a consumer group reading the events, findings,
//     windows and contract topics through those Consume methods, with retention
//     (DB.RetentionLoop) and the pipeline's own health samples
//     (DB.HealthLoop; GatheredHealth makes them of Prometheus metrics)
//     beside them; NewStore, then Run until ctx ends.
//   - ClientTimeline, TopClients, OpenFindings, ContractViolations and
//     Endpoints (each endpoint's newest snapshot) answer the common audit
//     questions with parameterised queries; Ask asks one by name
//     ("gatewatch query") and its Answer prints as a table or JSON.
//
// docs/storage.md explains the schema, sort keys, retention, what happens
// while ClickHouse is down, and how duplicates are avoided.
package storage
