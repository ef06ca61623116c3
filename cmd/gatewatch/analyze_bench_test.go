package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// BenchmarkAnalyzeNginx measures "gatewatch analyze" end to end — read,
// parallel parse and normalise, detect in order, print findings — on an
// nginx combined log of simulated traffic. Target: >= 1M lines/s on two
// cores.
func BenchmarkAnalyzeNginx(b *testing.B) {
	scen, err := simulate.New(simulate.Config{Seed: 3, Clients: 1000, Duration: 2 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	var log bytes.Buffer
	if err := scen.WriteNginx(context.Background(), &log); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "access.log")
	if err := os.WriteFile(path, log.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(log.Bytes(), []byte{'\n'})
	c := &cli{stdin: bytes.NewReader(nil), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	b.SetBytes(int64(log.Len()))
	b.ResetTimer()
	for b.Loop() {
		if code := c.main(context.Background(), []string{"analyze", "--quiet", "--format", "nginx_combined", path}); code != 0 {
			b.Fatalf("analyze exited %d", code)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
