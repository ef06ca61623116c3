package detect

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// clientKeys returns n distinct IP-address client keys.
func clientKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
	}
	return keys
}

// BenchmarkObserve100kClients measures Observe with 100,000 active clients:
// 2^20 pre-built events, every client in each run of 100,000 in shuffled
// order, span four one-minute windows, so the cost includes closing a
// window of ~95,000 active clients (judging, baselines, population, fleet)
// every ~262,000 events.
func BenchmarkObserve100kClients(b *testing.B) {
	const (
		clients = 100_000
		n       = 1 << 20
		span    = 4 * time.Minute
	)
	keys := clientKeys(clients)
	r := rand.New(rand.NewPCG(1, 2))
	evs := make([]ingest.Event, n)
	perm := r.Perm(clients)
	for i := range evs {
		if i%clients == 0 {
			r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		}
		ev := &evs[i]
		ev.Time = t0.Add(time.Duration(i) * (span / n))
		ev.ClientKey = keys[perm[i%clients]]
		ev.ClientKind = ingest.ClientIP
		ev.Status = 200
		ev.Auth = ingest.AuthOK
		switch u := r.IntN(100); {
		case u == 0:
			ev.Status = 503
		case u == 1:
			ev.Status, ev.Auth = 401, ingest.AuthFailed
		}
	}
	e := New(Options{})
	shift := func() {
		for i := range evs {
			evs[i].Time = evs[i].Time.Add(span)
		}
	}
	// Warm up: every client known, scratch space grown, baselines formed.
	for range 3 {
		for i := range evs {
			e.Observe(&evs[i])
		}
		shift()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i & (n - 1)
		if j == 0 && i > 0 {
			b.StopTimer()
			shift()
			b.StartTimer()
		}
		e.Observe(&evs[j])
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if st := e.Stats(); st.ActiveClients != clients {
		b.Fatalf("%d active clients, want %d", st.ActiveClients, clients)
	}
}

// stateBytesPerClient builds an engine holding n clients, each with one
// closed window behind it, and returns the heap it holds per client.
func stateBytesPerClient(n int) float64 {
	keys := clientKeys(n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := New(Options{})
	var ev ingest.Event
	for i, k := range keys {
		ev = ingest.Event{Time: t0.Add(time.Duration(i) * time.Microsecond), ClientKey: k, ClientKind: ingest.ClientIP, Status: 200}
		e.Observe(&ev)
	}
	e.AdvanceTo(t0.Add(3 * time.Minute)) // close the window: baselines and scratch in use
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(e)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// BenchmarkStatePerClient reports the engine's heap per active client,
// everything included: client records, copied keys, the hash index,
// window counters and the scratch space of a window close.
func BenchmarkStatePerClient(b *testing.B) {
	var bytes float64
	for range b.N {
		bytes = stateBytesPerClient(100_000)
	}
	b.ReportMetric(bytes, "B/client")
}

// TestStatePerClientBudget holds the engine to its memory budget of 2 KB
// per active client. Not parallel: it reads process-wide heap figures.
func TestStatePerClientBudget(t *testing.T) {
	bytes := stateBytesPerClient(100_000)
	t.Logf("%.0f bytes per active client", bytes)
	if bytes > 2048 || bytes <= 0 {
		t.Errorf("%.0f bytes per client, budget 2048", bytes)
	}
}
