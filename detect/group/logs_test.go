package group

import (
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestObserveLogs replays a plain and a gzipped log, in order, counting
// the line that does not parse, and reports each file's format.
func TestObserveLogs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	line := func(i int) string {
		return fmt.Sprintf(`198.51.100.%d - - [02/Mar/2026:10:%02d:00 +0000] "GET /api/v1/items/%d HTTP/1.1" 200 512 "-" "client/1.0"`, 10+i%5, i, i)
	}
	var plain, zipped []string
	for i := range 20 {
		plain = append(plain, line(i))
		zipped = append(zipped, line(20+i))
	}
	plain = append(plain, "not an access log line")
	first := filepath.Join(dir, "access.log.1")
	if err := os.WriteFile(first, []byte(strings.Join(plain, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(dir, "access.log.2.gz")
	f, err := os.Create(second)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte(strings.Join(zipped, "\n") + "\n"))
	zw.Close()
	f.Close()

	var observed int
	var reports []string
	lines, rejects, err := observeLogs(context.Background(), []string{first, second}, ingest.StreamOptions{Format: "nginx_combined"},
		func(*ingest.Event) { observed++ },
		func(file, format string, lines, rejects int64) {
			reports = append(reports, fmt.Sprintf("%s %s %d %d", filepath.Base(file), format, lines, rejects))
		})
	if err != nil {
		t.Fatal(err)
	}
	if observed != 40 || lines != 41 || rejects != 1 {
		t.Errorf("observed %d events of %d lines, %d rejects; want 40, 41, 1", observed, lines, rejects)
	}
	if want := "access.log.1 nginx_combined 21 1|access.log.2.gz nginx_combined 41 1"; strings.Join(reports, "|") != want {
		t.Errorf("progress %q, want %q", strings.Join(reports, "|"), want)
	}
	if _, _, err := observeLogs(context.Background(), []string{filepath.Join(dir, "missing")}, ingest.StreamOptions{}, func(*ingest.Event) {}, nil); err == nil {
		t.Error("a missing file: no error")
	}
}
