package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/fetch"
)

// kafkaGoBatch is a record batch as kafka-go's protocol package encodes
// it (the library's encoder, not ours): values at offsets from base, with
// a key and a header each, compressed with codec.
func kafkaGoBatch(t testing.TB, codec compress.Compression, attrs protocol.Attributes, base int64, values [][]byte) []byte {
	t.Helper()
	recs := make([]protocol.Record, len(values))
	for i, v := range values {
		recs[i] = protocol.Record{Offset: base + int64(i), Time: time.UnixMilli(1_700_000_000_000 + int64(i)),
			Key: protocol.NewBytes(fmt.Appendf(nil, "key-%d", i)), Value: protocol.NewBytes(v),
			Headers: []protocol.Header{{Key: "h", Value: []byte("header value")}}}
	}
	rs := protocol.RecordSet{Version: 2, Attributes: protocol.Attributes(codec) | attrs, Records: protocol.NewRecordReader(recs...)}
	var buf bytes.Buffer
	if _, err := rs.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	batch := buf.Bytes()[4:] // after the record set's size
	// kafka-go encodes a batch to produce, whose base offset the broker
	// sets: set it as the broker would.
	binary.BigEndian.PutUint64(batch, uint64(base))
	return batch
}

// batchValues are values of sizes a fetch meets: empty, short, and one
// bigger than an LZ4 block.
func batchValues(n int, seed int) [][]byte {
	vs := make([][]byte, n)
	for i := range vs {
		switch {
		case i == 1:
			vs[i] = []byte{}
		case i == 2 && seed == 0:
			vs[i] = bytes.Repeat(fmt.Appendf(nil, "%04d big value ", i), 300<<10/14)
		default:
			vs[i] = fmt.Appendf(nil, "value %d of batch %d %s", i, seed, bytes.Repeat([]byte{'x'}, (i*7+seed)%90))
		}
	}
	return vs
}

type offsetValue struct {
	off   int64
	value string
}

// readBatches reads every record of records.
func readBatches(t *testing.T, records []byte) ([]offsetValue, int64) {
	t.Helper()
	var b batchReader
	b.reset(records)
	var got []offsetValue
	for {
		off, v, ok, err := b.next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return got, b.end
		}
		got = append(got, offsetValue{off, string(v)})
	}
}

// TestBatchReaderReadsKafkaGoBatches reads batches encoded by kafka-go with
// every codec: every record back with its offset and value, a control
// batch skipped but counted in the end offset, and a batch cut short at
// any byte left for the next fetch.
func TestBatchReaderReadsKafkaGoBatches(t *testing.T) {
	for _, codec := range []compress.Compression{compress.None, compress.Gzip, compress.Snappy, compress.Lz4, compress.Zstd} {
		t.Run(codec.String(), func(t *testing.T) {
			first, second := batchValues(5, 0), batchValues(40, 1)
			records := kafkaGoBatch(t, codec, 0, 100, first)
			records = append(records, kafkaGoBatch(t, codec, protocol.Control, 105, [][]byte{{0, 0, 0, 0}})...)
			cut := len(records)
			records = append(records, kafkaGoBatch(t, codec, 0, 106, second)...)
			var want []offsetValue
			for i, v := range first {
				want = append(want, offsetValue{100 + int64(i), string(v)})
			}
			got, end := readBatches(t, records)
			if len(got) != len(first)+len(second) || end != 146 {
				t.Fatalf("%d records up to offset %d, want %d up to 146", len(got), end, len(first)+len(second))
			}
			for i, v := range second {
				want = append(want, offsetValue{106 + int64(i), string(v)})
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("record %d: offset %d value %.40q, want %d %.40q", i, got[i].off, got[i].value, want[i].off, want[i].value)
				}
			}
			for n := cut; n < len(records); n += max(1, (len(records)-cut)/50) {
				got, end := readBatches(t, records[:n])
				if len(got) != len(first) || end != 106 {
					t.Fatalf("cut at %d of %d: %d records up to %d, want %d up to 106", n, len(records), len(got), end, len(first))
				}
			}
		})
	}
}

// TestInflateLZ4 decompresses, on the fast path, the frames kafka-go's
// codec and pierrec's writer (block checksums, content size) write, and
// leaves to the codec's reader a frame whose blocks depend on each other.
func TestInflateLZ4(t *testing.T) {
	data := bytes.Repeat([]byte("gatewatch lz4 frame test data, several blocks long. "), 30_000)
	frames := map[string][]byte{}
	var buf bytes.Buffer
	w := compress.Lz4.Codec().NewWriter(&buf)
	w.Write(data)
	w.Close()
	frames["kafka-go"] = bytes.Clone(buf.Bytes())
	buf.Reset()
	zw := lz4.NewWriter(&buf)
	if err := zw.Apply(lz4.BlockChecksumOption(true), lz4.SizeOption(uint64(len(data))), lz4.BlockSizeOption(lz4.Block256Kb)); err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	zw.Close()
	frames["checksums"] = bytes.Clone(buf.Bytes())
	for name, frame := range frames {
		out, ok, err := inflateLZ4(frame, nil)
		if err != nil || !ok || !bytes.Equal(out, data) {
			t.Errorf("%s: ok %v, err %v, %d bytes out of %d, equal %v", name, ok, err, len(out), len(data), bytes.Equal(out, data))
		}
	}
	linked := bytes.Clone(frames["kafka-go"])
	linked[4] &^= 0x20
	if out, ok, err := inflateLZ4(linked, nil); ok || err != nil || len(out) != 0 {
		t.Errorf("linked blocks: ok %v, err %v, %d bytes: want the codec's reader", ok, err, len(out))
	}
	for _, n := range []int{7, 20, len(frames["kafka-go"]) / 2, len(frames["kafka-go"]) - 5} {
		if _, _, err := inflateLZ4(frames["kafka-go"][:n], nil); !errors.Is(err, errMalformed) {
			t.Errorf("frame cut at %d: %v, want errMalformed", n, err)
		}
	}
}

// TestBatchReaderRejects: an old message format is named, and corrupt
// batches are errors, never a panic or records made up.
func TestBatchReaderRejects(t *testing.T) {
	good := kafkaGoBatch(t, compress.Lz4, 0, 0, batchValues(3, 5))
	v1 := bytes.Clone(good)
	v1[16] = 1
	short := bytes.Clone(good)
	binary.LittleEndian.PutUint32(short[batchHeader+7:], 0x7FFFFFF0) // the first LZ4 block's size
	count := bytes.Clone(kafkaGoBatch(t, compress.None, 0, 0, batchValues(3, 5)))
	count[60]++ // one record more than there are
	negative := bytes.Clone(good)
	binary.BigEndian.PutUint64(negative, math.MaxUint64-7) // base offset -8
	delta := bytes.Clone(good)
	binary.BigEndian.PutUint32(delta[23:], math.MaxUint32) // last offset delta -1
	overflow := bytes.Clone(good)
	binary.BigEndian.PutUint64(overflow, math.MaxInt64-1) // base + delta past MaxInt64
	for name, records := range map[string][]byte{"magic 1": v1, "corrupt lz4": short, "count": count,
		"negative base offset": negative, "negative delta": delta, "offset overflow": overflow} {
		var b batchReader
		b.reset(records)
		var err error
		for ok := true; ok && err == nil; {
			_, _, ok, err = b.next()
		}
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestFetchRequestMatchesKafkaGo: the request a PartitionReader sends is,
// byte for byte, kafka-go's encoding of the same Fetch v4 request.
func TestFetchRequestMatchesKafkaGo(t *testing.T) {
	q := fetchRequest{correlationID: 77, clientID: "gatewatch-test", topic: "events", partition: 5,
		offset: 1 << 40, maxWait: 500 * time.Millisecond, maxBytes: 10 << 20}
	var want bytes.Buffer
	err := protocol.WriteRequest(&want, fetchVersion, 77, "gatewatch-test", &fetch.Request{
		ReplicaID: -1, MaxWaitTime: 500, MinBytes: 1, MaxBytes: 10 << 20,
		Topics: []fetch.RequestTopic{{Topic: "events", Partitions: []fetch.RequestPartition{{
			Partition: 5, FetchOffset: 1 << 40, PartitionMaxBytes: 10 << 20}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := q.appendTo([]byte("prefix")); !bytes.Equal(got[6:], want.Bytes()) {
		t.Fatalf("request\n%x\nkafka-go's\n%x", got[6:], want.Bytes())
	}
}

// TestParseFetchReadsKafkaGoResponse: a Fetch v4 response as kafka-go
// encodes it (other topics and partitions first, aborted transactions, a
// partition error) yields the partition's error, end and records.
func TestParseFetchReadsKafkaGoResponse(t *testing.T) {
	values := batchValues(4, 2)
	rs := func() protocol.RecordSet {
		recs := make([]protocol.Record, len(values))
		for i, v := range values {
			recs[i] = protocol.Record{Offset: int64(i), Value: protocol.NewBytes(v)}
		}
		return protocol.RecordSet{Version: 2, Attributes: protocol.Attributes(compress.Lz4), Records: protocol.NewRecordReader(recs...)}
	}
	aborted := []fetch.ResponseTransaction{{ProducerID: 1, FirstOffset: 2}, {ProducerID: 3, FirstOffset: 4}}
	res := &fetch.Response{ThrottleTimeMs: 3, Topics: []fetch.ResponseTopic{
		{Topic: "other", Partitions: []fetch.ResponsePartition{{Partition: 5, HighWatermark: 9, RecordSet: rs()}}},
		{Topic: "events", Partitions: []fetch.ResponsePartition{
			{Partition: 4, HighWatermark: 8, AbortedTransactions: aborted, RecordSet: rs()},
			{Partition: 5, ErrorCode: 0, HighWatermark: 1234, LastStableOffset: 1234, AbortedTransactions: aborted, RecordSet: rs()},
			{Partition: 6, ErrorCode: 1, HighWatermark: -1, RecordSet: rs()},
		}},
	}}
	var wire bytes.Buffer
	if err := protocol.WriteResponse(&wire, fetchVersion, 42, res); err != nil {
		t.Fatal(err)
	}
	_, body, err := readResponse(bytes.NewReader(wire.Bytes()), nil, 42)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseFetch(body, "events", 5)
	if err != nil || got.errCode != 0 || got.highWaterMark != 1234 {
		t.Fatalf("events[5]: %+v, %v", got, err)
	}
	recs, end := readBatches(t, got.records)
	// kafka-go encodes every batch with base offset 0 (a producer's).
	if len(recs) != len(values) || recs[3].off != 3 || recs[3].value != string(values[3]) || end != 4 {
		t.Fatalf("events[5]: %d records up to %d, last %+v", len(recs), end, recs[len(recs)-1])
	}
	if got, err := parseFetch(body, "events", 6); err != nil || got.errCode != 1 || got.highWaterMark != -1 {
		t.Fatalf("events[6]: %+v, %v; want error code 1", got, err)
	}
	if _, err := parseFetch(body, "events", 7); !errors.Is(err, errMalformed) {
		t.Fatalf("events[7], absent: %v", err)
	}
	if _, _, err := readResponse(bytes.NewReader(wire.Bytes()), nil, 43); !errors.Is(err, errMalformed) {
		t.Fatalf("another correlation id: %v", err)
	}
	for n := 0; n < len(body); n += 7 {
		if _, err := parseFetch(body[:n], "events", 5); err == nil && n < len(body)-200 {
			t.Fatalf("a body cut at %d of %d parsed", n, len(body))
		}
	}
}

// FuzzBatchReader: no record batches, however corrupt, panic the reader.
func FuzzBatchReader(f *testing.F) {
	for _, codec := range []compress.Compression{compress.None, compress.Lz4, compress.Snappy, compress.Zstd, compress.Gzip} {
		f.Add(kafkaGoBatch(f, codec, 0, 7, batchValues(3, 9)))
	}
	f.Fuzz(func(t *testing.T, records []byte) {
		var b batchReader
		b.reset(records)
		for i := 0; i < 1<<16; i++ {
			off, _, ok, err := b.next()
			if !ok || err != nil {
				return
			}
			if b.end < 0 {
				t.Fatalf("a record (offset %d) before any batch", off)
			}
		}
	})
}

// FuzzParseFetch: no response body panics the parser.
func FuzzParseFetch(f *testing.F) {
	res := &fetch.Response{Topics: []fetch.ResponseTopic{{Topic: "t", Partitions: []fetch.ResponsePartition{{
		Partition: 1, HighWatermark: 3, AbortedTransactions: []fetch.ResponseTransaction{{ProducerID: 1}},
		RecordSet: protocol.RecordSet{Version: 2, Records: protocol.NewRecordReader(protocol.Record{Value: protocol.NewBytes([]byte("v"))})}}}}}}
	var wire bytes.Buffer
	if err := protocol.WriteResponse(&wire, fetchVersion, 1, res); err != nil {
		f.Fatal(err)
	}
	f.Add(wire.Bytes()[8:])
	f.Fuzz(func(t *testing.T, body []byte) {
		if got, err := parseFetch(body, "t", 1); err == nil && len(got.records) > len(body) {
			t.Fatalf("records of %d bytes in a body of %d", len(got.records), len(body))
		}
	})
}
