package report

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// BenchmarkCollectorEvent measures counting an event of a known client
// and route (the common case: 0 allocations).
func BenchmarkCollectorEvent(b *testing.B) {
	c := New(Options{})
	evs := make([]ingest.Event, 1024)
	for i := range evs {
		evs[i] = ingest.Event{Time: t0.Add(time.Duration(i) * 50 * time.Millisecond), ClientKey: fmt.Sprintf("203.0.113.%d", i%200),
			Route: fmt.Sprintf("/api/v1/items%d/{id}", i%50), Status: []int{200, 200, 404, 401, 503}[i%5], BytesOut: 512}
		c.Event(&evs[i]) // known from now on
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c.Event(&evs[i&1023])
	}
}

// BenchmarkCollectorEvents measures the batch form, one lock a batch.
func BenchmarkCollectorEvents(b *testing.B) {
	c := New(Options{})
	evs := make([]ingest.Event, 1024)
	for i := range evs {
		evs[i] = ingest.Event{Time: t0.Add(time.Duration(i) * 50 * time.Millisecond), ClientKey: fmt.Sprintf("203.0.113.%d", i%200),
			Route: fmt.Sprintf("/api/v1/items%d/{id}", i%50), Status: 200, BytesOut: 512}
	}
	c.Events(evs)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N / len(evs) {
		c.Events(evs)
	}
}

// BenchmarkCollectorWindow measures recording a client window of a
// tracked client.
func BenchmarkCollectorWindow(b *testing.B) {
	c := New(Options{})
	b.ReportAllocs()
	for i := range b.N {
		c.Window(windowOf(clientNames[i%len(clientNames)], i/len(clientNames), 10))
	}
}

var clientNames = func() []string {
	out := make([]string, 1000)
	for i := range out {
		out[i] = fmt.Sprintf("198.51.100.%d/%d", i%256, i)
	}
	return out
}()
