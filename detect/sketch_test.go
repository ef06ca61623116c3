package detect

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"testing"
)

// TestLinearCounters checks the sketches against exact distinct counts
// over the range the detectors use them in.
func TestLinearCounters(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 5, 20, 50, 100, 200} {
		var worst64, worst128 float64
		const trials = 200
		var sum64, sum128 float64
		for trial := range trials {
			var b64 bitmap64
			var b128 bitmap128
			for i := range n {
				h := hashString(fmt.Sprintf("/api/v1/orders/%d/%d", trial, i))
				b64.add(h)
				b64.add(h) // duplicates do not count
				b128.add(h)
			}
			e64, e128 := b64.estimate(), b128.estimate()
			sum64 += e64
			sum128 += e128
			worst64 = math.Max(worst64, math.Abs(e64-float64(n)))
			worst128 = math.Max(worst128, math.Abs(e128-float64(n)))
		}
		mean64, mean128 := sum64/trials, sum128/trials
		t.Logf("n=%3d: mean 64-bit %.1f (worst off %.1f), 128-bit %.1f (worst off %.1f)", n, mean64, worst64, mean128, worst128)
		if n == 0 && (mean64 != 0 || mean128 != 0) {
			t.Errorf("empty sketch estimates %v, %v", mean64, mean128)
		}
		if n <= 50 && math.Abs(mean64-float64(n)) > 0.1*float64(n)+0.5 {
			t.Errorf("n=%d: 64-bit mean estimate %.1f off by more than 10%%", n, mean64)
		}
		if math.Abs(mean128-float64(n)) > 0.1*float64(n)+0.5 {
			t.Errorf("n=%d: 128-bit mean estimate %.1f off by more than 10%%", n, mean128)
		}
	}
}

func TestHashAddrNetworks(t *testing.T) {
	t.Parallel()
	a1, n1 := hashAddr(netip.MustParseAddr("198.18.4.7"))
	a2, n2 := hashAddr(netip.MustParseAddr("198.18.4.200"))
	a3, n3 := hashAddr(netip.MustParseAddr("198.18.5.7"))
	_, n4 := hashAddr(netip.MustParseAddr("::ffff:198.18.4.9"))
	if a1 == a2 || n1 != n2 || n1 == n3 || a1 == a3 || n4 != n1 {
		t.Errorf("addr/net hashes: %x %x %x / %x %x %x %x", a1, a2, a3, n1, n2, n3, n4)
	}
	_, v1 := hashAddr(netip.MustParseAddr("2001:db8:1:2::1"))
	_, v2 := hashAddr(netip.MustParseAddr("2001:db8:1:3::1"))
	_, v3 := hashAddr(netip.MustParseAddr("2001:db8:2:2::1"))
	if v1 != v2 || v1 == v3 {
		t.Errorf("IPv6 /48: %x %x %x", v1, v2, v3)
	}
}

func TestIDWalks(t *testing.T) {
	t.Parallel()
	walk := "/api/v1/orders/{id}"
	apart := templatesApart(walk, 3) // three more templates, each in a sketch of its own
	id := func(route string, i int) uint64 { return hashString(route + "#" + strconv.Itoa(i)) }
	tests := []struct {
		name     string
		feed     func(w *idWalks)
		min, max float64
	}{
		{"one walk", func(w *idWalks) {
			for i := range 40 {
				w.add(routeBucket(walk), id(walk, i))
			}
		}, 30, 50},
		{"a walk between decoy requests on other templates", func(w *idWalks) {
			for i := range 40 {
				for j := range 3 {
					d := "/api/v1/decoy" + strconv.Itoa(i*3+j) + "/{id}"
					w.add(routeBucket(d), id(d, 1))
				}
				w.add(routeBucket(walk), id(walk, i))
				w.add(routeBucket(apart[0]), id(apart[0], 1))
			}
		}, 30, 80},
		{"forty ids under each of three templates counted apart", func(w *idWalks) {
			for i := range 40 {
				for _, r := range apart {
					w.add(routeBucket(r), id(r, i))
				}
			}
		}, 30, 50},
		{"nothing", func(*idWalks) {}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var w idWalks
			tt.feed(&w)
			if got := w.estimate(); got < tt.min || got > tt.max {
				t.Errorf("estimate %.1f, want [%v, %v]", got, tt.min, tt.max)
			}
		})
	}
}

// templatesApart returns n id route templates whose sketches differ from
// each other's and from not's.
func templatesApart(not string, n int) []string {
	used := map[uint8]bool{routeBucket(not): true}
	var out []string
	for i := 0; len(out) < n; i++ {
		r := "/api/v1/things" + strconv.Itoa(i) + "/{id}"
		if b := routeBucket(r); !used[b] {
			used[b] = true
			out = append(out, r)
		}
	}
	return out
}
