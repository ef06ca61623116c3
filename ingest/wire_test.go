package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/buger/jsonparser"
)

func wireSample() Event {
	return Event{
		Time:           time.Date(2026, 11, 23, 10, 0, 1, 250_000_000, time.UTC),
		Source:         "edge-nginx",
		Format:         "nginx_combined",
		ClientKey:      "k_3f9a0c1d2e4b5a69",
		ClientKind:     ClientAPIKey,
		RemoteIP:       netip.MustParseAddr("203.0.113.7"),
		Method:         "GET",
		Host:           "api.example.com",
		Path:           "/v1/orders/12345",
		Route:          "/v1/orders/{id}",
		Query:          "expand=items&token=REDACTED",
		Status:         200,
		BytesIn:        312,
		BytesOut:       5120,
		Latency:        12345 * time.Microsecond,
		UserAgent:      "curl/8.5.0 \"quoted\" \\ tab\t",
		Referer:        "https://example.com/ü",
		Auth:           AuthOK,
		Scheme:         "https",
		TLSVersion:     "TLSv1.3",
		APIVersion:     "v1",
		RequestID:      "7f0c9a",
		ClaimedSubject: "c_0123456789abcdef0123456789abcdef",
	}
}

func TestWireRoundTrip(t *testing.T) {
	t.Parallel()
	full := wireSample()
	minimal := Event{Time: full.Time, ClientKey: "198.51.100.2", ClientKind: ClientIP, Status: 404}
	ipv6 := full
	ipv6.RemoteIP = netip.MustParseAddr("2001:db8::1")
	ctrl := full
	ctrl.Path = "/a\x00b\x1fc"
	truncated := full
	truncated.Truncated = true
	for _, tc := range []struct {
		name string
		ev   Event
	}{{"full", full}, {"minimal", minimal}, {"ipv6", ipv6}, {"control bytes", ctrl}, {"truncated", truncated}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := AppendWire(nil, &tc.ev)
			if !json.Valid(data) {
				t.Fatalf("invalid JSON: %s", data)
			}
			var got Event
			if err := DecodeWire(data, &got); err != nil {
				t.Fatalf("DecodeWire(%s): %v", data, err)
			}
			if !got.Time.Equal(tc.ev.Time) {
				t.Fatalf("time %v, want %v", got.Time, tc.ev.Time)
			}
			got.Time = tc.ev.Time
			if !reflect.DeepEqual(got.Clone(), tc.ev.Clone()) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tc.ev)
			}
		})
	}
}

func TestWireInvalidUTF8(t *testing.T) {
	t.Parallel()
	ev := wireSample()
	ev.UserAgent = "bad\xff\xfeagent"
	data := AppendWire(nil, &ev)
	if !json.Valid(data) {
		t.Fatalf("invalid JSON: %s", data)
	}
	var got Event
	if err := DecodeWire(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.UserAgent != "bad\ufffd\ufffdagent" {
		t.Fatalf("user agent %q", got.UserAgent)
	}
}

func TestDecodeWireErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
	}{
		{"not json", `hello`, "no version"},
		{"no version", `{"time":"2026-11-23T10:00:00Z","client":"a"}`, "no version"},
		{"future version", `{"v":2,"time":"2026-11-23T10:00:00Z","client":"a"}`, "unsupported wire version"},
		{"bad time", `{"v":1,"time":"yesterday","client":"a"}`, "cannot parse"},
		{"no client", `{"v":1,"time":"2026-11-23T10:00:00Z"}`, "no client"},
		{"status not number", `{"v":1,"time":"2026-11-23T10:00:00Z","client":"a","status":"x"}`, "decode event"},
		{"string field not string", `{"v":1,"time":"2026-11-23T10:00:00Z","client":5}`, "want a string"},
		{"truncated not a boolean", `{"v":1,"time":"2026-11-23T10:00:00Z","client":"a","truncated":"maybe"}`, "key truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ev Event
			err := DecodeWire([]byte(tc.in), &ev)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeWire(%s) = %v, want error containing %q", tc.in, err, tc.want)
			}
		})
	}
	var ev Event
	err := DecodeWire([]byte(`{"v":9,"time":"2026-11-23T10:00:00Z","client":"a"}`), &ev)
	if !errors.Is(err, ErrWireVersion) {
		t.Fatalf("got %v, want ErrWireVersion", err)
	}
}

// TestWireDocExample keeps docs/wire-format.md honest: its example must
// decode and re-encode to itself.
func TestWireDocExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "docs", "wire-format.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	const open = "```json\n"
	i := strings.Index(doc, open)
	if i < 0 {
		t.Fatal("no ```json example in docs/wire-format.md")
	}
	rest := doc[i+len(open):]
	example := strings.TrimSpace(rest[:strings.Index(rest, "```")])
	var ev Event
	if err := DecodeWire([]byte(example), &ev); err != nil {
		t.Fatal(err)
	}
	if got := string(AppendWire(nil, &ev)); got != example {
		t.Fatalf("re-encoded example differs:\n got %s\nwant %s", got, example)
	}
}

func FuzzDecodeWire(f *testing.F) {
	ev := wireSample()
	f.Add(AppendWire(nil, &ev))
	f.Add([]byte(`{"v":1,"time":"2026-11-23T10:00:00Z","client":"a\u00e9\\"}`))
	f.Add([]byte(`{"v":1,"time":`))
	f.Add([]byte(`{"v":1,"time":"2026-11-23T10:00:00Z","client":"a","path":"/` + strings.Repeat("\\u0001", MaxPathBytes) + `","truncated":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev Event
		if err := DecodeWire(data, &ev); err != nil {
			return
		}
		// Whatever decodes must re-encode to valid JSON that decodes the
		// same, and once bounded fit the wire limit.
		out := AppendWire(nil, &ev)
		if !json.Valid(out) {
			t.Fatalf("re-encoding is not JSON: %s", out)
		}
		var again Event
		if err := DecodeWire(out, &again); err != nil {
			t.Fatalf("re-decode: %v (%s)", err, out)
		}
		if again.ClientKey != ev.ClientKey && perByteValid(ev.ClientKey) != again.ClientKey {
			t.Fatalf("client %q -> %q", ev.ClientKey, again.ClientKey)
		}
		if again.Truncated != ev.Truncated {
			t.Fatalf("truncated %v -> %v", ev.Truncated, again.Truncated)
		}
		if ev.Bound() && !ev.Truncated {
			t.Fatal("Bound cut a field without marking the event")
		}
		checkBounded(t, &ev)
	})
}

// perByteValid replaces every byte that is not part of valid UTF-8 with
// U+FFFD, as the encoder does (and encoding/json): strings.ToValidUTF8
// would replace a whole run of them with one.
func perByteValid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\ufffd")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// wireJSON mirrors the wire format with encoding/json tags, to measure
// what the hand-written codec buys.
type wireJSON struct {
	V          int    `json:"v"`
	Time       string `json:"time"`
	Source     string `json:"source,omitempty"`
	Format     string `json:"format,omitempty"`
	Client     string `json:"client"`
	ClientKind string `json:"client_kind,omitempty"`
	IP         string `json:"ip,omitempty"`
	Method     string `json:"method,omitempty"`
	Host       string `json:"host,omitempty"`
	Path       string `json:"path,omitempty"`
	Route      string `json:"route,omitempty"`
	Query      string `json:"query,omitempty"`
	Status     int    `json:"status,omitempty"`
	BytesIn    int64  `json:"bytes_in,omitempty"`
	BytesOut   int64  `json:"bytes_out,omitempty"`
	LatencyUS  int64  `json:"latency_us,omitempty"`
	UserAgent  string `json:"user_agent,omitempty"`
	Referer    string `json:"referer,omitempty"`
	Auth       string `json:"auth,omitempty"`
	Scheme     string `json:"scheme,omitempty"`
	TLSVersion string `json:"tls_version,omitempty"`
	APIVersion string `json:"api_version,omitempty"`
	RequestID  string `json:"request_id,omitempty"`
	Truncated  bool   `json:"truncated,omitempty"`
}

func benchEvent() Event {
	ev := wireSample()
	ev.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
	return ev
}

func BenchmarkWireEncode(b *testing.B) { benchWireEncode(b, WireJSON) }
func BenchmarkWireDecode(b *testing.B) { benchWireDecode(b, WireJSON) }

// benchWireEncode measures encoding benchEvent in enc.
func benchWireEncode(b *testing.B, enc WireEncoding) {
	ev := benchEvent()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = enc.Append(buf[:0], &ev)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// benchWireDecode measures decoding benchEvent from enc.
func benchWireDecode(b *testing.B, enc WireEncoding) {
	ev := benchEvent()
	data := enc.Append(nil, &ev)
	var out Event
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		out.Reset()
		if err := DecodeWire(data, &out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkWireDecodeGeneral decodes with the general JSON parser alone,
// as DecodeWire does when its fast path declines: the fast path's gain.
func BenchmarkWireDecodeGeneral(b *testing.B) {
	ev := benchEvent()
	data := AppendWire(nil, &ev)
	var out Event
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		out.Reset()
		version := int64(-1)
		err := jsonparser.ObjectEach(data, func(key, val []byte, typ jsonparser.ValueType, _ int) error {
			return decodeWireValue(&out, &version, wireKey(key), val, typ == jsonparser.String)
		})
		if err = checkWireDecoded(data, &out, version, err); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkWireEncodeStdlib(b *testing.B) {
	ev := benchEvent()
	w := wireJSON{V: 1, Time: ev.Time.Format(time.RFC3339Nano), Source: ev.Source, Format: ev.Format,
		Client: ev.ClientKey, ClientKind: ev.ClientKind.String(), IP: ev.RemoteIP.String(), Method: ev.Method,
		Host: ev.Host, Path: ev.Path, Route: ev.Route, Query: ev.Query, Status: ev.Status, BytesIn: ev.BytesIn,
		BytesOut: ev.BytesOut, LatencyUS: ev.Latency.Microseconds(), UserAgent: ev.UserAgent, Referer: ev.Referer,
		Auth: ev.Auth.String(), Scheme: ev.Scheme, TLSVersion: ev.TLSVersion, APIVersion: ev.APIVersion, RequestID: ev.RequestID}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(&w); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkWireDecodeStdlib(b *testing.B) {
	ev := benchEvent()
	data := AppendWire(nil, &ev)
	b.ReportAllocs()
	for b.Loop() {
		var w wireJSON
		if err := json.Unmarshal(data, &w); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func TestWireKeyMatchesKeys(t *testing.T) {
	t.Parallel()
	for i, k := range wireKeys {
		if got := wireKey([]byte(k)); got != i {
			t.Errorf("wireKey(%q) = %d, want %d", k, got, i)
		}
	}
	for _, k := range []string{"", "V", "clients", "x"} {
		if got := wireKey([]byte(k)); got != -1 {
			t.Errorf("wireKey(%q) = %d, want -1", k, got)
		}
	}
}

// FuzzDecodeWireFastMatchesGeneral: whatever the fast path takes whole
// decodes as the general parser decodes it: the same event, the same
// version.
func FuzzDecodeWireFastMatchesGeneral(f *testing.F) {
	ev := wireSample()
	f.Add(AppendWire(nil, &ev))
	f.Add([]byte(` { "v" : 1 , "time":"2026-11-23T10:00:00Z","client":"a\u00e9\\"  , "x":[1,{"y":2}] } `))
	f.Add([]byte(`{"v":1,"time":"2026-11-23T10:00:00Z","client":"a","path":"/\"q\\\\","status":404,"truncated":true,"v":1}`))
	f.Add([]byte(`{"v":1,"time":"2026-11-23T10:00:00Z","client":"a","status":"404"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast Event
		version, ok := decodeWireFast(data, &fast)
		if !ok || checkWireDecoded(data, &fast, version, nil) != nil {
			return
		}
		var general Event
		gversion := int64(-1)
		err := jsonparser.ObjectEach(data, func(key, val []byte, typ jsonparser.ValueType, _ int) error {
			return decodeWireValue(&general, &gversion, wireKey(key), val, typ == jsonparser.String)
		})
		if err = checkWireDecoded(data, &general, gversion, err); err != nil {
			t.Fatalf("fast path took %q, the general parser refused it: %v", data, err)
		}
		a, b := AppendWire(nil, &fast), AppendWire(nil, &general)
		if !bytes.Equal(a, b) || version != gversion {
			t.Fatalf("%q:\nfast    %s (v%d)\ngeneral %s (v%d)", data, a, version, b, gversion)
		}
	})
}
