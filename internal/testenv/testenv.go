// Package testenv finds what the integration tests run against: the
// Kafka broker and ClickHouse server deploy/test.sh starts (named by
// environment variables), and the Debian tools some tests drive. Without
// one a test is skipped, so "go test ./..." works on a bare machine; with
// CI=true it fails instead, since in CI a service that did not start is a
// broken run, not a reason to test less.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Getenv returns the values of the environment variables names, all of
// which the test needs; what is the service they describe, for the
// message when one is missing.
func Getenv(tb testing.TB, what string, names ...string) []string {
	tb.Helper()
	vals := make([]string, len(names))
	var missing []string
	for i, n := range names {
		if vals[i] = os.Getenv(n); vals[i] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		unavailable(tb, strings.Join(missing, ", ")+" not set: no "+what+" to test against (deploy/test.sh starts one)")
	}
	return vals
}

// LookPath returns the path of the program name, which the Debian package
// pkg provides.
func LookPath(tb testing.TB, name, pkg string) string {
	tb.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	// Daemons (nginx, rsyslogd) live in sbin, which a user's PATH may lack.
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name)
		}
	}
	unavailable(tb, name+" not found: apt-get install "+pkg+" (deploy/test.sh installs it)")
	return ""
}

// Stat requires the file path, which the Debian package pkg installs (a
// plugin rather than a program).
func Stat(tb testing.TB, path, pkg string) {
	tb.Helper()
	if _, err := os.Stat(path); err != nil {
		unavailable(tb, path+" not found: apt-get install "+pkg+" (deploy/test.sh installs it)")
	}
}

func unavailable(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + "; CI=true, so this fails instead of skipping")
	}
	tb.Skip(msg)
}
