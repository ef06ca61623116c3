package contract

import (
	"bytes"
	"testing"
)

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

// BenchmarkEncode is the cost of saving a model of 100 routes still
// learning (its enums' values kept); BenchmarkDecode of loading it.
func BenchmarkEncode(b *testing.B) {
	m := manyRoutes(b, 100)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := m.Encode(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "file-bytes")
}

func BenchmarkDecode(b *testing.B) {
	var buf bytes.Buffer
	if err := manyRoutes(b, 100).Encode(&buf); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(buf.Bytes()), Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "file-bytes")
}
