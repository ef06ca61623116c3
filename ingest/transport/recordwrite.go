package transport

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go"
)

// batchWriter encodes one partition's messages as one record batch (the
// message format of Kafka 0.11 and later, magic 2) and compresses its
// records with the producer's codec: the bytes a produce request carries
// for the partition. kafka-go's encoder, which the producer used before,
// copied each key and value through a bytes.Reader into a buffered
// encoder and then into the lz4 frame writer's buffer, about 0.8 µs of
// collect's CPU per line besides the compression itself; here each
// record is written once into one reused buffer, and lz4 compresses that
// buffer block by block into the batch. Magic 2 needs Produce v3, Kafka
// 0.11 or later, as the consumers' Fetch v4 does. The zero batchWriter
// works; it is not safe for concurrent use.
type batchWriter struct {
	codec kafka.Compression
	recs  []byte // the records, uncompressed
	out   []byte // the batch
	lz    *lz4.Compressor
	zbuf  bytes.Buffer // other codecs' output
}

// Offsets in a record batch's header (KIP-98's layout).
const (
	batchHeaderLen   = 61 // up to the record count, inclusive
	batchCRCAt       = 17
	batchAttrsAt     = 21 // the CRC covers everything from here on
	batchLastDeltaAt = 23
)

// lz4FrameBlock is the size of the lz4 frame's blocks: 64 KiB, as the Java
// client writes them, so the broker, which decompresses every batch to
// validate it, needs a 64 KiB buffer per frame rather than 4 MiB.
const lz4FrameBlock = 64 << 10

// lz4FrameHeader is the header of the frames batchWriter writes: block
// size 64 KiB, independent blocks, no checksums and no content size. It
// is made once by pierrec's frame writer (rather than by hand: its last
// byte is an xxHash of the two before it), the end mark cut off.
var lz4FrameHeader = func() []byte {
	var b bytes.Buffer
	w := lz4.NewWriter(&b)
	if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false)); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	if b.Len() != 7+4 { // magic, FLG, BD, header checksum; end mark
		panic(fmt.Sprintf("lz4 frame header: %d bytes", b.Len()))
	}
	return b.Bytes()[:7]
}()

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encode returns msgs[idx...] as a produce request's record set: the
// size of the record batch that follows, then the batch. Records without
// a time get now's, as kafka-go's encoder gives them; the result is valid
// until the next call.
func (w *batchWriter) encode(msgs []kafka.Message, idx []int32, now time.Time) ([]byte, error) {
	if len(idx) == 0 {
		return nil, fmt.Errorf("record batch: no records")
	}
	first, maxTS := w.encodeRecords(msgs, idx, now.UnixMilli())
	b := append(w.out[:0], make([]byte, 4+batchHeaderLen)...)
	var err error
	if b, err = w.compress(b); err != nil {
		return nil, err
	}
	w.out = b
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	h := b[4 : 4+batchHeaderLen]
	// base offset 0 (the broker assigns offsets)
	binary.BigEndian.PutUint32(h[8:], uint32(len(b)-4-12))
	binary.BigEndian.PutUint32(h[12:], 0xFFFFFFFF) // partition leader epoch: -1
	h[16] = 2                                      // magic
	binary.BigEndian.PutUint16(h[batchAttrsAt:], uint16(w.codec)&7)
	binary.BigEndian.PutUint32(h[batchLastDeltaAt:], uint32(len(idx)-1))
	binary.BigEndian.PutUint64(h[27:], uint64(first))
	binary.BigEndian.PutUint64(h[35:], uint64(maxTS))
	binary.BigEndian.PutUint64(h[43:], 0xFFFFFFFFFFFFFFFF) // producer id: -1
	binary.BigEndian.PutUint16(h[51:], 0xFFFF)             // producer epoch: -1
	binary.BigEndian.PutUint32(h[53:], 0xFFFFFFFF)         // base sequence: -1
	binary.BigEndian.PutUint32(h[57:], uint32(len(idx)))
	binary.BigEndian.PutUint32(h[batchCRCAt:], crc32.Checksum(b[4+batchAttrsAt:], castagnoli))
	return b, nil
}

// encodeRecords writes the records into w.recs and returns the batch's
// first and greatest timestamps (milliseconds).
func (w *batchWriter) encodeRecords(msgs []kafka.Message, idx []int32, now int64) (first, maxTS int64) {
	r := w.recs[:0]
	for i, k := range idx {
		m := &msgs[k]
		ts := now
		if !m.Time.IsZero() {
			ts = m.Time.UnixMilli()
		}
		if i == 0 {
			first, maxTS = ts, ts
		}
		maxTS = max(maxTS, ts)
		r = appendRecord(r, m, ts-first, int64(i))
	}
	w.recs = r
	return first, maxTS
}

// appendRecord appends m as a record: its length, attributes (none), the
// timestamp and offset deltas, key and value (-1 for nil) and headers,
// every integer a zigzag varint.
func appendRecord(b []byte, m *kafka.Message, tsDelta, offsetDelta int64) []byte {
	n := 1 + varintLen(tsDelta) + varintLen(offsetDelta) + bytesLen(m.Key) + bytesLen(m.Value) +
		varintLen(int64(len(m.Headers)))
	for _, h := range m.Headers {
		n += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	b = binary.AppendVarint(b, int64(n))
	b = append(b, 0)
	b = binary.AppendVarint(b, tsDelta)
	b = binary.AppendVarint(b, offsetDelta)
	b = appendVarBytes(b, m.Key)
	b = appendVarBytes(b, m.Value)
	b = binary.AppendVarint(b, int64(len(m.Headers)))
	for _, h := range m.Headers {
		b = binary.AppendVarint(b, int64(len(h.Key)))
		b = append(b, h.Key...)
		b = appendVarBytes(b, h.Value)
	}
	return b
}

func appendVarBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}

func bytesLen(v []byte) int {
	if v == nil {
		return 1
	}
	return varintLen(int64(len(v))) + len(v)
}

// varintLen is the length of v as a zigzag varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// compress appends w.recs to b, compressed with w.codec.
func (w *batchWriter) compress(b []byte) ([]byte, error) {
	switch w.codec {
	case 0:
		return append(b, w.recs...), nil
	case kafka.Lz4:
		return w.deflateLZ4(b), nil
	}
	codec := w.codec.Codec()
	if codec == nil {
		return nil, fmt.Errorf("record batch: unknown compression %d", w.codec)
	}
	w.zbuf.Reset()
	zw := codec.NewWriter(&w.zbuf)
	_, err := zw.Write(w.recs)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("record batch: %s: %w", codec.Name(), err)
	}
	return append(b, w.zbuf.Bytes()...), nil
}

// deflateLZ4 appends w.recs to b as an lz4 frame of independent 64 KiB
// blocks, each compressed straight into b (stored as is when it does not
// compress), ended by the end mark.
func (w *batchWriter) deflateLZ4(b []byte) []byte {
	if w.lz == nil {
		w.lz = new(lz4.Compressor)
	}
	b = append(b, lz4FrameHeader...)
	for src := w.recs; len(src) > 0; {
		blk := src[:min(len(src), lz4FrameBlock)]
		src = src[len(blk):]
		at := len(b)
		b = append(b, 0, 0, 0, 0)
		bound := lz4.CompressBlockBound(len(blk))
		b = slices.Grow(b, bound)
		n, err := w.lz.CompressBlock(blk, b[len(b):len(b)+bound])
		if err != nil || n == 0 || n >= len(blk) {
			binary.LittleEndian.PutUint32(b[at:], uint32(len(blk))|0x80000000)
			b = append(b, blk...)
			continue
		}
		binary.LittleEndian.PutUint32(b[at:], uint32(n))
		b = b[:len(b)+n]
	}
	return append(b, 0, 0, 0, 0)
}
