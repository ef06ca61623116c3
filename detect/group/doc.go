// Package group runs gatewatch's detectors as replicas of a Kafka consumer
// group: events come from the events topic (ingest/transport.Producer),
// findings go to a findings topic, and each partition's detector state is
// checkpointed to a compacted state topic so that another replica can take
// the partition over after a rebalance, a restart or a crash.
//
// # Partitions
//
// A Runner runs one detect.Engine per assigned partition of the events
// topic, each in its own goroutine. The producer keys events by client and
// partitions them with the Java client's murmur2, so one partition holds
// all of a client's events and its engine sees the client's whole history.
// What an engine learns about the population of clients (the baseline of
// brand-new clients) and about the fleet (the common mode that keeps a
// fleet-wide token refresh from being an incident of every client) is
// learnt from the clients of its partition only. With hundreds of clients
// per partition these are the same statistics, estimated from fewer
// clients; with very few clients per partition they get noisy, so do not
// run many more partitions than clients/100.
//
// # Checkpoints
//
// An engine's findings are held in memory until the partition's next
// checkpoint, which runs as soon as findings are waiting (so they are
// produced within moments of their window closing), every
// Options.CheckpointEvery, every Options.CheckpointEvents events, when the
// generation ends (rebalance) and when Run's context is cancelled:
//
//  1. the pending findings are produced to the findings topic and
//     acknowledged by all in-sync replicas;
//  2. the state record is produced to the state topic and acknowledged: key
//     "<events topic>/<partition>", value a small header (format version,
//     offset of the last event folded in, findings produced so far, newest
//     event time) followed by the engine's snapshot (detect.Engine.AppendBinary);
//  3. the group offset is committed (last offset + 1), for lag monitoring
//     and as the starting point when no state record exists.
//
// A replica assigned a partition reads the state topic partition holding
// its key to the end (it is compacted, so small), restores the newest
// record with detect.Restore, and resumes at its offset + 1. Without a
// record it starts a fresh engine at the group's committed offset, or at
// Options.StartOffset.
//
// # Guarantees
//
// No finding is lost: a state record is written only after every finding
// its engine emitted has been acknowledged, and a replica resumes from the
// newest state record, re-folding every event after it. A restored engine
// emits exactly what the uninterrupted one would have (detect's snapshot
// guarantee), so the events after the snapshot yield the same findings
// again.
//
// A finding is produced at most once, except when a crash (or a failed
// state write) falls between steps 1 and 2: the findings of step 1 are
// then computed and produced again by the next owner. (A findings write
// that fails after part of it landed is retried whole, with the same
// effect; kafka-go has no idempotent producer.) Every finding record
// carries a header "gatewatch-seq" with the value "<partition>/<offset>/<n>":
// the offset of the event whose folding emitted it (for findings emitted
// by an idle advance or at the end of a generation, the last event folded
// before) and its index among the findings emitted then. A replayed
// finding carries the same seq, since it is recomputed from the same
// events, so a consumer that must not see repeats drops records whose seq
// it has seen. Offsets are never reused, so the seq is unique even when a
// partition starts over without state (unlike a counter that would restart
// at zero and make a consumer drop new findings as repeats).
//
// Events are counted in batches of up to 64 with Engine.ObserveBatch,
// which overlaps their memory waits, but only events the engine is Quiet
// for: ones that can neither close a window nor evict a client, so they
// emit nothing. An event that may emit is counted alone, after the batch
// before it, so the seq of each finding is still the offset of the one
// event that caused it, however the batches fell.
//
// The exception to "same seq" is an idle advance (below): it is decided by
// the wall clock, which a replay does not repeat, so findings emitted by an
// idle advance and lost to a crash between steps 1 and 2 may come back
// with a different seq and slightly different figures (same incident id).
// The Runner checkpoints right after every idle advance that emitted
// findings to keep that window short.
//
// # The API contract
//
// With Options.Contract, a Runner learns the API's contract
// (detect/contract) from every event its partitions read, one model for
// the member, saved to Options.ContractModelFile every ContractSaveEvery
// and loaded at start; once learnt, each event is checked against it. A
// request outside it is produced to Options.ContractTopic at the
// checkpoint, before the findings, and joins its client's contract
// incident (findings of detector "contract", seq "<partition>/<offset>/c<n>").
// Those incidents are not part of the state record: after a crash or a
// rebalance the next owner starts them afresh from the events it replays,
// so a contract incident open at that moment may be reported again under
// a new incident id, and its requests before the checkpoint are not
// counted again. The model is not in the state record either: each replica
// learns its own from the clients of its partitions.
//
// # Idle partitions
//
// An engine's clock moves with event time, so on a partition that receives
// nothing its last windows would never close. When a partition has been
// caught up and silent for Options.IdleAfter, the Runner advances its
// engine by the wall time since the last event (engine.AdvanceTo(newest +
// idle)), as if an event had arrived then. Set IdleAfter negative when
// replaying history, where wall time means nothing.
package group
