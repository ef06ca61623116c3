package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// writerMessages are messages of every shape a batch carries: keyed and
// not, empty and nil values, headers, an explicit time and none, one
// value bigger than an LZ4 block and one that does not compress.
func writerMessages(n int) []kafka.Message {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 200<<10) // covers whole LZ4 blocks
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		m := kafka.Message{Key: fmt.Appendf(nil, "client-%d", i%17),
			Value: fmt.Appendf(nil, `{"i":%d,"path":"/v1/orders/%d"}%s`, i, i*7, strings.Repeat("x", i%90))}
		switch i % 7 {
		case 1:
			m.Key = nil
		case 2:
			m.Value = []byte{}
		case 3:
			m.Value = nil
		case 4:
			m.Headers = []kafka.Header{{Key: "h", Value: []byte("header value")}, {Key: "nil"}}
		case 5:
			m.Time = time.UnixMilli(1_700_000_000_000 + int64(i)*1000)
		}
		msgs[i] = m
	}
	if n > 3 {
		msgs[n/3].Value = bytes.Repeat([]byte("a big value "), 300<<10/12)
		msgs[n/2].Value = noise
	}
	return msgs
}

func allIndexes(n int) []int32 {
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	return idx
}

// kafkaGoRecordSet is msgs[idx...] as kafka-go's protocol package
// encodes a produce request's record set, records without a time at now.
func kafkaGoRecordSet(t *testing.T, codec kafka.Compression, msgs []kafka.Message, idx []int32, now time.Time) []byte {
	t.Helper()
	recs := make([]protocol.Record, len(idx))
	for i, k := range idx {
		m := msgs[k]
		ts := m.Time
		if ts.IsZero() {
			ts = now
		}
		recs[i] = protocol.Record{Time: ts, Headers: m.Headers}
		if m.Key != nil {
			recs[i].Key = protocol.NewBytes(m.Key)
		}
		if m.Value != nil {
			recs[i].Value = protocol.NewBytes(m.Value)
		}
	}
	rs := protocol.RecordSet{Version: 2, Attributes: protocol.Attributes(codec), Records: protocol.NewRecordReader(recs...)}
	var buf bytes.Buffer
	if _, err := rs.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Uncompressed, the record set is byte for byte kafka-go's: header
// fields, CRC, every record's framing (kafka-go's encoder, not ours).
func TestBatchWriterMatchesKafkaGo(t *testing.T) {
	now := time.UnixMilli(1_765_000_000_123)
	msgs := writerMessages(40)
	var w batchWriter
	for _, idx := range [][]int32{{0}, {1}, {3, 2}, allIndexes(40), {39, 5, 4, 20}} {
		got, err := w.encode(msgs, idx, now)
		if err != nil {
			t.Fatal(err)
		}
		if want := kafkaGoRecordSet(t, 0, msgs, idx, now); !bytes.Equal(got, want) {
			t.Fatalf("records %v: batch differs from kafka-go's\n got %x\nwant %x", idx, got[:min(len(got), 120)], want[:min(len(want), 120)])
		}
	}
	if _, err := w.encode(msgs, nil, now); err == nil {
		t.Fatal("an empty batch encoded")
	}
}

// Every codec's batch reads back, through kafka-go's reader and through
// the consumers' own (batchReader), as the records it was made from.
func TestBatchWriterEveryCodec(t *testing.T) {
	now := time.UnixMilli(1_765_000_000_123)
	msgs := writerMessages(300)
	for _, codec := range []kafka.Compression{0, kafka.Gzip, kafka.Snappy, kafka.Lz4, kafka.Zstd} {
		w := batchWriter{codec: codec}
		for round := range 2 { // the second reuses the buffers
			b, err := w.encode(msgs, allIndexes(len(msgs)), now)
			if err != nil {
				t.Fatal(err)
			}
			if n := binary.BigEndian.Uint32(b); int(n) != len(b)-4 {
				t.Fatalf("%v: record set size %d for %d bytes", codec, n, len(b)-4)
			}
			checkKafkaGoReads(t, fmt.Sprintf("%v round %d", codec, round), b, msgs, now)
			checkBatchReaderReads(t, fmt.Sprintf("%v round %d", codec, round), b[4:], msgs)
		}
	}
}

func checkKafkaGoReads(t *testing.T, name string, b []byte, msgs []kafka.Message, now time.Time) {
	t.Helper()
	var rs protocol.RecordSet
	if _, err := rs.ReadFrom(bytes.NewReader(b)); err != nil {
		t.Fatalf("%s: kafka-go: %v", name, err)
	}
	for i := 0; ; i++ {
		rec, err := rs.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			if i != len(msgs) {
				t.Fatalf("%s: %d records, want %d", name, i, len(msgs))
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: record %d: %v", name, i, err)
		}
		m, ts := msgs[i], msgs[i].Time
		if ts.IsZero() {
			ts = now
		}
		key, _ := protocol.ReadAll(rec.Key)
		value, _ := protocol.ReadAll(rec.Value)
		if rec.Offset != int64(i) || !rec.Time.Equal(ts) || !bytes.Equal(key, m.Key) || (key == nil) != (m.Key == nil) ||
			!bytes.Equal(value, m.Value) || (value == nil) != (m.Value == nil) || len(rec.Headers) != len(m.Headers) {
			t.Fatalf("%s: record %d: offset %d time %v key %q value %.30q, want %v %q %.30q", name, i, rec.Offset, rec.Time, key, value, ts, m.Key, m.Value)
		}
		for j, h := range rec.Headers {
			if h.Key != m.Headers[j].Key || !bytes.Equal(h.Value, m.Headers[j].Value) {
				t.Fatalf("%s: record %d header %d: %q=%q", name, i, j, h.Key, h.Value)
			}
		}
	}
}

func checkBatchReaderReads(t *testing.T, name string, batch []byte, msgs []kafka.Message) {
	t.Helper()
	var r batchReader
	r.reset(batch)
	for i := 0; ; i++ {
		off, value, ok, err := r.next()
		if err != nil {
			t.Fatalf("%s: batchReader: record %d: %v", name, i, err)
		}
		if !ok {
			if i != len(msgs) {
				t.Fatalf("%s: batchReader read %d records, want %d", name, i, len(msgs))
			}
			return
		}
		if off != int64(i) || !bytes.Equal(value, msgs[i].Value) {
			t.Fatalf("%s: batchReader: record %d: offset %d value %.30q", name, i, off, value)
		}
	}
}

// The LZ4 frame is one pierrec's reader accepts (it checks the header's
// checksum), of blocks of at most 64 KiB, an incompressible one stored.
func TestBatchWriterLZ4Frame(t *testing.T) {
	now := time.UnixMilli(1_765_000_000_123)
	msgs := writerMessages(300)
	idx := allIndexes(len(msgs))
	plain := batchWriter{}
	raw, err := plain.encode(msgs, idx, now)
	if err != nil {
		t.Fatal(err)
	}
	records := bytes.Clone(raw[4+batchHeaderLen:])
	w := batchWriter{codec: kafka.Lz4}
	b, err := w.encode(msgs, idx, now)
	if err != nil {
		t.Fatal(err)
	}
	frame := b[4+batchHeaderLen:]
	got, err := io.ReadAll(lz4.NewReader(bytes.NewReader(frame)))
	if err != nil || !bytes.Equal(got, records) {
		t.Fatalf("pierrec's reader: %v, %d bytes, want the %d bytes of records", err, len(got), len(records))
	}
	stored, blocks := 0, 0
	for p := frame[7:]; ; blocks++ {
		size := binary.LittleEndian.Uint32(p)
		if size == 0 {
			break
		}
		n := int(size &^ 0x80000000)
		if size&0x80000000 != 0 {
			stored++
		}
		if n > lz4FrameBlock {
			t.Fatalf("block %d: %d bytes", blocks, n)
		}
		p = p[4+n:]
	}
	if want := (len(records) + lz4FrameBlock - 1) / lz4FrameBlock; blocks != want || stored == 0 {
		t.Fatalf("%d blocks (%d stored), want %d with one stored at least", blocks, stored, want)
	}
	if len(frame) > len(records)/2 {
		t.Fatalf("frame of %d bytes for %d bytes of records", len(frame), len(records))
	}
}

// Every codec the producer offers, on the real broker, which validates
// each batch (CRC, decompression, framing); librdkafka (kcat) reads the
// lz4 and zstd topics back.
func TestProducerRealBrokerEveryCodec(t *testing.T) {
	t.Parallel()
	cfg := plaintextConfig(t)
	kcat := testenv.LookPath(t, "kcat", "kcat")
	for _, comp := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		topic := createTopic(t, cfg)
		p, err := NewProducer(cfg, ProducerOptions{Topic: topic, Compression: comp})
		if err != nil {
			t.Fatal(err)
		}
		const clients, n = 100, 5_000
		publishEvents(t, p, clients, n)
		checkTopic(t, cfg, topic, clients, n)
		if comp != "lz4" && comp != "zstd" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := exec.CommandContext(ctx, kcat, "-C", "-b", cfg.Brokers[0], "-t", topic, "-e", "-q", "-f", "%k\n").Output()
		cancel()
		if err != nil {
			t.Fatalf("kcat -C %s: %v", comp, err)
		}
		if got := strings.Count(string(out), "\n"); got != n {
			t.Fatalf("kcat read %d records of the %s topic, want %d", got, comp, n)
		}
	}
}

// FuzzBatchWriter: any messages encode, with any codec, to a batch both
// readers read back whole.
func FuzzBatchWriter(f *testing.F) {
	f.Add([]byte("k1\x00v1\x00\x00v2\x00k3\x00"), uint8(3))
	f.Add(bytes.Repeat([]byte("abc\x00"), 5000), uint8(4))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(fuzzBatchWriterOnce)
}

// fuzzBatchWriterOnce splits data at zero bytes into key, value pairs
// (an empty key is nil) and checks their batch reads back.
func fuzzBatchWriterOnce(t *testing.T, data []byte, codec uint8) {
	parts := bytes.Split(data, []byte{0})
	msgs := make([]kafka.Message, 0, len(parts)/2+1)
	for i := 0; i+1 < len(parts); i += 2 {
		m := kafka.Message{Value: parts[i+1]}
		if len(parts[i]) > 0 {
			m.Key = parts[i]
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return
	}
	now := time.UnixMilli(1_765_000_000_123)
	w := batchWriter{codec: kafka.Compression(codec % 5)}
	b, err := w.encode(msgs, allIndexes(len(msgs)), now)
	if err != nil {
		t.Fatal(err)
	}
	checkKafkaGoReads(t, "fuzz", b, msgs, now)
	checkBatchReaderReads(t, "fuzz", b[4:], msgs)
}

// BenchmarkBatchWriter encodes a partition's batch of 2,000 nginx events
// (binary wire encoding, about 200 bytes each) with each codec.
func BenchmarkBatchWriter(b *testing.B) {
	evs := nginxEvents(b, 2000)
	msgs := make([]kafka.Message, len(evs))
	size := 0
	for i, ev := range evs {
		msgs[i] = kafka.Message{Key: []byte(ev.ClientKey), Value: ingest.AppendWireBinary(nil, ev)}
		size += len(msgs[i].Value)
	}
	idx := allIndexes(len(msgs))
	for _, codec := range []kafka.Compression{0, kafka.Lz4, kafka.Zstd} {
		b.Run(fmt.Sprint(codec), func(b *testing.B) {
			w := batchWriter{codec: codec}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.encode(msgs, idx, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/event")
		})
	}
}
