package storage

import (
	"unsafe"

	"github.com/gatewatch/gatewatch/ingest"
)

// The string columns of events a batch keeps as codes of its dictionary:
// values that repeat on almost every row.
const (
	lowSource = iota
	lowFormat
	lowMethod
	lowHost
	lowRoute
	lowUserAgent
	lowScheme
	lowTLS
	lowAPI
	nLow
)

// The string columns a batch keeps in its arena: values that rarely
// repeat. The client column is a code of the batch's client list instead.
const (
	highPath = iota
	highQuery
	highReferer
	highRequestID
	nHigh
)

// span is a string in a batch's arena: n bytes from off.
type span struct{ off, n uint32 }

// maxArena bounds a batch's arena, whose offsets are 32-bit. Batches are
// cut at BatchBytes, at most maxBatchBytes, long before: the arena holds
// less than a batch's bytes, and an event's strings are bounded by the
// longest line taken, so own never meets the bound.
const maxArena = 1<<32 - 1

// maxBatchBytes caps BatchOptions.BatchBytes, well under maxArena.
const maxBatchBytes = 1 << 30

// eventBatch holds events column by column, the layout the native
// protocol sends. It holds no pointers per row: strings are copied once
// into the batch (events alias their parser's buffers) and kept as
// codes and offsets: repeated values (source, method, route, user agent,
// ...) as codes of the batch's dictionary, clients as indexes of its
// client list, the rest as spans of one arena; times as seconds and
// nanoseconds. So the garbage collector has nothing to scan in a batch of
// 100,000 rows (it scanned 24 strings a row before), the rows are a third
// of the bytes, and sorting them (sortByKey) moves small values. block
// turns rows into the driver's column types, a block at a time. A batch
// is reused after its insert (reset keeps every buffer), so a writer in
// steady state allocates almost nothing per row.
type eventBatch struct {
	id                         []uint64
	sec                        []int64
	nsec                       []uint32
	kind, auth                 []uint8    // ingest.ClientKind, ingest.AuthOutcome
	ip                         [][16]byte // IPv4-mapped, :: when unknown
	status                     []uint16
	bytesIn, bytesOut, latency []uint64
	client                     []uint32 // index in clients
	low                        [nLow][]uint32
	high                       [nHigh][]span

	clients  []span   // the batch's distinct clients, in arena
	names    []string // clients as strings, made by clientNames
	clientOf map[string]uint32
	dict     []string // the codes' strings, copied
	codeOf   map[string]uint32
	// last is each low column's last value (the dictionary's copy) and
	// code: most rows repeat the row before in most of those columns, and
	// comparing two short strings is cheaper than a map lookup.
	last  [nLow]lastCode
	arena []byte
	size  int // approximate bytes held, for the byte bound

	order keyOrder    // sortByKey's result and scratch
	spare *eventBatch // the columns' arrays before sortByKey reordered them
	blk   *blockBuf   // block's output, reused
}

// lastCode is a column's last value and its code.
type lastCode struct {
	s    string
	code uint32
}

// newEventBatch returns a batch with room for rows events, so filling it
// does not grow (and copy) every column several times over. The zero
// eventBatch works too.
func newEventBatch(rows int) *eventBatch {
	rows = max(rows, 0)
	u64 := func() []uint64 { return make([]uint64, 0, rows) }
	b := &eventBatch{
		id: u64(), sec: make([]int64, 0, rows), nsec: make([]uint32, 0, rows),
		kind: make([]uint8, 0, rows), auth: make([]uint8, 0, rows), ip: make([][16]byte, 0, rows),
		status: make([]uint16, 0, rows), bytesIn: u64(), bytesOut: u64(), latency: u64(),
		client: make([]uint32, 0, rows), clientOf: make(map[string]uint32), codeOf: make(map[string]uint32),
	}
	for i := range b.low {
		b.low[i] = make([]uint32, 0, rows)
	}
	for i := range b.high {
		b.high[i] = make([]span, 0, rows)
	}
	return b
}

// Len is the number of rows.
func (b *eventBatch) Len() int { return len(b.id) }

// Bytes approximates the memory the batch holds.
func (b *eventBatch) Bytes() int { return b.size }

// reset empties the batch and keeps its buffers. The caller guarantees
// nothing reads the batch's rows any more.
func (b *eventBatch) reset() {
	b.id, b.sec, b.nsec, b.kind, b.auth = b.id[:0], b.sec[:0], b.nsec[:0], b.kind[:0], b.auth[:0]
	b.ip, b.status, b.client = b.ip[:0], b.status[:0], b.client[:0]
	b.bytesIn, b.bytesOut, b.latency = b.bytesIn[:0], b.bytesOut[:0], b.latency[:0]
	for i := range b.low {
		b.low[i] = b.low[i][:0]
	}
	for i := range b.high {
		b.high[i] = b.high[i][:0]
	}
	b.clients, b.names, b.dict, b.arena, b.size = b.clients[:0], b.names[:0], b.dict[:0], b.arena[:0], 0
	clear(b.clientOf)
	clear(b.codeOf)
	b.last = [nLow]lastCode{}
	b.order.sorted, b.order.permuted = false, false
}

// str is the arena's string at s. It aliases the arena: valid until reset.
func (b *eventBatch) str(s span) string {
	if s.n == 0 {
		return ""
	}
	return unsafe.String(&b.arena[s.off], int(s.n))
}

// own copies s into the arena.
func (b *eventBatch) own(s string) span {
	if s == "" || len(b.arena)+len(s) > maxArena {
		return span{}
	}
	off := len(b.arena)
	b.arena = append(b.arena, s...)
	return span{uint32(off), uint32(len(s))}
}

// clientNames returns the batch's clients as strings, by index: they
// alias the arena.
func (b *eventBatch) clientNames() []string {
	for _, s := range b.clients[len(b.names):] {
		b.names = append(b.names, b.str(s))
	}
	return b.names
}

// code is s's code in the batch's dictionary, added if new.
func (b *eventBatch) code(s string) uint32 {
	if c, ok := b.codeOf[s]; ok {
		return c
	}
	if b.codeOf == nil {
		b.codeOf = make(map[string]uint32)
	}
	c := uint32(len(b.dict))
	s = string([]byte(s)) // the event's string aliases its parser's buffer
	b.dict = append(b.dict, s)
	b.codeOf[s] = c
	return c
}

// clientIndex is client's index in the batch's client list, added if new.
func (b *eventBatch) clientIndex(client string) uint32 {
	if c, ok := b.clientOf[client]; ok {
		return c
	}
	if b.clientOf == nil {
		b.clientOf = make(map[string]uint32)
	}
	c := uint32(len(b.clients))
	s := b.own(client)
	b.size += len(client)
	b.clients = append(b.clients, s)
	b.clientOf[b.str(s)] = c
	return c
}

// add copies ev into the batch under the dedup key id.
func (b *eventBatch) add(ev *ingest.Event, id uint64) {
	b.order.sorted = false
	b.id = append(b.id, id)
	b.sec = append(b.sec, ev.Time.Unix())
	b.nsec = append(b.nsec, uint32(ev.Time.Nanosecond()))
	b.client = append(b.client, b.clientIndex(ev.ClientKey))
	b.kind = append(b.kind, uint8(ev.ClientKind))
	b.auth = append(b.auth, uint8(ev.Auth))
	var a16 [16]byte
	if ev.RemoteIP.IsValid() {
		a16 = ev.RemoteIP.As16()
	}
	b.ip = append(b.ip, a16)
	st := ev.Status
	if st < 0 || st > 65535 {
		st = 0
	}
	b.status = append(b.status, uint16(st))
	b.bytesIn = append(b.bytesIn, nonNeg(ev.BytesIn))
	b.bytesOut = append(b.bytesOut, nonNeg(ev.BytesOut))
	b.latency = append(b.latency, nonNeg(ev.Latency.Microseconds()))
	for i, s := range [nLow]string{ev.Source, ev.Format, ev.Method, ev.Host, ev.Route, ev.UserAgent, ev.Scheme, ev.TLSVersion, ev.APIVersion} {
		l := &b.last[i]
		if s != l.s || len(b.low[i]) == 0 {
			l.code = b.code(s)
			l.s = b.dict[l.code]
		}
		b.low[i] = append(b.low[i], l.code)
	}
	for i, s := range [nHigh]string{ev.Path, ev.Query, ev.Referer, ev.RequestID} {
		b.high[i] = append(b.high[i], b.own(s))
	}
	b.size += 140 + len(ev.Path) + len(ev.Query) + len(ev.Referer) + len(ev.RequestID)
}
