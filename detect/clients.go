package detect

import (
	"encoding/binary"
	"hash/maphash"
	"strings"

	"github.com/gatewatch/gatewatch/ingest"
)

// client is the state the engine keeps for one client besides what every
// event touches (clientHot, which also holds its key: clientTable.key),
// its window counters (windowRing) and open incidents (incidents). Keep
// it small: an engine holds up to MaxClients of them. It holds no
// pointer, so the garbage collector never scans the table.
type client struct {
	kind     ingest.ClientKind
	live     bool
	founding bool // first seen while the engine was warming up
	// quiet has bit m set while the baseline of metric m (Engine.more) is
	// exactly zero: a zero window then only counts, in moreN, and the
	// baseline's row need not be read (judgeMore says when).
	quiet uint8
	moreN [numMetrics]uint32 // windows behind each metric baseline; authoritative over its n

	// season and samples link the state only some clients need, kept in
	// pools apart (index + 1, 0 for none): the hour-of-day and
	// day-of-week profile of a client with a history (season.go), and
	// the samples of a client whose open windows sampled a request
	// (samples.go). A long tail of clients sending a request or two has
	// neither: 8 bytes of links instead of 80 + 640 bytes each.
	season  int32
	samples int32

	vol  volumeBaseline
	errs ratioBaseline
	auth ratioBaseline
	// exfilRun is the response bytes of the client's current run of
	// windows with anomalous bytes per request (judgeExfil).
	exfilRun float64
	// sweep is the client's current run of windows with 404/403s
	// (sweep.go).
	sweep sweepRun
}

// hotKeyLen is how many bytes of a key clientHot holds. Client keys are
// mostly addresses (at most 39 bytes for IPv6), "k_"/"t_" plus 16 hex
// digits, or a prefixed id such as a UUID subject (40 bytes): clientHot
// holds the whole key. Longer keys are kept whole in clientTable.long
// too.
const hotKeyLen = 40

// clientHot is what Observe reads and writes for every event of a client:
// one 64-byte record, so with the index entry that finds it an event
// costs two cache misses to identify its client instead of four (map
// group, client record, key bytes). It holds a copy of the key, or of its
// start for a long one, so the comparison that tells colliding hashes
// apart needs no other memory.
type clientHot struct {
	lastSeen int64  // newest event time, Unix ns
	hash     uint64 // maphash of the key under the table's seed
	gen      uint32 // incremented when the slot is freed
	klen     uint8  // length of the key, or longKey when it exceeds hotKeyLen
	_        [3]byte
	kbuf     [hotKeyLen]byte // the key, or its first hotKeyLen bytes
}

// longKey marks a key longer than hotKeyLen in clientHot.klen.
const longKey = hotKeyLen + 1

// setKey stores key's bytes (or the first hotKeyLen of them).
func (h *clientHot) setKey(key string) {
	h.kbuf = [hotKeyLen]byte{}
	copy(h.kbuf[:], key)
	h.klen = uint8(min(len(key), longKey))
}

// tabEntry is one cell of the open-addressing index: the top half of the
// key's hash, so most probes that do not match are rejected without
// reading the client, and the client's slot + 1 (0 is an empty cell).
type tabEntry struct {
	tag uint32
	ref uint32
}

// clientTable finds clients by key. Keys are hashed with maphash under a
// per-table seed into an open-addressing index of 8-byte cells (linear
// probing, at most half full, deletion by backward shift so no tombstones
// build up); a lookup reads one or two index cells, then the client's
// clientHot, which holds the full hash and the key bytes, so a collision
// costs a comparison, never a wrong merge. Slots of evicted clients are
// reused; list and hot are parallel, indexed by slot, in pages (paged)
// so that growing them copies next to nothing. Keys live in hot (and
// long), not as a string per client: a million strings, and a million
// records pointing to them, were work for every garbage collection.
type clientTable struct {
	seed  maphash.Seed
	index []tabEntry // len is a power of two
	list  paged[client]
	hot   paged[clientHot]
	long  map[int32]string // keys longer than hotKeyLen, by slot
	free  []int32
	live  int
}

// minIndex is the smallest index size.
const minIndex = 64

func newClientTable() clientTable {
	return clientTable{seed: maphash.MakeSeed(), index: make([]tabEntry, minIndex),
		list: newPaged[client](1), hot: newPaged[clientHot](1)}
}

// hashKey returns the hash of key under the table's seed.
func (t *clientTable) hashKey(key string) uint64 { return maphash.String(t.seed, key) }

// find returns the slot of key, or ok false and the key's hash for add.
func (t *clientTable) find(key string) (idx int32, hash uint64, ok bool) {
	hash = t.hashKey(key)
	idx, ok = t.lookup(key, hash)
	return idx, hash, ok
}

// lookup returns the slot of key, whose hash is hash.
func (t *clientTable) lookup(key string, hash uint64) (int32, bool) {
	mask := uint64(len(t.index) - 1)
	tag := uint32(hash >> 32)
	for p := hash & mask; ; p = (p + 1) & mask {
		e := t.index[p]
		if e.ref == 0 {
			return -1, false
		}
		if e.tag == tag {
			i := int32(e.ref - 1)
			if t.holds(i, key, hash) {
				return i, true
			}
		}
	}
}

// holds reports whether slot i holds key, whose hash is hash.
func (t *clientTable) holds(i int32, key string, hash uint64) bool {
	h := t.hot.at(i)
	if h.hash != hash {
		return false
	}
	if len(key) <= hotKeyLen {
		return int(h.klen) == len(key) && string(h.kbuf[:len(key)]) == key
	}
	return h.klen == longKey && string(h.kbuf[:]) == key[:hotKeyLen] && t.long[i] == key
}

// key returns the key of live slot i. A short key is copied out of its
// clientHot: callers are the findings and per-window reports, not the
// per-event path.
func (t *clientTable) key(i int32) string {
	h := t.hot.at(i)
	if h.klen == longKey {
		return t.long[i]
	}
	return string(h.kbuf[:h.klen])
}

// appendKey appends the key of live slot i to b, as appendString would,
// without copying it into a string first.
func (t *clientTable) appendKey(b []byte, i int32) []byte {
	h := t.hot.at(i)
	if h.klen == longKey {
		return appendString(b, t.long[i])
	}
	b = binary.AppendUvarint(b, uint64(h.klen))
	return append(b, h.kbuf[:h.klen]...)
}

// add inserts a client for key, which find did not find. The key is copied
// (into clientHot, or long): event strings alias buffers that are reused
// for the next line. add may move the clients (while the first page
// grows), so pointers into list and hot do not survive it.
func (t *clientTable) add(key string, hash uint64, kind ingest.ClientKind) int32 {
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		i = int32(t.list.len())
		t.list.grow(int(i) + 1)
		t.hot.grow(int(i) + 1)
	}
	t.place(i, key, hash, kind)
	return i
}

// place makes slot i, which is not live, the client of key and indexes
// it. key is copied.
func (t *clientTable) place(i int32, key string, hash uint64, kind ingest.ClientKind) {
	if (t.live+1)*2 > len(t.index) {
		t.rehash(2 * len(t.index)) // before slot i is live, or it would be indexed twice
	}
	*t.list.at(i) = client{kind: kind, live: true}
	h := t.hot.at(i)
	*h = clientHot{hash: hash, gen: h.gen}
	h.setKey(key)
	if len(key) > hotKeyLen {
		if t.long == nil {
			t.long = make(map[int32]string)
		}
		t.long[i] = strings.Clone(key)
	}
	t.insert(i, hash)
	t.live++
}

// insert puts slot i, of hash hash, in the index, which has room.
func (t *clientTable) insert(i int32, hash uint64) {
	mask := uint64(len(t.index) - 1)
	p := hash & mask
	for t.index[p].ref != 0 {
		p = (p + 1) & mask
	}
	t.index[p] = tabEntry{tag: uint32(hash >> 32), ref: uint32(i) + 1}
}

// rehash rebuilds the index with at least n cells.
func (t *clientTable) rehash(n int) {
	size := minIndex
	for size < n {
		size *= 2
	}
	t.index = make([]tabEntry, size)
	for i := range int32(t.list.len()) {
		if t.list.at(i).live {
			t.insert(i, t.hot.at(i).hash)
		}
	}
}

// remove frees slot i.
func (t *clientTable) remove(i int32) {
	if !t.list.at(i).live {
		return
	}
	h := t.hot.at(i)
	mask := uint64(len(t.index) - 1)
	p := h.hash & mask
	for t.index[p].ref != uint32(i)+1 {
		p = (p + 1) & mask
	}
	// Backward-shift deletion: move later cells of the probe run into
	// the hole when their home position allows, so every key stays
	// reachable from its home without tombstones.
	for q := (p + 1) & mask; ; q = (q + 1) & mask {
		e := t.index[q]
		if e.ref == 0 {
			break
		}
		home := t.hot.at(int32(e.ref-1)).hash & mask
		// e may move to p if p lies cyclically in [home, q).
		if (q-home)&mask >= (q-p)&mask {
			t.index[p] = e
			p = q
		}
	}
	t.index[p] = tabEntry{}
	if h.klen == longKey {
		delete(t.long, i)
	}
	*t.list.at(i) = client{}
	*h = clientHot{gen: h.gen + 1}
	t.free = append(t.free, i)
	t.live--
}

// pageBits sets how many clients a page of a per-client array holds.
const pageBits = 12

// paged is a per-client array (per records a client) kept in pages of
// 1<<pageBits clients. Growing it adds a page and moves nothing: with a
// million clients a flat array, doubled when full, copied half a
// gigabyte in all, cleared as much again, and held the old copy beside
// the new one until the next garbage collection. Only the first page
// starts small and doubles, so an engine of a few clients stays small.
type paged[T any] struct {
	pages [][]T
	per   int // records a client
	n     int // clients [0, n) have records
}

// newPaged returns an empty array of per records a client.
func newPaged[T any](per int) paged[T] { return paged[T]{per: per} }

// len is how many clients have records.
func (a *paged[T]) len() int { return a.n }

// at returns client i's first (or only) record.
func (a *paged[T]) at(i int32) *T {
	return &a.pages[i>>pageBits][int(i&(1<<pageBits-1))*a.per]
}

// recs returns client i's records.
func (a *paged[T]) recs(i int32) []T {
	j := int(i&(1<<pageBits-1)) * a.per
	return a.pages[i>>pageBits][j : j+a.per : j+a.per]
}

// grow makes room for clients [0, n), whose new records are zero.
func (a *paged[T]) grow(n int) {
	if n <= a.n {
		return
	}
	full := a.per << pageBits
	for {
		k := len(a.pages)
		room := 0
		if k > 0 {
			room = (k-1)*full + len(a.pages[k-1])
		}
		if room >= n*a.per {
			break
		}
		switch {
		case k == 0:
			a.pages = append(a.pages, make([]T, min(full, max(n, 64)*a.per)))
		case k == 1 && len(a.pages[0]) < full:
			p := make([]T, min(full, max(n*a.per, 2*len(a.pages[0]))))
			copy(p, a.pages[0])
			a.pages[0] = p
		default:
			a.pages = append(a.pages, make([]T, full))
		}
	}
	a.n = n
}
