package report

import (
	"io"
	"testing"
)

// BenchmarkRender renders a day of traffic with 500 incidents.
func BenchmarkRender(b *testing.B) {
	c := New(Options{})
	scenario{events: 200_000, minutes: 1440, clients: 5000, incidents: 500, seed: 1}.run(c)
	d := c.Data()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := Render(io.Discard, d, RenderOptions{Generated: t0}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkData measures a snapshot of that collector.
func BenchmarkData(b *testing.B) {
	c := New(Options{})
	scenario{events: 200_000, minutes: 1440, clients: 5000, incidents: 500, seed: 1}.run(c)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = c.Data()
	}
}
