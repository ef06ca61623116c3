//go:build unix

package detect

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the process has used, user and system,
// and whether it could be read. Benchmarks report it besides wall time:
// on a shared machine another tenant's load stretches the wall clock of a
// memory-bound loop far more than its CPU time.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
