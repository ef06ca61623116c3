// Package detect finds API clients that behave unlike themselves: the
// second stage of gatewatch's one-way pipeline,
//
//	ingest -> detect -> storage, alert
//
// An Engine consumes normalised ingest.Events in event-time order and
// emits Findings. It keeps, per client (ingest.Event.ClientKey), well
// under 2 KB of state, and runs these detectors on every window the
// client is active in:
//
//   - volume: requests per window;
//   - error_ratio: the share of requests answered with a 5xx;
//   - auth_failures: the share answered 401/403 (ingest.AuthOutcome.Failure),
//     reported as failures per window;
//   - scanning: distinct paths answered 404/403;
//   - enumeration: distinct object ids under routes with ids;
//   - exfiltration: response bytes per request;
//   - credential_sharing: distinct networks a client key was used from;
//   - injection: SQLi/XSS (libinjection), traversal and command-injection
//     probes in decoded query values and path segments, a count over a
//     floor rather than a baseline test (probe.go);
//   - brute_force: login attempts, POSTs to login routes (signature.go);
//
// two on the fleet as a whole, fleet_volume and fleet_auth_failures,
// whose findings have client FleetClient (fleetdet.go), and campaigns
// (campaign.go): the same commodity probe (signature.go: cmd.exe, .env,
// .git, wp-login.php where not served, ...) or failed logins on one
// route from many clients, each small on its own, as one incident naming
// its clients. Each POST or PUT route also has a baseline of its own
// across all its clients (routesurge.go): a window of it with many more
// requests from new clients than usual, or far more failures or fewer
// redirects than usual, from Options.Routes.Floor clients or more (sign-up
// spam, card testing, a form redisplayed to a bot's every guess), is a
// campaign "route <route>". Distinct counts are small linear-counting
// sketches (sketch.go).
//
// # Windows and lateness
//
// Events are counted in event-time tumbling windows (Options.Window,
// aligned to the epoch). The watermark trails the newest event time by
// Options.AllowedLateness; a window closes when the watermark passes its
// end, and only then is it judged. An event for a closed window is late: it
// is counted (Stats.LateEvents) and handed to Options.OnLate, never silently
// dropped. AdvanceTo moves the watermark when input is idle; Flush closes
// everything at the end of input.
//
// A handful of events cannot drag the clock: an event more than 15
// minutes (or four windows and the lateness) past the newest time is held
// back, counted once the clock reaches it, and moves the clock only when
// enough such events arrive before as many ordinary ones (8, or an eighth
// of a window's traffic, up to 256) — the stream itself moved. Otherwise
// they are handed to OnLate and counted in Stats.Ahead (ahead.go).
//
// # Baselines
//
// Each client is compared with its own past: exponentially weighted means
// and variances over its active windows (half-life Options.HalfLife),
// updated with winsorised values so an attack cannot quickly poison its
// own baseline (baseline.go). A client without Options.MinHistory windows
// of its own is compared with the population of clients instead
// (population.go), so a brand-new address hammering /login is found in its
// first window; clients present from the start of the stream are not
// "new" for the volume detector, since nothing could be known about them.
//
// # Tests
//
// Each window yields a tail probability under a model that respects the
// data: negative binomial counts for volume (Poisson for steady low counts,
// the client's own overdispersion for noisy heavy ones), cross-checked by a
// Student-t tail on the log scale that bursty traffic and young baselines
// cannot fool, and binomial ratios on an effective sample size that
// accounts for overdispersion (score.go, detectors.go). Extreme tails are kept in log space. A window is anomalous
// when the probability is below Options.PValue and it clears the absolute
// floors and the minimum relative change, which keep tiny and very precise
// clients alike from raising noise (detectors.go). Before judging, the
// expectations of all clients are raised by the fleet's common mode
// (fleet.go): a token refresh that makes every client fail a few calls in
// the same minute is not an incident of every client.
//
// # From verdicts to findings
//
// Each window's candidate findings, across all clients and detectors, are
// filtered together by Benjamini–Hochberg at Options.FDR, then by the
// allowlists and maintenance windows, and carry an explanation: why (the
// baseline, its history, the p-value), the routes involved and redacted
// samples (decide.go, samples.go).
//
// # Incidents
//
// Anomalous windows of one client, by any detector, are merged into an
// incident with a stable id, named by its most specific detector: "open" on the first window, "update" when it gets worse
// or every Options.UpdateEvery windows, "resolved" after
// Options.ResolveAfter quiet windows, at eviction or at Flush
// (incident.go).
//
// # Checkpoints
//
// Engine.MarshalBinary (or AppendBinary) captures everything that decides
// future output — clock, open windows, clients, baselines, population,
// open incidents, counters — in a versioned, checksummed binary form of
// a few hundred bytes per client, and Restore rebuilds an engine from it under
// the configured Options. A restored engine emits exactly what an
// uninterrupted one would (snapshot_test.go), so a consumer that stores
// findings together with the snapshot and the input offset it covers
// neither loses nor repeats a finding (snapshot.go).
//
// # Memory and speed
//
// Clients are found through an open-addressing index of 8-byte cells (a
// tag of the key's seeded maphash and a slot in one slice); what an event
// reads of its client (last seen, generation, hash and the key's bytes)
// is one 64-byte record, so identifying a client costs about two cache
// misses, and the key is copied once, when the client is first seen.
// ObserveBatch overlaps those misses, and the window counters', across a
// run of events. Window counters live in a flat ring indexed by slot, and each
// window keeps the list of clients active in it, so Observe allocates
// nothing and closing a window touches only the clients active in it, in
// slot order so the per-client arrays are read front to back. What only
// window closes read (the newer detectors' baselines, samples, incident
// links) lives in parallel slices, and the per-window counters are split
// into a 24-byte part every event touches and a part only events with a
// path or a key touch, so the structures Observe looks up stay small.
// Idle clients are evicted after Options.IdleAfter of event time, and the
// least recently seen beyond Options.MaxClients. See the benchmarks in
// engine_bench_test.go for measured figures.
package detect
