package storage

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// unreachableDB is a DB whose server never answers (a closed port), for
// the writers' behaviour while ClickHouse is down without a real server.
func unreachableDB(t *testing.T) *DB {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{"127.0.0.1:1"}, DialTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	opts := Options{}
	opts.setDefaults()
	return &DB{conn: conn, opts: opts, ddl: ddl{db: opts.Database}}
}

func TestWriterBoundedWhileDown(t *testing.T) {
	t.Parallel()
	db := unreachableDB(t)
	var failures atomic.Int64
	w := NewWriter(db, WriterOptions{
		BatchOptions: BatchOptions{BatchRows: 100, FlushInterval: time.Hour, Backoff: Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond},
			OnError: func(error) { failures.Add(1) }},
		MaxPending: 2,
	})
	evs := sampleEvents(50, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	accepted := 0
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	for range 100 {
		if err := w.Write(ctx, evs); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Write: %v", err)
			}
			break
		}
		accepted += len(evs)
	}
	// Inserters (2) batches in retry, MaxPending queued, one being filled (which may
	// run over BatchRows by one Write).
	if accepted > 100*(2+2+1)+50 {
		t.Errorf("accepted %d events with ClickHouse down: not bounded", accepted)
	}
	if accepted < 100*3 {
		t.Errorf("accepted only %d events before blocking, want at least the queued batches", accepted)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer ccancel()
	err := w.Close(cctx)
	if err == nil || !strings.Contains(err.Error(), "rows not stored") {
		t.Fatalf("Close while down = %v, want an error counting lost rows", err)
	}
	if !strings.Contains(err.Error(), " "+itoa(accepted)+" rows") {
		t.Errorf("Close error %q does not count all %d accepted rows", err, accepted)
	}
	if failures.Load() == 0 {
		t.Error("OnError never called")
	}
	if err := w.Write(context.Background(), evs); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
}

func TestConsumeCommitsNothingWhileDown(t *testing.T) {
	t.Parallel()
	db := unreachableDB(t)
	r := newFakeReader()
	r.push("events", 2, wireMessages(sampleEvents(50, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var failures atomic.Int64
	go func() {
		done <- db.ConsumeEvents(ctx, r, ConsumerOptions{BatchOptions: BatchOptions{
			BatchRows: 10, Backoff: Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond},
			OnError: func(error) { failures.Add(1) },
		}})
	}()
	waitFor(t, 30*time.Second, "insert failures", func() bool { return failures.Load() >= 3 })
	fetched, committed := r.fetched()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ConsumeEvents after cancel = %v, want nil", err)
	}
	if committed != 0 {
		t.Errorf("committed %d messages with ClickHouse down", committed)
	}
	if fetched > 2*10+2+fetchAhead {
		t.Errorf("fetched %d messages with ClickHouse down, want at most MaxInFlight (2) batches of 10 + 2 + fetchAhead (%d)", fetched, fetchAhead)
	}
}

func TestRetryStopsOnContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := retry(ctx, Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond}, nil, func(context.Context) error {
		calls++
		if calls == 5 {
			cancel()
		}
		return errors.New("down")
	})
	if !errors.Is(err, context.Canceled) || calls != 5 {
		t.Errorf("retry = %v after %d calls, want context.Canceled after 5", err, calls)
	}
	calls = 0
	err = retry(context.Background(), Backoff{}, nil, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("flaky")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("retry = %v after %d calls, want success on the third", err, calls)
	}
}

// TestBatchBytesCapped: a batch's byte bound stays under what an event
// batch's 32-bit arena offsets can address.
func TestBatchBytesCapped(t *testing.T) {
	for _, in := range []int{0, 1 << 20, 1 << 30, 8 << 30} {
		o := BatchOptions{BatchBytes: in}
		o.setDefaults()
		if o.BatchBytes <= 0 || o.BatchBytes > maxBatchBytes || o.BatchBytes >= maxArena/2 {
			t.Errorf("BatchBytes %d became %d", in, o.BatchBytes)
		}
		if in > 0 && in <= maxBatchBytes && o.BatchBytes != in {
			t.Errorf("BatchBytes %d changed to %d", in, o.BatchBytes)
		}
	}
}
