package transport

// Integration tests and benchmarks against a real broker. Start one with
//
//	d=$(mktemp -d); bash deploy/kafka/kafka.sh start $d; eval "$(bash deploy/kafka/kafka.sh env $d)"
//
// Without the GATEWATCH_TEST_KAFKA* variables they skip, except under
// CI=true where a missing broker is a failure.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/testenv"
	"github.com/segmentio/kafka-go"
)

// brokerEnv returns the named environment variables, skipping the test when
// one is unset (failing it under CI=true).
func brokerEnv(tb testing.TB, names ...string) []string {
	tb.Helper()
	return testenv.Getenv(tb, "Kafka broker", names...)
}

func plaintextConfig(tb testing.TB) Config {
	env := brokerEnv(tb, "GATEWATCH_TEST_KAFKA")
	return Config{Brokers: []string{env[0]}, ClientID: "gatewatch-transport-test"}
}

func saslConfig(tb testing.TB) Config {
	env := brokerEnv(tb, "GATEWATCH_TEST_KAFKA_SASL", "GATEWATCH_TEST_KAFKA_CA",
		"GATEWATCH_TEST_KAFKA_USER", "GATEWATCH_TEST_KAFKA_PASSWORD")
	return Config{
		Brokers:  []string{env[0]},
		TLS:      TLSConfig{Enabled: true, CAFile: env[1]},
		SASL:     SASLConfig{Mechanism: MechanismSCRAMSHA512, Username: env[2], Password: Secret(env[3])},
		ClientID: "gatewatch-transport-test",
	}
}

const testPartitions = 6

// createTopic makes a topic with a name unique to this run.
func createTopic(tb testing.TB, cfg Config) string {
	tb.Helper()
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		tb.Fatal(err)
	}
	topic := "gatewatch-test-" + strings.ToLower(strings.NewReplacer("/", "-").Replace(tb.Name())) + "-" + hex.EncodeToString(rnd[:])
	tr, err := cfg.Transport()
	if err != nil {
		tb.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: cfg.Addr(), Transport: tr}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: testPartitions, ReplicationFactor: 1},
	}})
	if err != nil {
		tb.Fatalf("create topic %s: %v", topic, err)
	}
	if err := res.Errors[topic]; err != nil {
		tb.Fatalf("create topic %s: %v", topic, err)
	}
	return topic
}

// clientEvent is event seq of client c, with both in RequestID so the
// consumer side can check them.
func clientEvent(c, seq int) *ingest.Event {
	ev := testEvent("client-"+strconv.Itoa(c), seq)
	ev.RequestID = strconv.Itoa(c) + "/" + strconv.Itoa(seq)
	ev.RemoteIP = netip.AddrFrom4([4]byte{10, 0, byte(c >> 8), byte(c)})
	return ev
}

// publishEvents publishes n events round-robin over clients and closes p.
func publishEvents(t *testing.T, p *Producer, clients, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seqs := make([]int, clients)
	for i := range n {
		c := i % clients
		if err := p.Publish(ctx, clientEvent(c, seqs[c])); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
		seqs[c]++
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := p.Stats(); st.Published != int64(n) || st.Delivered != int64(n) || st.Buffered != 0 {
		t.Fatalf("Stats = %+v, want %d published and delivered", st, n)
	}
}

// checkTopic reads every partition of topic back and checks that each of
// the n events arrived exactly once, decodes, and that each client's events
// sit on the partition Murmur2Balancer picks, in publish order.
func checkTopic(t *testing.T, cfg Config, topic string, clients, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dialer, err := cfg.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cfg.Transport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: cfg.Addr(), Transport: tr}
	offsets := make([]kafka.OffsetRequest, testPartitions)
	for p := range offsets {
		offsets[p] = kafka.LastOffsetOf(p)
	}
	lo, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: offsets}})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	ends := make([]int64, testPartitions)
	var total int64
	for _, po := range lo.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("list offsets partition %d: %v", po.Partition, po.Error)
		}
		ends[po.Partition] = po.LastOffset
		total += po.LastOffset
	}
	if total != int64(n) {
		t.Fatalf("topic holds %d messages, want %d", total, n)
	}

	partitionIDs := make([]int, testPartitions)
	for i := range partitionIDs {
		partitionIDs[i] = i
	}
	balancer := &kafka.Murmur2Balancer{}
	partitionOf := make(map[int]int, clients) // client -> partition
	nextSeq := make([]int, clients)
	var ev ingest.Event
	for part := range testPartitions {
		if ends[part] == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: cfg.Brokers, Topic: topic, Partition: part, Dialer: dialer,
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 100 * time.Millisecond,
		})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("partition %d: read: %v", part, err)
			}
			ev.Reset()
			if err := ingest.DecodeWire(m.Value, &ev); err != nil {
				r.Close()
				t.Fatalf("partition %d offset %d: DecodeWire(%s): %v", part, m.Offset, m.Value, err)
			}
			c, seq, ok := strings.Cut(ev.RequestID, "/")
			ci, err1 := strconv.Atoi(c)
			si, err2 := strconv.Atoi(seq)
			if !ok || err1 != nil || err2 != nil || ci < 0 || ci >= clients {
				r.Close()
				t.Fatalf("partition %d offset %d: unexpected request id %q", part, m.Offset, ev.RequestID)
			}
			if string(m.Key) != ev.ClientKey || ev.ClientKey != "client-"+c {
				t.Errorf("offset %d: key %q, client %q, want client-%s", m.Offset, m.Key, ev.ClientKey, c)
			}
			if prev, seen := partitionOf[ci]; seen && prev != part {
				t.Errorf("client %d on partitions %d and %d", ci, prev, part)
			}
			partitionOf[ci] = part
			if want := balancer.Balance(kafka.Message{Key: m.Key}, partitionIDs...); want != part {
				t.Errorf("client %d on partition %d, murmur2 says %d", ci, part, want)
			}
			if si != nextSeq[ci] {
				// A duplicate, a gap or a reordering.
				r.Close()
				t.Fatalf("client %d: got event %d, want %d (partition %d offset %d)", ci, si, nextSeq[ci], part, m.Offset)
			}
			nextSeq[ci]++
			if m.Offset == ends[part]-1 {
				break
			}
		}
		r.Close()
	}
	got := 0
	for _, s := range nextSeq {
		got += s
	}
	if got != n {
		t.Fatalf("read back %d events, want %d", got, n)
	}
	if len(partitionOf) < testPartitions && clients >= 100 {
		t.Errorf("%d clients landed on only %d partitions", clients, len(partitionOf))
	}
}

func TestProducerRealBrokerPlaintext(t *testing.T) {
	cfg := plaintextConfig(t)
	topic := createTopic(t, cfg)
	p, err := NewProducer(cfg, ProducerOptions{Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	const clients, n = 500, 50_000
	start := time.Now()
	publishEvents(t, p, clients, n)
	t.Logf("published %d events in %v", n, time.Since(start))
	checkTopic(t, cfg, topic, clients, n)
}

func TestProducerRealBrokerSASL(t *testing.T) {
	cfg := saslConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cfg.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	topic := createTopic(t, cfg)
	p, err := NewProducer(cfg, ProducerOptions{Topic: topic, Compression: "lz4"})
	if err != nil {
		t.Fatal(err)
	}
	const clients, n = 50, 5_000
	publishEvents(t, p, clients, n)
	checkTopic(t, cfg, topic, clients, n)
}

func TestProducerRealBrokerWrongPassword(t *testing.T) {
	cfg := saslConfig(t)
	cfg.SASL.Password += "-wrong"

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := cfg.Ping(ctx)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "SASL Authentication Failed") {
		t.Fatalf("Ping with a wrong password = %v, want an authentication error well before the deadline", err)
	}
	t.Logf("Ping: %v", err)

	p, err := NewProducer(cfg, ProducerOptions{Topic: "gatewatch-test-wrong-password"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctx, clientEvent(1, 0)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	closeCtx, closeCancel := context.WithTimeout(ctx, 3*time.Second)
	defer closeCancel()
	start := time.Now()
	err = p.Close(closeCtx)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %v with a 3s deadline", d)
	}
	if err == nil || !strings.Contains(err.Error(), "1 messages undelivered") ||
		!strings.Contains(err.Error(), "SASL Authentication Failed") {
		t.Fatalf("Close = %v, want 1 undelivered message and the authentication error", err)
	}
	t.Logf("Close: %v", err)
	if st := p.Stats(); st.Delivered != 0 || st.FailedAttempts == 0 || st.LastError == nil {
		t.Errorf("Stats = %+v", st)
	}
	if errors.Is(err, context.DeadlineExceeded) == false {
		t.Errorf("Close = %v, want it to wrap the deadline", err)
	}
}

// nginxEvents returns n events as the nginx parser and Normalizer would make
// them from a combined log with API keys in the query.
func nginxEvents(tb testing.TB, n int) []*ingest.Event {
	tb.Helper()
	norm, err := ingest.NewNormalizer(ingest.NormalizerOptions{HMACKey: []byte("bench-key"), Source: "edge-nginx"})
	if err != nil {
		tb.Fatal(err)
	}
	paths := []string{"/api/v1/orders/%d", "/api/v2/users/%d/profile", "/api/v1/search", "/health", "/api/v1/carts/%d/items"}
	agents := []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
		"okhttp/4.12.0", "python-requests/2.31.0", "curl/8.5.0",
	}
	evs := make([]*ingest.Event, n)
	base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i := range evs {
		ev := &ingest.Event{
			Time:      base.Add(time.Duration(i) * time.Millisecond),
			Format:    "nginx_combined",
			Method:    []string{"GET", "GET", "POST", "PUT", "DELETE"}[i%5],
			Host:      "api.example.com",
			Status:    []int{200, 200, 200, 201, 404, 401, 500}[i%7],
			BytesOut:  int64(200 + i%5000),
			BytesIn:   int64(i % 700),
			Latency:   time.Duration(1+i%250) * time.Millisecond,
			UserAgent: agents[i%len(agents)],
			Referer:   "https://app.example.com/dashboard",
			Scheme:    "https",
			RequestID: fmt.Sprintf("%032x", i),
		}
		path := paths[i%len(paths)]
		if strings.Contains(path, "%d") {
			path = fmt.Sprintf(path, 1000+i%9000)
		}
		ev.Raw.Target = path + "?page=" + strconv.Itoa(i%10) + "&api_key=key-" + strconv.Itoa(i%500)
		ev.Raw.RemoteAddr = fmt.Sprintf("203.0.113.%d", i%250)
		ev.Raw.APIKey = "key-" + strconv.Itoa(i%500)
		norm.Normalize(ev)
		evs[i] = ev
	}
	return evs
}

func BenchmarkProducerRealBroker(b *testing.B) {
	cfg := plaintextConfig(b)
	evs := nginxEvents(b, 8192)
	if ev := evs[1]; ev.ClientKey == "" || ev.Route == "" || ev.Query == "" || ev.RemoteIP == (netip.Addr{}) {
		b.Fatalf("Normalizer left the event incomplete: %+v", *ev)
	}
	size := len(ingest.AppendWire(nil, evs[1]))
	for _, comp := range []string{"zstd", "lz4"} {
		b.Run(comp, func(b *testing.B) {
			topic := createTopic(b, cfg)
			p, err := NewProducer(cfg, ProducerOptions{Topic: topic, Compression: comp})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := p.Publish(ctx, evs[i%len(evs)]); err != nil {
					b.Fatal(err)
				}
			}
			if err := p.Close(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			if st := p.Stats(); st.Delivered != int64(b.N) {
				b.Fatalf("delivered %d of %d", st.Delivered, b.N)
			}
		})
	}
}
