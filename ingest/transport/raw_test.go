package transport

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestSplitLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		value   string
		headers []kafka.Header
		want    []string
		format  string
	}{
		{"one line", "a b c", nil, []string{"a b c"}, ""},
		{"trailing newline", "a\n", nil, []string{"a"}, ""},
		{"crlf and blanks", "a\r\n\r\n  \nb\r\n", nil, []string{"a", "b"}, ""},
		{"empty", "", nil, nil, ""},
		{"headers", "x\ny", []kafka.Header{{Key: HeaderFormat, Value: []byte("apache_common")}, {Key: HeaderSource, Value: []byte("edge")}}, []string{"x", "y"}, "apache_common"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			err := splitLines(kafka.Message{Value: []byte(tt.value), Headers: tt.headers, Offset: 9}, func(l RawLine) error {
				got = append(got, string(l.Line))
				if l.Format != tt.format || l.Offset != 9 {
					t.Errorf("line %q: format %q offset %d", l.Line, l.Format, l.Offset)
				}
				return nil
			})
			if err != nil || strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestReadRawRealBroker: lines written by another producer arrive once
// each; offsets are committed only after durable succeeded, so a reader
// that stopped before its first durable reads everything again, and one
// that committed reads nothing twice.
func TestReadRawRealBroker(t *testing.T) {
	t.Parallel()
	cfg := plaintextConfig(t)
	topic := createTopic(t, cfg)
	w := &kafka.Writer{Addr: cfg.Addr(), Topic: topic, Balancer: &kafka.RoundRobin{}, RequiredAcks: kafka.RequireAll}
	var msgs []kafka.Message
	for i := range 200 {
		// Two lines per message, as a batching shipper sends them.
		msgs = append(msgs, kafka.Message{Value: fmt.Appendf(nil, "line %d\nline %d\n", 2*i, 2*i+1)})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	group := topic + "-group"

	read := func(want int, durable func(context.Context) error) ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var mu sync.Mutex
		var got []string
		err := ReadRaw(ctx, cfg, RawOptions{Topic: topic, Group: group, CommitEvery: 100 * time.Millisecond}, func(l RawLine) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, string(l.Line))
			if len(got) >= want {
				cancel()
			}
			return nil
		}, durable)
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...), err
	}
	// 1: durable always fails: nothing may be committed.
	broken := errors.New("downstream unavailable")
	got, err := read(400, func(context.Context) error { return broken })
	if !errors.Is(err, broken) {
		t.Fatalf("ReadRaw with failing durable = %v, want it to fail with it", err)
	}
	if len(got) == 0 {
		t.Fatal("read nothing")
	}
	// 2: everything is read again, then committed on the way out.
	got, err = read(400, func(context.Context) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadRaw = %v", err)
	}
	sort.Strings(got)
	if len(got) != 400 {
		t.Fatalf("second reader got %d lines, want all 400 (nothing was committed)", len(got))
	}
	// 3: a third reader finds nothing new until a new line arrives.
	w = &kafka.Writer{Addr: cfg.Addr(), Topic: topic, RequiredAcks: kafka.RequireAll}
	if err := w.WriteMessages(context.Background(), kafka.Message{Value: []byte("late line")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, _ = read(1, func(context.Context) error { return nil })
	if len(got) != 1 || got[0] != "late line" {
		t.Fatalf("third reader got %q, want only the new line", got)
	}
}
