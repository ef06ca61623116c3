package transport

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/segmentio/kafka-go/compress"
)

// batchHeader is the size of a record batch's header (message format v2),
// up to and including its record count.
const batchHeader = 61

// batchReader hands out the records of a fetch's record batches in order.
// Values point into the fetched bytes, or for a compressed batch into its
// records decompressed, and stay valid until the next batch is opened.
// The zero value is an empty reader.
type batchReader struct {
	batches  []byte // batches not yet opened
	recs     []byte // the open batch's records not yet read
	left     int32  // how many
	base     int64  // the open batch's base offset
	end      int64  // offset after the last batch opened; -1 before one
	inflated []byte // a compressed batch's records, the buffer reused
	src      bytes.Reader
}

// reset makes b read records, the record batches of one fetch.
func (b *batchReader) reset(records []byte) {
	b.batches, b.recs, b.left, b.end = records, nil, 0, -1
}

// next returns the next record's offset and value; ok is false when the
// fetch is used up. A batch cut short by the fetch's size limit is left
// for the next fetch, which begins with it.
func (b *batchReader) next() (offset int64, value []byte, ok bool, err error) {
	for b.left <= 0 {
		if ok, err := b.open(); !ok || err != nil {
			return 0, nil, false, err
		}
	}
	offset, value, err = b.record()
	return offset, value, err == nil, err
}

// open opens the next whole batch; false when there is none.
func (b *batchReader) open() (bool, error) {
	if len(b.batches) < 12 {
		return false, nil
	}
	size := int64(int32(binary.BigEndian.Uint32(b.batches[8:12])))
	if size < batchHeader-12 {
		return false, fmt.Errorf("%w: record batch of %d bytes", errMalformed, size)
	}
	if int64(len(b.batches)) < 12+size {
		return false, nil // cut short
	}
	batch := b.batches[:12+size]
	b.batches = b.batches[12+size:]
	if magic := int8(batch[16]); magic != 2 {
		return false, fmt.Errorf("message format v%d (a broker before 0.11 or an old client wrote it): only record batches (v2) are read", magic)
	}
	attrs := binary.BigEndian.Uint16(batch[21:23])
	base := int64(binary.BigEndian.Uint64(batch[0:8]))
	last := int64(int32(binary.BigEndian.Uint32(batch[23:27]))) // last offset delta
	if base < 0 || last < 0 || base > math.MaxInt64-last-1 {
		return false, fmt.Errorf("%w: record batch at offset %d, last offset delta %d", errMalformed, base, last)
	}
	b.base, b.end = base, base+last+1
	b.left, b.recs = 0, nil
	if attrs&0x20 != 0 {
		return true, nil // a control batch: a transaction's marker, no data
	}
	count := int32(binary.BigEndian.Uint32(batch[57:61]))
	recs := batch[batchHeader:]
	if codec := compress.Compression(attrs & 7); codec != compress.None {
		var err error
		if recs, err = b.inflate(codec, recs); err != nil {
			return false, err
		}
	}
	b.left, b.recs = count, recs
	return true, nil
}

// inflate decompresses a batch's records into b.inflated.
func (b *batchReader) inflate(c compress.Compression, data []byte) ([]byte, error) {
	if c == compress.Lz4 {
		out, ok, err := inflateLZ4(data, b.inflated[:0])
		if ok || err != nil {
			b.inflated = out
			return out, err
		}
	}
	codec := c.Codec()
	if codec == nil {
		return nil, fmt.Errorf("%w: compression codec %d", errMalformed, c)
	}
	b.src.Reset(data)
	zr := codec.NewReader(&b.src)
	defer zr.Close()
	out := b.inflated[:0]
	for {
		if len(out) == cap(out) {
			if cap(out) >= maxRecord {
				return nil, fmt.Errorf("%w: %s batch decompresses past %d bytes", errMalformed, codec.Name(), maxRecord)
			}
			out = slices.Grow(out, max(4*len(data), 64<<10))
		}
		n, err := zr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s batch: %v", errMalformed, codec.Name(), err)
		}
	}
	b.inflated = out
	return out, nil
}

// record reads the open batch's next record: its length, attributes,
// timestamp delta, offset delta, key and value (its headers are skipped
// with the rest of the record).
func (b *batchReader) record() (int64, []byte, error) {
	b.left--
	n, k := binary.Varint(b.recs)
	if k <= 0 || n < 1 || n > int64(len(b.recs)-k) {
		return 0, nil, fmt.Errorf("%w: record length", errMalformed)
	}
	rec := b.recs[k+1 : k+int(n)] // after the attributes
	b.recs = b.recs[k+int(n):]
	_, rec, ok := varintField(rec) // timestamp delta
	delta, rec, ok2 := varintField(rec)
	klen, rec, ok3 := varintField(rec)
	if !ok || !ok2 || !ok3 || klen > int64(len(rec)) {
		return 0, nil, fmt.Errorf("%w: record header", errMalformed)
	}
	rec = rec[max(klen, 0):]
	vlen, rec, ok := varintField(rec)
	if !ok || vlen > int64(len(rec)) {
		return 0, nil, fmt.Errorf("%w: record value", errMalformed)
	}
	return b.base + delta, rec[:max(vlen, 0):max(vlen, 0)], nil
}

// varintField reads a zigzag varint off p.
func varintField(p []byte) (int64, []byte, bool) {
	v, k := binary.Varint(p)
	if k <= 0 {
		return 0, p, false
	}
	return v, p[k:], true
}
