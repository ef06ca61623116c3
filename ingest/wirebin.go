package ingest

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// WireEncoding names one of the two encodings of the event wire format:
// the same fields (docs/wire-format.md) as one JSON object, or as one
// Protocol Buffers message (docs/event.proto). DecodeWire reads both: a
// binary event starts with the byte 0x08 (field 1, the version), which no
// JSON text does. The zero value is WireBinary.
type WireEncoding uint8

// The encodings. Binary is the default on the Kafka topics: it encodes 5x
// and decodes 8x faster than JSON and is about a third smaller (see the
// benchmarks in wire_test.go), which is most of what detect and store spend
// per event. JSON is for topics that non-Go tools without a Protocol
// Buffers schema read (kcat, jq, rsyslog's omkafka).
const (
	WireBinary WireEncoding = iota
	WireJSON
)

// ParseWireEncoding reads "binary" (or "") and "json".
func ParseWireEncoding(s string) (WireEncoding, error) {
	switch s {
	case "", "binary", "protobuf":
		return WireBinary, nil
	case "json":
		return WireJSON, nil
	}
	return 0, fmt.Errorf("unknown wire encoding %q (want binary or json)", s)
}

// String returns the name ParseWireEncoding reads.
func (e WireEncoding) String() string {
	if e == WireJSON {
		return "json"
	}
	return "binary"
}

// Append appends ev in encoding e to dst.
func (e WireEncoding) Append(dst []byte, ev *Event) []byte {
	if e == WireJSON {
		return AppendWire(dst, ev)
	}
	return AppendWireBinary(dst, ev)
}

// Field numbers of the binary encoding (docs/event.proto). Part of the
// format: never renumber one.
const (
	pbVersion    protowire.Number = 1
	pbTimeSec    protowire.Number = 2
	pbTimeNanos  protowire.Number = 3
	pbSource     protowire.Number = 4
	pbFormat     protowire.Number = 5
	pbClient     protowire.Number = 6
	pbClientKind protowire.Number = 7
	pbIP         protowire.Number = 8
	pbIPZone     protowire.Number = 9
	pbMethod     protowire.Number = 10
	pbHost       protowire.Number = 11
	pbPath       protowire.Number = 12
	pbRoute      protowire.Number = 13
	pbQuery      protowire.Number = 14
	pbStatus     protowire.Number = 15
	pbBytesIn    protowire.Number = 16
	pbBytesOut   protowire.Number = 17
	pbLatency    protowire.Number = 18
	pbUserAgent  protowire.Number = 19
	pbReferer    protowire.Number = 20
	pbAuth       protowire.Number = 21
	pbScheme     protowire.Number = 22
	pbTLS        protowire.Number = 23
	pbAPIVersion protowire.Number = 24
	pbRequestID  protowire.Number = 25
	pbClaimed    protowire.Number = 26
	pbTruncated  protowire.Number = 27
	pbOrigin     protowire.Number = 28
	pbPos        protowire.Number = 29
)

// binaryWireFirst is the first byte of every binary event: the tag of
// field 1 (the version) as a varint.
const binaryWireFirst = byte(pbVersion<<3) | byte(protowire.VarintType)

// AppendWireBinary appends the binary wire encoding of ev (one Protocol
// Buffers message of docs/event.proto, fields in number order, zero values
// omitted, invalid UTF-8 replaced by U+FFFD as in AppendWire) to dst. It
// allocates nothing when dst has room.
func AppendWireBinary(dst []byte, ev *Event) []byte {
	dst = appendPBVarint(dst, pbVersion, WireVersion)
	t := ev.Time.UTC()
	dst = pbAppendTag(dst, pbTimeSec, protowire.VarintType) // even at 0: a time is required
	dst = protowire.AppendVarint(dst, uint64(t.Unix()))
	dst = appendPBVarint(dst, pbTimeNanos, uint64(t.Nanosecond()))
	dst = appendPBString(dst, pbSource, ev.Source)
	dst = appendPBString(dst, pbFormat, ev.Format)
	dst = appendPBString(dst, pbClient, ev.ClientKey)
	dst = appendPBVarint(dst, pbClientKind, uint64(ev.ClientKind))
	if ev.RemoteIP.IsValid() {
		dst = pbAppendTag(dst, pbIP, protowire.BytesType)
		dst = appendPBAddr(dst, ev.RemoteIP)
		dst = appendPBString(dst, pbIPZone, ev.RemoteIP.Zone())
	}
	dst = appendPBString(dst, pbMethod, ev.Method)
	dst = appendPBString(dst, pbHost, ev.Host)
	dst = appendPBString(dst, pbPath, ev.Path)
	dst = appendPBString(dst, pbRoute, ev.Route)
	dst = appendPBString(dst, pbQuery, ev.Query)
	dst = appendPBVarint(dst, pbStatus, uint64(int64(ev.Status)))
	dst = appendPBVarint(dst, pbBytesIn, uint64(ev.BytesIn))
	dst = appendPBVarint(dst, pbBytesOut, uint64(ev.BytesOut))
	dst = appendPBVarint(dst, pbLatency, uint64(ev.Latency.Microseconds()))
	dst = appendPBString(dst, pbUserAgent, ev.UserAgent)
	dst = appendPBString(dst, pbReferer, ev.Referer)
	dst = appendPBVarint(dst, pbAuth, uint64(ev.Auth))
	dst = appendPBString(dst, pbScheme, ev.Scheme)
	dst = appendPBString(dst, pbTLS, ev.TLSVersion)
	dst = appendPBString(dst, pbAPIVersion, ev.APIVersion)
	dst = appendPBString(dst, pbRequestID, ev.RequestID)
	dst = appendPBString(dst, pbClaimed, ev.ClaimedSubject)
	if ev.Truncated {
		dst = appendPBVarint(dst, pbTruncated, 1)
	}
	if ev.Origin != 0 {
		dst = protowire.AppendTag(dst, pbOrigin, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, ev.Origin)
		dst = appendPBVarint(dst, pbPos, uint64(ev.Pos))
	}
	return dst
}

// appendPBVarint appends field num with value v, unless v is zero.
func appendPBVarint(dst []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return dst
	}
	dst = pbAppendTag(dst, num, protowire.VarintType)
	return pbAppendVarint(dst, v)
}

// pbAppendTag is protowire.AppendTag with the one-byte tags of field
// numbers up to 15 (all but three of an event's) appended inline.
func pbAppendTag(dst []byte, num protowire.Number, typ protowire.Type) []byte {
	if num < 16 {
		return append(dst, byte(num)<<3|byte(typ))
	}
	return protowire.AppendTag(dst, num, typ)
}

// pbAppendVarint is protowire.AppendVarint with values below 16,384 (most
// lengths, codes and statuses) appended inline.
func pbAppendVarint(dst []byte, v uint64) []byte {
	if v < 0x80 {
		return append(dst, byte(v))
	}
	if v < 0x4000 {
		return append(dst, byte(v)|0x80, byte(v>>7))
	}
	return protowire.AppendVarint(dst, v)
}

// isASCII reports whether s is all ASCII, reading 32 bytes a step: most
// of an event's strings are, and utf8.ValidString, which takes 8 bytes a
// step, cost a third of encoding one.
func isASCII(s string) bool {
	i := 0
	for ; i+32 <= len(s); i += 32 {
		if (le64(s[i:])|le64(s[i+8:])|le64(s[i+16:])|le64(s[i+24:]))&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i+8 <= len(s); i += 8 {
		if le64(s[i:])&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// le64 reads the first 8 bytes of s as a little-endian word (one load).
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// appendPBAddr appends a's 4 or 16 bytes, length first.
func appendPBAddr(dst []byte, a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return protowire.AppendBytes(dst, b[:])
	}
	b := a.As16()
	return protowire.AppendBytes(dst, b[:])
}

// appendPBString appends field num with value s, unless s is empty; each
// byte of invalid UTF-8 becomes U+FFFD, as AppendJSONString does.
func appendPBString(dst []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return dst
	}
	dst = pbAppendTag(dst, num, protowire.BytesType)
	if isASCII(s) || utf8.ValidString(s) {
		return append(pbAppendVarint(dst, uint64(len(s))), s...)
	}
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			n += len(string(utf8.RuneError))
		} else {
			n += size
		}
		i += size
	}
	dst = protowire.AppendVarint(dst, uint64(n))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

// decodeWireBinary fills ev (Reset by the caller) from a binary event.
// Strings alias data. Unknown fields are skipped, so older decoders read
// newer minor additions. An absent time reads as the Unix epoch, as proto3
// reads any absent field as zero.
func decodeWireBinary(data []byte, ev *Event) error {
	version, sec, nanos := int64(-1), int64(0), int64(0)
	for len(data) > 0 {
		num, typ, n := pbTag(data)
		if n < 0 {
			return errBinaryTruncated
		}
		data = data[n:]
		switch typ {
		case protowire.VarintType:
			var v uint64
			if v, n = pbVarint(data); n > 0 {
				switch num {
				case pbVersion:
					version = int64(v)
				case pbTimeSec:
					sec = int64(v)
				case pbTimeNanos:
					nanos = int64(v)
				default:
					setPBVarint(ev, num, v)
				}
			}
		case protowire.BytesType:
			n = pbBytes(ev, num, data)
		default:
			n = pbSkip(ev, num, typ, data)
		}
		if n < 0 {
			return pbError(n)
		}
		data = data[n:]
	}
	return checkBinaryDecoded(ev, version, sec, nanos)
}

// pbTag reads a field's tag: a byte for field numbers up to 15, two up to
// 2047, read inline.
func pbTag(data []byte) (protowire.Number, protowire.Type, int) {
	c := data[0]
	if c < 0x80 {
		return protowire.Number(c >> 3), protowire.Type(c & 7), 1
	}
	if len(data) > 1 && data[1] < 0x80 && data[1] != 0 {
		v := uint64(c&0x7f) | uint64(data[1])<<7
		return protowire.Number(v >> 3), protowire.Type(v & 7), 2
	}
	return protowire.ConsumeTag(data)
}

// pbVarint reads a varint: a byte for values below 128, two (a status, a
// path's or user agent's length) below 16,384, read inline.
func pbVarint(data []byte) (uint64, int) {
	if len(data) > 0 && data[0] < 0x80 {
		return uint64(data[0]), 1
	}
	if len(data) > 1 && data[1] < 0x80 && data[1] != 0 {
		return uint64(data[0]&0x7f) | uint64(data[1])<<7, 2
	}
	return protowire.ConsumeVarint(data)
}

// pbBytes reads a length-delimited field into ev and returns its size, or
// a negative protowire error, or errNotAddr for a bad address.
func pbBytes(ev *Event, num protowire.Number, data []byte) int {
	l, n := pbVarint(data)
	if n < 0 || l > uint64(len(data)-n) {
		return -1
	}
	b := data[n : n+int(l)]
	if num == pbIP && !setPBAddr(ev, b) {
		return errNotAddr
	}
	setPBBytes(ev, num, b)
	return n + int(l)
}

// pbSkip reads a fixed-size or group field (only origin is one of ours).
func pbSkip(ev *Event, num protowire.Number, typ protowire.Type, data []byte) int {
	if typ == protowire.Fixed64Type && num == pbOrigin {
		v, n := protowire.ConsumeFixed64(data)
		ev.Origin = v
		return n
	}
	return protowire.ConsumeFieldValue(num, typ, data)
}

// errNotAddr is pbBytes's result for an ip field of neither 4 nor 16 bytes.
const errNotAddr = -1000

// errBinaryTruncated is the error for a binary event cut short.
var errBinaryTruncated = errors.New("decode event: binary event cut short or malformed")

// pbError words a negative field size.
func pbError(n int) error {
	if n == errNotAddr {
		return errors.New("decode event: field ip: want 4 or 16 bytes")
	}
	return errBinaryTruncated
}

// checkBinaryDecoded sets ev's time and checks the decoded event as
// checkWireDecoded does a JSON one.
func checkBinaryDecoded(ev *Event, version, sec, nanos int64) error {
	if nanos < 0 || nanos >= int64(time.Second) {
		return errors.New("decode event: time nanoseconds out of range")
	}
	ev.Time = time.Unix(sec, nanos).UTC()
	if y := ev.Time.Year(); y < 0 || y > 9999 {
		// What RFC 3339, hence the JSON encoding, can write.
		return errors.New("decode event: time out of range (years 0 to 9999)")
	}
	return checkWireDecoded(nil, ev, version, nil)
}

// setPBVarint sets the integer field num of ev. An enum value this build
// does not know decodes as unknown.
func setPBVarint(ev *Event, num protowire.Number, v uint64) {
	switch num {
	case pbClientKind:
		if v < uint64(len(clientKindNames)) {
			ev.ClientKind = ClientKind(v)
		}
	case pbStatus:
		ev.Status = int(int64(v))
	case pbBytesIn:
		ev.BytesIn = int64(v)
	case pbBytesOut:
		ev.BytesOut = int64(v)
	case pbLatency:
		ev.Latency = time.Duration(int64(v)) * time.Microsecond
	case pbAuth:
		if v < uint64(len(authNames)) {
			ev.Auth = AuthOutcome(v)
		}
	case pbTruncated:
		ev.Truncated = v != 0
	case pbPos:
		ev.Pos = int64(v)
	}
}

// setPBBytes sets the string field num of ev from b (the address is set
// by setPBAddr).
func setPBBytes(ev *Event, num protowire.Number, b []byte) {
	if num == pbIPZone {
		if ev.RemoteIP.Is6() {
			ev.RemoteIP = ev.RemoteIP.WithZone(bytesString(b))
		}
		return
	}
	if f := pbStringField(ev, num); f != nil {
		*f = bytesString(b)
	}
}

// setPBAddr sets ev.RemoteIP from its 4 or 16 bytes, or reports that b is
// neither.
func setPBAddr(ev *Event, b []byte) bool {
	switch len(b) {
	case 4:
		ev.RemoteIP = netip.AddrFrom4([4]byte(b))
	case 16:
		ev.RemoteIP = netip.AddrFrom16([16]byte(b))
	default:
		return false
	}
	return true
}

// pbStringField returns ev's string field of number num, nil for a
// number that is not one: one switch, where going through the JSON
// codec's key index (setWireString) took two.
func pbStringField(ev *Event, num protowire.Number) *string {
	switch num {
	case pbSource:
		return &ev.Source
	case pbFormat:
		return &ev.Format
	case pbClient:
		return &ev.ClientKey
	case pbMethod:
		return &ev.Method
	case pbHost:
		return &ev.Host
	case pbPath:
		return &ev.Path
	case pbRoute:
		return &ev.Route
	case pbQuery:
		return &ev.Query
	case pbUserAgent:
		return &ev.UserAgent
	case pbReferer:
		return &ev.Referer
	case pbScheme:
		return &ev.Scheme
	case pbTLS:
		return &ev.TLSVersion
	case pbAPIVersion:
		return &ev.APIVersion
	case pbRequestID:
		return &ev.RequestID
	case pbClaimed:
		return &ev.ClaimedSubject
	}
	return nil
}
