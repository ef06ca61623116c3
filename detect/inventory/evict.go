package inventory

import "cmp"

// evictBatch is the share of MaxEndpoints evicted at once (1/32), so the
// scan that picks the victims is paid once per many new endpoints.
const evictBatch = 32

// evict removes the endpoints least worth keeping, a batch of them: the
// fewest requests (by power of two) first, and among those the least
// recently seen. The scan is linear (a selection, not a sort).
func (inv *Inventory) evict() {
	k := max(1, inv.max/evictBatch)
	k = min(k, len(inv.list))
	inv.victims = append(inv.victims[:0], inv.list...)
	selectFirst(inv.victims, k)
	for _, e := range inv.victims[:k] {
		inv.remove(e)
	}
	clear(inv.victims) // keep no evicted endpoint alive
	inv.victims = inv.victims[:0]
	inv.evicted += int64(k)
}

// remove deletes e from the inventory.
func (inv *Inventory) remove(e *endpoint) {
	delete(inv.byKey, e.key)
	last := inv.list[len(inv.list)-1]
	inv.list[e.idx] = last
	last.idx = e.idx
	inv.list[len(inv.list)-1] = nil
	inv.list = inv.list[:len(inv.list)-1]
}

// evictionOrder compares two endpoints for eviction: negative when a goes
// first. Ties fall to the position in the inventory, so evictions are
// deterministic.
func evictionOrder(a, b *endpoint) int {
	return cmp.Or(cmp.Compare(a.evictionClass(), b.evictionClass()), cmp.Compare(a.last, b.last), cmp.Compare(a.idx, b.idx))
}

// selectFirst reorders s so that its first k elements are the k first in
// evictionOrder (in no particular order among themselves): quickselect
// with a median-of-three pivot.
func selectFirst(s []*endpoint, k int) {
	lo, hi := 0, len(s) // the k-th lies in s[lo:hi]
	for hi-lo > 1 {
		p := medianOfThree(s[lo], s[lo+(hi-lo)/2], s[hi-1])
		lt, gt := partition3(s, lo, hi, p)
		switch {
		case k <= lt:
			hi = lt
		case k >= gt:
			lo = gt
		default:
			return // s[lt:gt] equal the pivot and hold the boundary
		}
	}
}

// partition3 rearranges s[lo:hi] into those before p, those equal to it
// and those after it, and returns where the equal ones start and end.
func partition3(s []*endpoint, lo, hi int, p *endpoint) (lt, gt int) {
	lt, i, gt := lo, lo, hi
	for i < gt {
		switch c := evictionOrder(s[i], p); {
		case c < 0:
			s[lt], s[i] = s[i], s[lt]
			lt++
			i++
		case c > 0:
			gt--
			s[i], s[gt] = s[gt], s[i]
		default:
			i++
		}
	}
	return lt, gt
}

func medianOfThree(a, b, c *endpoint) *endpoint {
	if evictionOrder(a, b) > 0 {
		a, b = b, a
	}
	if evictionOrder(b, c) > 0 {
		b = c
		if evictionOrder(a, b) > 0 {
			b = a
		}
	}
	return b
}
