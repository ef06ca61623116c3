package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/internal/testenv"
)

// partitionTopic creates a topic and waits until each of its partitions
// has a leader that answers: on a broker just started, the first reads and
// writes of a new topic can meet "Not Leader For Partition".
func partitionTopic(t *testing.T, cfg Config) string {
	t.Helper()
	topic := createTopic(t, cfg)
	d, err := cfg.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for p := range testPartitions {
		for {
			conn, err := d.DialLeader(ctx, "tcp", cfg.Brokers[0], topic, p)
			if err == nil {
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = conn.ReadLastOffset()
				conn.Close()
			}
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("partition %d of %s has no leader: %v", p, topic, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return topic
}

// writePartition writes values to partition p of topic, in order, and
// returns the partition's end.
func writePartition(t *testing.T, cfg Config, topic string, p int, values [][]byte) int64 {
	t.Helper()
	return writePartitionWith(t, cfg, topic, p, kafka.Lz4, values)
}

// writePartitionWith is writePartition with codec (0: none), 100 values
// a batch.
func writePartitionWith(t *testing.T, cfg Config, topic string, p int, codec kafka.Compression, values [][]byte) int64 {
	t.Helper()
	d, err := cfg.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := d.DialLeader(ctx, "tcp", cfg.Brokers[0], topic, p)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	for len(values) > 0 {
		n := min(len(values), 100)
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			msgs[i].Value = values[i]
		}
		if _, err := conn.WriteCompressedMessages(codec.Codec(), msgs...); err != nil {
			t.Fatal(err)
		}
		values = values[n:]
	}
	end, err := conn.ReadLastOffset()
	if err != nil {
		t.Fatal(err)
	}
	return end
}

// testValues are n values of different sizes; value 7 is bigger than a
// PartitionReader's first buffer, and value 9 is empty.
func testValues(n int) [][]byte {
	vs := make([][]byte, n)
	for i := range vs {
		switch i {
		case 7:
			vs[i] = bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16)
		case 9:
			vs[i] = []byte{}
		default:
			vs[i] = fmt.Appendf(nil, "value %d %s", i, bytes.Repeat([]byte{'x'}, i%50))
		}
	}
	return vs
}

// TestPartitionReaderReadsInOrder reads a partition of the real broker
// from several starting points, in plaintext and over TLS with SASL:
// every value comes back once, in order, with its offset and the
// partition's end, a value larger than the reader's buffer included.
func TestPartitionReaderReadsInOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  func(testing.TB) Config
	}{{"plaintext", plaintextConfig}, {"sasl", saslConfig}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg(t)
			topic := partitionTopic(t, cfg)
			values := testValues(250)
			end := writePartition(t, cfg, topic, 2, values)
			if end != int64(len(values)) {
				t.Fatalf("partition end %d, want %d", end, len(values))
			}
			for _, start := range []int64{0, kafka.FirstOffset, 5, 8, 249} {
				from := max(start, 0)
				got := readAll(t, cfg, topic, 2, start, int(end-from))
				for i, rec := range got {
					off := from + int64(i)
					if rec.Offset != off || rec.Partition != 2 || rec.HighWaterMark != end {
						t.Fatalf("start %d: record %d at offset %d partition %d end %d, want offset %d partition 2 end %d",
							start, i, rec.Offset, rec.Partition, rec.HighWaterMark, off, end)
					}
					if !bytes.Equal(rec.Value, values[off]) {
						t.Fatalf("start %d: offset %d: value of %d bytes, want %d", start, off, len(rec.Value), len(values[off]))
					}
				}
			}
			// A record bigger than MaxBytes still comes (the broker hands
			// it out rather than none).
			d, err := cfg.Dialer()
			if err != nil {
				t.Fatal(err)
			}
			small := NewPartitionReader(d, cfg.Brokers, PartitionReaderOptions{Topic: topic, Partition: 2, Offset: 7, MaxBytes: 100 << 10})
			defer small.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rec, err := small.Next(ctx)
			if err != nil || rec.Offset != 7 || !bytes.Equal(rec.Value, values[7]) {
				t.Fatalf("MaxBytes 100 KiB: offset %d, %d bytes, %v; want offset 7, %d bytes", rec.Offset, len(rec.Value), err, len(values[7]))
			}
		})
	}
}

// readAll reads n records of partition p from start, copying their
// values, and checks the reader's Lag once done.
func readAll(t *testing.T, cfg Config, topic string, p int, start int64, n int) []Record {
	t.Helper()
	d, err := cfg.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	r := NewPartitionReader(d, cfg.Brokers, PartitionReaderOptions{Topic: topic, Partition: p, Offset: start, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []Record
	for range n {
		rec, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("start %d, after %d records: %v", start, len(out), err)
		}
		rec.Value = bytes.Clone(rec.Value)
		out = append(out, rec)
	}
	if lag, err := r.Lag(ctx); err != nil || lag != 0 {
		t.Fatalf("start %d: Lag = %d, %v after reading everything", start, lag, err)
	}
	return out
}

// TestPartitionReaderWaitsAndStops: a reader at the end waits for the
// next record, stops waiting when ctx is cancelled (long before its
// MaxWait), and then reads what was written meanwhile; a deadline lets
// the fetch under way finish on the same connection; an offset past the
// end is an error with OutOfRangeError and a wait for records without.
func TestPartitionReaderWaitsAndStops(t *testing.T) {
	t.Parallel()
	cfg := plaintextConfig(t)
	topic := partitionTopic(t, cfg)
	end := writePartition(t, cfg, topic, 0, testValues(20))
	d, err := cfg.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	// Empty fetches (MaxWait passing without a record) are no error.
	// A deadline passing during a fetch keeps the connection.
	idle := NewPartitionReader(d, cfg.Brokers, PartitionReaderOptions{Topic: topic, Partition: 1, MaxWait: 200 * time.Millisecond})
	defer idle.Close()
	var conns []*kafka.Conn
	for _, wait := range []time.Duration{500 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		_, err = idle.Next(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next on an empty partition returned %v, want the context's deadline", err)
		}
		conns = append(conns, idle.conn)
	}
	if conns[0] == nil || conns[1] != conns[0] || conns[2] != conns[0] {
		t.Fatalf("connections after three deadlines: %p %p %p, want one kept", conns[0], conns[1], conns[2])
	}
	r := NewPartitionReader(d, cfg.Brokers, PartitionReaderOptions{Topic: topic, Partition: 0, Offset: kafka.LastOffset, MaxWait: 20 * time.Second})
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	began := time.Now()
	time.AfterFunc(300*time.Millisecond, cancel)
	_, err = r.Next(ctx)
	cancel()
	if !errors.Is(err, context.Canceled) || time.Since(began) > 10*time.Second {
		t.Fatalf("Next at the end returned %v after %s, want the cancellation after 300ms", err, time.Since(began))
	}
	if r.Offset() != end {
		t.Fatalf("Offset() = %d after waiting at the end, want %d", r.Offset(), end)
	}
	writePartition(t, cfg, topic, 0, [][]byte{[]byte("late")})
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec, err := r.Next(ctx)
	if err != nil || rec.Offset != end || string(rec.Value) != "late" {
		t.Fatalf("Next after a write = offset %d %q, %v; want offset %d \"late\"", rec.Offset, rec.Value, err, end)
	}

	strict := NewPartitionReader(d, cfg.Brokers, PartitionReaderOptions{Topic: topic, Partition: 0, Offset: end + 10, OutOfRangeError: true})
	defer strict.Close()
	if _, err := strict.Next(ctx); !errors.Is(err, kafka.OffsetOutOfRange) {
		t.Fatalf("Next past the end with OutOfRangeError: %v, want OffsetOutOfRange", err)
	}
	patient := NewPartitionReader(d, cfg.Brokers, PartitionReaderOptions{Topic: topic, Partition: 0, Offset: end + 3, MaxWait: 50 * time.Millisecond})
	defer patient.Close()
	wctx, wcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = patient.Next(wctx)
	wcancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next past the end: %v, want a wait until the deadline", err)
	}
	writePartition(t, cfg, topic, 0, testValues(5))
	if rec, err := patient.Next(ctx); err != nil || rec.Offset != end+3 {
		t.Fatalf("Next once the offset exists = offset %d, %v; want %d", rec.Offset, err, end+3)
	}
}

// TestPartitionReaderReadsEveryCodec reads from the real broker batches
// compressed with each codec, written by kafka-go and by librdkafka
// (kcat), whose LZ4 frames are its own: every value back, in order.
func TestPartitionReaderReadsEveryCodec(t *testing.T) {
	t.Parallel()
	cfg := plaintextConfig(t)
	kcat := testenv.LookPath(t, "kcat", "kcat")
	topic := partitionTopic(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var want []string
	for _, codec := range []kafka.Compression{0, kafka.Gzip, kafka.Snappy, kafka.Lz4, kafka.Zstd} {
		name := "none"
		if codec != 0 {
			name = codec.String()
		}
		values := make([][]byte, 120)
		var lines strings.Builder
		for i := range values {
			// 120 values of up to 2 KB: a batch spans LZ4 blocks.
			v := fmt.Sprintf("kafka-go %s %d %s", name, i, strings.Repeat("abcdefgh", i*2))
			values[i] = []byte(v)
			want = append(want, v)
		}
		writePartitionWith(t, cfg, topic, 1, codec, values)
		for i := range values {
			v := fmt.Sprintf("kcat %s %d %s", name, i, strings.Repeat("ijklmnop", i*2))
			lines.WriteString(v + "\n")
			want = append(want, v)
		}
		cmd := exec.CommandContext(ctx, kcat, "-P", "-b", cfg.Brokers[0], "-t", topic, "-p", "1", "-z", name)
		cmd.Stdin = strings.NewReader(lines.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat -z %s: %v: %s", name, err, out)
		}
	}
	for i, rec := range readAll(t, cfg, topic, 1, 0, len(want)) {
		if rec.Offset != int64(i) || string(rec.Value) != want[i] {
			t.Fatalf("record %d: offset %d %.40q, want %.40q", i, rec.Offset, rec.Value, want[i])
		}
	}
}
