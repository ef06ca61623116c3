package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect"
)

// BenchmarkEndToEndLatency measures how long after a window closes its
// finding is in the findings topic, through the real pipeline: lines
// appended to an access log, "gatewatch collect" tailing it into the
// broker, "gatewatch detect" as a consumer group. A window [W, W+1s)
// closes at W + window + allowed lateness, the earliest moment the
// detectors may judge it; the latency is the finding record's Kafka
// timestamp minus that moment. Each iteration floods from one client in
// one window; the figures are over all iterations. Target: p99 <= 2s.
func BenchmarkEndToEndLatency(b *testing.B) {
	broker := testKafka(b)
	dir := b.TempDir()
	logPath := filepath.Join(dir, "access.log")
	suffix := fmt.Sprint(time.Now().UnixNano())
	events, findings := "bench.latency.events."+suffix, "bench.latency.findings."+suffix
	const window, lateness = time.Second, time.Second
	cfgPath := filepath.Join(dir, "gatewatch.yaml")
	cfg := fmt.Sprintf(`data_dir: %s
kafka:
  brokers: [%s]
  detect_group: bench-latency-%s
  topics: {events: %s, findings: %s, dead_letter: %s.dead, detect_state: %s.state}
detect:
  window: %s
  allowed_lateness: %s
  min_history: 3
`, filepath.Join(dir, "data"), broker, suffix, events, findings, events, events, window, lateness)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var mu sync.Mutex // serialises writes to the log
	write := func(client string, n int, at time.Time) {
		var sb strings.Builder
		ts := at.UTC().Format("02/Jan/2006:15:04:05 -0700")
		for range n {
			fmt.Fprintf(&sb, "%s - - [%s] \"GET /api/v1/orders HTTP/1.1\" 200 10 \"-\" \"bench\"\n", client, ts)
		}
		mu.Lock()
		defer mu.Unlock()
		if _, err := f.WriteString(sb.String()); err != nil {
			b.Error(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var collectErr, detectErr syncBuffer
	for _, run := range []struct {
		args []string
		log  *syncBuffer
	}{
		{[]string{"collect", "--config", cfgPath, "--listen", "", "--from-start", "--format", "nginx_combined", logPath}, &collectErr},
		{[]string{"detect", "--config", cfgPath, "--listen", "", "--checkpoint", "10s"}, &detectErr},
	} {
		c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: run.log, getenv: func(string) string { return "" }}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code := c.main(ctx, run.args); code != 0 && ctx.Err() == nil {
				b.Errorf("%s exited %d: %s", run.args[0], code, run.log.String())
			}
		}()
	}

	// Background: 40 clients, 10 requests a second each, all the time.
	const clients = 40
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				for i := range clients {
					write(fmt.Sprintf("203.0.113.%d", i+1), 1, now)
				}
			}
		}
	}()
	// Findings, as they arrive: client -> record timestamp.
	arrived := map[string]time.Time{}
	var amu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		readFindings(ctx, broker, findings, func(m kafka.Message) {
			var fd detect.Finding
			if json.Unmarshal(m.Value, &fd) != nil || fd.Status != detect.StatusOpen {
				return
			}
			amu.Lock()
			if _, ok := arrived[fd.Client]; !ok {
				arrived[fd.Client] = m.Time
			}
			amu.Unlock()
		})
	}()

	// Warm up: the baselines need min_history windows.
	sleepUntil(ctx, time.Now().Add(6*time.Second))
	attacks := map[string]time.Time{} // client -> the moment its window closed
	b.ResetTimer()
	for i := range b.N {
		client := fmt.Sprintf("203.0.113.%d", i%clients+1)
		// Flood in the middle of the next whole second W.
		w := time.Now().Truncate(time.Second).Add(time.Second)
		sleepUntil(ctx, w.Add(300*time.Millisecond))
		write(client, 300, w)
		attacks[client] = w.Add(window + lateness)
		sleepUntil(ctx, w.Add(3*time.Second)) // one attack at a time
		if i >= clients-1 {
			b.Fatal("more iterations than distinct clients: use -benchtime <= 40x")
		}
	}
	b.StopTimer()
	// Wait for the last findings.
	var lat []float64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		amu.Lock()
		lat = lat[:0]
		for client, closed := range attacks {
			if at, ok := arrived[client]; ok {
				lat = append(lat, at.Sub(closed).Seconds()*1000)
			}
		}
		amu.Unlock()
		if len(lat) == len(attacks) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d floods found\ncollect: %s\ndetect: %s", len(lat), len(attacks), collectErr.String(), detectErr.String())
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(lat[len(lat)-1], "max-ms")
}

// readFindings calls fn for every message of topic until ctx ends.
func readFindings(ctx context.Context, broker, topic string, fn func(kafka.Message)) {
	var r *kafka.Reader
	for r == nil {
		conn, err := kafka.DialContext(ctx, "tcp", broker)
		if err != nil {
			return
		}
		parts, err := conn.ReadPartitions(topic)
		conn.Close()
		if err == nil && len(parts) > 0 {
			r = kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, GroupID: topic + "-reader", Topic: topic,
				MaxWait: 100 * time.Millisecond, StartOffset: kafka.FirstOffset})
			break
		}
		if !sleepUntil(ctx, time.Now().Add(200*time.Millisecond)) {
			return
		}
	}
	defer r.Close()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return
		}
		fn(m)
	}
}

// sleepUntil sleeps until t or ctx's end, and reports whether t came.
func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}
