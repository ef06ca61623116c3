package storage

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/gatewatch/gatewatch/ingest"
)

// shuffledEvents returns n events in random order whose every field varies
// from row to row, BytesIn holding the event's index: a column the sort
// forgot to permute shows as a row whose fields disagree.
func shuffledEvents(n int, seed uint64) []ingest.Event {
	rng := rand.New(rand.NewPCG(seed, 1))
	start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	evs := make([]ingest.Event, n)
	for i := range evs {
		s := fmt.Sprint(i)
		evs[i] = ingest.Event{
			// A few clients and seconds, so rows tie on client and on time.
			Time:   start.Add(time.Duration(rng.IntN(5))*time.Second + time.Duration(rng.IntN(3))*time.Microsecond),
			Source: "src" + s, Format: "fmt" + s,
			ClientKey: fmt.Sprintf("k:%d", rng.IntN(7)), ClientKind: ingest.ClientKind(i%3 + 1),
			RemoteIP: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			Method:   "M" + s, Host: "h" + s, Path: "/p/" + s, Route: "/r/" + s, Query: "q=" + s,
			Status: 100 + i%400, BytesIn: int64(i), BytesOut: int64(2 * i), Latency: time.Duration(i) * time.Microsecond,
			UserAgent: "ua" + s, Referer: "ref" + s, Auth: ingest.AuthOutcome(i%3 + 1), Scheme: "sch" + s,
			TLSVersion: "tls" + s, APIVersion: "v" + s, RequestID: "rq" + s,
		}
	}
	return evs
}

// rowsOf returns the batch's rows in the order an insert sends them, each
// as its columns' values.
func rowsOf(b *eventBatch) [][]any {
	cols := b.block(0, b.Len())
	rows := make([][]any, b.Len())
	for i := range rows {
		for _, c := range cols {
			rows[i] = append(rows[i], reflect.ValueOf(c).Index(i).Interface())
		}
	}
	return rows
}

// The places of the columns rowsOf's rows are compared by.
const (
	colID      = 0
	colTime    = 1
	colClient  = 5
	colBytesIn = 14
)

// TestSortByKeyKeepsRowsTogether sorts shuffled batches at both time
// precisions: every row keeps all its columns (each compared with the row
// as added, found by bytes_in), and the rows come out in the table's key
// order: client, time at the precision, event_id.
func TestSortByKeyKeepsRowsTogether(t *testing.T) {
	for _, tc := range []struct {
		name      string
		micro     bool
		timeOrder bool // added in time order, clients interleaved, as a partition delivers them
	}{
		{"seconds", false, false}, {"micro", true, false}, {"seconds/time-ordered", false, true}, {"micro/time-ordered", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := shuffledEvents(2000, 3)
			if tc.timeOrder {
				slices.SortStableFunc(evs, func(x, y ingest.Event) int { return x.Time.Compare(y.Time) })
			}
			b := newEventBatch(0)
			for i := range evs {
				evs[i].BytesIn = int64(i)           // the row's number, as rowsOf finds it
				b.add(&evs[i], uint64(i*7919%2000)) // ids tie-break rows of one client and time
			}
			before := rowsOf(b)
			b.sortByKey(tc.micro)
			after := rowsOf(b)
			if len(after) != len(before) {
				t.Fatalf("%d rows after sorting, want %d", len(after), len(before))
			}
			for j, row := range after {
				orig := before[row[colBytesIn].(uint64)]
				if !reflect.DeepEqual(row, orig) {
					t.Fatalf("row %d after sorting = %v, want the row added as %d: %v", j, row, row[colBytesIn], orig)
				}
			}
			for j := 1; j < len(after); j++ {
				if c := compareRows(after[j-1], after[j], tc.micro); c > 0 {
					t.Fatalf("rows %d and %d out of key order: %v, %v", j-1, j, after[j-1][:6], after[j][:6])
				}
			}
		})
	}
}

// compareRows compares two rows by the key, written out from the table's
// definition rather than from sortByKey.
func compareRows(x, y []any, micro bool) int {
	if c := strings.Compare(x[colClient].(string), y[colClient].(string)); c != 0 {
		return c
	}
	prec := time.Second
	if micro {
		prec = time.Microsecond
	}
	if c := x[colTime].(time.Time).Truncate(prec).Compare(y[colTime].(time.Time).Truncate(prec)); c != 0 {
		return c
	}
	return cmp.Compare(x[colID].(uint64), y[colID].(uint64))
}

// TestSortByKeyOnce: a sorted batch is not sorted again (an insert
// retried sends the same blocks), and adding a row marks it unsorted.
func TestSortByKeyOnce(t *testing.T) {
	evs := shuffledEvents(50, 4)
	b := newEventBatch(0)
	for i := range evs {
		b.add(&evs[i], uint64(i))
	}
	b.sortByKey(false)
	order := func() (seq []uint64) {
		for _, r := range rowsOf(b) {
			seq = append(seq, r[colBytesIn].(uint64))
		}
		return seq
	}
	first := order()
	// The first row in key order an hour later: sorted again, it would
	// move behind the other rows of its client.
	if b.client[0] != b.client[1] {
		t.Fatal("the test needs the first client to have more than one row")
	}
	b.sec[0] += 3600
	b.sortByKey(false)
	if !slices.Equal(order(), first) {
		t.Fatal("a batch already sorted was sorted again")
	}
	b.add(&evs[0], 99)
	if b.order.sorted {
		t.Fatal("a row added to a sorted batch left it marked sorted")
	}
}

// TestEventBatchRoundTrip: every field of an event comes out of a batch in
// its column, as the driver takes it: Unicode, empty strings, pre-1970
// and nanosecond times, IPv6, an unknown address, out-of-range status and
// negative sizes.
func TestEventBatchRoundTrip(t *testing.T) {
	evs := []ingest.Event{
		{Time: time.Date(1969, 12, 31, 23, 59, 59, 999_999_999, time.UTC), ClientKey: "ip:2001:db8::1",
			RemoteIP: netip.MustParseAddr("2001:db8::1"), Status: 70000, BytesIn: -5, Path: "/ü/路径", UserAgent: "ü"},
		{Time: time.Date(2026, 3, 4, 8, 0, 0, 123_456_789, time.FixedZone("X", 3600)), ClientKey: "k:a",
			ClientKind: ingest.ClientAPIKey, Auth: ingest.AuthOutcome(2), Status: 200, BytesOut: 9, Latency: 1500 * time.Nanosecond},
		{}, // all empty: no address, zero time
	}
	evs = append(evs, shuffledEvents(20, 9)...) // every field distinct: a column in the wrong place shows
	b := new(eventBatch)                        // the zero value works
	for i := range evs {
		b.add(&evs[i], uint64(i+1))
	}
	rows := rowsOf(b)
	for i, ev := range evs {
		r := rows[i]
		ip := make([]byte, 16)
		if ev.RemoteIP.IsValid() {
			a := ev.RemoteIP.As16()
			ip = a[:]
		}
		want := []any{uint64(i + 1), ev.Time.UTC(), uint32(ev.Time.Nanosecond() / 1000), ev.Source, ev.Format, ev.ClientKey,
			ev.ClientKind.String(), ip, ev.Method, ev.Host, ev.Path, ev.Route, ev.Query,
			uint16(map[bool]int{true: ev.Status, false: 0}[ev.Status >= 0 && ev.Status <= 65535]),
			nonNeg(ev.BytesIn), nonNeg(ev.BytesOut), nonNeg(ev.Latency.Microseconds()),
			ev.UserAgent, ev.Referer, ev.Auth.String(), ev.Scheme, ev.TLSVersion, ev.APIVersion, ev.RequestID}
		if !reflect.DeepEqual(r, want) {
			t.Errorf("event %d came out as\n%#v\nwant\n%#v", i, r, want)
		}
	}
}

// TestInsertSkipsTheServersSort inserts a shuffled batch and reads the
// server's own count of blocks it found already in key order
// (MergeTreeDataWriterBlocksAlreadySorted, in the INSERT's query_log
// entry): 1 for the sorted insert, 0 for a control inserted unsorted. It
// fails if sortByKey's order differs from the server's.
func TestInsertSkipsTheServersSort(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	evs := shuffledEvents(5000, 5)
	for _, sorted := range []bool{true, false} {
		b := newEventBatch(0)
		for i := range evs {
			b.add(&evs[i], EventID("events", 0, int64(i)))
		}
		id := fmt.Sprintf("gatewatch-sort-test-%d-%v", time.Now().UnixNano(), sorted)
		ctx := clickhouse.Context(context.Background(), clickhouse.WithQueryID(id),
			clickhouse.WithSettings(clickhouse.Settings{"log_queries": 1}))
		insert := db.insertEvents
		if !sorted {
			insert = func(ctx context.Context, b *eventBatch) error { return db.insertEventBlocks(ctx, b, insertBlockRows) }
		}
		if err := insert(ctx, b); err != nil {
			t.Fatal(err)
		}
		if got, want := alreadySorted(t, db, id), map[bool]uint64{true: 1, false: 0}[sorted]; got != want {
			t.Errorf("sorted=%v: the server found %d blocks already in key order, want %d", sorted, got, want)
		}
	}
}

// alreadySorted reads MergeTreeDataWriterBlocksAlreadySorted of the query
// id from system.query_log. The server logs a query once it has answered
// it, so the entry is waited for.
func alreadySorted(t *testing.T, db *DB, id string) uint64 {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err := db.conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
			t.Fatal(err)
		}
		var v []uint64
		err := db.conn.QueryRow(ctx, `SELECT groupArray(ProfileEvents.Values[indexOf(ProfileEvents.Names, 'MergeTreeDataWriterBlocksAlreadySorted')])
			FROM system.query_log WHERE query_id = ? AND type = 2`, id).Scan(&v)
		switch {
		case err != nil:
			t.Fatal(err)
		case len(v) == 1:
			return v[0]
		case len(v) > 1 || time.Now().After(deadline):
			t.Fatalf("query_log has %d finished entries for the insert %s, want 1", len(v), id)
		}
	}
}

// BenchmarkSortByKey sorts a batch of 100,000 events as store makes them
// (benchEvents: 5,000 clients over an hour, in arrival order): the CPU
// store spends so that ClickHouse need not sort.
func BenchmarkSortByKey(b *testing.B) {
	evs := benchEvents(100_000, time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), time.Hour, 1)
	batch := newEventBatch(len(evs))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		batch.reset()
		for i := range evs {
			batch.add(&evs[i], EventID("events", 0, int64(i)))
		}
		b.StartTimer()
		batch.sortByKey(false)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/row")
}

// BenchmarkBlock turns a sorted batch of 100,000 events (as
// BenchmarkSortByKey makes it) into the driver's columns, block by block,
// as an insert does.
func BenchmarkBlock(b *testing.B) {
	evs := benchEvents(100_000, time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), time.Hour, 1)
	batch := newEventBatch(len(evs))
	for i := range evs {
		batch.add(&evs[i], EventID("events", 0, int64(i)))
	}
	batch.sortByKey(false)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for lo := 0; lo < batch.Len(); lo += insertBlockRows {
			batch.block(lo, min(lo+insertBlockRows, batch.Len()))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/row")
}
