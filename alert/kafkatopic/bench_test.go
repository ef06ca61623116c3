package kafkatopic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/alert/alerttest"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// benchPartitions is the partition count of the benchmark's topic, the
// test broker's default (deploy/kafka/kafka.sh num.partitions).
const benchPartitions = 6

// BenchmarkSustainedKafka measures sustained delivery to a topic on the
// real broker (GATEWATCH_TEST_KAFKA): a backlog of b.N findings in an
// Outbox drained by an alert.Dispatcher into the sink as gatewatch
// configures it (the finding's JSON, keyed by incident, batches of up to
// 500, acknowledged by all in-sync replicas). After each round the
// topic's end offsets must have grown by b.N. The topic is unique to the
// run and deleted afterwards. Reported: alerts/s acknowledged.
func BenchmarkSustainedKafka(b *testing.B) {
	broker := testenv.Getenv(b, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
	cfg := transport.Config{Brokers: []string{broker}, ClientID: "gatewatch-alert-bench"}
	client := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 30 * time.Second}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	topic := "gatewatch-alert-bench-" + hex.EncodeToString(suffix[:])
	createTopic(b, client, topic)
	b.Cleanup(func() {
		res, err := client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{topic}})
		if err == nil {
			err = res.Errors[topic]
		}
		if err != nil {
			b.Logf("delete topic %s: %v", topic, err)
		}
	})
	b.Run("json", func(b *testing.B) { benchKafka(b, cfg, client, topic) })
}

// benchKafka is one round of BenchmarkSustainedKafka.
func benchKafka(b *testing.B, cfg transport.Config, client *kafka.Client, topic string) {
	run := fmt.Sprintf("bench%d", time.Now().UnixNano())
	o, feed := alerttest.Backlog(b, "kafka", b.N, func(i int) detect.Finding { return benchFinding(run, i) })
	defer o.Close()
	s, err := New(Options{Kafka: cfg, Topic: topic})
	if err != nil {
		b.Fatal(err)
	}
	before := endOffsets(b, client, topic)
	b.ResetTimer()
	stop := alerttest.Deliver(b, s, feed, b.N)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
	if got := endOffsets(b, client, topic) - before; got != int64(b.N) {
		b.Fatalf("the topic gained %d messages, want %d", got, b.N)
	}
}

// benchFinding is the i-th finding of round run, one of 1,000 incidents
// (so every partition gets some), with its own delivery id.
func benchFinding(run string, i int) detect.Finding {
	f := alerttest.Finding(run, i%1000)
	f.Status, f.Windows = detect.StatusUpdate, i/1000+1
	f.WindowEnd = f.WindowEnd.Add(time.Duration(i) * time.Minute)
	f.WindowStart = f.WindowEnd.Add(-time.Minute)
	return f
}

// createTopic creates topic and waits until every partition answers
// for its offsets (a leader that does: metadata may name leaders
// earlier), so that the first produce request needs no retry.
func createTopic(b *testing.B, client *kafka.Client, topic string) {
	res, err := client.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: benchPartitions, ReplicationFactor: 1}}})
	if err == nil {
		err = res.Errors[topic]
	}
	if err != nil {
		b.Fatalf("create topic %s: %v", topic, err)
	}
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		_, err := offsets(client, topic)
		if err == nil {
			return
		}
		if time.Since(start) > 15*time.Second {
			b.Fatalf("topic %s not ready after 15 s: %v", topic, err)
		}
	}
}

// endOffsets returns the sum of topic's partitions' end offsets.
func endOffsets(b *testing.B, client *kafka.Client, topic string) int64 {
	sum, err := offsets(client, topic)
	if err != nil {
		b.Fatal(err)
	}
	return sum
}

func offsets(client *kafka.Client, topic string) (int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := range benchPartitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	res, err := client.ListOffsets(context.Background(), req)
	if err != nil {
		return 0, err
	}
	var sum int64
	var errs []error
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			errs = append(errs, fmt.Errorf("offsets of %s/%d: %w", topic, p.Partition, p.Error))
		}
		sum += p.LastOffset
	}
	if len(res.Topics[topic]) != benchPartitions {
		errs = append(errs, fmt.Errorf("offsets of %d partitions of %s, want %d", len(res.Topics[topic]), topic, benchPartitions))
	}
	return sum, errors.Join(errs...)
}
