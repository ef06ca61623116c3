package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// TestConsumeRealKafka runs the store loop against the real broker
// deploy/kafka/kafka.sh starts (GATEWATCH_TEST_KAFKA): events published
// with transport.Producer, consumed by a kafka.Reader in a consumer group.
// A second consumer in the same group after more events are published
// must store exactly the new ones: the first one's commits held, and
// nothing was redelivered.
func TestConsumeRealKafka(t *testing.T) {
	t.Parallel()
	broker := testenv.Getenv(t, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
	db := migrated(t, testClickHouse(t))
	cfg := transport.Config{Brokers: []string{broker}, ClientID: "gatewatch-storage-test"}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	topic := "gatewatch-test-storage-" + hex.EncodeToString(rnd[:])
	tr, err := cfg.Transport()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := &kafka.Client{Addr: cfg.Addr(), Transport: tr}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: 3, ReplicationFactor: 1},
	}})
	if err != nil || res.Errors[topic] != nil {
		t.Fatalf("create topic: %v %v", err, res.Errors[topic])
	}
	publish := func(n int, start time.Time) {
		p, err := transport.NewProducer(cfg, transport.ProducerOptions{Topic: topic})
		if err != nil {
			t.Fatal(err)
		}
		evs := sampleEvents(n, start)
		for i := range evs {
			if err := p.Publish(ctx, &evs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	dialer, err := cfg.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	group := "gatewatch-storage-test-" + hex.EncodeToString(rnd[:])
	run := func(want uint64) {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: cfg.Brokers, GroupID: group, Topic: topic, Dialer: dialer,
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 200 * time.Millisecond,
			StartOffset: kafka.FirstOffset,
		})
		defer r.Close()
		cctx, ccancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- db.ConsumeEvents(cctx, r, ConsumerOptions{BatchOptions: BatchOptions{BatchRows: 4000, FlushInterval: 200 * time.Millisecond}})
		}()
		waitFor(t, 2*time.Minute, "events stored", func() bool {
			return count(t, db, "SELECT count() FROM "+db.table(tableEvents)) >= want
		})
		// The rows are in: stop at once. A clean stop must commit every
		// batch already stored, else the next run redelivers it and the raw
		// count below exceeds 15000.
		ccancel()
		if err := <-done; err != nil {
			t.Fatalf("ConsumeEvents: %v", err)
		}
	}
	t0 := time.Date(2026, 3, 9, 6, 0, 0, 0, time.UTC)
	publish(12_000, t0)
	run(12_000)
	publish(3_000, t0.Add(time.Hour))
	run(15_000)
	if n := count(t, db, "SELECT count() FROM "+db.table(tableEvents)); n != 15_000 {
		t.Errorf("%d rows stored (raw), want exactly 15000: offsets were not committed or were redelivered", n)
	}
	if n := count(t, db, "SELECT uniqExact(event_id) FROM "+db.table(tableEvents)); n != 15_000 {
		t.Errorf("%d distinct event ids, want 15000", n)
	}
}
