package storage

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestTopClientsExactAfterReplay inserts a batch, merges it, then stores
// one batch twice (a crash between an insert and its Kafka commit) before
// any merge, and checks TopClients counts every event once, over a range
// holding only the replayed day, only the clean day, and both.
func TestTopClientsExactAfterReplay(t *testing.T) {
	t.Parallel()
	db := migrated(t, testClickHouse(t))
	ctx := context.Background()
	day1 := time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	clean := sampleEvents(2000, day1, "k:alice", "k:bob", "k:carol")
	// Bob leads on the replayed day, Alice (who is not replayed) second:
	// counted twice, the replayed clients would overtake her.
	replayed := sampleEvents(900, day2, "k:bob", "k:carol", "k:bob")
	alone := sampleEvents(500, day2.Add(time.Hour), "k:alice")
	insert := func(evs []ingest.Event, topic string, times int) { insertBatch(t, db, evs, topic, times) }
	insert(clean, "clean", 1)
	if err := db.conn.Exec(ctx, "OPTIMIZE TABLE "+db.table(tableEvents)+" FINAL"); err != nil {
		t.Fatal(err)
	}
	insert(alone, "alone", 1)
	insert(replayed, "replayed", 2)
	if raw := count(t, db, "SELECT count() FROM "+db.table(tableEvents)); !db.Features().InsertDedup && raw != 2000+500+2*900 {
		t.Fatalf("raw count %d: the replay did not store a second copy, the test proves nothing", raw)
	}

	tests := []struct {
		name     string
		from, to time.Time
		evs      []ingest.Event
	}{
		{"replayed day", day2, day2.Add(24 * time.Hour), append(slices.Clone(replayed), alone...)},
		{"clean day", day1, day2, clean},
		{"both", day1, day2.Add(24 * time.Hour), append(append(slices.Clone(clean), replayed...), alone...)},
		{"part of each", day1.Add(5 * time.Second), day2.Add(7 * time.Second), append(slices.Clone(clean[500:]), replayed[:700]...)},
	}
	for _, tt := range tests {
		for _, by := range []RankBy{ByRequests, ByErrors, ByAuthFailures} {
			want := expectedTop(tt.evs, by)
			got, err := db.TopClients(ctx, TopQuery{From: tt.from, To: tt.to, By: by})
			if err != nil {
				t.Fatalf("%s by %s: %v", tt.name, by, err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s by %s:\n got %+v\nwant %+v", tt.name, by, got, want)
			}
		}
	}
}

// expectedTop is what TopClients must return for evs (each stored once),
// ranked by by, computed in Go.
func expectedTop(evs []ingest.Event, by RankBy) []ClientStat {
	stats := map[string]*ClientStat{}
	routes := map[string]map[string]bool{}
	for _, ev := range evs {
		c := stats[ev.ClientKey]
		if c == nil {
			c = &ClientStat{Client: ev.ClientKey, ClientKind: ev.ClientKind.String(), First: ev.Time.Truncate(time.Second), Last: ev.Time.Truncate(time.Second)}
			stats[ev.ClientKey] = c
			routes[ev.ClientKey] = map[string]bool{}
		}
		c.Requests++
		if ev.Status >= 500 && ev.Status < 600 {
			c.Errors++
		}
		if ev.Auth == ingest.AuthFailed || ev.Auth == ingest.AuthForbidden {
			c.AuthFailures++
		}
		c.BytesOut += uint64(ev.BytesOut)
		routes[ev.ClientKey][ev.Route] = true
		c.Routes = uint64(len(routes[ev.ClientKey]))
		t := ev.Time.Truncate(time.Second)
		if t.Before(c.First) {
			c.First = t
		}
		if t.After(c.Last) {
			c.Last = t
		}
	}
	var out []ClientStat
	for _, c := range stats {
		out = append(out, *c)
	}
	metric := func(c ClientStat) uint64 {
		switch by {
		case ByErrors:
			return c.Errors
		case ByAuthFailures:
			return c.AuthFailures
		}
		return c.Requests
	}
	slices.SortFunc(out, func(a, b ClientStat) int {
		if ma, mb := metric(a), metric(b); ma != mb {
			if ma > mb {
				return -1
			}
			return 1
		}
		if a.Client < b.Client {
			return -1
		}
		if a.Client > b.Client {
			return 1
		}
		return 0
	})
	return out
}

func TestSplitRange(t *testing.T) {
	t.Parallel()
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	at := func(d, h int) time.Time { return day(d).Add(time.Duration(h) * time.Hour) }
	p := func(d int, settled bool) partitionDay { return partitionDay{day: day(d), settled: settled} }
	r := func(from, to time.Time) timeRange { return timeRange{from, to} }
	tests := []struct {
		name       string
		from, to   time.Time
		days       []partitionDay
		plain, fin []timeRange
	}{
		{"no partitions", day(1), day(8), nil, nil, []timeRange{r(day(1), day(8))}},
		{"empty range", day(3), day(3), []partitionDay{p(3, true)}, nil, nil},
		{"all settled, today unsettled", day(1), at(7, 12),
			[]partitionDay{p(1, true), p(2, true), p(3, true), p(7, false)},
			[]timeRange{r(day(1), day(4))}, []timeRange{r(day(4), at(7, 12))}},
		{"a replay in the middle", at(1, 6), day(6),
			[]partitionDay{p(1, true), p(2, true), p(3, false), p(4, true), p(5, true)},
			[]timeRange{r(at(1, 6), day(3)), r(day(4), day(6))}, []timeRange{r(day(3), day(4))}},
		{"empty days join the next partition", day(1), day(9),
			[]partitionDay{p(2, true), p(5, false), p(7, true)},
			[]timeRange{r(day(1), day(3)), r(day(5+1), day(8))}, []timeRange{r(day(3), day(6)), r(day(8), day(9))}},
		{"partitions outside the range", at(3, 1), at(3, 2),
			[]partitionDay{p(1, false), p(3, true), p(5, false)},
			[]timeRange{r(at(3, 1), at(3, 2))}, nil},
	}
	for _, tt := range tests {
		plain, fin := splitRange(tt.from, tt.to, tt.days)
		if !slices.Equal(plain, tt.plain) || !slices.Equal(fin, tt.fin) {
			t.Errorf("%s: plain %v final %v, want plain %v final %v", tt.name, plain, fin, tt.plain, tt.fin)
		}
	}
}
