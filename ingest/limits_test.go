package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// checkBounded fails t unless every field of ev is within its limit and
// its wire encoding within MaxWireEventBytes.
func checkBounded(t *testing.T, ev *Event) {
	t.Helper()
	for _, f := range []struct {
		name  string
		v     string
		limit int
	}{
		{"path", ev.Path, MaxPathBytes}, {"route", ev.Route, MaxRouteBytes}, {"query", ev.Query, MaxQueryBytes},
		{"referer", ev.Referer, MaxRefererBytes}, {"user_agent", ev.UserAgent, MaxUserAgentBytes},
		{"host", ev.Host, MaxHostBytes}, {"client", ev.ClientKey, MaxClientKeyBytes},
		{"request_id", ev.RequestID, MaxRequestIDBytes}, {"source", ev.Source, MaxSourceBytes},
		{"method", ev.Method, MaxTokenBytes}, {"format", ev.Format, MaxTokenBytes}, {"scheme", ev.Scheme, MaxTokenBytes},
		{"tls_version", ev.TLSVersion, MaxTokenBytes}, {"api_version", ev.APIVersion, MaxTokenBytes},
		{"ip zone", ev.RemoteIP.Zone(), MaxTokenBytes},
	} {
		if len(f.v) > f.limit {
			t.Errorf("%s is %d bytes, limit %d", f.name, len(f.v), f.limit)
		}
	}
	if n := len(AppendWire(nil, ev)); n > MaxWireEventBytes {
		t.Errorf("wire encoding is %d bytes, limit %d", n, MaxWireEventBytes)
	}
}

func TestBound(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name string
		set  func(*Event)
		cut  bool
		// check looks at the bounded event beyond checkBounded.
		check func(t *testing.T, ev *Event)
	}{
		{name: "within limits", set: func(ev *Event) { ev.Path = long(MaxPathBytes) }},
		{name: "path", set: func(ev *Event) { ev.Path = long(600 << 10) }, cut: true,
			check: func(t *testing.T, ev *Event) {
				if len(ev.Path) != MaxPathBytes {
					t.Errorf("path %d bytes", len(ev.Path))
				}
			}},
		{name: "every string", cut: true, set: func(ev *Event) {
			for _, s := range []*string{&ev.Source, &ev.Format, &ev.Method, &ev.Host, &ev.Path, &ev.Route, &ev.Query,
				&ev.UserAgent, &ev.Referer, &ev.Scheme, &ev.TLSVersion, &ev.APIVersion, &ev.RequestID} {
				*s = long(100 << 10)
			}
		}},
		{name: "cut between characters", set: func(ev *Event) { ev.UserAgent = "a" + strings.Repeat("é", MaxUserAgentBytes) }, cut: true,
			check: func(t *testing.T, ev *Event) {
				if !utf8.ValidString(ev.UserAgent) || len(ev.UserAgent) != MaxUserAgentBytes-1 {
					t.Errorf("user agent cut to %d bytes, valid UTF-8 %v", len(ev.UserAgent), utf8.ValidString(ev.UserAgent))
				}
			}},
		{name: "long client key keeps a fingerprint", set: func(ev *Event) { ev.ClientKey = "sub:" + long(10<<10) + "1" }, cut: true,
			check: func(t *testing.T, ev *Event) {
				other := Event{ClientKey: "sub:" + long(10<<10) + "2"}
				other.Bound()
				if !strings.HasPrefix(ev.ClientKey, "sub:aaa") || ev.ClientKey == other.ClientKey ||
					len(ev.ClientKey) != MaxClientKeyBytes || ev.ClientKey[len(ev.ClientKey)-17] != '~' {
					t.Errorf("client keys %q and %q", ev.ClientKey, other.ClientKey)
				}
			}},
		{name: "long zone dropped", set: func(ev *Event) { ev.RemoteIP = netip.MustParseAddr("fe80::1").WithZone(long(200)) }, cut: true,
			check: func(t *testing.T, ev *Event) {
				if ev.RemoteIP != netip.MustParseAddr("fe80::1") {
					t.Errorf("ip %v", ev.RemoteIP)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := Event{Time: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), ClientKey: "c"}
			tt.set(&ev)
			if cut := ev.Bound(); cut != tt.cut || ev.Truncated != tt.cut {
				t.Errorf("Bound() = %v, Truncated %v, want %v", cut, ev.Truncated, tt.cut)
			}
			checkBounded(t, &ev)
			if tt.check != nil {
				tt.check(t, &ev)
			}
			if again := ev; again.Bound() {
				t.Error("a bounded event was cut again")
			}
		})
	}
}

// TestDecoderBoundsLongFields: a line carrying a 600 KB path (or query,
// user agent, referer) decodes to an event within the limits, marked
// truncated, whose encoding is far below Kafka's 1 MiB; the route is
// templated from the cut path.
func TestDecoderBoundsLongFields(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 600<<10)
	combined := func(target, referer, ua string) string {
		return `203.0.113.7 - - [02/Nov/2026:09:59:00 +0000] "GET ` + target + ` HTTP/1.1" 200 5 "` + referer + `" "` + ua + `"`
	}
	tests := []struct {
		name, format, line string
		check              func(t *testing.T, ev *Event)
	}{
		{name: "path", format: "nginx_combined", line: combined("/api/v1/orders/"+big, "-", "curl/8"),
			check: func(t *testing.T, ev *Event) {
				if len(ev.Path) != MaxPathBytes || !strings.HasPrefix(ev.Route, "/api/v1/orders/xxx") || ev.APIVersion != "v1" {
					t.Errorf("path %d bytes, route %.30q, api version %q", len(ev.Path), ev.Route, ev.APIVersion)
				}
			}},
		{name: "ids lengthen the route", format: "nginx_combined", line: combined(strings.Repeat("/1", 300<<10), "-", "curl/8"),
			check: func(t *testing.T, ev *Event) {
				if len(ev.Route) != MaxRouteBytes || !strings.HasPrefix(ev.Route, "/{id}/{id}") {
					t.Errorf("route %d bytes: %.30q", len(ev.Route), ev.Route)
				}
			}},
		{name: "query", format: "nginx_combined", line: combined("/a?token=s3cret&q="+big, "-", "curl/8"),
			check: func(t *testing.T, ev *Event) {
				if len(ev.Query) != MaxQueryBytes || !strings.HasPrefix(ev.Query, "token=REDACTED&q=xxx") {
					t.Errorf("query %d bytes: %.30q", len(ev.Query), ev.Query)
				}
			}},
		{name: "referer and user agent", format: "nginx_combined", line: combined("/a", "https://x.example/?"+big, big),
			check: func(t *testing.T, ev *Event) {
				if len(ev.Referer) != MaxRefererBytes || len(ev.UserAgent) != MaxUserAgentBytes {
					t.Errorf("referer %d bytes, user agent %d", len(ev.Referer), len(ev.UserAgent))
				}
			}},
		{name: "JSON log", format: "nginx_json",
			line: `{"time":"2026-11-02T09:59:00Z","remote_addr":"198.51.100.4","request":"GET /` + big + ` HTTP/1.1","status":200,"http_user_agent":"` + big + `"}`,
			check: func(t *testing.T, ev *Event) {
				if len(ev.Path) != MaxPathBytes || len(ev.UserAgent) != MaxUserAgentBytes {
					t.Errorf("path %d bytes, user agent %d", len(ev.Path), len(ev.UserAgent))
				}
			}},
		{name: "control bytes escape six-fold", format: "nginx_combined", line: combined("/"+strings.Repeat("%00\x01", 200<<10), "-", "curl/8")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := NewDecoder(DecoderOptions{Format: tt.format, MaxSkew: -1})
			if err != nil {
				t.Fatal(err)
			}
			var ev Event
			if err := d.Decode([]byte(tt.line), &ev); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !ev.Truncated {
				t.Error("event not marked truncated")
			}
			checkBounded(t, &ev)
			wire := AppendWire(nil, &ev)
			if len(wire) >= 1<<20 || !json.Valid(wire) || !bytes.Contains(wire, []byte(`"truncated":true`)) {
				t.Errorf("wire encoding: %d bytes, valid JSON %v, flagged %v", len(wire), json.Valid(wire), bytes.Contains(wire, []byte(`"truncated":true`)))
			}
			if tt.check != nil {
				tt.check(t, &ev)
			}
		})
	}
}

// TestReadLines: standard input's reader takes lines of any length: one
// over the limit comes cut, flagged, and the next line after it.
func TestReadLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []string // "!" prefix: flagged too long
	}{
		{name: "plain", in: "a\nb\r\n\nc", want: []string{"a", "b", "", "c"}},
		{name: "at the limit", in: "0123456789\n", want: []string{"0123456789"}},
		{name: "over the limit", in: "a\n0123456789X\nb\n", want: []string{"a", "!0123456789", "b"}},
		{name: "long and last, unterminated", in: "a\n" + strings.Repeat("y", 200<<10), want: []string{"a", "!yyyyyyyyyy"}},
		{name: "longer than the read buffer", in: strings.Repeat("z", 300<<10) + "\nafter\n", want: []string{"!zzzzzzzzzz", "after"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			err := readLines(strings.NewReader(tt.in), 10, func(line []byte, tooLong bool) error {
				s := string(line)
				if tooLong {
					s = "!" + s
				}
				got = append(got, s)
				return nil
			})
			if err != nil || strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// limitedEmit is an Emit that refuses events whose encoding is over limit
// bytes as transport.Producer does, and keeps the others' paths; with the
// rejects it counts what the Intake did with each line.
type limitedEmit struct {
	limit   int64
	paths   []string
	rejects []string
	done    atomic.Int64
}

func (e *limitedEmit) emit(_ context.Context, ev *Event) error {
	if n := int64(len(AppendWire(nil, ev))); e.limit > 0 && n > e.limit {
		return &TooLargeError{Size: n, Limit: e.limit}
	}
	e.paths = append(e.paths, strings.Clone(ev.Path[:min(len(ev.Path), 9)]))
	e.done.Add(1)
	return nil
}

func (e *limitedEmit) reject(_ context.Context, _ string, r Reject) error {
	e.rejects = append(e.rejects, strconv.FormatInt(r.Line, 10)+":"+r.Reason)
	e.done.Add(1)
	return nil
}

// TestFileSourceLongLines: a file and standard input go on past a line
// over the reader's limit (rejected, "line too long") and past an event
// the transport refuses for its size (rejected, "event too large"); a
// long path within the line limit becomes a truncated event.
func TestFileSourceLongLines(t *testing.T) {
	t.Parallel()
	line := func(path string) string {
		return `203.0.113.7 - - [02/Nov/2026:09:59:00 +0000] "GET ` + path + ` HTTP/1.1" 200 5 "-" "curl/8"`
	}
	content := strings.Join([]string{line("/first"), line("/long/" + strings.Repeat("p", 600<<10)),
		line("/over-the-limit/" + strings.Repeat("q", 2<<20)), line("/last")}, "\n") + "\n"
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		src         *FileSource
		limit       int64 // the transport's message limit
		wantPaths   string
		wantRejects string
	}{
		{name: "file", src: &FileSource{Path: path, FromStart: true}, limit: 1 << 20,
			wantPaths: "/first|/long/ppp|/last", wantRejects: "3:line too long (over 1048576 bytes)"},
		{name: "stdin", src: &FileSource{Path: "-", Stdin: strings.NewReader(content)}, limit: 1 << 20,
			wantPaths: "/first|/long/ppp|/last", wantRejects: "3:line too long (over 1048576 bytes)"},
		{name: "small message limit", src: &FileSource{Path: path, FromStart: true}, limit: 4096,
			wantPaths: "/first|/last", wantRejects: "2:event too large (16"},
		{name: "small line limit", src: &FileSource{Path: path, FromStart: true, MaxLine: 100}, limit: 1 << 20,
			wantPaths: "/first|/last", wantRejects: "2:line too long (over 100 bytes)|3:line too long (over 100 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &limitedEmit{limit: tt.limit}
			in, err := NewIntake(IntakeOptions{Name: "edge", Decoder: DecoderOptions{Format: "nginx_combined", MaxSkew: -1},
				Emit: e.emit, Reject: e.reject})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- tt.src.Run(ctx, in) }()
			for deadline := time.Now().Add(10 * time.Second); e.done.Load() < 4 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("Run: %v", err)
			}
			if got := strings.Join(e.paths, "|"); got != tt.wantPaths {
				t.Errorf("events %q, want %q", got, tt.wantPaths)
			}
			if got := strings.Join(e.rejects, "|"); !strings.HasPrefix(got, tt.wantRejects) || len(e.paths)+len(e.rejects) != 4 {
				t.Errorf("rejects %q, want %q (4 lines in all)", got, tt.wantRejects)
			}
		})
	}
}
