package contract

import "testing"

// BenchmarkCheckFits is the cost of checking a request that fits its
// route's contract (the common case on the hot path).
func BenchmarkCheckFits(b *testing.B) {
	m := learnShop(b)
	ev := event("198.51.100.1", "GET", "/api/v2/products", "/api/v2/products", "page=7&sort=price&q=red+shoe", 200)
	var vs []Violation
	b.ReportAllocs()
	for b.Loop() {
		vs = m.Check(ev, vs[:0])
	}
	if len(vs) != 0 {
		b.Fatal(vs)
	}
}

// BenchmarkLearn is the cost of learning one request with three
// parameters.
func BenchmarkLearn(b *testing.B) {
	m := New(Options{})
	ev := event("198.51.100.1", "GET", "/api/v2/products", "/api/v2/products", "page=7&sort=price&q=red+shoe", 200)
	b.ReportAllocs()
	for b.Loop() {
		m.Learn(ev)
	}
}
