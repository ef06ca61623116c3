package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// State record framing. The header is small and versioned on its own, so
// it can grow without touching the engine's snapshot format.
const (
	stateMagic   = "GWGS"
	stateVersion = 1
)

// errState is wrapped by decodeState's errors.
var errState = errors.New("invalid state record")

// stateHeader is what a state record says besides the engine snapshot.
type stateHeader struct {
	// Offset is the offset of the last event folded into the snapshot:
	// the partition resumes at Offset+1.
	Offset int64
	// Findings is how many findings the partition had produced.
	Findings uint64
	// Newest is the engine's newest event time (Unix ns, including idle
	// advances), from which the next idle advance counts; 0 if none.
	Newest int64
	// NextIndex is the index the next finding attributed to Offset gets in
	// its seq (findings of an idle advance after that event), so a
	// restored partition does not reuse a seq.
	NextIndex uint64
}

// stateKey is the state topic's key of an events topic partition.
func stateKey(eventsTopic string, partition int) string {
	return eventsTopic + "/" + strconv.Itoa(partition)
}

// appendState appends the header of a state record to b; the snapshot
// follows it.
func appendState(b []byte, h stateHeader) []byte {
	b = append(b, stateMagic...)
	b = append(b, stateVersion)
	b = binary.AppendVarint(b, h.Offset)
	b = binary.AppendUvarint(b, h.Findings)
	b = binary.AppendVarint(b, h.Newest)
	return binary.AppendUvarint(b, h.NextIndex)
}

// decodeState splits a state record into its header and snapshot. The
// snapshot aliases data.
func decodeState(data []byte) (stateHeader, []byte, error) {
	var h stateHeader
	if len(data) < len(stateMagic)+1 || string(data[:len(stateMagic)]) != stateMagic {
		return h, nil, fmt.Errorf("%w: no header", errState)
	}
	if v := data[len(stateMagic)]; v != stateVersion {
		return h, nil, fmt.Errorf("%w: version %d, this build reads %d", errState, v, stateVersion)
	}
	b := data[len(stateMagic)+1:]
	var n int
	// -1: nothing folded yet (a backfill of an empty partition).
	if h.Offset, n = binary.Varint(b); n <= 0 || h.Offset < -1 {
		return h, nil, fmt.Errorf("%w: bad offset", errState)
	}
	b = b[n:]
	if h.Findings, n = binary.Uvarint(b); n <= 0 {
		return h, nil, fmt.Errorf("%w: bad findings count", errState)
	}
	b = b[n:]
	if h.Newest, n = binary.Varint(b); n <= 0 {
		return h, nil, fmt.Errorf("%w: bad newest time", errState)
	}
	b = b[n:]
	if h.NextIndex, n = binary.Uvarint(b); n <= 0 {
		return h, nil, fmt.Errorf("%w: bad finding index", errState)
	}
	return h, b[n:], nil
}
