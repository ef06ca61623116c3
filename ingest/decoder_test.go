package ingest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecoder(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	line := func(ts string) []byte {
		return []byte(`203.0.113.7 - - [` + ts + `] "GET /api/v1/orders/17?x=1 HTTP/1.1" 200 512 "-" "curl/8.5.0"`)
	}
	tests := []struct {
		name    string
		opts    DecoderOptions
		line    []byte
		want    string // reject reason; "" for an event
		blank   bool
		client  string
		format  string
		skipped bool
	}{
		{name: "combined, fixed format", opts: DecoderOptions{Format: "nginx_combined"}, line: line("02/Nov/2026:09:59:00 +0000"), client: "203.0.113.7", format: "nginx_combined"},
		{name: "combined, detected", opts: DecoderOptions{}, line: line("02/Nov/2026:09:59:00 +0000"), client: "203.0.113.7", format: "nginx_combined"},
		{name: "blank", opts: DecoderOptions{}, line: []byte(" \t\r"), blank: true},
		{name: "garbage", opts: DecoderOptions{Format: "nginx_combined"}, line: []byte("\x16\x03\x01 not http"), want: "nginx_combined: "},
		{name: "within the skew", opts: DecoderOptions{Format: "nginx_combined"}, line: line("02/Nov/2026:10:59:00 +0000"), client: "203.0.113.7", format: "nginx_combined"},
		{name: "beyond the skew", opts: DecoderOptions{Format: "nginx_combined"}, line: line("02/Nov/2099:00:00:00 +0000"), want: ReasonFuture},
		{name: "short skew", opts: DecoderOptions{Format: "nginx_combined", MaxSkew: time.Minute}, line: line("02/Nov/2026:10:02:00 +0000"), want: ReasonFuture},
		{name: "skew off", opts: DecoderOptions{Format: "nginx_combined", MaxSkew: -1}, line: line("02/Nov/2099:00:00:00 +0000"), client: "203.0.113.7", format: "nginx_combined"},
	}
	for _, tt := range tests {
		tt.opts.Now = func() time.Time { return now }
		d, err := NewDecoder(tt.opts)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var ev Event
		err = d.Decode(tt.line, &ev)
		switch {
		case tt.blank:
			if !errors.Is(err, ErrEmptyLine) {
				t.Errorf("%s: %v, want ErrEmptyLine", tt.name, err)
			}
		case tt.want != "":
			if err == nil || len(err.Error()) < len(tt.want) || err.Error()[:len(tt.want)] != tt.want {
				t.Errorf("%s: error %v, want one starting %q", tt.name, err, tt.want)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case ev.ClientKey != tt.client || ev.Format != tt.format || ev.Route != "/api/v1/orders/{id}":
			t.Errorf("%s: client %q format %q route %q", tt.name, ev.ClientKey, ev.Format, ev.Route)
		}
	}
	if _, err := NewDecoder(DecoderOptions{Format: "no-such-format"}); err == nil {
		t.Error("an unknown format made a decoder")
	}
}

// TestDecoderHorizonMoves: the skew is measured against the clock as it
// moves, not as it was when the decoder was made.
func TestDecoderHorizonMoves(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	d, err := NewDecoder(DecoderOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{Time: now.Add(30 * time.Minute)}
	if err := d.CheckTime(&ev); err != nil {
		t.Fatal(err)
	}
	ev.Time = now.Add(3 * time.Hour)
	if err := d.CheckTime(&ev); err == nil || err.Error() != ReasonFuture {
		t.Fatalf("3h ahead: %v", err)
	}
	now = now.Add(2*time.Hour + time.Minute)
	if err := d.CheckTime(&ev); err != nil {
		t.Errorf("3h ahead of a clock since moved 2h: %v", err)
	}
}

func BenchmarkDecoder(b *testing.B) {
	d, err := NewDecoder(DecoderOptions{Format: "nginx_combined"})
	if err != nil {
		b.Fatal(err)
	}
	line := []byte(`203.0.113.7 - - [02/Nov/2026:09:59:00 +0000] "GET /api/v1/orders/17?x=1 HTTP/1.1" 200 512 "-" "curl/8.5.0"`)
	var ev Event
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(line, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecoder: no line panics the decode step, and what it accepts is a
// normalised event with a client key, every field within its limit.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte(`203.0.113.7 - - [02/Nov/2026:09:59:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "x"`))
	f.Add([]byte(`{"time":"2026-11-02T09:59:00Z","remote_addr":"203.0.113.7","request":"GET / HTTP/1.1","status":200}`))
	f.Add([]byte(" "))
	d, err := NewDecoder(DecoderOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`203.0.113.7 - - [02/Nov/2026:09:59:00 +0000] "GET /` + strings.Repeat("1/", MaxPathBytes) + ` HTTP/1.1" 200 5 "-" "x"`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var ev Event
		if err := d.Decode(line, &ev); err != nil {
			return
		}
		if ev.ClientKey == "" {
			t.Errorf("accepted %q without a client key", line)
		}
		checkBounded(t, &ev) // whatever a line holds, its event fits the wire limit
	})
}
