//go:build unix

package testenv

import (
	"syscall"
	"time"
)

// ProcessCPUTime is this process's user plus system CPU time (getrusage).
// Benchmarks report CPU per unit of work beside wall time: on a shared
// machine another tenant's load stretches the wall clock far more than
// the CPU time.
func ProcessCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
