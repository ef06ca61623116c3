package contract

import (
	"math"
	"strconv"
	"strings"
)

// intClient is an integer learnt and the client that sent it.
type intClient struct {
	v int64
	h uint64
}

// intExtremes are the most extreme integers a query parameter took from
// distinct clients: each client's smallest and largest, of which the
// three smallest and the three largest are kept (a client's less extreme
// entry gives way to its more extreme one, as lengths do in learnLen).
// The MinClients-th of each side bounds the contract's range, so one
// client's extreme values, however many, do not widen it.
type intExtremes struct {
	low, high   [3]intClient // smallest first; largest first
	nLow, nHigh uint8        // entries in use (equal: each client that sent an integer is in both until three are)
}

// maxRanged bounds the integers of a learnt range: a parameter whose
// range reaches beyond ±maxRanged has none. Quantities, page numbers,
// page sizes, ratings, radii, years fall within; identifiers and
// timestamps, which grow as an API lives, mostly do not, and a value
// above the largest one learnt is ordinary for them.
const maxRanged = 10_000

// rangeSlack is the part of a range's tolerance that does not scale with
// it (see freezeRange).
const rangeSlack = 10

// isPathParam reports whether name is that of a templated path segment
// ("{id}@3"): identifiers, whose values grow (see freezeRange).
func isPathParam(name string) bool { return strings.HasPrefix(name, "{") }

// intValue is the value of v, an integer by isInt (an optional '-' and 1
// to 19 digits), saturated to the int64 range: a value beyond it counts
// as the bound it passed.
func intValue(v string) int64 {
	neg := strings.HasPrefix(v, "-")
	if neg {
		v = v[1:]
	}
	var u uint64 // 19 digits do not overflow it
	for i := 0; i < len(v); i++ {
		u = u*10 + uint64(v[i]-'0')
	}
	switch {
	case neg && u > 1<<63:
		return math.MinInt64
	case neg:
		return -int64(u) // math.MinInt64 for 1<<63
	case u > math.MaxInt64:
		return math.MaxInt64
	}
	return int64(u)
}

// learnInt keeps v, sent by client h, among the parameter's extremes.
func (p *param) learnInt(v int64, h uint64) {
	x := p.ints
	if x == nil {
		x = &intExtremes{}
		p.ints = x
	}
	x.nLow = keepExtreme(&x.low, x.nLow, v, h, func(a, b int64) bool { return a < b })
	x.nHigh = keepExtreme(&x.high, x.nHigh, v, h, func(a, b int64) bool { return a > b })
}

// keepExtreme keeps v, of client h, among the n entries of t, the most
// extreme values of distinct clients, most extreme first; beyond(a, b)
// reports whether a is more extreme than b. It returns how many entries
// t holds.
func keepExtreme(t *[3]intClient, n uint8, v int64, h uint64, beyond func(a, b int64) bool) uint8 {
	for i := range n {
		if t[i].h == h {
			if !beyond(v, t[i].v) {
				return n
			}
			copy(t[i:n], t[i+1:n]) // the client's less extreme entry goes
			n--
			break
		}
	}
	i := uint8(0)
	for i < n && !beyond(v, t[i].v) {
		i++ // after the entries as extreme as v: the first clients keep their places
	}
	if int(i) == len(t) {
		return n
	}
	if int(n) < len(t) {
		n++
	}
	copy(t[i+1:n], t[i:n-1])
	t[i] = intClient{v: v, h: h}
	return n
}

// freezeRange sets the contract's range of parameter name, when it has
// one: a query parameter whose learnt kind is integer alone, with
// integers from MinClients clients, all within ±maxRanged.
//
// The range is [lo, hi]: lo the MinClients-th smallest of the clients'
// smallest values, hi the MinClients-th largest of their largest (their
// hull, should clients with disjoint values make lo pass hi). A value is
// outside only when far outside: by more than the slack
//
//	max(hi-lo, |lo|, |hi|) + rangeSlack
//
// on either side. For a range of positive integers this flags above
// 2·hi+10 (quantity 1-99: above 208; page 1-50: above 110; rating 1-5:
// above 20) and below lo-hi-10: twice the largest value learnt, since a
// learning period does not see every value traffic later sends (the next
// page, a larger order), while a value of another order of magnitude
// (page=999999999, limit=100000, qty=-500) is the probe, overflow or
// denial of service to report. Path segments have no range: they are
// identifiers, and new ones, above any learnt, are created all the time.
func (m *Model) freezeRange(p *param, name string) {
	p.ranged = false
	x, k := p.ints, m.opts.MinClients
	if x == nil || int(x.nLow) < k || int(x.nHigh) < k || p.kindSet&^(1<<KindEmpty) != 1<<KindInt || isPathParam(name) {
		return
	}
	lo, hi := x.low[k-1].v, x.high[k-1].v
	lo, hi = min(lo, hi), max(lo, hi)
	if lo < -maxRanged || hi > maxRanged {
		return
	}
	slack := max(hi-lo, -lo, hi) + rangeSlack
	p.lo, p.hi, p.below, p.above, p.ranged = lo, hi, lo-slack, hi+slack, true
}

// outOfRange reports whether value, an integer (isInt), is far outside
// the parameter's range (see freezeRange).
func (p *param) outOfRange(value string) bool {
	v := intValue(value)
	return v < p.below || v > p.above
}

// kindText names what the parameter's values are: its range when it has
// one ("an integer 1-99"), else its kinds ("integer or decimal").
func (p *param) kindText() string {
	if !p.ranged {
		return kindsText(p.kindSet)
	}
	lo, hi := strconv.FormatInt(p.lo, 10), strconv.FormatInt(p.hi, 10)
	if p.lo < 0 {
		return "an integer from " + lo + " to " + hi
	}
	return "an integer " + lo + "-" + hi
}
