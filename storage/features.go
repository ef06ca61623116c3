package storage

import "fmt"

// ServerVersion is a ClickHouse server's release number.
type ServerVersion struct {
	Major, Minor, Patch uint64
}

func (v ServerVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v is major.minor or newer.
func (v ServerVersion) AtLeast(major, minor uint64) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// Features are the server capabilities the schema and the writers use.
// FeaturesFor derives them from the version; the zero value is the plain
// path that runs on 18.16, the oldest server gatewatch supports.
type Features struct {
	// LowCardinality stores categorical strings (method, route, source...)
	// dictionary-encoded. 18.16 has it only behind an experimental setting,
	// so gatewatch uses it from 19.9 on, where it is on by default.
	LowCardinality bool
	// DateTime64 keeps event times to the microsecond (20.1+). Without it
	// events are stored to the second.
	DateTime64 bool
	// IPv6Type stores addresses in the IPv6 domain type (20.1+) instead of
	// FixedString(16); both hold the same 16 bytes.
	IPv6Type bool
	// TTL lets the server expire old rows itself (table TTL, 20.1+ to stay
	// clear of the early 19.x TTL bugs). Without it EnforceRetention drops
	// whole day partitions.
	TTL bool
	// Codecs enables per-column compression codecs (20.1+).
	Codecs bool
	// InsertDedup is block-level insert deduplication on plain MergeTree
	// tables (non_replicated_deduplication_window, 22.3+): a retried batch
	// that already landed is dropped by the server. On older servers only
	// the Replacing engines' merge-time dedup applies.
	InsertDedup bool
}

// FeaturesFor returns what gatewatch uses on a server of version v. The
// thresholds are conservative: each names a release where the feature was
// stable, not the first one that had it.
func FeaturesFor(v ServerVersion) Features {
	modern := v.AtLeast(20, 1)
	return Features{
		LowCardinality: v.AtLeast(19, 9),
		DateTime64:     modern,
		IPv6Type:       modern,
		TTL:            modern,
		Codecs:         modern,
		InsertDedup:    v.AtLeast(22, 3),
	}
}
