package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
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
	benchmarkAnalyze(b, false)
}

// BenchmarkAnalyzeNginxReport is BenchmarkAnalyzeNginx writing the HTML
// report too (--report): the cost of the report's collector and page.
func BenchmarkAnalyzeNginxReport(b *testing.B) {
	benchmarkAnalyze(b, false, "--report", filepath.Join(b.TempDir(), "report.html"))
}

// BenchmarkAnalyzeNginxShuffled is BenchmarkAnalyzeNginx on the same
// lines in random order: analyze reads them, finds them out of order,
// sorts them by time (in runs of the default 64 MiB) and reads them
// again.
func BenchmarkAnalyzeNginxShuffled(b *testing.B) {
	benchmarkAnalyze(b, true)
}

func benchmarkAnalyze(b *testing.B, shuffle bool, extra ...string) {
	scen, err := simulate.New(simulate.Config{Seed: 3, Clients: 1000, Duration: 2 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	var log bytes.Buffer
	if err := scen.WriteNginx(context.Background(), &log); err != nil {
		b.Fatal(err)
	}
	data := log.Bytes()
	if shuffle {
		lines := bytes.SplitAfter(data, []byte{'\n'})
		rand.New(rand.NewPCG(5, 5)).Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
		data = bytes.Join(lines, nil)
	}
	path := filepath.Join(b.TempDir(), "access.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(data, []byte{'\n'})
	c := &cli{stdin: bytes.NewReader(nil), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	args := append([]string{"analyze", "--quiet", "--format", "nginx_combined", "--tmp-dir", b.TempDir()}, extra...)
	args = append(args, path)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if code := c.main(context.Background(), args); code != 0 {
			b.Fatalf("analyze exited %d", code)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
