// Package human formats numbers for people reading a terminal: counts
// with thousands separators or k and M, shares as percentages, plurals.
// analyze's progress and summary lines and the demo's scorecard use it.
package human

import (
	"fmt"
	"strconv"
)

// Count formats a count: 1234 -> 1,234; 56789 -> 57k; 12345678 -> 12.35M.
func Count(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1000:
		n := int64(v)
		return fmt.Sprintf("%d,%03d", n/1000, n%1000)
	}
	return fmt.Sprintf("%.0f", v)
}

// Percent formats a share: 0.963 -> 96%, 0.0132 -> 1.3%.
func Percent(share float64) string {
	if share >= 0.1 {
		return fmt.Sprintf("%.0f%%", 100*share)
	}
	return fmt.Sprintf("%.1f%%", 100*share)
}

// Plural counts things: 1 run, 2 runs.
func Plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// Bytes formats a size in binary units: 512 -> 512 B; 448000 -> 437.5 KiB.
func Bytes(v float64) string {
	const unit = 1024
	if v < unit {
		return fmt.Sprintf("%.0f B", v)
	}
	exp, div := 0, float64(unit)
	for v/div >= unit && exp < 4 {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v/div, "KMGTP"[exp])
}
