package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// The PartitionReader's fetch, on the wire.
//
// kafka-go's Batch reads a fetched record batch through a bufio.Reader a
// varint byte at a time and copies each value out; a PartitionReader reads
// the whole response into one buffer it reuses and hands out values that
// point into it (or into the batch's decompressed records). Fetch version 4
// is the oldest that returns record batches (message format v2) as the
// broker stores them, without converting them, and every broker from 0.11
// to 4.x answers it.

const (
	apiKeyFetch  = 1
	fetchVersion = 4
	// maxResponse bounds a response's size as the broker states it: far
	// beyond MaxBytes, short of what a corrupt length could ask for.
	maxResponse = maxRecord
)

// errMalformed is the error of a response or record batch that does not
// parse: the connection is closed and the fetch tried again.
var errMalformed = errors.New("malformed fetch response")

// fetchRequest is what one fetch asks for: one partition, from an offset.
type fetchRequest struct {
	correlationID int32
	clientID      string
	topic         string
	partition     int32
	offset        int64
	maxWait       time.Duration
	maxBytes      int
}

// appendTo appends the request, its size first, to b.
func (q *fetchRequest) appendTo(b []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0) // the size, set at the end
	b = binary.BigEndian.AppendUint16(b, apiKeyFetch)
	b = binary.BigEndian.AppendUint16(b, fetchVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(q.correlationID))
	b = appendString(b, q.clientID)
	b = binary.BigEndian.AppendUint32(b, ^uint32(0)) // replica id -1: a consumer
	b = binary.BigEndian.AppendUint32(b, uint32(q.maxWait/time.Millisecond))
	b = binary.BigEndian.AppendUint32(b, 1) // min bytes
	b = binary.BigEndian.AppendUint32(b, uint32(q.maxBytes))
	b = append(b, 0)                        // read uncommitted, as kafka-go's readers
	b = binary.BigEndian.AppendUint32(b, 1) // one topic
	b = appendString(b, q.topic)
	b = binary.BigEndian.AppendUint32(b, 1) // one partition
	b = binary.BigEndian.AppendUint32(b, uint32(q.partition))
	b = binary.BigEndian.AppendUint64(b, uint64(q.offset))
	b = binary.BigEndian.AppendUint32(b, uint32(q.maxBytes))
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// appendString appends s as a Kafka STRING (int16 length).
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// fetchResult is what a fetch response says of the partition asked for.
type fetchResult struct {
	errCode       int16
	highWaterMark int64
	// records are the partition's record batches; the last may be cut
	// short by the fetch's size limit.
	records []byte
}

// readResponse reads one whole response from r into buf, grown when it is
// too small, and returns the buffer and the response's body after its
// correlation id, which must be want.
func readResponse(r io.Reader, buf []byte, want int32) ([]byte, []byte, error) {
	var head [8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return buf, nil, err
	}
	size := int64(binary.BigEndian.Uint32(head[:4]))
	if size < 4 || size > maxResponse {
		return buf, nil, fmt.Errorf("%w: response of %d bytes", errMalformed, size)
	}
	if id := int32(binary.BigEndian.Uint32(head[4:])); id != want {
		return buf, nil, fmt.Errorf("%w: correlation id %d, want %d", errMalformed, id, want)
	}
	n := int(size - 4)
	if cap(buf) < n {
		buf = make([]byte, n, n+n/4)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf, nil, err
	}
	return buf, buf, nil
}

// parseFetch finds topic's partition in a Fetch v4 response body.
func parseFetch(body []byte, topic string, partition int32) (fetchResult, error) {
	p := wireParser{b: body}
	p.skip(4) // throttle time
	for topics := p.int32(); topics > 0 && p.ok(); topics-- {
		name := p.str()
		for parts := p.int32(); parts > 0 && p.ok(); parts-- {
			id, code, hwm := p.int32(), p.int16(), p.int64()
			p.skip(8) // last stable offset
			if aborted := p.int32(); aborted > 0 {
				p.skip(16 * int(aborted))
			}
			records := p.bytes()
			if p.ok() && id == partition && string(name) == topic {
				return fetchResult{errCode: code, highWaterMark: hwm, records: records}, nil
			}
		}
	}
	if !p.ok() {
		return fetchResult{}, fmt.Errorf("%w: cut short", errMalformed)
	}
	return fetchResult{}, fmt.Errorf("%w: no answer for %s[%d]", errMalformed, topic, partition)
}

// wireParser reads Kafka's fixed-size fields off b; past the end it
// returns zeros and ok turns false.
type wireParser struct {
	b   []byte
	bad bool
}

func (p *wireParser) ok() bool { return !p.bad }

// next takes n bytes, or nil past the end.
func (p *wireParser) next(n int) []byte {
	if n < 0 || n > len(p.b) {
		p.bad, p.b = true, nil
		return nil
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v
}

func (p *wireParser) skip(n int) { p.next(n) }

func (p *wireParser) int16() int16 {
	if v := p.next(2); v != nil {
		return int16(binary.BigEndian.Uint16(v))
	}
	return 0
}

func (p *wireParser) int32() int32 {
	if v := p.next(4); v != nil {
		return int32(binary.BigEndian.Uint32(v))
	}
	return 0
}

func (p *wireParser) int64() int64 {
	if v := p.next(8); v != nil {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

// str reads a STRING (int16 length; -1 is null, read as empty).
func (p *wireParser) str() []byte {
	n := p.int16()
	if n < 0 {
		return nil
	}
	return p.next(int(n))
}

// bytes reads BYTES (int32 length; -1 is null, read as nil).
func (p *wireParser) bytes() []byte {
	n := p.int32()
	if n < 0 {
		return nil
	}
	return p.next(int(n))
}
