package collect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// TestCollectorRealKafka runs the library collector, not the binary, from
// standard input into a real broker: every event arrives keyed by its client, the
// bad line on the dead-letter topic.
func TestCollectorRealKafka(t *testing.T) {
	broker := testenv.Getenv(t, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
	cfg := transport.Config{Brokers: []string{broker}, ClientID: "gatewatch-collect-test"}
	suffix := fmt.Sprint(time.Now().UnixNano())
	evTopic, dlTopic := "gatewatch-collect-events-"+suffix, "gatewatch-collect-dead-"+suffix
	now := time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700")
	var b strings.Builder
	const n = 200
	for i := range n {
		fmt.Fprintln(&b, line(fmt.Sprintf("203.0.113.%d", i%7), now, fmt.Sprint("/api/v1/orders/", i)))
	}
	b.WriteString("not an access log line\n")
	events, err := transport.NewProducer(cfg, transport.ProducerOptions{Topic: evTopic, AllowAutoTopicCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	dead, err := transport.NewProducer(cfg, transport.ProducerOptions{Topic: dlTopic, AllowAutoTopicCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(Options{Inputs: []ingest.Input{{Source: &ingest.FileSource{Path: "-", Stdin: strings.NewReader(b.String())}}},
		Events: events, DeadLetters: dead})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := col.Run(ctx); err != nil { // standard input ends: Run returns with everything delivered
		t.Fatal(err)
	}
	if err := events.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dead.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := readTopic(t, broker, evTopic, n)
	for _, m := range got {
		var ev ingest.Event
		if err := ingest.DecodeWire(m.Value, &ev); err != nil {
			t.Fatalf("offset %d: %v", m.Offset, err)
		}
		if string(m.Key) != ev.ClientKey || !strings.HasPrefix(ev.ClientKey, "203.0.113.") {
			t.Fatalf("message key %q for client %q", m.Key, ev.ClientKey)
		}
	}
	if dl := readTopic(t, broker, dlTopic, 1); string(dl[0].Key) != "stdin" || !strings.Contains(string(dl[0].Value), `"line":"not an access log line"`) {
		t.Errorf("dead letter %s: %s", dl[0].Key, dl[0].Value)
	}
}

// TestCollectorRealKafkaTooLarge: with a producer whose message limit is
// below a (truncated) event's size, the real producer's refusal sends the
// line to the dead-letter topic ("event too large") and the collector
// carries on: every other line reaches the topic once.
func TestCollectorRealKafkaTooLarge(t *testing.T) {
	broker := testenv.Getenv(t, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
	cfg := transport.Config{Brokers: []string{broker}, ClientID: "gatewatch-collect-test"}
	suffix := fmt.Sprint(time.Now().UnixNano())
	evTopic, dlTopic := "gatewatch-collect-large-"+suffix, "gatewatch-collect-large-dead-"+suffix
	now := time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700")
	var b strings.Builder
	const n = 100
	for i := range n {
		fmt.Fprintln(&b, line("203.0.113.1", now, fmt.Sprint("/api/v1/orders/", i)))
		if i == n/2 {
			fmt.Fprintln(&b, line("203.0.113.2", now, "/long/"+strings.Repeat("p", 600<<10)))
		}
	}
	opts := transport.ProducerOptions{Topic: evTopic, AllowAutoTopicCreation: true, MaxMessageBytes: 16 << 10}
	events, err := transport.NewProducer(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Topic = dlTopic
	dead, err := transport.NewProducer(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(Options{Inputs: []ingest.Input{{Source: &ingest.FileSource{Path: "-", Stdin: strings.NewReader(b.String())}, Format: "nginx_combined"}},
		Events: events, DeadLetters: dead})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := col.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(events.Close(ctx), dead.Close(ctx)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range readTopic(t, broker, evTopic, n) {
		var ev ingest.Event
		if err := ingest.DecodeWire(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		seen[ev.Path]++
	}
	for i := range n {
		if c := seen[fmt.Sprint("/api/v1/orders/", i)]; c != 1 {
			t.Errorf("line %d arrived %d times", i, c)
		}
	}
	dl := readTopic(t, broker, dlTopic, 1)
	if !strings.Contains(string(dl[0].Value), `"reason":"event too large (`) || !strings.Contains(string(dl[0].Value), `"line_truncated":true`) {
		t.Errorf("dead letter %.300s", dl[0].Value)
	}
}

// readTopic reads want messages from every partition of topic.
func readTopic(t *testing.T, broker, topic string, want int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, GroupID: "check-" + topic,
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < want {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s after %d of %d messages: %v", topic, len(out), want, err)
		}
		out = append(out, m)
	}
	return out
}
