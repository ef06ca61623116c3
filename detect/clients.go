package detect

import (
	"hash/maphash"
	"strings"

	"github.com/gatewatch/gatewatch/ingest"
)

// client is the whole state the engine keeps for one client, besides its
// window counters (windowRing) and open incidents (incidents). Keep it
// small: an engine holds up to MaxClients of them.
type client struct {
	key      string // owned copy of the client key
	hash     uint64 // maphash of key under the engine's seed
	lastSeen int64  // newest event time, Unix ns
	next     int32  // next client with the same hash; -1 ends the chain
	gen      uint32 // incremented when the slot is freed
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
}

// clientTable finds clients by key. Keys are hashed with maphash under a
// per-engine seed into a map of slot indices; clients with colliding
// hashes are chained through client.next, so a collision costs a string
// comparison, never a wrong merge. Slots of evicted clients are reused.
type clientTable struct {
	seed  maphash.Seed
	index map[uint64]int32
	list  []client
	free  []int32
	live  int
}

func newClientTable() clientTable {
	return clientTable{seed: maphash.MakeSeed(), index: make(map[uint64]int32)}
}

// find returns the slot of key, or ok false and the key's hash for add.
func (t *clientTable) find(key string) (idx int32, hash uint64, ok bool) {
	hash = maphash.String(t.seed, key)
	i, found := t.index[hash]
	if !found {
		return -1, hash, false
	}
	for i >= 0 {
		if t.list[i].key == key {
			return i, hash, true
		}
		i = t.list[i].next
	}
	return -1, hash, false
}

// add inserts a client for key, which find did not find. The key is copied:
// event strings alias buffers that are reused for the next line. add may
// move the clients, so pointers into list do not survive it.
func (t *clientTable) add(key string, hash uint64, kind ingest.ClientKind) int32 {
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		i = int32(len(t.list))
		t.list = append(t.list, client{})
	}
	c := &t.list[i]
	*c = client{key: strings.Clone(key), hash: hash, next: -1, gen: c.gen, kind: kind, live: true}
	if head, ok := t.index[hash]; ok {
		c.next = head
	}
	t.index[hash] = i
	t.live++
	return i
}

// remove frees slot i.
func (t *clientTable) remove(i int32) {
	c := &t.list[i]
	if !c.live {
		return
	}
	if head := t.index[c.hash]; head == i {
		if c.next >= 0 {
			t.index[c.hash] = c.next
		} else {
			delete(t.index, c.hash)
		}
	} else {
		for p := head; p >= 0; p = t.list[p].next {
			if t.list[p].next == i {
				t.list[p].next = c.next
				break
			}
		}
	}
	*c = client{next: -1, gen: c.gen + 1}
	t.free = append(t.free, i)
	t.live--
}
