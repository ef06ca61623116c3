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
// Every client of the default scenario is identified by its IP address
// only (no credentials in the log), so the client key a detector sees is
// the address text, e.g. "198.18.4.23", and Label.Client uses the same
// text. The extended kinds (ExtendedAttackKinds, ExtendedTrapKinds: the
// scanning, enumeration, injection, exfiltration, credential-sharing and
// fleet-wide detectors' attacks and traps) are opt-in through
// Config.Attacks. Two of them present an API key id (CredentialSharing,
// TrapRoamingKey), keyed "key:<id>": Run carries it, the nginx combined
// lines of WriteNginx cannot, so those clients' lines key by address.
// Fleet-wide attacks are labelled with Client FleetClient and list their
// many addresses in Label.Members.
package simulate
