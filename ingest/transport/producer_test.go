package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/segmentio/kafka-go"
)

// fakeWriter stands in for *kafka.Writer: it records what it is given and
// can block (gate) or fail (fail) writes.
type fakeWriter struct {
	gate chan struct{} // when set, each write takes a token (or waits for ctx)
	fail func(call int, msgs []kafka.Message) error

	mu     sync.Mutex
	calls  int
	sizes  []int
	got    []kafka.Message // copies of delivered messages
	closed bool
}

func (f *fakeWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.sizes = append(f.sizes, len(msgs))
	var err error
	if f.fail != nil {
		err = f.fail(f.calls, msgs)
	}
	var werrs kafka.WriteErrors
	errors.As(err, &werrs)
	for i, m := range msgs {
		if err != nil && (werrs == nil || werrs[i] != nil) {
			continue
		}
		c := kafka.Message{Value: append([]byte(nil), m.Value...)}
		if m.Key != nil {
			c.Key = append([]byte(nil), m.Key...)
		}
		f.got = append(f.got, c)
	}
	return err
}

func (f *fakeWriter) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeWriter) delivered() []kafka.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]kafka.Message(nil), f.got...)
}

func testProducer(t *testing.T, opts ProducerOptions, w *fakeWriter) *Producer {
	t.Helper()
	if opts.WriteBackoffMin == 0 {
		opts.WriteBackoffMin = time.Millisecond
		opts.WriteBackoffMax = 5 * time.Millisecond
	}
	opts.setDefaults()
	p := newProducer(opts, w, nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		p.Close(ctx) //nolint:errcheck // tests that care call Close themselves
	})
	return p
}

func testEvent(client string, seq int) *ingest.Event {
	return &ingest.Event{
		Time:       time.Date(2026, 11, 23, 12, 0, 0, seq*1000, time.UTC),
		Source:     "edge",
		Format:     "nginx_combined",
		ClientKey:  client,
		ClientKind: ingest.ClientAPIKey,
		Method:     "GET",
		Path:       "/v1/orders",
		Route:      "/v1/orders",
		Status:     200,
		RequestID:  fmt.Sprintf("%s-%d", client, seq),
	}
}

func closeOK(t *testing.T, p *Producer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestProducerDeliversInOrder(t *testing.T) {
	t.Parallel()
	w := &fakeWriter{}
	p := testProducer(t, ProducerOptions{BatchSize: 7, BatchTimeout: time.Millisecond}, w)
	ctx := context.Background()
	const n = 100
	for i := range n {
		if err := p.Publish(ctx, testEvent(fmt.Sprintf("c%d", i%3), i)); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	closeOK(t, p)

	got := w.delivered()
	if len(got) != n {
		t.Fatalf("delivered %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		var ev ingest.Event
		if err := ingest.DecodeWire(m.Value, &ev); err != nil {
			t.Fatalf("message %d: DecodeWire(%s): %v", i, m.Value, err)
		}
		want := testEvent(fmt.Sprintf("c%d", i%3), i)
		if string(m.Key) != want.ClientKey {
			t.Errorf("message %d: key %q, want %q", i, m.Key, want.ClientKey)
		}
		if ev.RequestID != want.RequestID || ev.ClientKey != want.ClientKey || !ev.Time.Equal(want.Time) {
			t.Errorf("message %d: got %s/%s/%v, want %s/%s/%v", i, ev.RequestID, ev.ClientKey, ev.Time,
				want.RequestID, want.ClientKey, want.Time)
		}
	}
	for _, s := range w.sizes {
		if s > 7 {
			t.Errorf("batch of %d messages, BatchSize is 7", s)
		}
	}
	st := p.Stats()
	if st.Published != n || st.Delivered != n || st.Buffered != 0 || st.BufferedBytes != 0 || st.FailedAttempts != 0 || st.LastError != nil {
		t.Errorf("Stats = %+v, want %d published and delivered, nothing buffered or failed", st, n)
	}
	if !w.closed {
		t.Error("Close did not close the writer")
	}
}

func TestProducerBatchTiming(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		opts      ProducerOptions
		publish   int
		wantSoon  int // delivered without Close within a second
		wantSizes []int
	}{
		{name: "full batches go at once", opts: ProducerOptions{BatchSize: 10, BatchTimeout: time.Hour}, publish: 25, wantSoon: 20},
		{name: "timeout flushes a partial batch", opts: ProducerOptions{BatchSize: 10, BatchTimeout: 10 * time.Millisecond}, publish: 3, wantSoon: 3},
		{name: "batch bytes", opts: ProducerOptions{BatchSize: 1000, BatchBytes: 1000, MaxMessageBytes: 500, BatchTimeout: time.Hour}, publish: 20, wantSoon: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &fakeWriter{}
			p := testProducer(t, tc.opts, w)
			for i := range tc.publish {
				if err := p.PublishRaw(context.Background(), []byte("k"), []byte(strings.Repeat("x", 100))); err != nil {
					t.Fatalf("PublishRaw %d: %v", i, err)
				}
			}
			deadline := time.Now().Add(time.Second)
			for len(w.delivered()) < tc.wantSoon && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := len(w.delivered()); got < tc.wantSoon {
				t.Fatalf("delivered %d before Close, want at least %d", got, tc.wantSoon)
			}
			if tc.opts.BatchTimeout == time.Hour {
				time.Sleep(20 * time.Millisecond)
				if got := len(w.delivered()); got == tc.publish {
					t.Fatalf("all %d delivered before Close although the last batch is not full", got)
				}
			}
			closeOK(t, p)
			if got := len(w.delivered()); got != tc.publish {
				t.Fatalf("delivered %d after Close, want %d", got, tc.publish)
			}
			if tc.opts.BatchBytes > 0 {
				for _, s := range w.sizes {
					if int64(s)*(100+1+messageOverhead) > tc.opts.BatchBytes {
						t.Errorf("batch of %d messages exceeds BatchBytes %d", s, tc.opts.BatchBytes)
					}
				}
			}
		})
	}
}

func TestPublishBlocksWhenFull(t *testing.T) {
	t.Parallel()
	for _, bound := range []string{"messages", "bytes"} {
		t.Run(bound, func(t *testing.T) {
			t.Parallel()
			w := &fakeWriter{gate: make(chan struct{})}
			opts := ProducerOptions{BatchSize: 2, BatchTimeout: time.Millisecond}
			value := []byte(strings.Repeat("v", 200))
			msgSize := int64(len(value)) + 1 + messageOverhead
			if bound == "messages" {
				opts.MaxBuffered = 4
			} else {
				opts.MaxMessageBytes = msgSize
				opts.BatchBytes = 2 * msgSize
				opts.MaxBufferedBytes = 4 * msgSize
			}
			p := testProducer(t, opts, w)
			ctx := context.Background()
			for i := range 4 {
				if err := p.PublishRaw(ctx, []byte("k"), value); err != nil {
					t.Fatalf("PublishRaw %d: %v", i, err)
				}
			}

			// Full: the next Publish blocks until its context ends.
			short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
			start := time.Now()
			err := p.PublishRaw(short, []byte("k"), value)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("PublishRaw on a full buffer = %v, want deadline exceeded", err)
			}
			if d := time.Since(start); d < 25*time.Millisecond {
				t.Fatalf("PublishRaw returned after %v, want it to block until the deadline", d)
			}
			if st := p.Stats(); st.Buffered != 4 || st.Published != 4 {
				t.Fatalf("Stats = %+v, want 4 published and buffered", st)
			}

			// Cancelling unblocks a waiting Publish.
			cctx, ccancel := context.WithCancel(ctx)
			errc := make(chan error, 1)
			go func() { errc <- p.PublishRaw(cctx, []byte("k"), value) }()
			select {
			case err := <-errc:
				t.Fatalf("PublishRaw returned %v with the buffer full", err)
			case <-time.After(20 * time.Millisecond):
			}
			ccancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled PublishRaw = %v, want context.Canceled", err)
			}

			// Room frees up as batches are delivered.
			go func() { errc <- p.PublishRaw(ctx, []byte("k"), value) }()
			w.gate <- struct{}{} // deliver one batch of 2
			if err := <-errc; err != nil {
				t.Fatalf("PublishRaw after delivery: %v", err)
			}
			close(w.gate)
			closeOK(t, p)
			if got := len(w.delivered()); got != 5 {
				t.Fatalf("delivered %d, want 5", got)
			}
		})
	}
}

func TestProducerRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	down := errors.New("dial tcp 127.0.0.1:9092: connect: connection refused")
	w := &fakeWriter{fail: func(call int, msgs []kafka.Message) error {
		switch {
		case call <= 3:
			return down // broker down: nothing written
		case call == 4:
			// Partial failure: every other message of the batch fails.
			werrs := make(kafka.WriteErrors, len(msgs))
			for i := range werrs {
				if i%2 == 1 {
					werrs[i] = kafka.NotLeaderForPartition
				}
			}
			return werrs
		}
		return nil
	}}
	p := testProducer(t, ProducerOptions{BatchSize: 10, BatchTimeout: time.Millisecond, MaxBuffered: 20}, w)
	ctx := context.Background()
	for i := range 10 {
		if err := p.Publish(ctx, testEvent("c", i)); err != nil {
			t.Fatal(err)
		}
	}
	closeOK(t, p)

	got := w.delivered()
	if len(got) != 10 {
		t.Fatalf("delivered %d, want 10 (each exactly once)", len(got))
	}
	// The 4th call delivered the even messages; the odd ones follow in order.
	wantOrder := []int{0, 2, 4, 6, 8, 1, 3, 5, 7, 9}
	for i, m := range got {
		var ev ingest.Event
		if err := ingest.DecodeWire(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("c-%d", wantOrder[i]); ev.RequestID != want {
			t.Errorf("delivery %d = %s, want %s", i, ev.RequestID, want)
		}
	}
	st := p.Stats()
	if st.FailedAttempts != 4 || st.Delivered != 10 || st.Buffered != 0 || st.Rejected != 0 {
		t.Errorf("Stats = %+v, want 4 failed attempts, 10 delivered", st)
	}
	if st.LastError == nil || !strings.Contains(st.LastError.Error(), "Not Leader For Partition") {
		t.Errorf("LastError = %v, want the last write error", st.LastError)
	}
}

// TestProducerRejectsPermanentFailures: a message the broker refused for
// good is released, counted and handed to OnReject; Close reports the
// refusal only when no OnReject took it.
func TestProducerRejectsPermanentFailures(t *testing.T) {
	t.Parallel()
	for _, handled := range []bool{true, false} {
		t.Run(fmt.Sprint("OnReject=", handled), func(t *testing.T) {
			t.Parallel()
			w := &fakeWriter{fail: func(call int, msgs []kafka.Message) error {
				werrs := make(kafka.WriteErrors, len(msgs))
				for i, m := range msgs {
					if strings.Contains(string(m.Value), "huge") {
						werrs[i] = kafka.MessageSizeTooLarge
					}
				}
				return werrs
			}}
			var mu sync.Mutex
			var rejected []string
			opts := ProducerOptions{BatchSize: 10}
			if handled {
				opts.OnReject = func(key, value []byte, err error) {
					mu.Lock()
					defer mu.Unlock()
					rejected = append(rejected, fmt.Sprintf("%s=%s: %v", key, value, errors.Is(err, kafka.MessageSizeTooLarge)))
				}
			}
			p := testProducer(t, opts, w)
			ctx := context.Background()
			for _, v := range []string{"a", "huge", "b"} {
				if err := p.PublishRaw(ctx, []byte(v), []byte(v)); err != nil {
					t.Fatal(err)
				}
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			err := p.Close(cctx)
			if handled && err != nil {
				t.Fatalf("Close = %v, want nil: OnReject took the refusal", err)
			}
			if !handled && (!errors.Is(err, kafka.MessageSizeTooLarge) || !strings.Contains(err.Error(), "1 messages rejected")) {
				t.Fatalf("Close = %v, want the rejection", err)
			}
			if len(w.delivered()) != 2 {
				t.Errorf("delivered %d, want 2", len(w.delivered()))
			}
			if handled && (len(rejected) != 1 || rejected[0] != "huge=huge: true") {
				t.Errorf("OnReject saw %q", rejected)
			}
			if st := p.Stats(); st.Rejected != 1 || st.Delivered != 2 || st.Buffered != 0 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

func TestCloseGivesUpWhenBrokerStaysDown(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	w := &fakeWriter{fail: func(int, []kafka.Message) error { return down }}
	p := testProducer(t, ProducerOptions{BatchSize: 10, BatchTimeout: time.Millisecond}, w)
	for i := range 5 {
		if err := p.Publish(context.Background(), testEvent("c", i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Close(ctx)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v with a 50ms deadline", d)
	}
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, down) ||
		!strings.Contains(err.Error(), "5 messages undelivered") {
		t.Fatalf("Close = %v, want undelivered count, deadline and last write error", err)
	}
	if st := p.Stats(); st.Delivered != 0 || st.Buffered != 5 || st.FailedAttempts == 0 {
		t.Errorf("Stats = %+v, want 5 still buffered, failed attempts counted", st)
	}
}

func TestPublishErrors(t *testing.T) {
	t.Parallel()
	w := &fakeWriter{gate: make(chan struct{})}
	p := testProducer(t, ProducerOptions{MaxMessageBytes: 1000, MaxBuffered: 1}, w)
	ctx := context.Background()
	if err := p.Publish(ctx, nil); err == nil {
		t.Error("Publish(nil) succeeded")
	}
	if err := p.PublishRaw(ctx, nil, make([]byte, 1001)); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("oversized PublishRaw = %v, want ErrMessageTooLarge", err)
	}
	// An oversized event says its size, so an Intake dead-letters it.
	big := ingest.Event{ClientKey: "c", Path: strings.Repeat("p", 2000)}
	var tl *ingest.TooLargeError
	if err := p.Publish(ctx, &big); !errors.Is(err, ErrMessageTooLarge) || !errors.As(err, &tl) || tl.Limit != 1000 || tl.Size < 2000 {
		t.Errorf("oversized Publish = %v, want ErrMessageTooLarge with an *ingest.TooLargeError", err)
	}
	if err := p.PublishRaw(ctx, nil, []byte("one")); err != nil {
		t.Fatal(err)
	}
	// A Publish blocked on a full buffer returns ErrClosed when Close starts.
	errc := make(chan error, 1)
	go func() { errc <- p.PublishRaw(ctx, nil, []byte("two")) }()
	time.Sleep(10 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- p.Close(ctx) }()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("PublishRaw blocked across Close = %v, want ErrClosed", err)
	}
	close(w.gate)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Publish(ctx, testEvent("c", 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if got := w.delivered(); len(got) != 1 || string(got[0].Value) != "one" || got[0].Key != nil {
		t.Errorf("delivered %v", got)
	}
}

func TestNewProducerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		opts    ProducerOptions
		wantErr string
	}{
		{name: "compression", opts: ProducerOptions{Compression: "brotli"}, wantErr: `unknown compression "brotli"`},
		{name: "config", cfg: Config{SASL: SASLConfig{Mechanism: "md5", Username: "u", Password: "p"}}, wantErr: "unknown mechanism"},
		{name: "ca file", cfg: Config{TLS: TLSConfig{Enabled: true, CAFile: "/nonexistent/ca.pem"}}, wantErr: "read ca file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewProducer(tc.cfg, tc.opts)
			if err == nil {
				p.Close(context.Background()) //nolint:errcheck
				t.Fatalf("NewProducer succeeded, want error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewProducer = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
	for _, c := range []string{"", "zstd", "LZ4", "snappy", "gzip", "none"} {
		p, err := NewProducer(Config{}, ProducerOptions{Compression: c})
		if err != nil {
			t.Fatalf("compression %q: %v", c, err)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatalf("Close of an unused producer: %v", err)
		}
	}
}

var _ messageWriter = (*produceWriter)(nil)
var _ io.Closer = (*fakeWriter)(nil)

// TestProducerBrokerUnreachable runs the real kafka-go Writer against a
// port nobody listens on: nothing is dropped, Publish blocks once the
// buffer is full, and Close reports what was left and why.
func TestProducerBrokerUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	p, err := NewProducer(Config{Brokers: []string{addr}, DialTimeout: time.Second}, ProducerOptions{
		BatchSize: 5, BatchTimeout: time.Millisecond, MaxBuffered: 10,
		WriteBackoffMin: time.Millisecond, WriteBackoffMax: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 10 {
		if err := p.Publish(ctx, testEvent("c", i)); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := p.Publish(short, testEvent("c", 10)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish with the broker down and the buffer full = %v, want deadline exceeded", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().FailedAttempts == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := p.Stats()
	if st.FailedAttempts == 0 || st.LastError == nil || !strings.Contains(st.LastError.Error(), "connection refused") {
		t.Fatalf("Stats = %+v, want failed attempts and a connection error", st)
	}
	if st.Buffered != 10 || st.Delivered != 0 {
		t.Fatalf("Stats = %+v, want all 10 kept", st)
	}
	closeCtx, closeCancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer closeCancel()
	start := time.Now()
	err = p.Close(closeCtx)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v with a 200ms deadline", d)
	}
	if err == nil || !strings.Contains(err.Error(), "10 messages undelivered") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Close = %v, want 10 undelivered and the connection error", err)
	}
}

// TestFlushWaitsForEveryEarlierMessage: Flush must not return while an
// older message is still being retried, even when newer ones were
// delivered first — a collector persists its read position after Flush.
func TestFlushWaitsForEveryEarlierMessage(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	failing.Store(true)
	w := &fakeWriter{fail: func(call int, msgs []kafka.Message) error {
		if !failing.Load() {
			return nil
		}
		// Message c-0 fails until the test lets it through; others land.
		werrs := make(kafka.WriteErrors, len(msgs))
		for i, m := range msgs {
			var ev ingest.Event
			if err := ingest.DecodeWire(m.Value, &ev); err == nil && ev.RequestID == "c-0" {
				werrs[i] = kafka.NotLeaderForPartition
			}
		}
		return werrs
	}}
	p := testProducer(t, ProducerOptions{BatchSize: 4, BatchTimeout: time.Millisecond}, w)
	ctx := context.Background()
	for i := range 8 {
		if err := p.Publish(ctx, testEvent("c", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until everything but c-0 has been delivered at least once.
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Delivered < 7 {
		if time.Now().After(deadline) {
			t.Fatalf("Stats = %+v, want 7 delivered", p.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := p.Flush(short); err == nil {
		t.Fatal("Flush returned while c-0 was still being retried")
	}
	failing.Store(false)
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if st := p.Stats(); st.Delivered != 8 || st.Buffered != 0 {
		t.Errorf("after Flush: %+v, want all 8 delivered", st)
	}
	// Nothing pending: Flush returns at once, also after Close.
	if err := p.Flush(ctx); err != nil {
		t.Errorf("Flush with nothing pending: %v", err)
	}
	closeOK(t, p)
	if err := p.Flush(ctx); err != nil {
		t.Errorf("Flush after a clean Close: %v", err)
	}
}

// TestFlushAfterGivingUp: a Producer that stopped with messages undelivered
// makes Flush fail instead of waiting forever.
func TestFlushAfterGivingUp(t *testing.T) {
	t.Parallel()
	w := &fakeWriter{fail: func(int, []kafka.Message) error { return errors.New("connection refused") }}
	p := testProducer(t, ProducerOptions{BatchTimeout: time.Millisecond}, w)
	if err := p.Publish(context.Background(), testEvent("c", 0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err == nil {
		t.Fatal("Close succeeded with the broker down")
	}
	if err := p.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush = %v, want ErrClosed", err)
	}
}

// TestProducerKeepsPartitionOrderAcrossFailedBatches: a writer that sent
// a partition's messages in several batches and went on after one failed
// for good (as kafka-go's Writer did) would land a retry of the failed one
// after the next, and a consumer that skips by source position (detect's
// replay check) would lose it. The writer here splits writes per
// partition into batches of MaxMessageBytes and BatchSize messages and,
// on its first write, fails each partition's first batch only (a broker
// coming back between two batches). Each partition must still get its
// messages in publish order: the Producer cuts writes at one batch per
// partition, so a partition's messages in a write fail or succeed
// together.
func TestProducerKeepsPartitionOrderAcrossFailedBatches(t *testing.T) {
	t.Parallel()
	const parts = 3
	bal := &partitionCounter{}
	bal.n.Store(parts) // as after a first write
	ids := []int{0, 1, 2}
	opts := ProducerOptions{MaxMessageBytes: 64 << 10, WriteBackoffMin: time.Millisecond, WriteBackoffMax: 5 * time.Millisecond}
	opts.setDefaults()
	maxBytes, maxCount := opts.MaxMessageBytes+messageOverhead, opts.BatchSize
	w := &fakeWriter{fail: func(call int, msgs []kafka.Message) error {
		if call > 1 {
			return nil
		}
		// Per partition, batches of maxCount messages and maxBytes;
		// fail every partition's first batch.
		werrs := make(kafka.WriteErrors, len(msgs))
		bytes, count, batch := make([]int64, parts), make([]int, parts), make([]int, parts)
		for i, m := range msgs {
			k := bal.partitionOf(m.Key, parts, ids)
			size := int64(len(m.Key)+len(m.Value)) + messageOverhead
			if count[k] > 0 && (bytes[k]+size > maxBytes || count[k] >= maxCount) {
				batch[k]++
				bytes[k], count[k] = 0, 0
			}
			bytes[k], count[k] = bytes[k]+size, count[k]+1
			if batch[k] == 0 {
				werrs[i] = kafka.NotLeaderForPartition
			}
		}
		return werrs
	}}
	p := newProducer(opts, w, bal)
	ctx := context.Background()
	value := bytes.Repeat([]byte("v"), 2000)
	for i := range 400 {
		v := append(strconv.AppendInt(nil, int64(i), 10), value...)
		if err := p.PublishRaw(ctx, []byte("client-"+strconv.Itoa(i%37)), v); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.Close(cctx); err != nil {
		t.Fatal(err)
	}
	last := make([]int, parts)
	for k := range last {
		last[k] = -1
	}
	got := w.delivered()
	for _, m := range got {
		k := bal.partitionOf(m.Key, parts, ids)
		n, _ := strconv.Atoi(string(bytes.TrimRight(m.Value, "v")))
		if n <= last[k] {
			t.Fatalf("partition %d: message %d after %d", k, n, last[k])
		}
		last[k] = n
	}
	if len(got) != 400 {
		t.Errorf("%d delivered, want 400", len(got))
	}
}
