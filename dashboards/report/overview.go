package report

import "time"

// Event times outside [minTime, maxTime) are untimed: they would stretch
// the overview to absurd spans (and UnixNano overflows beyond 2262).
var (
	minTime = time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
)

// overview is the traffic per bucket of step nanoseconds: buckets[i] is
// bucket number base+i, which starts at (base+i)×step. When the span
// outgrows max buckets, step doubles and pairs of buckets merge.
type overview struct {
	step    int64
	base    int64
	buckets []Bucket
	max     int
}

func newOverview(step time.Duration, maxBuckets int) overview {
	return overview{step: int64(step), max: maxBuckets}
}

// floorDiv is a/b rounded down.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// at returns the bucket holding time t (unix nanoseconds), growing or
// coarsening the overview as needed.
func (o *overview) at(t int64) *Bucket {
	i := floorDiv(t, o.step)
	if len(o.buckets) == 0 {
		o.base = i
		o.buckets = append(o.buckets, Bucket{})
		return &o.buckets[0]
	}
	if j := i - o.base; j >= 0 && j < int64(len(o.buckets)) {
		return &o.buckets[j]
	}
	for !o.fits(i) {
		o.coarsen()
		i = floorDiv(t, o.step)
	}
	if i < o.base {
		grown := make([]Bucket, o.base-i+int64(len(o.buckets)), o.max)
		copy(grown[o.base-i:], o.buckets)
		o.buckets, o.base = grown, i
	} else {
		o.buckets = append(o.buckets, make([]Bucket, i-o.base-int64(len(o.buckets))+1)...)
	}
	return &o.buckets[i-o.base]
}

// fits reports whether bucket i can join without exceeding max buckets.
func (o *overview) fits(i int64) bool {
	lo, hi := min(o.base, i), max(o.base+int64(len(o.buckets))-1, i)
	return hi-lo < int64(o.max)
}

// coarsen doubles the step, merging buckets pairwise.
func (o *overview) coarsen() {
	nb := floorDiv(o.base, 2)
	last := floorDiv(o.base+int64(len(o.buckets))-1, 2)
	out := make([]Bucket, last-nb+1, o.max)
	for k, b := range o.buckets {
		add(&out[floorDiv(o.base+int64(k), 2)-nb], &b)
	}
	o.buckets, o.base, o.step = out, nb, 2*o.step
}

// add adds b's tallies to a.
func add(a, b *Bucket) {
	a.Requests += b.Requests
	a.Status4xx += b.Status4xx
	a.Status5xx += b.Status5xx
	a.AuthFailures += b.AuthFailures
	a.Bytes += b.Bytes
}

// snapshot copies the overview.
func (o *overview) snapshot() Overview {
	if len(o.buckets) == 0 {
		return Overview{Step: time.Duration(o.step)}
	}
	return Overview{
		Start:  time.Unix(0, o.base*o.step).UTC(),
		Step:   time.Duration(o.step),
		Points: append([]Bucket(nil), o.buckets...),
	}
}
