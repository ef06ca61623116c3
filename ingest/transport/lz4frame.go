package transport

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/pierrec/lz4/v4"
)

// inflateLZ4 decompresses an LZ4 frame (the lz4 codec of a record batch)
// block by block straight into out, without the frame reader's copies and
// without verifying its xxHash checksums (the connection is TCP, or TLS,
// whose own checks a corrupt byte does not pass; a corrupt block still
// fails to decompress). ok is false for a frame it leaves to the codec's
// reader: one whose blocks depend on each other (LZ4F's default; kafka-go
// and librdkafka write independent blocks), or with a dictionary, or not
// a frame at all.
func inflateLZ4(frame, out []byte) (_ []byte, ok bool, err error) {
	if len(frame) < 7 || binary.LittleEndian.Uint32(frame) != 0x184D2204 {
		return out, false, nil
	}
	flg, bd := frame[4], frame[5]
	const version, independent, blockSum, contentSize, dictID = 0xC0, 0x20, 0x10, 0x08, 0x01
	if flg&version != 0x40 || flg&independent == 0 || flg&dictID != 0 {
		return out, false, nil
	}
	code := int(bd >> 4 & 7)
	if code < 4 {
		return out, false, fmt.Errorf("%w: lz4 block size code %d", errMalformed, code)
	}
	maxBlock := 1 << (8 + 2*code) // 4: 64 KiB ... 7: 4 MiB
	p := frame[6:]
	if flg&contentSize != 0 {
		if len(p) < 9 {
			return out, false, fmt.Errorf("%w: lz4 frame header", errMalformed)
		}
		p = p[8:]
	}
	p = p[1:] // the header's checksum
	for {
		if len(p) < 4 {
			return out, false, fmt.Errorf("%w: lz4 frame cut short", errMalformed)
		}
		size := binary.LittleEndian.Uint32(p)
		p = p[4:]
		if size == 0 {
			return out, true, nil // the end mark (a content checksum may follow)
		}
		raw, n := size&0x80000000 != 0, int(size&0x7FFFFFFF)
		if n > len(p) || n > maxBlock {
			return out, false, fmt.Errorf("%w: lz4 block of %d bytes", errMalformed, n)
		}
		if len(out)+maxBlock > maxRecord {
			return out, false, fmt.Errorf("%w: lz4 batch decompresses past %d bytes", errMalformed, maxRecord)
		}
		out = slices.Grow(out, maxBlock)
		if raw {
			out = append(out, p[:n]...)
		} else {
			m, err := lz4.UncompressBlock(p[:n], out[len(out):len(out)+maxBlock])
			if err != nil {
				return out, false, fmt.Errorf("%w: lz4 block: %v", errMalformed, err)
			}
			out = out[:len(out)+m]
		}
		p = p[n:]
		if flg&blockSum != 0 {
			if len(p) < 4 {
				return out, false, fmt.Errorf("%w: lz4 frame cut short", errMalformed)
			}
			p = p[4:]
		}
	}
}
