package inventory

import (
	"math"
	"math/bits"
)

// The two sketches an endpoint keeps: its clients (exactly while they are
// few, then a HyperLogLog) and a log-bucket histogram of its response
// sizes. Both are fixed-size arrays
// inside the endpoint, so observing allocates nothing, and both merge by
// value (register maximum, bucket sum), so a saved inventory can go on
// learning or be merged with another.

// hllP is the HyperLogLog precision: 2^hllP one-byte registers, a
// standard error of 1.04/sqrt(256) = 6.5% for large counts; small counts
// (up to a few hundred) are nearly exact through linear counting.
const (
	hllP         = 8
	hllRegisters = 1 << hllP
	hllMaxRank   = 64 - hllP + 1
)

// hll is a HyperLogLog sketch of distinct client keys.
type hll [hllRegisters]uint8

// add counts the key whose 64-bit hash is h.
func (s *hll) add(h uint64) {
	i := h >> (64 - hllP)
	w := h<<hllP | 1<<(hllP-1) // the guard bit bounds the rank
	if r := uint8(bits.LeadingZeros64(w) + 1); r > s[i] {
		s[i] = r
	}
}

// merge adds o's keys to s.
func (s *hll) merge(o *hll) {
	for i, r := range o {
		s[i] = max(s[i], r)
	}
}

// estimate is the approximate number of distinct keys added.
func (s *hll) estimate() int64 {
	var sum float64
	zeros := 0
	for _, r := range s {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	const m = float64(hllRegisters)
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros)) // linear counting: small counts
	}
	return int64(math.Round(e))
}

// fewClients is how many clients an endpoint counts exactly, by a 32-bit
// hash each (a collision among so few is a one in ten million chance),
// before the HyperLogLog's estimate takes over.
const fewClients = 32

// clients counts an endpoint's distinct clients.
type clients struct {
	few  [fewClients]uint32 // the first distinct clients' hashes
	nfew uint8              // how many; manyClients once there were more
	regs hll                // every client, always
}

// manyClients is clients.nfew once more than fewClients were seen.
const manyClients = fewClients + 1

// add counts the client whose key hashes to h.
func (c *clients) add(h uint64) {
	c.regs.add(h)
	if c.nfew == manyClients {
		return
	}
	c.addFew(uint32(h)) // the low bits: the registers use the high ones
}

// addFew adds a hash to the exact set, or gives it up when full.
func (c *clients) addFew(f uint32) {
	for _, x := range c.few[:c.nfew] {
		if x == f {
			return
		}
	}
	if c.nfew == fewClients {
		c.nfew = manyClients
		return
	}
	c.few[c.nfew] = f
	c.nfew++
}

// merge adds o's clients to c.
func (c *clients) merge(o *clients) {
	c.regs.merge(&o.regs)
	if o.nfew == manyClients {
		c.nfew = manyClients
	}
	for i := 0; c.nfew != manyClients && i < int(o.nfew); i++ {
		c.addFew(o.few[i])
	}
}

// estimate is the number of distinct clients: exact while few, else the
// HyperLogLog's estimate (never below what the exact set saw).
func (c *clients) estimate() int64 {
	if c.nfew != manyClients {
		return int64(c.nfew)
	}
	return max(c.regs.estimate(), manyClients)
}

// clientHash hashes a client key: FNV-1a, then a 64-bit finaliser so the
// top bits (the register index) are well mixed. Stable across processes,
// which a saved sketch needs.
func clientHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Response sizes are counted in log buckets: 0, 1, 2, 3 bytes exactly,
// then four buckets per power of two (each a quarter of its octave wide),
// up to 64 GiB; larger sizes count in the last bucket. A percentile is
// its bucket's midpoint, within 12.5% of the true size.
const (
	histSub     = 4  // buckets per octave
	histOctaves = 36 // sizes below 2^36 bytes get a bucket of their own
	histBuckets = 4 + (histOctaves-2)*histSub
)

// hist is a histogram of response sizes. Counts are 16-bit: when one
// would overflow, every bucket is halved (rounding up, so no bucket
// empties), which keeps the shape and so the percentiles.
type hist [histBuckets]uint16

// bucketOf is the bucket of a size in bytes.
func bucketOf(v int64) int {
	if v < 4 {
		return int(max(v, 0))
	}
	n := bits.Len64(uint64(v)) // 3 or more
	if n > histOctaves {
		return histBuckets - 1
	}
	sub := int(uint64(v)>>(n-3)) & (histSub - 1)
	return 4 + (n-3)*histSub + sub
}

// bucketValue is the midpoint of bucket i, the size a percentile in it
// reports.
func bucketValue(i int) int64 {
	if i < 4 {
		return int64(i)
	}
	n := (i-4)/histSub + 3
	sub := int64((i - 4) % histSub)
	lo := (histSub + sub) << (n - 3)
	return lo + (int64(1)<<(n-3))/2
}

// add counts n responses in bucket i.
func (h *hist) add(i int, n uint64) {
	for uint64(h[i])+n > math.MaxUint16 {
		h.halve()
		n -= n / 2
	}
	h[i] += uint16(n)
}

// halve halves every bucket, rounding up.
func (h *hist) halve() {
	for i, c := range h {
		h[i] = c - c/2
	}
}

// merge adds o's counts to h.
func (h *hist) merge(o *hist) {
	for i, c := range o {
		if c > 0 {
			h.add(i, uint64(c))
		}
	}
}

// quantile is the size below which share q of the responses fall (the
// midpoint of that bucket), 0 when nothing was counted.
func (h *hist) quantile(q float64) int64 {
	var total uint64
	for _, c := range h {
		total += uint64(c)
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = min(max(rank, 1), total)
	var cum uint64
	for i, c := range h {
		if cum += uint64(c); cum >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(histBuckets - 1)
}
