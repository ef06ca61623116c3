package detect

import (
	"math"
	"math/bits"
	"net/netip"
)

// Distinct counting.
//
// Scanning, enumeration and credential sharing count distinct things per
// client and window: paths answered 404/403, object paths under id
// routes, remote addresses and networks. A set per client would cost
// memory in proportion to what an attacker sends, and a full HyperLogLog
// (axiomhq/hyperloglog is kilobytes per sketch) is beyond the 2 KB per
// client budget, so each count is a linear-counting bitmap (Whang et al.
// 1990) of 64 or 128 bits, reset every window. With m bits and z of them
// still zero the estimate is m·ln(m/z): within about 10% up to m distinct
// values and saturating near m·ln(m) (266 for 64 bits, 621 for 128),
// which is far beyond every detector's floor — the detectors need "many
// more than usual", not an exact census. sketch_test.go checks the
// estimates against exact counts.

// bitmap64 is a 64-bit linear counter.
type bitmap64 uint64

// add records a value by its 64-bit hash.
func (b *bitmap64) add(h uint64) { *b |= 1 << (h >> 58) }

// estimate returns the estimated number of distinct values added.
func (b bitmap64) estimate() float64 { return linearCount(64, 64-bits.OnesCount64(uint64(b))) }

// idWalks counts, for one client window, the distinct object paths under
// each route template: enumeration is one client walking many ids under
// one template (/orders/{id}), and a client that reads a few ids under
// each of several templates is not doing it. A sketch per template seen
// would grow with what a client sends, so there are four, and a
// template's ids go to the one its hash picks: templates that share a
// sketch are counted together. That only ever over-counts, so nothing an
// attacker interleaves with a walk (decoy requests on other templates)
// can hide it, which a fixed set of slots that templates compete for
// would allow. With the handful of id templates a client normally uses
// spread over four sketches, most are counted alone.
type idWalks [idSketches]bitmap64

// idSketches is the number of sketches in idWalks, a power of two.
const idSketches = 4

// routeBucket picks the sketch of a route template in idWalks.
func routeBucket(route string) uint8 { return uint8(hashString(route) >> 62) }

// add records object path h under the template in sketch bucket.
func (w *idWalks) add(bucket uint8, h uint64) { w[bucket&(idSketches-1)].add(h) }

// estimate returns the distinct ids in the fullest sketch.
func (w *idWalks) estimate() float64 {
	most := 0
	for _, b := range w {
		most = max(most, bits.OnesCount64(uint64(b)))
	}
	return linearCount(64, 64-most)
}

// bitmap128 is a 128-bit linear counter.
type bitmap128 [2]uint64

func (b *bitmap128) add(h uint64) {
	i := h >> 57
	b[i>>6] |= 1 << (i & 63)
}

func (b *bitmap128) estimate() float64 {
	return linearCount(128, 128-bits.OnesCount64(b[0])-bits.OnesCount64(b[1]))
}

// linearCount is the linear-counting estimate for m bits with z zero;
// a full bitmap reports its saturation value m·ln(m).
func linearCount(m, z int) float64 {
	if z <= 0 {
		return float64(m) * math.Log(float64(m))
	}
	return float64(m) * math.Log(float64(m)/float64(z))
}

// hashString is FNV-1a finished with a 64-bit mixer. The sketches outlive
// a process in snapshots, so the hash must not be seeded per process like
// maphash; the mixer spreads FNV's weak high bits, which pick the bit.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// hashAddr hashes a remote address and its network: /24 for IPv4, /48
// for IPv6, the usual unit of one site or subscriber.
func hashAddr(a netip.Addr) (addr, network uint64) {
	a = a.Unmap()
	b := a.As16()
	hi := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	lo := uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 |
		uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])
	addr = mix64(hi ^ mix64(lo))
	if a.Is4() {
		network = mix64(lo >> 8)
	} else {
		network = mix64(hi>>16 ^ 0x6e6574)
	}
	return addr, network
}
