package report

import (
	"cmp"
	"slices"
	"strings"
)

// topK ranks keys by count with the Space-Saving algorithm (Metwally et
// al.): at most cap counters; a new key when all are taken replaces the
// smallest, inheriting its count as error. Counters live in items, at
// fixed slots; heap orders the slots by count, smallest first, and pos
// is each slot's place in heap, so a known key costs a map lookup and
// no allocation.
type topK struct {
	cap   int
	index map[string]int32
	items []Top
	heap  []int32
	pos   []int32
}

func newTopK(capacity int) topK {
	return topK{cap: capacity, index: make(map[string]int32)}
}

// add counts one request of key, with its status class, whether it was
// an auth failure and its response bytes.
func (t *topK) add(key string, class int, auth bool, bytes uint64) {
	slot, ok := t.index[key]
	if !ok {
		slot = t.admit(key)
	}
	it := &t.items[slot]
	it.Requests++
	it.Bytes += bytes
	switch class {
	case 4:
		it.Status4xx++
	case 5:
		it.Status5xx++
	}
	if auth {
		it.AuthFailures++
	}
	t.down(int(t.pos[slot]))
}

// admit gives key a counter: a free one, or the smallest one's.
func (t *topK) admit(key string) int32 {
	key = strings.Clone(key) // the event's strings may alias reused buffers
	if len(t.items) < t.cap {
		slot := int32(len(t.items))
		t.items = append(t.items, Top{Key: key})
		t.heap = append(t.heap, slot)
		t.pos = append(t.pos, int32(len(t.heap)-1))
		t.up(len(t.heap) - 1)
		t.index[key] = slot
		return slot
	}
	slot := t.heap[0]
	it := &t.items[slot]
	delete(t.index, it.Key)
	*it = Top{Key: key, Requests: it.Requests, Error: it.Requests}
	t.index[key] = slot
	return slot
}

func (t *topK) less(i, j int) bool {
	return t.items[t.heap[i]].Requests < t.items[t.heap[j]].Requests
}

func (t *topK) swap(i, j int) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	t.pos[t.heap[i]], t.pos[t.heap[j]] = int32(i), int32(j)
}

func (t *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.less(i, p) {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *topK) down(i int) {
	n := len(t.heap)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && t.less(c+1, c) {
			c++
		}
		if !t.less(c, i) {
			return
		}
		t.swap(i, c)
		i = c
	}
}

// top returns the n keys with the highest counts, highest first.
func (t *topK) top(n int) []Top {
	out := slices.Clone(t.items)
	slices.SortFunc(out, func(a, b Top) int {
		if c := cmp.Compare(b.Requests, a.Requests); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out[:min(n, len(out))]
}
