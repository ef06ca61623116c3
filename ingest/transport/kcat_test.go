package transport

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// TestKcatProducesWireEvents proves the wire format is usable from a
// non-Go client: kcat (librdkafka) produces hand-written events, exactly
// as docs/wire-format.md shows, and gatewatch's decoder reads them.
func TestKcatProducesWireEvents(t *testing.T) {
	t.Parallel()
	cfg := plaintextConfig(t)
	kcat := testenv.LookPath(t, "kcat", "kcat")
	topic := createTopic(t, cfg)
	var in strings.Builder
	const n = 200
	for i := 0; i < n; i++ {
		client := fmt.Sprintf("client-%d", i%7)
		fmt.Fprintf(&in, `%s|{"v":1,"time":"2026-11-23T10:%02d:%02dZ","client":"%s","client_kind":"api_key","method":"GET","path":"/v1/orders/%d","status":200,"bytes_out":%d}`+"\n",
			client, i/60, i%60, client, i, 100+i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-P", "-b", cfg.Brokers[0], "-t", topic, "-K", "|")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v: %s", err, out)
	}

	conn, err := kafka.DialContext(ctx, "tcp", cfg.Brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	partitionOf := map[string]int{}
	total := 0
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		for {
			rctx, rcancel := context.WithTimeout(ctx, time.Second)
			m, err := r.ReadMessage(rctx)
			rcancel()
			if err != nil {
				break
			}
			var ev ingest.Event
			if err := ingest.DecodeWire(m.Value, &ev); err != nil {
				t.Fatalf("kcat-produced event does not decode: %v: %s", err, m.Value)
			}
			if string(m.Key) != ev.ClientKey || ev.Status != 200 || ev.ClientKind != ingest.ClientAPIKey {
				t.Fatalf("event %+v under key %q", ev, m.Key)
			}
			if prev, ok := partitionOf[ev.ClientKey]; ok && prev != p.ID {
				t.Fatalf("client %s on partitions %d and %d", ev.ClientKey, prev, p.ID)
			}
			partitionOf[ev.ClientKey] = p.ID
			seen[ev.Path]++
			total++
		}
		r.Close()
	}
	if total != n || len(seen) != n {
		t.Fatalf("read %d events (%d distinct), want %d", total, len(seen), n)
	}
}
