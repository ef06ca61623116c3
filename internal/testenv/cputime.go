package testenv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// PidCPUTime is the CPU time (user and system) process pid has used, from
// /proc/<pid>/stat in the kernel's clock ticks of 1/100 s; -1 when it
// cannot be read (no such process, no /proc).
func PidCPUTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// After the command name in parentheses: state, then 10 fields, then
	// utime and stime (fields 14 and 15 of the line).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return -1
	}
	user, err1 := strconv.ParseInt(f[11], 10, 64)
	sys, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(user+sys) * 10 * time.Millisecond
}

// ServerCPUTime is the CPU time a server started by deploy/'s scripts has
// used: dirEnv names the environment variable holding its directory
// (GATEWATCH_TEST_CLICKHOUSE_DIR, GATEWATCH_TEST_KAFKA_DIR) and pidFile
// the file there holding its pid; -1 when any of it cannot be read.
func ServerCPUTime(dirEnv, pidFile string) time.Duration {
	dir := os.Getenv(dirEnv)
	if dir == "" {
		return -1
	}
	b, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil {
		return -1
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return PidCPUTime(pid)
}
