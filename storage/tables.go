package storage

// Table names, for what reads the schema from outside this package: the
// Grafana dashboards (package dashboards) query these tables in the
// database Options.Database names.
const (
	TableEvents   = tableEvents   // every normalised event: the audit trail
	TableWindows  = tableWindows  // per client and window: tallies and what the baselines expected
	TableFindings = tableFindings // every emission of every incident
	TableHealth   = tableHealth   // the pipeline's own metrics over time
	// TableViolations holds every request outside the API's contract.
	TableViolations = tableViolations
	// TableEndpoints holds the endpoint inventory's snapshots: one row per
	// endpoint per snapshot, the newest per endpoint being its current
	// state.
	TableEndpoints = tableEndpoints
)

// ValidName reports whether s can name a database: ASCII letters, digits
// and underscores, not starting with a digit, at most 128 bytes. Names
// are checked, never escaped, wherever they are spliced into SQL.
func ValidName(s string) bool { return validIdent(s) }
