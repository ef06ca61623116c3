// Package binenc holds what gatewatch's binary checkpoint formats share:
// the detect Engine's snapshots and detect/series' Scorer checkpoints.
// Integers are encoding/binary varints, floats their little-endian IEEE
// 754 bit patterns (so a restored state is bit-identical), and a
// checkpoint ends with the CRC-32C of everything before it.
package binenc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Seal appends the checksum of b[start:] to b.
func Seal(b []byte, start int) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// Unseal checks the checksum that ends data and returns what it covers.
func Unseal(data []byte) ([]byte, error) {
	if len(data) < 4 {
		return nil, errors.New("truncated")
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errors.New("checksum mismatch (truncated or corrupted)")
	}
	return body, nil
}

// AppendFloat appends the bit patterns of fs.
func AppendFloat(b []byte, fs ...float64) []byte {
	for _, f := range fs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

// Reader reads a checkpoint's fields in order. The first error sticks and
// later reads return zeros, so a decoder reads field after field and
// checks Err once.
type Reader struct {
	B   []byte // what is left to read
	Err error  // the first error, wrapping Wrap
	// Wrap is the error every error of the Reader wraps: the format's
	// "invalid checkpoint" sentinel.
	Wrap error
}

// Fail records what went wrong unless an error already did, and returns
// the Reader's error.
func (r *Reader) Fail(what string) error {
	if r.Err == nil {
		if r.Wrap != nil {
			r.Err = fmt.Errorf("%w: %s", r.Wrap, what)
		} else {
			r.Err = errors.New(what)
		}
	}
	return r.Err
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.Err != nil {
		return 0
	}
	if len(r.B) == 0 {
		r.Fail("truncated")
		return 0
	}
	x := r.B[0]
	r.B = r.B[1:]
	return x
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.Err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.B)
	if n <= 0 {
		r.Fail("truncated or overlong varint")
		return 0
	}
	r.B = r.B[n:]
	return x
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	if r.Err != nil {
		return 0
	}
	x, n := binary.Varint(r.B)
	if n <= 0 {
		r.Fail("truncated or overlong varint")
		return 0
	}
	r.B = r.B[n:]
	return x
}

// Float reads a float's bit pattern; it may be NaN or infinite.
func (r *Reader) Float() float64 {
	if r.Err != nil {
		return 0
	}
	if len(r.B) < 8 {
		r.Fail("truncated")
		return 0
	}
	x := math.Float64frombits(binary.LittleEndian.Uint64(r.B))
	r.B = r.B[8:]
	return x
}

// Bytes reads n bytes, which alias the input.
func (r *Reader) Bytes(n uint64) []byte {
	if r.Err != nil {
		return nil
	}
	if uint64(len(r.B)) < n {
		r.Fail("truncated")
		return nil
	}
	v := r.B[:n]
	r.B = r.B[n:]
	return v
}
