package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestCPUTimes: this process's CPU time read from /proc grows with work
// and agrees with getrusage's to the kernel's tick; a pid file names a
// process; what cannot be read is -1.
func TestCPUTimes(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	proc, self := PidCPUTime(os.Getpid()), ProcessCPUTime()
	if proc <= 0 || self <= 0 || proc > self+20*time.Millisecond || self-proc > 100*time.Millisecond {
		t.Errorf("after 50ms of work: /proc says %v, getrusage %v", proc, self)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEWATCH_TEST_X_DIR", dir)
	if got := ServerCPUTime("GATEWATCH_TEST_X_DIR", "x.pid"); got < proc {
		t.Errorf("ServerCPUTime of this process = %v, want at least %v", got, proc)
	}
	for name, got := range map[string]time.Duration{
		"missing pid file": ServerCPUTime("GATEWATCH_TEST_X_DIR", "none.pid"),
		"unset directory":  ServerCPUTime("GATEWATCH_TEST_UNSET_DIR", "x.pid"),
		"no such process":  PidCPUTime(1 << 30),
	} {
		if got != -1 {
			t.Errorf("%s: %v, want -1", name, got)
		}
	}
}
