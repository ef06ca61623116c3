// Package simulate generates labelled, reproducible API-gateway traffic:
// a fleet of ordinary clients with heavy-tailed, overdispersed request
// rates, plus injected attacks and deliberate traps whose ground truth is
// returned as Labels.
//
// It feeds `gatewatch demo` and the detector quality tests. The same
// traffic can be consumed directly as normalised ingest.Event values (Run)
// or rendered as nginx "combined" access-log lines (WriteNginx); both
// derive from one seeded generator, so a line parsed by the nginx_combined
// parser and normalised yields exactly the event Run emits.
//
// Every client is identified by its IP address only (no credentials in the
// log), so the client key a detector sees is the address text, e.g.
// "198.18.4.23", and Label.Client uses the same text.
package simulate
