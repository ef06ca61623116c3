package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/buger/jsonparser"
)

// WireVersion is the version of the event wire encoding written by
// AppendWire. Decoders accept any version up to it; see docs/wire-format.md.
const WireVersion = 1

// Wire keys. They are part of the documented format: never rename one,
// add new keys instead (decoders ignore keys they do not know).
var wireKeys = [...]string{
	"v", "time", "source", "format", "client", "client_kind", "ip",
	"method", "host", "path", "route", "query", "status", "bytes_in",
	"bytes_out", "latency_us", "user_agent", "referer", "auth", "scheme",
	"tls_version", "api_version", "request_id", "truncated", "origin", "pos",
	"claimed",
}

// wireKey returns the index of a wire key in wireKeys, or -1. A switch
// compiles to a length-then-compare search that beats a map lookup (and
// its string hashing) by ~14% of a whole decode.
func wireKey(key []byte) int {
	switch string(key) {
	case "v":
		return wkVersion
	case "time":
		return wkTime
	case "source":
		return wkSource
	case "format":
		return wkFormat
	case "client":
		return wkClient
	case "client_kind":
		return wkClientKind
	case "ip":
		return wkIP
	case "method":
		return wkMethod
	case "host":
		return wkHost
	case "path":
		return wkPath
	case "route":
		return wkRoute
	case "query":
		return wkQuery
	case "status":
		return wkStatus
	case "bytes_in":
		return wkBytesIn
	case "bytes_out":
		return wkBytesOut
	case "latency_us":
		return wkLatency
	case "user_agent":
		return wkUserAgent
	case "referer":
		return wkReferer
	case "auth":
		return wkAuth
	case "scheme":
		return wkScheme
	case "tls_version":
		return wkTLS
	case "api_version":
		return wkAPIVersion
	case "request_id":
		return wkRequestID
	case "truncated":
		return wkTruncated
	case "origin":
		return wkOrigin
	case "pos":
		return wkPos
	case "claimed":
		return wkClaimed
	}
	return -1
}

const (
	wkVersion = iota
	wkTime
	wkSource
	wkFormat
	wkClient
	wkClientKind
	wkIP
	wkMethod
	wkHost
	wkPath
	wkRoute
	wkQuery
	wkStatus
	wkBytesIn
	wkBytesOut
	wkLatency
	wkUserAgent
	wkReferer
	wkAuth
	wkScheme
	wkTLS
	wkAPIVersion
	wkRequestID
	wkTruncated
	wkOrigin
	wkPos
	wkClaimed
)

// AppendWire appends the wire encoding of ev (one JSON object, no trailing
// newline) to dst. It allocates nothing when dst has room.
//
// JSON rather than a binary encoding: every consumer we care about (kcat,
// rsyslog, ClickHouse's JSONEachRow, jq in an incident) reads it, and a
// hand-rolled appender plus jsonparser decode at several hundred thousand
// events per second per core, far above what one Kafka partition carries.
func AppendWire(dst []byte, ev *Event) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, WireVersion, 10)
	dst = append(dst, `,"time":"`...)
	dst = ev.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	dst = appendStringField(dst, "source", ev.Source)
	dst = appendStringField(dst, "format", ev.Format)
	dst = appendStringField(dst, "client", ev.ClientKey)
	dst = appendStringField(dst, "client_kind", ev.ClientKind.String())
	switch {
	case ev.RemoteIP.Zone() != "":
		// A zone is whatever the log said: escaped like any string.
		dst = append(dst, `,"ip":`...)
		dst = AppendJSONString(dst, ev.RemoteIP.String())
	case ev.RemoteIP.IsValid():
		dst = append(dst, `,"ip":"`...)
		dst = ev.RemoteIP.AppendTo(dst)
		dst = append(dst, '"')
	}
	dst = appendStringField(dst, "method", ev.Method)
	dst = appendStringField(dst, "host", ev.Host)
	dst = appendStringField(dst, "path", ev.Path)
	dst = appendStringField(dst, "route", ev.Route)
	dst = appendStringField(dst, "query", ev.Query)
	dst = appendIntField(dst, "status", int64(ev.Status))
	dst = appendIntField(dst, "bytes_in", ev.BytesIn)
	dst = appendIntField(dst, "bytes_out", ev.BytesOut)
	dst = appendIntField(dst, "latency_us", ev.Latency.Microseconds())
	dst = appendStringField(dst, "user_agent", ev.UserAgent)
	dst = appendStringField(dst, "referer", ev.Referer)
	dst = appendStringField(dst, "auth", ev.Auth.String())
	dst = appendStringField(dst, "scheme", ev.Scheme)
	dst = appendStringField(dst, "tls_version", ev.TLSVersion)
	dst = appendStringField(dst, "api_version", ev.APIVersion)
	dst = appendStringField(dst, "request_id", ev.RequestID)
	dst = appendStringField(dst, "claimed", ev.ClaimedSubject)
	if ev.Truncated {
		dst = append(dst, `,"truncated":true`...)
	}
	if ev.Origin != 0 {
		dst = append(dst, `,"origin":"`...)
		dst = appendHex16(dst, ev.Origin)
		dst = append(dst, `","pos":`...)
		dst = strconv.AppendInt(dst, ev.Pos, 10)
	}
	return append(dst, '}')
}

// appendHex16 appends x as 16 lower-case hex digits.
func appendHex16(dst []byte, x uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, digits[(x>>uint(shift))&0xf])
	}
	return dst
}

func appendIntField(dst []byte, key string, v int64) []byte {
	if v == 0 {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return strconv.AppendInt(dst, v, 10)
}

func appendStringField(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return AppendJSONString(dst, v)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a quoted JSON string. Invalid UTF-8 is
// replaced by U+FFFD so the output is always valid JSON: log lines carry
// whatever bytes a client sent.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ErrWireVersion is returned for an encoding newer than this build knows.
var ErrWireVersion = errors.New("unsupported wire version")

// DecodeWire fills ev (which the caller has Reset) from one wire-encoded
// event, in either encoding (WireEncoding). Strings alias data, or ev's scratch buffer where they had escapes.
// Unknown keys are ignored so older decoders read newer minor additions.
func DecodeWire(data []byte, ev *Event) error {
	if len(data) > 0 && data[0] == binaryWireFirst {
		return decodeWireBinary(data, ev)
	}
	if version, ok := decodeWireFast(data, ev); ok {
		if err := checkWireDecoded(data, ev, version, nil); err == nil {
			return nil
		}
	}
	// Anything the fast path did not take whole (an error, an escape in
	// a key, a nested value, odd spacing) is decoded again by the
	// general parser, which also words the error.
	ev.Reset()
	version := int64(-1)
	err := jsonparser.ObjectEach(data, func(key, val []byte, typ jsonparser.ValueType, _ int) error {
		return decodeWireValue(ev, &version, wireKey(key), val, typ == jsonparser.String)
	})
	return checkWireDecoded(data, ev, version, err)
}

// decodeWireValue sets the field of ev that wire key idx (-1: unknown,
// ignored) names from val, the content of a JSON string when quoted, else
// the literal.
func decodeWireValue(ev *Event, version *int64, idx int, val []byte, quoted bool) error {
	switch idx {
	case -1:
		return nil
	case wkVersion, wkTime, wkStatus, wkBytesIn, wkBytesOut, wkLatency, wkIP, wkTruncated, wkOrigin, wkPos:
		return decodeWireParsed(ev, version, idx, val)
	}
	if !quoted {
		return fmt.Errorf("key %s: want a string", wireKeys[idx])
	}
	setWireString(ev, idx, wireString(ev, val))
	return nil
}

// setWireString sets the string field of ev that wire key idx names.
func setWireString(ev *Event, idx int, s string) {
	switch idx {
	case wkSource:
		ev.Source = s
	case wkFormat:
		ev.Format = s
	case wkClient:
		ev.ClientKey = s
	case wkClientKind:
		ev.ClientKind = ParseClientKind(s)
	case wkMethod:
		ev.Method = s
	case wkHost:
		ev.Host = s
	case wkPath:
		ev.Path = s
	case wkRoute:
		ev.Route = s
	case wkQuery:
		ev.Query = s
	case wkUserAgent:
		ev.UserAgent = s
	case wkReferer:
		ev.Referer = s
	case wkAuth:
		ev.Auth = ParseAuthOutcome(s)
	case wkScheme:
		ev.Scheme = s
	case wkTLS:
		ev.TLSVersion = s
	case wkAPIVersion:
		ev.APIVersion = s
	case wkRequestID:
		ev.RequestID = s
	case wkClaimed:
		ev.ClaimedSubject = s
	}
}

// decodeWireParsed sets the field of ev that wire key idx names from its
// value val, for the keys whose values are parsed rather than taken as
// strings: the version (into *version), time, status, sizes, latency, IP
// address and the truncated flag.
func decodeWireParsed(ev *Event, version *int64, idx int, val []byte) error {
	var err error
	switch idx {
	case wkVersion:
		*version, err = jsonparser.ParseInt(val)
	case wkTime:
		ev.Time, err = time.Parse(time.RFC3339Nano, bytesString(val))
	case wkStatus:
		var n int64
		n, err = jsonparser.ParseInt(val)
		ev.Status = int(n)
	case wkBytesIn:
		ev.BytesIn, err = jsonparser.ParseInt(val)
	case wkBytesOut:
		ev.BytesOut, err = jsonparser.ParseInt(val)
	case wkLatency:
		var us int64
		us, err = jsonparser.ParseInt(val)
		ev.Latency = time.Duration(us) * time.Microsecond
	case wkIP:
		ev.RemoteIP, err = netip.ParseAddr(wireString(ev, val)) // a zone may hold escapes
	case wkTruncated:
		ev.Truncated, err = jsonparser.ParseBoolean(val)
	case wkOrigin:
		ev.Origin, err = strconv.ParseUint(bytesString(val), 16, 64)
	case wkPos:
		ev.Pos, err = jsonparser.ParseInt(val)
	}
	if err != nil {
		return fmt.Errorf("key %s: %w", wireKeys[idx], err)
	}
	return nil
}

// checkWireDecoded turns the outcome of walking data's keys (err, the
// version seen, -1 for none) into DecodeWire's error: nil when ev is a
// complete event of a version this build reads.
func checkWireDecoded(data []byte, ev *Event, version int64, err error) error {
	switch {
	case err != nil && version < 0 && !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")):
		return errors.New("decode event: not a JSON object, no version key \"v\"")
	case err != nil:
		return fmt.Errorf("decode event: %w", err)
	case version < 0:
		return errors.New("decode event: no version key \"v\"")
	case version > WireVersion:
		return fmt.Errorf("decode event: %w %d (this build reads up to %d)", ErrWireVersion, version, WireVersion)
	case ev.Time.IsZero():
		return errors.New("decode event: no time")
	case ev.ClientKey == "":
		return errors.New("decode event: no client")
	}
	return nil
}

// wireString returns a JSON string value (without quotes) as a Go string,
// unescaping into ev's scratch buffer only when the value has escapes.
func wireString(ev *Event, val []byte) string {
	for _, c := range val {
		if c == '\\' {
			start := len(ev.scratch)
			ev.scratch = append(ev.scratch, val...) // room for the unescaped form
			out, err := jsonparser.Unescape(val, ev.scratch[start:start+len(val)])
			if err != nil {
				ev.scratch = ev.scratch[:start]
				return ev.AppendString(val)
			}
			if len(out) > 0 && &out[0] != &ev.scratch[start] {
				// Unescape allocated; keep the arena contract anyway.
				ev.scratch = ev.scratch[:start]
				return ev.AppendString(out)
			}
			ev.scratch = ev.scratch[:start+len(out)]
			return bytesString(ev.scratch[start:])
		}
	}
	return bytesString(val)
}
