package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest/transport"
)

// TestEventsPrintsTheTopicAsJSON: collect ships 200 lines to a new topic
// on the real broker (binary events, the default), a message that is no
// event is added, and "gatewatch events" prints the 200 as JSON lines
// (10 with --client), and the bad message on stderr.
func TestEventsPrintsTheTopicAsJSON(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	dir := t.TempDir()
	var log strings.Builder
	for i := range 200 {
		fmt.Fprintf(&log, "198.51.100.%d - - [02/Nov/2026:00:%02d:%02d +0000] \"GET /api/v1/orders/%d HTTP/1.1\" 200 %d \"-\" \"curl/8\"\n",
			i%20, i/60, i%60, i, 100+i)
	}
	topic := fmt.Sprint("test.events.cmd.", time.Now().UnixNano())
	cfgPath := filepath.Join(dir, "gatewatch.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nkafka:\n  brokers: [%s]\n  topics: {events: %s, dead_letter: %s.dead}\n", dir, broker, topic, topic)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(stdin string, args ...string) (string, string) {
		t.Helper()
		var out, errOut syncBuffer
		c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
		if code := c.main(context.Background(), args); code != 0 {
			t.Fatalf("gatewatch %s exited %d: %s", args[0], code, errOut.String())
		}
		return out.String(), errOut.String()
	}
	run(log.String(), "collect", "--config", cfgPath, "--listen", "", "--format", "nginx_combined", "-")
	publishGarbage(t, broker, topic)

	out, errOut := run("", "events", "--config", cfgPath)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 200 {
		t.Fatalf("%d lines, want 200; stderr: %s", len(lines), errOut)
	}
	paths := map[string]bool{}
	for _, l := range lines {
		var ev struct {
			V      int    `json:"v"`
			Client string `json:"client"`
			Path   string `json:"path"`
			Route  string `json:"route"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.V != 1 || ev.Route != "/api/v1/orders/{id}" {
			t.Fatalf("line %q: %v", l, err)
		}
		paths[ev.Path] = true
	}
	if len(paths) != 200 || !strings.Contains(errOut, "did not decode") || !strings.Contains(errOut, "200 events printed, 1 messages") {
		t.Fatalf("%d distinct paths; stderr: %s", len(paths), errOut)
	}
	out, _ = run("", "events", "--config", cfgPath, "--client", "198.51.100.3")
	if n := strings.Count(out, "\n"); n != 10 || strings.Count(out, `"client":"198.51.100.3"`) != 10 {
		t.Fatalf("--client: %d lines:\n%s", n, out)
	}
}

// publishGarbage adds one message that is no event to topic.
func publishGarbage(t *testing.T, broker, topic string) {
	t.Helper()
	p, err := transport.NewProducer(transport.Config{Brokers: []string{broker}}, transport.ProducerOptions{Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.PublishRaw(ctx, []byte("x"), bytes.Repeat([]byte{0xff}, 9)); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
