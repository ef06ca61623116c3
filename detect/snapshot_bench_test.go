package detect

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// snapshotEngine returns an engine holding n clients with formed
// baselines (a dozen one-minute windows of 1-4 requests each, some 5xx
// and 401), stopped half-way through a window so the open windows hold
// counts.
func snapshotEngine(n int) *Engine {
	keys := clientKeys(n)
	r := rand.New(rand.NewPCG(3, 4))
	e := New(Options{})
	var ev ingest.Event
	const windows = 12
	for w := range windows {
		per := time.Minute / time.Duration(n)
		if w == windows-1 {
			per /= 2
		}
		for i, k := range keys {
			ev = ingest.Event{Time: t0.Add(time.Duration(w)*time.Minute + time.Duration(i)*per),
				ClientKey: k, ClientKind: ingest.ClientIP, Status: 200, Auth: ingest.AuthOK}
			for range 1 + r.IntN(4) {
				switch r.IntN(50) {
				case 0:
					ev.Status = 503
				case 1:
					ev.Status, ev.Auth = 401, ingest.AuthFailed
				}
				e.Observe(&ev)
			}
		}
	}
	return e
}

// BenchmarkSnapshot100kClients measures checkpointing an engine of
// 100,000 clients: encoding with AppendBinary into a reused buffer, and
// Restore, which also rebuilds the hash index under a new seed.
func BenchmarkSnapshot100kClients(b *testing.B) {
	const clients = 100_000
	e := snapshotEngine(clients)
	data, err := e.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, len(data))
		for b.Loop() {
			buf, err = e.AppendBinary(buf[:0])
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(buf))/clients, "B/client")
		b.ReportMetric(float64(b.N)*clients/b.Elapsed().Seconds(), "clients/s")
	})
	b.Run("restore", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := Restore(Options{}, data)
			if err != nil {
				b.Fatal(err)
			}
			if r.tab.live != clients {
				b.Fatalf("%d clients restored", r.tab.live)
			}
		}
		b.ReportMetric(float64(len(data))/clients, "B/client")
		b.ReportMetric(float64(b.N)*clients/b.Elapsed().Seconds(), "clients/s")
	})
}
