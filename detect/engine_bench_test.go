package detect

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
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
// window counters (hot and cold), the newer detectors' baselines, the
// per-client sample buffers and the scratch space of a window close.
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

// realisticEvents returns n events of the given clients in shuffled
// rounds over span, shaped like API traffic for every detector to work
// on: a fifth of the clients present an API key from one of two
// addresses, two in five requests go to a route with an object id, one in
// five carries a query string, responses have sizes, and 1% are 404.
// Paths and routes are pre-built, as a parser would leave them aliased in
// its line buffer.
func realisticEvents(clients, n int, span time.Duration) []ingest.Event {
	keys := clientKeys(clients)
	r := rand.New(rand.NewPCG(3, 4))
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = "/api/v1/orders/" + strconv.Itoa(1_000_000+r.IntN(9_000_000))
	}
	queries := []string{"q=running+shoes", "status=open&page=2&limit=50", "since=1762048800&limit=20", "include=reviews,stock"}
	plain := []string{"/api/v1/me", "/api/v2/search", "/api/v1/orders", "/api/v2/catalog/categories"}
	evs := make([]ingest.Event, n)
	perm := r.Perm(clients)
	for i := range evs {
		if i%clients == 0 {
			r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		}
		c := perm[i%clients]
		ev := &evs[i]
		ev.Time = t0.Add(time.Duration(i) * (span / time.Duration(n)))
		ev.ClientKey, ev.ClientKind = keys[c], ingest.ClientIP
		ev.RemoteIP = netip.AddrFrom4([4]byte{10, byte(c >> 16), byte(c >> 8), byte(c)})
		if c%5 == 0 {
			ev.ClientKey, ev.ClientKind = "key:"+keys[c], ingest.ClientAPIKey
			ev.RemoteIP = netip.AddrFrom4([4]byte{198, 18, byte(c >> 8), byte(r.IntN(2))})
		}
		ev.Status, ev.Auth, ev.BytesOut = 200, ingest.AuthOK, int64(200+r.IntN(20_000))
		switch u := r.IntN(100); {
		case u < 40:
			ev.Path, ev.Route = ids[r.IntN(len(ids))], "/api/v1/orders/{id}"
		default:
			ev.Path = plain[r.IntN(len(plain))]
			ev.Route = ev.Path
			if u < 60 {
				ev.Query = queries[r.IntN(len(queries))]
			}
		}
		switch u := r.IntN(100); {
		case u == 0:
			ev.Status = 503
		case u == 1:
			ev.Status, ev.Auth = 401, ingest.AuthFailed
		case u == 2:
			ev.Status = 404
		}
	}
	return evs
}

// BenchmarkObserveAllDetectors100kClients is BenchmarkObserve100kClients
// with traffic every detector has work in (see realisticEvents): paths
// hashed into the scanning and enumeration sketches, addresses of
// key-bearing clients into the sharing sketches, queries through the
// injection prefilter, response sizes into the exfiltration sums, and
// every window close running all detectors, the fleet detectors and FDR
// control. It also reports the heap held per active client.
func BenchmarkObserveAllDetectors100kClients(b *testing.B) {
	benchAllDetectors(b, func(e *Engine, evs []ingest.Event) {
		for i := range evs {
			e.Observe(&evs[i])
		}
	})
}

// BenchmarkObserveBatchAllDetectors100kClients is
// BenchmarkObserveAllDetectors100kClients with the events handed over in
// runs of batchEvents, as a caller holding a parsed batch (an
// ingest.Batch) would, through ObserveBatch.
func BenchmarkObserveBatchAllDetectors100kClients(b *testing.B) {
	const batchEvents = 256
	benchAllDetectors(b, func(e *Engine, evs []ingest.Event) {
		for len(evs) > 0 {
			n := min(len(evs), batchEvents)
			e.ObserveBatch(evs[:n])
			evs = evs[n:]
		}
	})
}

// benchAllDetectors measures observe, which must count every event of the
// slice it is given, on realisticEvents of 100,000 clients.
func benchAllDetectors(b *testing.B, observe func(*Engine, []ingest.Event)) {
	const (
		clients = 100_000
		n       = 1 << 20
		span    = 4 * time.Minute
	)
	evs := realisticEvents(clients, n, span)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := New(Options{})
	shift := func() {
		for i := range evs {
			evs[i].Time = evs[i].Time.Add(span)
		}
	}
	for range 3 {
		observe(e, evs)
		shift()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / clients
	b.ReportAllocs()
	runtime.GC() // the events' strings are not the engine's garbage to collect
	var cpu time.Duration
	cpuOK := true
	b.ResetTimer()
	for done := 0; done < b.N; {
		j := done & (n - 1)
		if j == 0 && done > 0 {
			b.StopTimer()
			shift()
			b.StartTimer()
		}
		k := min(b.N-done, n-j)
		c0, ok0 := processCPU()
		observe(e, evs[j:j+k])
		c1, ok1 := processCPU()
		cpu += c1 - c0
		cpuOK = cpuOK && ok0 && ok1
		done += k
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(held, "B/client")
	if cpuOK {
		// The process's CPU time per event: the figure to compare on a
		// busy machine, where wall time waits for other tenants.
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/event")
	}
	if st := e.Stats(); st.ActiveClients != clients {
		b.Fatalf("%d active clients, want %d", st.ActiveClients, clients)
	}
	if st := e.Stats(); st.Events != uint64(3*n+b.N) {
		b.Fatalf("%d events counted, want %d", st.Events, 3*n+b.N)
	}
}
