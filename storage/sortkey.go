package storage

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// keyOrder is the order sortByKey found for a batch's rows.
type keyOrder struct {
	// sorted says sortByKey ran since the last row was added, and the
	// rows are in key order; permuted that it had to reorder them.
	sorted, permuted bool
	perm             []int32
	keys             []int64 // each row's time at the column's precision
	rank             []int32 // each client's place in client order
	byName, ends     []int32
	last             []int32
	unsorted         []bool // by rank: rows not added in time order
}

// sortByKey orders the batch's rows by the events table's sort key:
// (client, time at the column's precision, event_id); micro says the time
// column keeps microseconds (DateTime64(6)), otherwise seconds (DateTime).
// A MergeTree server checks whether an INSERT's block is already in key
// order and then skips sorting and permuting it, which profiles of
// ClickHouse 18.16 under `store` showed as about a quarter of its CPU
// (string compares of the client column, ColumnString::permute). The
// order is a speed-up only: a row the server orders differently (a time
// outside its column's range) just makes it sort the block itself.
//
// A batch is sorted once: an insert retried sends the same blocks again,
// which servers with insert deduplication recognise.
func (b *eventBatch) sortByKey(micro bool) {
	o := &b.order
	if o.sorted {
		return
	}
	o.sorted, o.permuted = true, false
	if b.Len() < 2 {
		return
	}
	b.rankClients()
	b.timeKeys(micro)
	if b.inKeyOrder() {
		return
	}
	o.permuted = true
	perm, ends := b.groupByClient()
	lo := 0
	for r, hi := range ends {
		// A client's rows, in the order they were added: by time already
		// when its partition was (groupByClient checked), sorted here
		// otherwise.
		if o.unsorted[r] {
			slices.SortFunc(perm[lo:hi], b.timeIDOrder)
		}
		lo = int(hi)
	}
	b.applyPerm(perm)
}

// applyPerm puts the rows in perm's order: row i becomes the row perm[i]
// was. Each column is gathered whole into a spare one, which it then
// replaces: random reads within one column stay in the CPU's cache, where
// gathering block by block across all columns missed it on every read,
// and the blocks are then read in order.
func (b *eventBatch) applyPerm(perm []int32) {
	if b.spare == nil {
		b.spare = new(eventBatch)
	}
	s := b.spare
	swapGather(&b.id, &s.id, perm)
	swapGather(&b.sec, &s.sec, perm)
	swapGather(&b.nsec, &s.nsec, perm)
	swapGather(&b.kind, &s.kind, perm)
	swapGather(&b.auth, &s.auth, perm)
	swapGather(&b.ip, &s.ip, perm)
	swapGather(&b.status, &s.status, perm)
	swapGather(&b.bytesIn, &s.bytesIn, perm)
	swapGather(&b.bytesOut, &s.bytesOut, perm)
	swapGather(&b.latency, &s.latency, perm)
	swapGather(&b.client, &s.client, perm)
	for c := range b.low {
		swapGather(&b.low[c], &s.low[c], perm)
	}
	for c := range b.high {
		swapGather(&b.high[c], &s.high[c], perm)
	}
}

// swapGather sets *spare to *col's elements in perm's order and swaps the
// two, so *col is reordered and *spare keeps the old array for next time.
func swapGather[T any](col, spare *[]T, perm []int32) {
	*spare = gather(*spare, *col, perm)
	*col, *spare = *spare, *col
}

// rankClients sets order.rank to each client's place in byte order.
func (b *eventBatch) rankClients() {
	o := &b.order
	n := len(b.clients)
	o.byName = slices.Grow(o.byName[:0], n)[:n]
	for i := range o.byName {
		o.byName[i] = int32(i)
	}
	slices.SortFunc(o.byName, func(x, y int32) int {
		return strings.Compare(b.str(b.clients[x]), b.str(b.clients[y]))
	})
	o.rank = slices.Grow(o.rank[:0], n)[:n]
	for r, c := range o.byName {
		o.rank[c] = int32(r)
	}
}

// timeKeys sets order.keys to each row's time as the server stores it:
// Unix seconds, or microseconds when micro.
func (b *eventBatch) timeKeys(micro bool) {
	keys := b.order.keys[:0]
	for i, s := range b.sec {
		if micro {
			s = s*1e6 + int64(b.nsec[i]/1000)
		}
		keys = append(keys, s)
	}
	b.order.keys = keys
}

// inKeyOrder reports whether the rows are in key order as added.
func (b *eventBatch) inKeyOrder() bool {
	rank := b.order.rank
	for i := 1; i < b.Len(); i++ {
		x, y := rank[b.client[i-1]], rank[b.client[i]]
		if x > y || x == y && b.timeIDOrder(int32(i-1), int32(i)) > 0 {
			return false
		}
	}
	return true
}

// timeIDOrder compares rows x and y by time (order.keys), then event_id.
func (b *eventBatch) timeIDOrder(x, y int32) int {
	if c := cmp.Compare(b.order.keys[x], b.order.keys[y]); c != 0 {
		return c
	}
	return cmp.Compare(b.id[x], b.id[y])
}

// groupByClient sets order.perm to the row numbers ordered by client rank,
// each client's rows in the order they were added (a counting sort), and
// returns it with where each rank's rows end. order.unsorted[r] says rank
// r's rows were not added in (time, event_id) order.
func (b *eventBatch) groupByClient() (perm, ends []int32) {
	o := &b.order
	n := len(b.clients)
	ends = slices.Grow(o.ends[:0], n)[:n]
	clear(ends)
	for _, c := range b.client {
		ends[o.rank[c]]++
	}
	pos := int32(0)
	for r, k := range ends {
		ends[r], pos = pos, pos+k
	}
	o.unsorted = slices.Grow(o.unsorted[:0], n)[:n]
	clear(o.unsorted)
	last := slices.Grow(o.last[:0], n)[:n] // each rank's last row so far
	for r := range last {
		last[r] = -1
	}
	perm = slices.Grow(o.perm[:0], b.Len())[:b.Len()]
	for i, c := range b.client {
		r := o.rank[c]
		if l := last[r]; l >= 0 && b.timeIDOrder(l, int32(i)) > 0 {
			o.unsorted[r] = true
		}
		last[r] = int32(i)
		perm[ends[r]] = int32(i)
		ends[r]++
	}
	o.last = last
	o.ends, o.perm = ends, perm
	return perm, ends
}

// blockBuf holds one block of rows as the driver's column types.
type blockBuf struct {
	time               []time.Time
	us                 []uint32
	ip                 [][]byte
	client, kind, auth []string
	low                [nLow][]string
	high               [nHigh][]string
}

// block returns rows [lo, hi) of the batch as columns in eventColumns
// order. The columns are written over by the next call, and alias the
// batch.
func (b *eventBatch) block(lo, hi int) []any {
	if b.blk == nil {
		b.blk = new(blockBuf)
	}
	k := b.blk
	k.time, k.us, k.ip = b.blockTimes(k.time[:0], k.us[:0], k.ip[:0], lo, hi)
	k.client, k.kind, k.auth = b.blockClients(k.client[:0], k.kind[:0], k.auth[:0], lo, hi)
	for c := range k.low {
		dst, dict := k.low[c][:0], b.dict
		for _, code := range b.low[c][lo:hi] {
			dst = append(dst, dict[code])
		}
		k.low[c] = dst
	}
	for c := range k.high {
		dst := k.high[c][:0]
		for _, s := range b.high[c][lo:hi] {
			dst = append(dst, b.str(s))
		}
		k.high[c] = dst
	}
	return []any{
		b.id[lo:hi], k.time, k.us, k.low[lowSource], k.low[lowFormat], k.client, k.kind,
		k.ip, k.low[lowMethod], k.low[lowHost], k.high[highPath], k.low[lowRoute], k.high[highQuery],
		b.status[lo:hi], b.bytesIn[lo:hi], b.bytesOut[lo:hi], b.latency[lo:hi],
		k.low[lowUserAgent], k.high[highReferer], k.auth, k.low[lowScheme], k.low[lowTLS], k.low[lowAPI], k.high[highRequestID],
	}
}

// blockTimes appends rows [lo, hi)'s times, microseconds and addresses.
func (b *eventBatch) blockTimes(ts []time.Time, us []uint32, ips [][]byte, lo, hi int) ([]time.Time, []uint32, [][]byte) {
	for r := lo; r < hi; r++ {
		ts = append(ts, time.Unix(b.sec[r], int64(b.nsec[r])).UTC())
		us = append(us, b.nsec[r]/1000)
		ips = append(ips, b.ip[r][:])
	}
	return ts, us, ips
}

// blockClients appends rows [lo, hi)'s clients and the names of their
// client kinds and auth outcomes.
func (b *eventBatch) blockClients(client, kind, auth []string, lo, hi int) ([]string, []string, []string) {
	names := b.clientNames()
	for r := lo; r < hi; r++ {
		client = append(client, names[b.client[r]])
		kind = append(kind, ingest.ClientKind(b.kind[r]).String())
		auth = append(auth, ingest.AuthOutcome(b.auth[r]).String())
	}
	return client, kind, auth
}

// gather sets dst to src's elements at idx, reusing dst's array.
func gather[T any](dst, src []T, idx []int32) []T {
	dst = slices.Grow(dst[:0], len(idx))
	for _, i := range idx {
		dst = append(dst, src[i])
	}
	return dst
}
