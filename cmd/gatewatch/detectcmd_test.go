package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/config"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// TestDetectConsumesKafka runs "gatewatch detect" as a consumer group on
// the real broker: simulated events go into the events topic, and every
// injected attack comes out of the findings topic, no trap does.
func TestDetectConsumesKafka(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	events, findings := "test.detect.events."+suffix, "test.detect.findings."+suffix
	scen, err := simulate.New(simulate.Config{Seed: 5, Clients: 300, Duration: 100 * time.Minute, AttackAt: 70 * time.Minute,
		Attacks: []simulate.Kind{simulate.QuietSpike, simulate.CredentialStuffing, simulate.Flood, simulate.ErrorRatioJump, simulate.TrapOrganicGrowth}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := transport.NewProducer(transport.Config{Brokers: []string{broker}}, transport.ProducerOptions{Topic: events, AllowAutoTopicCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	published := 0
	if err := scen.Run(ctx, func(ev *ingest.Event) error { published++; return p.Publish(ctx, ev) }); err != nil {
		t.Fatal(err)
	}
	closeCtx, closeCancel := context.WithTimeout(ctx, time.Minute)
	defer closeCancel()
	if err := p.Close(closeCtx); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gatewatch.yaml")
	windows := "test.detect.windows." + suffix
	cfg := fmt.Sprintf("data_dir: %s\nkafka:\n  brokers: [%s]\n  detect_group: test-detect-%s\n  topics: {events: %s, findings: %s, detect_state: %s, windows: %s, contract: %s}\n",
		dir, broker, suffix, events, findings, "test.detect.state."+suffix, windows, "test.detect.contract."+suffix)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	c := &cli{stdout: &out, stderr: &errOut, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	ops := testenv.FreeAddr(t)
	go func() {
		done <- c.main(ctx, []string{"detect", "--config", cfgPath, "--replay", "--checkpoint", "500ms", "--listen", ops})
	}()

	want := map[string]simulate.Label{}
	for _, l := range scen.Labels() {
		want[l.Client] = l
	}
	found := map[string]bool{}
	deadline := time.Now().Add(90 * time.Second)
	for attacksFound := 0; attacksFound < 4; {
		if time.Now().After(deadline) {
			t.Fatalf("found %v; stderr: %s", found, errOut.String())
		}
		select {
		case code := <-done:
			t.Fatalf("detect exited early (%d): %s", code, errOut.String())
		default:
		}
		attacksFound = 0
		found = map[string]bool{}
		for _, m := range readTopic(t, broker, findings, 1, 90*time.Second) {
			var f detect.Finding
			if err := json.Unmarshal(m.Value, &f); err != nil {
				t.Fatalf("finding is not JSON: %q", m.Value)
			}
			found[f.Client] = true
		}
		for client, l := range want {
			if len(l.Detectors) == 0 && found[client] {
				t.Fatalf("trap %s (%s) alerted", l.Kind, client)
			}
			if len(l.Detectors) > 0 && found[client] {
				attacksFound++
			}
		}
	}
	// Window records: one per client and window, a line each, many a
	// message, adding up to at most the events (the last windows are
	// still open), each client's windows in one partition's chunks.
	var inWindows uint64
	keyOf := map[string]string{}
	for _, m := range readTopic(t, broker, windows, 1, 30*time.Second) {
		for _, line := range bytes.Split(m.Value, []byte("\n")) {
			var ws detect.WindowStats
			if err := json.Unmarshal(line, &ws); err != nil || ws.Client == "" || ws.Requests == 0 || !ws.End.After(ws.Start) {
				t.Fatalf("window record %.200q (key %q): %v", line, m.Key, err)
			}
			if k, ok := keyOf[ws.Client]; ok && k != string(m.Key) {
				t.Errorf("client %s has window records under keys %q and %q", ws.Client, k, m.Key)
			}
			keyOf[ws.Client] = string(m.Key)
			inWindows += ws.Requests
		}
	}
	if inWindows == 0 || inWindows > uint64(published) {
		t.Errorf("window records count %d requests, %d events were published", inWindows, published)
	}
	resp, err := http.Get("http://" + ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"gatewatch_detect_events_total", "gatewatch_detect_findings_total", "gatewatch_detect_lag_events"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("detect exited %d: %s", code, errOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("detect did not stop")
	}
}

// TestDetectBackfill seeds state from an nginx log with the real broker;
// the state records land on the state topic, one per partition.
func TestDetectBackfill(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	events, state := "test.backfill.events."+suffix, "test.backfill.state."+suffix
	conn, err := kafka.Dial("tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.CreateTopics(kafka.TopicConfig{Topic: events, NumPartitions: 4, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	path, _ := writeScenarioLog(t, smallScenario())
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gatewatch.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nkafka:\n  brokers: [%s]\n  detect_group: test-backfill-%s\n  topics: {events: %s, findings: %s.findings, detect_state: %s}\n",
		dir, broker, suffix, events, events, state)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GATEWATCH_HMAC_KEY": "0123456789abcdef0123456789abcdef"}
	if code, _, stderr := testCLI(t, "", env, "detect", "--backfill", "--config", cfgPath); code != 2 || !strings.Contains(stderr, "--backfill needs") {
		t.Errorf("--backfill without files: exit %d: %s", code, stderr)
	}
	if code, _, stderr := testCLI(t, "", nil, "detect", "--backfill", "--config", cfgPath, path); code == 0 || !strings.Contains(stderr, "HMAC key") {
		t.Errorf("backfill without the collectors' key: exit %d: %s", code, stderr)
	}
	code, _, stderr := testCLI(t, "", env, "detect", "--backfill", "--config", cfgPath, "--format", "nginx_combined", path)
	if code != 0 || !strings.Contains(stderr, "into 4 partitions") {
		t.Fatalf("backfill: exit %d: %s", code, stderr)
	}
	if msgs := readTopic(t, broker, state, 4, 30*time.Second); len(msgs) != 4 {
		t.Errorf("%d state records, want 4", len(msgs))
	}
	// The history taught the contract too, saved where detect loads it.
	c, err := contract.LoadChecker(filepath.Join(dir, config.ContractModelFile), contract.CheckerOptions{})
	if err != nil || c.Learned() == 0 || !strings.Contains(stderr, fmt.Sprintf("contract learnt from %d events", c.Learned())) {
		t.Errorf("contract model after the backfill: %v; stderr: %s", err, stderr)
	}
}
