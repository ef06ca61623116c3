package storage

// Table names, for what reads the schema from outside this package: the
// Grafana dashboards (package dashboards) query these tables in the
// database Options.Database names.
const (
	TableEvents   = tableEvents   // every normalised event: the audit trail
	TableWindows  = tableWindows  // per client and window: tallies and what the baselines expected
	TableFindings = tableFindings // every emission of every incident
	TableHealth   = tableHealth   // the pipeline's own metrics over time
)
