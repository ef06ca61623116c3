package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"
	"unsafe"

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

// eventBatch holds events column by column, the layout the native protocol
// sends, so an insert is one Append per column and block instead of one
// per value. Strings are copied into the batch (events alias their
// parser's buffers): low-cardinality ones through the interner, the rest
// into arena. A batch is reused after its insert (reset keeps every
// buffer), so a writer in steady state allocates almost nothing per row.
type eventBatch struct {
	id                                             []uint64
	time                                           []time.Time
	timeUS                                         []uint32
	source, format, client, kind                   []string
	ip                                             [][]byte
	method, host, path, route, query               []string
	status                                         []uint16
	bytesIn, bytesOut, latency                     []uint64
	userAgent, referer, auth, scheme, tls, api, rq []string

	ipBuf []byte // backing store of ip, 16 bytes per row
	// arena holds the bytes of the high-cardinality strings (client, path,
	// query, referer, request id): one buffer instead of one allocation
	// per string. The batch's strings view it, so it is overwritten only
	// after reset, once nothing reads them any more.
	arena []byte
	size  int // approximate bytes held, for the byte bound
}

// newEventBatch returns a batch with room for rows events, so filling it
// does not grow (and copy) every column several times over.
func newEventBatch(rows int) *eventBatch {
	rows = max(rows, 0)
	str := func() []string { return make([]string, 0, rows) }
	u64 := func() []uint64 { return make([]uint64, 0, rows) }
	return &eventBatch{
		id: u64(), time: make([]time.Time, 0, rows), timeUS: make([]uint32, 0, rows),
		source: str(), format: str(), client: str(), kind: str(), ip: make([][]byte, 0, rows),
		method: str(), host: str(), path: str(), route: str(), query: str(),
		status: make([]uint16, 0, rows), bytesIn: u64(), bytesOut: u64(), latency: u64(),
		userAgent: str(), referer: str(), auth: str(), scheme: str(), tls: str(), api: str(), rq: str(),
		ipBuf: make([]byte, 0, 16*rows),
	}
}

func (b *eventBatch) Len() int { return len(b.id) }

// Bytes approximates the memory the batch holds.
func (b *eventBatch) Bytes() int { return b.size }

// reset empties the batch and keeps its buffers. The caller guarantees
// nothing reads the batch's strings any more: the arena and ipBuf are
// written over.
func (b *eventBatch) reset() {
	*b = eventBatch{
		id: b.id[:0], time: b.time[:0], timeUS: b.timeUS[:0], source: b.source[:0], format: b.format[:0],
		client: b.client[:0], kind: b.kind[:0], ip: b.ip[:0], method: b.method[:0],
		host: b.host[:0], path: b.path[:0], route: b.route[:0], query: b.query[:0],
		status: b.status[:0], bytesIn: b.bytesIn[:0], bytesOut: b.bytesOut[:0],
		latency: b.latency[:0], userAgent: b.userAgent[:0], referer: b.referer[:0],
		auth: b.auth[:0], scheme: b.scheme[:0], tls: b.tls[:0], api: b.api[:0], rq: b.rq[:0],
		ipBuf: b.ipBuf[:0], arena: b.arena[:0],
	}
}

// interner copies strings once per batch for the low-cardinality fields,
// which repeat on almost every row.
type interner map[string]string

func (in interner) get(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := in[s]; ok {
		return v
	}
	v := string([]byte(s))
	if len(in) < 1<<16 {
		in[v] = v
	}
	return v
}

// own copies s into the arena and returns the copy.
func (b *eventBatch) own(s string) string {
	if s == "" {
		return ""
	}
	if cap(b.arena)-len(b.arena) < len(s) {
		// A new buffer: the strings already made keep the old one alive,
		// so it is never moved under them.
		b.arena = make([]byte, 0, max(64<<10, 2*cap(b.arena), len(s)))
	}
	start := len(b.arena)
	b.arena = append(b.arena, s...)
	return unsafe.String(&b.arena[start], len(s))
}

// add copies ev into the batch under the dedup key id.
func (b *eventBatch) add(ev *ingest.Event, id uint64, in interner) {
	b.id = append(b.id, id)
	b.time = append(b.time, ev.Time.UTC())
	b.timeUS = append(b.timeUS, uint32(ev.Time.Nanosecond()/1000))
	b.source = append(b.source, in.get(ev.Source))
	b.format = append(b.format, in.get(ev.Format))
	b.client = append(b.client, b.own(ev.ClientKey))
	b.kind = append(b.kind, ev.ClientKind.String())
	// IPv4 is stored IPv4-mapped, as ClickHouse's IPv6 functions expect;
	// an unknown address is all zeros (::).
	var a16 [16]byte
	if ev.RemoteIP.IsValid() {
		a16 = ev.RemoteIP.As16()
	}
	if cap(b.ipBuf)-len(b.ipBuf) < 16 {
		// A new backing array: earlier rows keep pointing at the old one.
		b.ipBuf = make([]byte, 0, max(4096, 2*cap(b.ipBuf)))
	}
	start := len(b.ipBuf)
	b.ipBuf = append(b.ipBuf, a16[:]...)
	b.ip = append(b.ip, b.ipBuf[start:start+16:start+16])
	b.method = append(b.method, in.get(ev.Method))
	b.host = append(b.host, in.get(ev.Host))
	b.path = append(b.path, b.own(ev.Path))
	b.route = append(b.route, in.get(ev.Route))
	b.query = append(b.query, b.own(ev.Query))
	st := ev.Status
	if st < 0 || st > 65535 {
		st = 0
	}
	b.status = append(b.status, uint16(st))
	b.bytesIn = append(b.bytesIn, nonNeg(ev.BytesIn))
	b.bytesOut = append(b.bytesOut, nonNeg(ev.BytesOut))
	b.latency = append(b.latency, nonNeg(ev.Latency.Microseconds()))
	b.userAgent = append(b.userAgent, in.get(ev.UserAgent))
	b.referer = append(b.referer, b.own(ev.Referer))
	b.auth = append(b.auth, ev.Auth.String())
	b.scheme = append(b.scheme, in.get(ev.Scheme))
	b.tls = append(b.tls, in.get(ev.TLSVersion))
	b.api = append(b.api, in.get(ev.APIVersion))
	b.rq = append(b.rq, b.own(ev.RequestID))
	b.size += 120 + len(ev.ClientKey) + len(ev.Path) + len(ev.Query) + len(ev.Referer) + len(ev.RequestID)
}

func nonNeg(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// columns returns rows [lo, hi) of the batch's columns in eventColumns
// order.
func (b *eventBatch) columns(lo, hi int) []any {
	return []any{
		b.id[lo:hi], b.time[lo:hi], b.timeUS[lo:hi], b.source[lo:hi], b.format[lo:hi], b.client[lo:hi], b.kind[lo:hi],
		b.ip[lo:hi], b.method[lo:hi], b.host[lo:hi], b.path[lo:hi], b.route[lo:hi], b.query[lo:hi],
		b.status[lo:hi], b.bytesIn[lo:hi], b.bytesOut[lo:hi], b.latency[lo:hi],
		b.userAgent[lo:hi], b.referer[lo:hi], b.auth[lo:hi], b.scheme[lo:hi], b.tls[lo:hi], b.api[lo:hi], b.rq[lo:hi],
	}
}

// insertBlockRows is the size of the native-protocol blocks an INSERT
// of events is sent in; see insertEventBlocks.
const insertBlockRows = 8192

// insertEvents sends the batch as one INSERT. The same batch sent twice
// produces the same blocks, which servers with insert deduplication drop.
func (db *DB) insertEvents(ctx context.Context, b *eventBatch) error {
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
		for i, c := range b.columns(lo, hi) {
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
