package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

func wireCases() []struct {
	name string
	ev   Event
} {
	full := wireSample()
	full.Origin, full.Pos = 0x8f3a_0000_0000_0001, 123_456
	minimal := Event{Time: full.Time, ClientKey: "198.51.100.2", ClientKind: ClientIP, Status: 404}
	epoch := Event{Time: time.Unix(0, 0).UTC(), ClientKey: "a"}
	before := Event{Time: time.Date(1960, 1, 2, 3, 4, 5, 6, time.UTC), ClientKey: "a", Latency: -time.Millisecond, BytesOut: -1}
	ipv6 := full
	ipv6.RemoteIP = netip.MustParseAddr("2001:db8::1")
	zoned := full
	zoned.RemoteIP = netip.MustParseAddr("fe80::1%eth0")
	mapped := full
	mapped.RemoteIP = netip.MustParseAddr("::ffff:192.0.2.1")
	ctrl := full
	ctrl.Path = "/a\x00b\x1fc"
	truncated := full
	truncated.Truncated = true
	return []struct {
		name string
		ev   Event
	}{{"full", full}, {"minimal", minimal}, {"epoch", epoch}, {"before 1970, negative numbers", before},
		{"ipv6", ipv6}, {"ipv6 zone", zoned}, {"ipv4-mapped", mapped}, {"control bytes", ctrl}, {"truncated", truncated}}
}

// TestWireBinaryRoundTrip: each event decodes from its binary encoding as
// it was, and as it does from its JSON encoding.
func TestWireBinaryRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range wireCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := AppendWireBinary(nil, &tc.ev)
			if data[0] != binaryWireFirst {
				t.Fatalf("first byte %#x, want %#x", data[0], binaryWireFirst)
			}
			var got, viaJSON Event
			if err := DecodeWire(data, &got); err != nil {
				t.Fatalf("DecodeWire(%x): %v", data, err)
			}
			if err := DecodeWire(AppendWire(nil, &tc.ev), &viaJSON); err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(tc.ev.Time) {
				t.Fatalf("time %v, want %v", got.Time, tc.ev.Time)
			}
			got.Time, viaJSON.Time = tc.ev.Time, tc.ev.Time
			if !reflect.DeepEqual(got.Clone(), tc.ev.Clone()) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tc.ev)
			}
			if !reflect.DeepEqual(got.Clone(), viaJSON.Clone()) {
				t.Fatalf("binary and JSON decode differently:\n binary %+v\n   json %+v", got, viaJSON)
			}
		})
	}
}

func TestWireBinaryInvalidUTF8(t *testing.T) {
	t.Parallel()
	ev := wireSample()
	ev.UserAgent = "bad\xff\xfeagent\xe2\x82"
	var got, viaJSON Event
	if err := DecodeWire(AppendWireBinary(nil, &ev), &got); err != nil {
		t.Fatal(err)
	}
	if err := DecodeWire(AppendWire(nil, &ev), &viaJSON); err != nil {
		t.Fatal(err)
	}
	if got.UserAgent != "bad\ufffd\ufffdagent\ufffd\ufffd" || got.UserAgent != viaJSON.UserAgent {
		t.Fatalf("user agent %q (JSON: %q)", got.UserAgent, viaJSON.UserAgent)
	}
}

func TestDecodeWireBinaryErrors(t *testing.T) {
	t.Parallel()
	ev := wireSample()
	good := AppendWireBinary(nil, &ev)
	noClient := ev
	noClient.ClientKey = ""
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"cut short", good[:len(good)-3], "cut short"},
		{"only the version", []byte{0x08, 0x01}, "no client"},
		{"future version", []byte{0x08, 0x02, 0x10, 0x01, 0x32, 0x01, 'a'}, "unsupported wire version"},
		{"no client", AppendWireBinary(nil, &noClient), "no client"},
		{"address of 5 bytes", []byte{0x08, 0x01, 0x10, 0x01, 0x32, 0x01, 'a', 0x42, 0x05, 1, 2, 3, 4, 5}, "want 4 or 16"},
		{"nanoseconds out of range", []byte{0x08, 0x01, 0x10, 0x01, 0x18, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0x32, 0x01, 'a'}, "out of range"},
		{"year 54461", []byte{0x08, 0x01, 0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0xc0, 0x01, 0x32, 0x01, 'a'}, "out of range"},
		{"varint overflow", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "cut short"},
		{"group wire type", []byte{0x08, 0x01, 0x0b}, "cut short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ev Event
			err := DecodeWire(tc.in, &ev)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeWire(%x) = %v, want error containing %q", tc.in, err, tc.want)
			}
		})
	}
	var out Event
	if err := DecodeWire([]byte{0x08, 0x09, 0x10, 0x01, 0x32, 0x01, 'a'}, &out); !errors.Is(err, ErrWireVersion) {
		t.Fatalf("got %v, want ErrWireVersion", err)
	}
}

// TestWireBinarySkipsUnknownFields: a newer writer's extra fields (any
// wire type) are skipped, as the JSON decoder skips unknown keys.
func TestWireBinarySkipsUnknownFields(t *testing.T) {
	t.Parallel()
	ev := wireSample()
	data := AppendWireBinary(nil, &ev)
	data = append(data, 0xf8, 0x03, 0x07)           // field 63, varint
	data = append(data, 0x82, 0x04, 0x02, 'h', 'i') // field 64, bytes
	data = append(data, 0x8d, 0x04, 1, 2, 3, 4)     // field 65, fixed32
	var got Event
	if err := DecodeWire(data, &got); err != nil {
		t.Fatal(err)
	}
	got.Time = ev.Time
	if !reflect.DeepEqual(got.Clone(), ev.Clone()) {
		t.Fatalf("got %+v\nwant %+v", got, ev)
	}
}

// TestWireBinaryMatchesProtoFile keeps docs/event.proto honest: the
// official Protocol Buffers library, given the schema read from that file,
// decodes what AppendWireBinary writes to the values of the JSON encoding
// (docs/wire-format.md), and what the library writes decodes back.
func TestWireBinaryMatchesProtoFile(t *testing.T) {
	t.Parallel()
	md := eventDescriptor(t)
	for _, tc := range wireCases() {
		t.Run(tc.name, func(t *testing.T) {
			msg := dynamicpb.NewMessage(md)
			if err := proto.Unmarshal(AppendWireBinary(nil, &tc.ev), msg); err != nil {
				t.Fatal(err)
			}
			checkProtoFields(t, msg, &tc.ev)
			out, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			var got Event
			if err := DecodeWire(out, &got); err != nil {
				t.Fatalf("decode what the library wrote: %v", err)
			}
			got.Time = tc.ev.Time
			if !reflect.DeepEqual(got.Clone(), tc.ev.Clone()) {
				t.Fatalf("library's encoding decodes to\n %+v\nwant %+v", got, tc.ev)
			}
		})
	}
}

// checkProtoFields compares the fields the library decoded with ev.
func checkProtoFields(t *testing.T, msg *dynamicpb.Message, ev *Event) {
	t.Helper()
	fields := msg.Descriptor().Fields()
	get := func(name string) protoreflect.Value { return msg.Get(fields.ByName(protoreflect.Name(name))) }
	sec, nanos := get("time_sec").Int(), get("time_nanos").Int()
	if !time.Unix(sec, nanos).Equal(ev.Time) {
		t.Errorf("time %d.%09d, want %v", sec, nanos, ev.Time)
	}
	strs := map[string]string{"source": ev.Source, "format": ev.Format, "client": ev.ClientKey, "method": ev.Method,
		"host": ev.Host, "path": ev.Path, "route": ev.Route, "query": ev.Query, "user_agent": ev.UserAgent,
		"referer": ev.Referer, "scheme": ev.Scheme, "tls_version": ev.TLSVersion, "api_version": ev.APIVersion,
		"request_id": ev.RequestID, "claimed": ev.ClaimedSubject, "ip_zone": ev.RemoteIP.Zone()}
	for name, want := range strs {
		if got := get(name).String(); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	ints := map[string]int64{"v": WireVersion, "status": int64(ev.Status), "bytes_in": ev.BytesIn,
		"bytes_out": ev.BytesOut, "latency_us": ev.Latency.Microseconds(), "pos": ev.Pos}
	for name, want := range ints {
		if got := get(name).Int(); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if got := get("origin").Uint(); got != ev.Origin {
		t.Errorf("origin %x, want %x", got, ev.Origin)
	}
	if got := get("truncated").Bool(); got != ev.Truncated {
		t.Errorf("truncated %v", got)
	}
	checkProtoEnums(t, msg, ev)
	if ip := get("ip").Bytes(); ev.RemoteIP.IsValid() && !reflect.DeepEqual(ip, ev.RemoteIP.AsSlice()) {
		t.Errorf("ip %x, want %s", ip, ev.RemoteIP)
	}
}

// checkProtoEnums compares the enum fields by name: CLIENT_KIND_API_KEY
// is the JSON encoding's "api_key".
func checkProtoEnums(t *testing.T, msg *dynamicpb.Message, ev *Event) {
	t.Helper()
	for _, e := range []struct{ field, prefix, want string }{
		{"client_kind", "CLIENT_KIND_", ev.ClientKind.String()},
		{"auth", "AUTH_", ev.Auth.String()},
	} {
		fd := msg.Descriptor().Fields().ByName(protoreflect.Name(e.field))
		v := fd.Enum().Values().ByNumber(msg.Get(fd).Enum())
		if v == nil || !strings.EqualFold(strings.TrimPrefix(string(v.Name()), e.prefix), e.want) {
			t.Errorf("%s = %v, want %s", e.field, v, e.want)
		}
	}
}

// eventDescriptor reads docs/event.proto (its message and enums: the
// subset of the language it uses) into a message descriptor.
func eventDescriptor(t *testing.T) protoreflect.MessageDescriptor {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "docs", "event.proto"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fdp := &descriptorpb.FileDescriptorProto{Name: proto.String("event.proto"), Package: proto.String("gatewatch.wire.v1"),
		Syntax: proto.String("proto3")}
	readProtoFile(t, bufio.NewScanner(f), fdp)
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatalf("docs/event.proto: %v", err)
	}
	return fd.Messages().ByName("Event")
}

var (
	protoBlock = regexp.MustCompile(`^(message|enum) (\w+) \{`)
	protoField = regexp.MustCompile(`^(\w+) (\w+) = (\d+);`)
	protoValue = regexp.MustCompile(`^(\w+) = (\d+);`)
	protoTypes = map[string]descriptorpb.FieldDescriptorProto_Type{"int64": descriptorpb.FieldDescriptorProto_TYPE_INT64,
		"string": descriptorpb.FieldDescriptorProto_TYPE_STRING, "bytes": descriptorpb.FieldDescriptorProto_TYPE_BYTES,
		"bool": descriptorpb.FieldDescriptorProto_TYPE_BOOL, "fixed64": descriptorpb.FieldDescriptorProto_TYPE_FIXED64}
)

// readProtoFile adds the message and enums of a .proto text to fdp.
func readProtoFile(t *testing.T, sc *bufio.Scanner, fdp *descriptorpb.FileDescriptorProto) {
	t.Helper()
	var msg *descriptorpb.DescriptorProto
	var enum *descriptorpb.EnumDescriptorProto
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := protoBlock.FindStringSubmatch(line); m != nil && m[1] == "message" {
			msg = &descriptorpb.DescriptorProto{Name: proto.String(m[2])}
			fdp.MessageType = append(fdp.MessageType, msg)
		} else if m != nil {
			enum = &descriptorpb.EnumDescriptorProto{Name: proto.String(m[2])}
			fdp.EnumType = append(fdp.EnumType, enum)
			msg = nil
		} else if m := protoField.FindStringSubmatch(line); m != nil && msg != nil {
			msg.Field = append(msg.Field, protoFieldOf(m[1], m[2], m[3]))
		} else if m := protoValue.FindStringSubmatch(line); m != nil && enum != nil {
			n, _ := strconv.Atoi(m[2])
			enum.Value = append(enum.Value, &descriptorpb.EnumValueDescriptorProto{Name: proto.String(m[1]), Number: proto.Int32(int32(n))})
		}
	}
	if len(fdp.MessageType) != 1 || len(fdp.MessageType[0].Field) < 29 || len(fdp.EnumType) != 2 {
		t.Fatalf("docs/event.proto: read %d messages, %d enums", len(fdp.MessageType), len(fdp.EnumType))
	}
}

// protoFieldOf is the descriptor of a singular proto3 field.
func protoFieldOf(typ, name, num string) *descriptorpb.FieldDescriptorProto {
	n, _ := strconv.Atoi(num)
	fd := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(int32(n)),
		Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), JsonName: proto.String(name)}
	if pt, ok := protoTypes[typ]; ok {
		fd.Type = pt.Enum()
	} else {
		fd.Type = descriptorpb.FieldDescriptorProto_TYPE_ENUM.Enum()
		fd.TypeName = proto.String(".gatewatch.wire.v1." + typ)
	}
	return fd
}

func FuzzDecodeWireBinary(f *testing.F) {
	for _, tc := range wireCases() {
		f.Add(AppendWireBinary(nil, &tc.ev))
	}
	f.Add([]byte{0x08, 0x01, 0x10, 0x01, 0x32, 0x01, 'a', 0x62, 0x02, 0xff, 0xfe})
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev Event
		if err := DecodeWire(data, &ev); err != nil {
			return
		}
		// Whatever decodes must re-encode, in both encodings, to an event
		// that decodes the same.
		for _, enc := range []WireEncoding{WireBinary, WireJSON} {
			var again Event
			out := enc.Append(nil, &ev)
			if err := DecodeWire(out, &again); err != nil {
				t.Fatalf("%s re-decode: %v (%x)", enc, err, out)
			}
			// A position means nothing without its file: encoders write
			// pos only with an origin.
			if again.ClientKey != perByteValid(ev.ClientKey) || again.Status != ev.Status ||
				again.Origin != ev.Origin || ev.Origin != 0 && again.Pos != ev.Pos ||
				again.RemoteIP.WithZone("") != ev.RemoteIP.WithZone("") ||
				again.RemoteIP.Zone() != perByteValid(ev.RemoteIP.Zone()) || !again.Time.Equal(ev.Time) {
				t.Fatalf("%s: %+v -> %+v", enc, ev, again)
			}
		}
		if ev.Bound() && !ev.Truncated {
			t.Fatal("Bound cut a field without marking the event")
		}
		checkBounded(t, &ev)
	})
}

func BenchmarkWireEncodeBinary(b *testing.B) { benchWireEncode(b, WireBinary) }
func BenchmarkWireDecodeBinary(b *testing.B) { benchWireDecode(b, WireBinary) }

// FuzzPBFastPaths: the inline tag, varint and ASCII readers and writers
// agree with protowire's and a byte loop on any input.
func FuzzPBFastPaths(f *testing.F) {
	for _, b := range [][]byte{{0x08}, {0x80, 0x01}, {0x82, 0x01, 0x05}, {0x80, 0x00}, {0xff, 0xff, 0x03}, {0xc8, 0x01}, []byte("Mozilla/5.0 (X11; Linux x86_64)"), []byte("caf\xc3\xa9")} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 0 {
			num, typ, n := pbTag(data)
			wnum, wtyp, wn := protowire.ConsumeTag(data)
			if n != wn && !(n == 1 && data[0]>>3 == 0) || n > 0 && n == wn && (num != wnum || typ != wtyp) {
				t.Fatalf("pbTag(%x) = %d, %d, %d; protowire %d, %d, %d", data, num, typ, n, wnum, wtyp, wn)
			}
		}
		v, n := pbVarint(data)
		wv, wn := protowire.ConsumeVarint(data)
		if n != wn || n > 0 && v != wv {
			t.Fatalf("pbVarint(%x) = %d, %d; protowire %d, %d", data, v, n, wv, wn)
		}
		if n > 0 {
			if got, want := pbAppendVarint(nil, v), protowire.AppendVarint(nil, v); !bytes.Equal(got, want) {
				t.Fatalf("pbAppendVarint(%d) = %x, want %x", v, got, want)
			}
		}
		ascii := true
		for _, c := range data {
			ascii = ascii && c < 0x80
		}
		if isASCII(string(data)) != ascii {
			t.Fatalf("isASCII(%q) = %v", data, !ascii)
		}
	})
}
