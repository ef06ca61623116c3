package alert_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/alert/kafkatopic"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// flaky fails its first fails calls, then records what it gets.
type flaky struct {
	mu    sync.Mutex
	fails int
	calls int
	got   []string
}

func (f *flaky) Name() string { return "pager" }
func (f *flaky) Notify(_ context.Context, ns ...alert.Notification) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.fails {
		return true, errors.New("connection refused")
	}
	for _, n := range ns {
		f.got = append(f.got, n.Finding.IncidentID)
	}
	return false, nil
}

func (f *flaky) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

// TestKafkaFeedRealBroker: `gatewatch alert`'s shape on a real broker —
// one consumer group per sink on the findings topic, offsets committed
// only after the sink took the finding, a failing sink retried without
// holding back the other, and a restart resuming after the last commit.
func TestKafkaFeedRealBroker(t *testing.T) {
	broker := testenv.Getenv(t, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
	cfg := transport.Config{Brokers: []string{broker}, ClientID: "gatewatch-alert-test"}
	suffix := fmt.Sprint(time.Now().UnixNano())
	findings, out := "gatewatch-alert-findings-"+suffix, "gatewatch-alert-out-"+suffix
	produce(t, broker, findings, 0, 6)

	pager := &flaky{fails: 2}
	siem, err := kafkatopic.New(kafkatopic.Options{Name: "siem", Kafka: cfg, Topic: out, AllowAutoTopicCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	run := func(until func(*alert.Dispatcher) bool, sinks ...alert.Sink) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		d := alert.New(alert.Options{Backoff: alert.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}})
		for _, s := range sinks {
			r, err := cfg.GroupReader(findings, "gatewatch-alert-"+suffix+"-"+s.Name(), 100*time.Millisecond, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			d.Add(s, alert.NewKafkaFeed(r), alert.SinkOptions{})
		}
		done := make(chan error, 1)
		rctx, stop := context.WithCancel(ctx)
		go func() { done <- d.Run(rctx) }()
		for !until(d) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if ctx.Err() != nil {
			t.Fatal("timed out")
		}
	}
	run(func(d *alert.Dispatcher) bool {
		st := d.Stats()
		return st[0].Delivered == 6 && st[1].Delivered == 6
	}, pager, siem)
	msgs := readAll(t, broker, out, 6)
	for _, m := range msgs {
		var f detect.Finding
		if err := json.Unmarshal(m.Value, &f); err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != f.IncidentID || string(m.Headers[0].Value) != alert.DeliveryID(f, "siem") {
			t.Errorf("message key %q header %q for %s", m.Key, m.Headers[0].Value, f.IncidentID)
		}
	}
	// A restart resumes after the committed offsets: only the new finding.
	produce(t, broker, findings, 6, 7)
	pager2 := &flaky{}
	run(func(*alert.Dispatcher) bool { return pager2.count() >= 1 }, pager2)
	time.Sleep(500 * time.Millisecond)
	if fmt.Sprint(pager2.got) != "[inc-6]" {
		t.Errorf("after the restart the sink got %v, want [inc-6]", pager2.got)
	}
	if err := siem.Close(); err != nil {
		t.Fatal(err)
	}
}

func produce(t *testing.T, broker, topic string, from, to int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: topic, AllowAutoTopicCreation: true, BatchTimeout: time.Millisecond}
	defer w.Close()
	var msgs []kafka.Message
	for i := from; i < to; i++ {
		f := detect.Finding{IncidentID: fmt.Sprintf("inc-%d", i), Status: detect.StatusOpen, Client: "198.51.100.1",
			ClientKind: "ip", Detector: detect.DetectorVolume, Severity: detect.SeverityHigh, Windows: 1,
			WindowEnd: time.Date(2026, 12, 5, 6, i, 0, 0, time.UTC)}
		b, _ := json.Marshal(f)
		msgs = append(msgs, kafka.Message{Key: []byte(f.Client), Value: b})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the topic is being created
	}
}

func readAll(t *testing.T, broker, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, GroupID: topic + "-check", StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s after %d messages: %v", topic, len(out), err)
		}
		out = append(out, m)
	}
	return out
}

// chanSink hands every notification it takes to a channel.
type chanSink chan alert.Notification

func (c chanSink) Name() string { return "bench" }
func (c chanSink) Notify(_ context.Context, ns ...alert.Notification) (bool, error) {
	for _, n := range ns {
		c <- n
	}
	return false, nil
}

// BenchmarkKafkaDeliveryLatency: a finding produced to the findings
// topic (acks=all, as detect produces it) until a sink fed by its own
// consumer group has it, on the real broker; p50 and p99 reported.
func BenchmarkKafkaDeliveryLatency(b *testing.B) {
	broker := testenv.Getenv(b, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
	cfg := transport.Config{Brokers: []string{broker}, ClientID: "gatewatch-alert-bench"}
	topic := fmt.Sprintf("gatewatch-alert-bench-%d", time.Now().UnixNano())
	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: topic, AllowAutoTopicCreation: true,
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	write := func(i int) error {
		f := detect.Finding{IncidentID: fmt.Sprintf("inc-%d", i), Status: detect.StatusOpen, Windows: 1,
			Detector: detect.DetectorVolume, WindowEnd: time.Unix(int64(i), 0)}
		v, _ := json.Marshal(f)
		return w.WriteMessages(context.Background(), kafka.Message{Value: v})
	}
	for write(-1) != nil { // the topic is being created
		time.Sleep(100 * time.Millisecond)
	}
	r, err := cfg.GroupReader(topic, topic+"-bench", 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	sink := make(chanSink, 16)
	d := alert.New(alert.Options{})
	d.Add(sink, alert.NewKafkaFeed(r), alert.SinkOptions{Linger: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-sink // the warm-up finding: the group has joined
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := write(i); err != nil {
			b.Fatal(err)
		}
		<-sink
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
