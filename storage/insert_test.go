package storage

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestInsertEventBlocksMakeOnePart checks what insertEventBlocks relies
// on: the server squashes the blocks of one INSERT, so a batch sent in
// many blocks still makes a single part (level 0: not a merge of several)
// holding every row.
func TestInsertEventBlocksMakeOnePart(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	ctx := context.Background()
	evs := sampleEvents(20_000, time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)) // 200 s, one day
	b := newEventBatch(len(evs))
	var bytesOut uint64
	for i := range evs {
		b.add(&evs[i], EventID("events", 0, int64(i)))
		bytesOut += uint64(evs[i].BytesOut)
	}
	if err := db.insertEventBlocks(ctx, b, 3000); err != nil { // 6 full blocks and a short one
		t.Fatal(err)
	}
	var parts, rows, maxLevel uint64
	if err := db.conn.QueryRow(ctx, "SELECT count(), sum(rows), toUInt64(max(level)) FROM system.parts WHERE database = ? AND table = ? AND active",
		db.Database(), tableEvents).Scan(&parts, &rows, &maxLevel); err != nil {
		t.Fatal(err)
	}
	if parts != 1 || rows != 20_000 || maxLevel != 0 {
		t.Errorf("one INSERT of 7 blocks made %d parts (max level %d) holding %d rows, want 1 part of level 0 with 20000", parts, maxLevel, rows)
	}
	if got := count(t, db, "SELECT sum(bytes_out) FROM "+db.table(tableEvents)); got != bytesOut {
		t.Errorf("sum(bytes_out) = %d, want %d", got, bytesOut)
	}
}

// TestEventBatchReuse fills one batch, inserts it, resets it and fills it
// with other events: the second fill writes over the first one's string
// arena and IP buffer, which must not change what the first insert
// stored, nor leak into the second.
func TestEventBatchReuse(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	ctx := context.Background()
	start := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	first := sampleEvents(500, start, "k:first-client-with-a-long-key", "k:f2")
	second := sampleEvents(700, start.Add(time.Hour), "k:s1", "k:second-client-with-a-longer-key-than-before", "k:s3")
	for i := range second {
		second[i].Path += "/second"
		second[i].RequestID = "second-" + second[i].RequestID
	}
	var want []string
	b := newEventBatch(10) // smaller than either fill: the buffers grow too
	for n, evs := range [][]ingest.Event{first, second} {
		for i := range evs {
			b.add(&evs[i], EventID("events", n, int64(i)))
			want = append(want, rowKeyText(evs[i].ClientKey, evs[i].Path, evs[i].RequestID, evs[i].RemoteIP.String()))
		}
		if err := db.insertEvents(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.reset()
	}
	rows, err := db.conn.Query(ctx, "SELECT client, path, request_id, IPv6NumToString(ip) FROM "+db.table(tableEvents))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var client, path, rq, ip string
		if err := rows.Scan(&client, &path, &rq, &ip); err != nil {
			t.Fatal(err)
		}
		got = append(got, rowKeyText(client, path, rq, parseStoredIP(ip).String()))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("stored %d rows differing from the %d written; first stored %q, first written %q", len(got), len(want), got[:min(1, len(got))], want[:1])
	}
}

func rowKeyText(client, path, requestID, ip string) string {
	return client + " " + path + " " + requestID + " " + ip
}

// TestCompressionRoundTrip stores and reads events with the blocks LZ4
// compressed and uncompressed: the test server is on loopback, where the
// default sends them uncompressed, so LZ4 is forced here.
func TestCompressionRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		c    Compression
	}{{"lz4", CompressLZ4}, {"none", CompressNone}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := migrated(t, testClickHouse(t, func(o *Options) { o.Compression = tt.c }))
			ctx := context.Background()
			start := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
			evs := sampleEvents(10_000, start)
			b := newEventBatch(len(evs))
			var latency uint64
			for i := range evs {
				b.add(&evs[i], EventID("events", 0, int64(i)))
				latency += uint64(evs[i].Latency.Microseconds())
			}
			if err := db.insertEvents(ctx, b); err != nil {
				t.Fatal(err)
			}
			if got := count(t, db, "SELECT sum(latency_us) FROM "+db.table(tableEvents)); got != latency {
				t.Errorf("sum(latency_us) = %d, want %d", got, latency)
			}
			tl, err := db.ClientTimeline(ctx, TimelineQuery{Client: "k:carol", From: start, To: start.Add(time.Hour), Limit: 10})
			if err != nil || len(tl) != 10 || tl[0].Path != evs[2].Path || tl[0].RequestID != evs[2].RequestID {
				t.Fatalf("timeline: %d events, %v", len(tl), err)
			}
		})
	}
}

func TestLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:9000", true},
		{"127.8.9.10:9000", true},
		{"[::1]:9000", true},
		{"localhost:9440", true},
		{"LocalHost:9440", true},
		{"localhost", true},
		{"10.0.0.7:9000", false},
		{"[2001:db8::1]:9000", false},
		{"clickhouse.internal:9000", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := loopback(tt.addr); got != tt.want {
			t.Errorf("loopback(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}
