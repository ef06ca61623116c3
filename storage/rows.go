package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
)

// ClientWindow is one client's aggregate over one detection window, with
// what its baseline expected. The detect engine fills it; storage keeps it
// in client_windows for the dashboards.
type ClientWindow struct {
	Client      string
	ClientKind  string // "ip", "api_key", ...: ingest.ClientKind.String()
	WindowStart time.Time
	WindowEnd   time.Time

	Requests     uint64
	Errors       uint64 // 5xx responses
	AuthFailures uint64
	BytesOut     uint64
	// Distinct routes and raw paths seen in the window; 0 when the
	// producer does not count them.
	DistinctRoutes uint32
	DistinctPaths  uint32

	// The baseline's expectations for this window; 0 when there is no
	// baseline yet.
	ExpectedRequests     float64
	ExpectedErrorRatio   float64
	ExpectedAuthFailures float64
	// The spread (one standard deviation) around each expectation, in
	// its unit; 0 without a baseline, and in windows stored before
	// migration 7.
	SpreadRequests     float64
	SpreadErrorRatio   float64
	SpreadAuthFailures float64
}

// ClientWindowOf is the row of a window the detect engine reported.
func ClientWindowOf(w detect.WindowStats) ClientWindow {
	return ClientWindow{
		Client: w.Client, ClientKind: w.ClientKind, WindowStart: w.Start, WindowEnd: w.End,
		Requests: w.Requests, Errors: w.Errors, AuthFailures: w.AuthFailures, BytesOut: w.BytesOut,
		ExpectedRequests: w.ExpectedRequests, ExpectedErrorRatio: w.ExpectedErrorRatio, ExpectedAuthFailures: w.ExpectedAuthFailures,
		SpreadRequests: w.SpreadRequests, SpreadErrorRatio: w.SpreadErrorRatio, SpreadAuthFailures: w.SpreadAuthFailures,
	}
}

// KeyOf is the deduplication key of an event read from Kafka at (topic,
// partition, offset): for a line read from a file, its origin and
// position (ingest.Event Origin and Pos), so a line a restarted collector
// sent again collapses onto the first copy; for other events EventID.
func KeyOf(ev *ingest.Event, topic string, partition int, offset int64) uint64 {
	if ev.Origin == 0 {
		return EventID(topic, partition, offset)
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], ev.Origin)
	binary.LittleEndian.PutUint64(b[8:], uint64(ev.Pos))
	h := fnv.New64a()
	h.Write(b[:])
	return h.Sum64()
}

// EventID is the deduplication key of an event read from Kafka: the same
// message (topic, partition, offset) always gets the same id, so a batch
// inserted again after a crash collapses onto the first copy.
func EventID(topic string, partition int, offset int64) uint64 {
	h := fnv.New64a()
	var buf [64]byte
	b := append(buf[:0], topic...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, offset, 10)
	h.Write(b)
	return h.Sum64()
}

func nonNeg(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// insertBlockRows is the size of the native-protocol blocks an INSERT
// of events is sent in; see insertEventBlocks.
const insertBlockRows = 8192

// insertEvents sends the batch as one INSERT. The same batch sent twice
// produces the same blocks, which servers with insert deduplication drop.
func (db *DB) insertEvents(ctx context.Context, b *eventBatch) error {
	b.sortByKey(db.ddl.f.DateTime64)
	return db.insertEventBlocks(ctx, b, insertBlockRows)
}

// insertEventBlocks sends the batch as one INSERT of blocks of up to
// blockRows rows. The driver copies each block into column buffers of its
// own: a block of a few thousand rows reuses them (Flush keeps their
// capacity), where one 100k-row block grew them from nothing on every
// insert (most of the client's allocations and copying), and the server
// starts on the first block while the next is encoded. The server
// squashes the blocks of one INSERT back together up to
// min_insert_block_size_rows (1,048,576 by default), so a batch still
// makes one part, written only when the INSERT completes
// (TestInsertEventBlocksMakeOnePart).
func (db *DB) insertEventBlocks(ctx context.Context, b *eventBatch, blockRows int) error {
	n := b.Len()
	if n == 0 {
		return nil
	}
	if blockRows <= 0 {
		blockRows = n
	}
	cols := db.ddl.eventColumns()
	batch, err := db.conn.PrepareBatch(insertContext(ctx), "INSERT INTO "+db.table(tableEvents)+" "+columnList(cols))
	if err != nil {
		return fmt.Errorf("storage: insert events: %w", err)
	}
	defer batch.Close()
	for lo := 0; lo < n; lo += blockRows {
		hi := min(lo+blockRows, n)
		for i, c := range b.block(lo, hi) {
			if err := batch.Column(i).Append(c); err != nil {
				return fmt.Errorf("storage: insert events, column %s: %w", cols[i].name, err)
			}
		}
		if hi == n {
			break // Send sends the last block
		}
		if err := batch.Flush(); err != nil {
			return fmt.Errorf("storage: insert %d events: %w", n, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("storage: insert %d events: %w", n, err)
	}
	return nil
}

// InsertWindows writes client windows in one INSERT, without batching or
// retries (Writer adds both).
func (db *DB) InsertWindows(ctx context.Context, ws []ClientWindow) error {
	if len(ws) == 0 {
		return nil
	}
	batch, err := db.conn.PrepareBatch(insertContext(ctx), "INSERT INTO "+db.table(tableWindows)+" "+columnList(db.ddl.windowColumns()))
	if err != nil {
		return fmt.Errorf("storage: insert windows: %w", err)
	}
	defer batch.Close()
	now := time.Now().UTC()
	for i := range ws {
		w := &ws[i]
		if err := batch.Append(w.Client, w.ClientKind, w.WindowStart.UTC(), w.WindowEnd.UTC(),
			w.Requests, w.Errors, w.AuthFailures, w.BytesOut, w.DistinctRoutes, w.DistinctPaths,
			finite(w.ExpectedRequests), finite(w.ExpectedErrorRatio), finite(w.ExpectedAuthFailures), now,
			finite(w.SpreadRequests), finite(w.SpreadErrorRatio), finite(w.SpreadAuthFailures)); err != nil {
			return fmt.Errorf("storage: insert windows: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("storage: insert %d windows: %w", len(ws), err)
	}
	return nil
}

// InsertFindings writes findings in one INSERT, without batching or
// retries (Writer adds both). emitted_at is the time of the insert.
func (db *DB) InsertFindings(ctx context.Context, fs []detect.Finding) error {
	if len(fs) == 0 {
		return nil
	}
	batch, err := db.conn.PrepareBatch(insertContext(ctx), "INSERT INTO "+db.table(tableFindings)+" "+columnList(db.ddl.findingColumns()))
	if err != nil {
		return fmt.Errorf("storage: insert findings: %w", err)
	}
	defer batch.Close()
	now := time.Now().UTC()
	for i := range fs {
		f := &fs[i]
		var tot detect.Totals
		if f.Totals != nil {
			tot = *f.Totals
		}
		if err := batch.Append(f.IncidentID, string(f.Status), f.Client, f.ClientKind, f.Detector,
			f.WindowStart.UTC(), f.WindowEnd.UTC(), uint32(max(f.Windows, 0)),
			finite(f.Observed), finite(f.Expected), finite(f.Spread), f.Unit, finite(f.Score), finite(f.PValue),
			string(f.Severity), f.Baseline, uint32(max(f.History, 0)), f.Summary, now,
			f.Why, finite(f.Requests), nonNil(f.Routes), nonNil(f.Samples), nonNil(f.TopClients),
			nonNil(f.Detectors), f.Campaign, nonNil(f.Clients), uint32(max(f.ClientCount, 0)),
			finite(tot.Requests), finite(tot.Failures), finite(tot.Bytes), finite(tot.DistinctPaths)); err != nil {
			return fmt.Errorf("storage: insert findings: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("storage: insert %d findings: %w", len(fs), err)
	}
	return nil
}

// HealthSample is one pipeline health measurement, e.g. a consumer's lag.
type HealthSample struct {
	Time      time.Time
	Component string // "store", "detect", "collect"
	Instance  string // host or pod name
	Metric    string // "lag", "events_per_s", "insert_errors", ...
	Value     float64
}

// InsertHealth writes pipeline health samples in one INSERT.
func (db *DB) InsertHealth(ctx context.Context, hs []HealthSample) error {
	if len(hs) == 0 {
		return nil
	}
	batch, err := db.conn.PrepareBatch(insertContext(ctx), "INSERT INTO "+db.table(tableHealth)+" "+columnList(db.ddl.healthColumns()))
	if err != nil {
		return fmt.Errorf("storage: insert health: %w", err)
	}
	defer batch.Close()
	for _, h := range hs {
		if err := batch.Append(h.Time.UTC(), h.Component, h.Instance, h.Metric, finite(h.Value)); err != nil {
			return fmt.Errorf("storage: insert health: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("storage: insert %d health samples: %w", len(hs), err)
	}
	return nil
}

// nonNil returns s, or an empty slice for nil: an Array column takes no
// NULL.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// insertContext detaches an insert from ctx's cancellation. clickhouse-go
// v2.50 watches a batch's context from a goroutine that closes the TCP
// connection when the context ends; if that goroutine has not yet seen
// Send's "done" signal when the caller cancels right after a successful
// insert, it closes a connection already back in the pool, and the next
// query on it fails with "use of closed network connection" (seen in
// TestWindowsAndFindingsRoundTrip under -race). A detached context never
// ends, so the watchdog never fires; an insert to a dead or hung server
// still ends, through the dial and read timeouts (Options), and the
// writers' retry loops still stop on ctx between attempts.
func insertContext(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// finite maps NaN and infinities to 0: ClickHouse stores them, but
// dashboards and JSON output choke on them.
func finite(x float64) float64 {
	if x != x || x > 1.7976931348623157e308 || x < -1.7976931348623157e308 {
		return 0
	}
	return x
}
