//go:build unix

package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest/simulate"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// BenchmarkCollectRealBroker measures "gatewatch collect" end to end on
// the real broker: read nginx combined lines from standard input, parse,
// normalise, encode and produce them (lz4, acks=all), until Kafka has
// acknowledged every one. Target: >= 300k lines/s on the 2-core test box
// with the broker on the same box. Each iteration writes to a new topic.
// cpu-ns/line is collect's own CPU (getrusage), steadier than lines/s on
// a shared box; GATEWATCH_BENCH_COMPRESSION and GATEWATCH_BENCH_WIRE
// compare codecs and encodings.
func BenchmarkCollectRealBroker(b *testing.B) {
	broker := testKafka(b)
	dur := 2 * time.Hour
	if b.N == 1 {
		dur = 10 * time.Minute // the CI's smoke run: a few seconds
	}
	scen, err := simulate.New(simulate.Config{Seed: 3, Clients: 1000, Duration: dur})
	if err != nil {
		b.Fatal(err)
	}
	var log bytes.Buffer
	if err := scen.WriteNginx(context.Background(), &log); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(log.Bytes(), []byte{'\n'})
	dir := b.TempDir()
	b.SetBytes(int64(log.Len()))
	var cpu, brokerCPU time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		cfgPath := filepath.Join(dir, fmt.Sprintf("gatewatch-%d.yaml", i))
		topic := fmt.Sprintf("bench.collect.%d.%d", time.Now().UnixNano(), i)
		cfg := fmt.Sprintf("data_dir: %s\nkafka:\n  brokers: [%s]\n  compression: %s\n  wire: %s\n  topics: {events: %s, dead_letter: %s.dead}\n",
			dir, broker, cmp.Or(os.Getenv("GATEWATCH_BENCH_COMPRESSION"), "lz4"), cmp.Or(os.Getenv("GATEWATCH_BENCH_WIRE"), "binary"), topic, topic)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			b.Fatal(err)
		}
		var errOut syncBuffer
		c := &cli{stdin: bytes.NewReader(log.Bytes()), stdout: io.Discard, stderr: &errOut, getenv: func(string) string { return "" }}
		b.StartTimer()
		cpu0, broker0 := testenv.ProcessCPUTime(), brokerCPUTime()
		if code := c.main(context.Background(), []string{"collect", "--config", cfgPath, "--listen", "", "--format", "nginx_combined", "-"}); code != 0 {
			b.Fatalf("collect exited %d: %s", code, errOut.String())
		}
		cpu += testenv.ProcessCPUTime() - cpu0
		brokerCPU += brokerCPUTime() - broker0
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(lines*b.N), "cpu-ns/line")
	if broker0 := brokerCPUTime(); broker0 >= 0 {
		b.ReportMetric(float64(brokerCPU.Nanoseconds())/float64(lines*b.N), "broker-cpu-ns/line")
	}
}

// brokerCPUTime is the CPU time of the broker deploy/kafka/kafka.sh
// started, -1 when another started it.
func brokerCPUTime() time.Duration {
	return testenv.ServerCPUTime("GATEWATCH_TEST_KAFKA_DIR", "kafka.pid")
}
