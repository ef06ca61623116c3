package detect

import (
	"hash/maphash"
	"strings"

	"github.com/gatewatch/gatewatch/ingest"
)

// client is the state the engine keeps for one client besides what every
// event touches (clientHot), its window counters (windowRing) and open
// incidents (incidents). Keep it small: an engine holds up to MaxClients
// of them.
type client struct {
	key      string // owned copy of the client key
	kind     ingest.ClientKind
	live     bool
	founding bool // first seen while the engine was warming up
	// quiet has bit m set while the baseline of metric m (Engine.more) is
	// exactly zero and established: a zero window then only counts, in
	// moreN, and the baseline's row need not be read.
	quiet uint8
	moreN [numMetrics]uint32 // windows behind each metric baseline; authoritative over its n

	vol    volumeBaseline
	errs   ratioBaseline
	auth   ratioBaseline
	season clientSeason // its own hour-of-day and day-of-week profile (season.go)
	// exfilRun is the response bytes of the client's current run of
	// windows with anomalous bytes per request (judgeExfil).
	exfilRun float64
}

// hotKeyLen is how many bytes of a key clientHot holds. Client keys are
// mostly addresses (at most 39 bytes for IPv6), "k_"/"t_" plus 16 hex
// digits, or a prefixed id such as a UUID subject (40 bytes); longer keys
// are compared against client.key as well.
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
// reused; list and hot are parallel, indexed by slot.
type clientTable struct {
	seed  maphash.Seed
	index []tabEntry // len is a power of two
	list  []client
	hot   []clientHot
	free  []int32
	live  int
}

// minIndex is the smallest index size.
const minIndex = 64

func newClientTable() clientTable {
	return clientTable{seed: maphash.MakeSeed(), index: make([]tabEntry, minIndex)}
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
	h := &t.hot[i]
	if h.hash != hash {
		return false
	}
	if len(key) <= hotKeyLen {
		return int(h.klen) == len(key) && string(h.kbuf[:len(key)]) == key
	}
	return h.klen == longKey && string(h.kbuf[:]) == key[:hotKeyLen] && t.list[i].key == key
}

// add inserts a client for key, which find did not find. The key is copied:
// event strings alias buffers that are reused for the next line. add may
// move the clients, so pointers into list and hot do not survive it.
func (t *clientTable) add(key string, hash uint64, kind ingest.ClientKind) int32 {
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		i = int32(len(t.list))
		t.list = append(t.list, client{})
		t.hot = append(t.hot, clientHot{})
	}
	t.place(i, strings.Clone(key), hash, kind)
	return i
}

// place makes slot i, which is not live, the client of key (owned by the
// caller) and indexes it.
func (t *clientTable) place(i int32, key string, hash uint64, kind ingest.ClientKind) {
	if (t.live+1)*2 > len(t.index) {
		t.rehash(2 * len(t.index)) // before slot i is live, or it would be indexed twice
	}
	t.list[i] = client{key: key, kind: kind, live: true}
	h := &t.hot[i]
	*h = clientHot{hash: hash, gen: h.gen}
	h.setKey(key)
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
	for i := range t.list {
		if t.list[i].live {
			t.insert(int32(i), t.hot[i].hash)
		}
	}
}

// remove frees slot i.
func (t *clientTable) remove(i int32) {
	if !t.list[i].live {
		return
	}
	h := &t.hot[i]
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
		home := t.hot[e.ref-1].hash & mask
		// e may move to p if p lies cyclically in [home, q).
		if (q-home)&mask >= (q-p)&mask {
			t.index[p] = e
			p = q
		}
	}
	t.index[p] = tabEntry{}
	t.list[i] = client{}
	*h = clientHot{gen: h.gen + 1}
	t.free = append(t.free, i)
	t.live--
}
