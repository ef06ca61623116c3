//go:build !unix

package testenv

import "time"

// ProcessCPUTime is 0 where getrusage is missing.
func ProcessCPUTime() time.Duration { return 0 }
