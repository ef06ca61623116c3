package detect

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// tailEvent is one request of a long-tail log, compactly: the events of
// a million clients are built from these a batch at a time, since three
// million ingest.Events would take over a gigabyte.
type tailEvent struct {
	client uint32
	path   uint16 // index in tailLog.paths
	status uint16
	bytes  uint32
}

// tailLog is a time-ordered log of requests from a long tail of clients,
// shaped as manyClientsLog in detect/analyze writes it: every client in
// the first min(clients, n) requests, in shuffled order, then clients
// drawn at random, over an hour; four in ten requests to a route with an
// object id, 1% 503, 1% 401, 1% 404.
type tailLog struct {
	keys  []string
	addrs []netip.Addr
	paths []string // object paths first (routes "/api/v1/orders/{id}"), then plain ones
	ids   int      // how many of paths are object paths
	evs   []tailEvent
	span  time.Duration
}

// newTailLog returns a tailLog of n requests from clients clients.
func newTailLog(clients, n int) *tailLog {
	r := rand.New(rand.NewPCG(7, 9))
	l := &tailLog{keys: clientKeys(clients), addrs: make([]netip.Addr, clients), span: time.Hour}
	for i := range l.addrs {
		l.addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	for range 4096 {
		l.paths = append(l.paths, "/api/v1/orders/"+strconv.Itoa(1_000_000+r.IntN(9_000_000)))
	}
	l.ids = len(l.paths)
	l.paths = append(l.paths, "/api/v1/me", "/api/v2/search", "/api/v1/orders", "/api/v2/catalog/categories", "/static/app.js")
	perm := r.Perm(clients)
	l.evs = make([]tailEvent, n)
	for i := range l.evs {
		c := r.IntN(clients)
		if i < clients {
			c = perm[i]
		}
		ev := tailEvent{client: uint32(c), status: 200, bytes: uint32(200 + r.IntN(20_000))}
		if r.IntN(10) < 4 {
			ev.path = uint16(r.IntN(l.ids))
		} else {
			ev.path = uint16(l.ids + r.IntN(len(l.paths)-l.ids))
		}
		switch r.IntN(100) {
		case 0:
			ev.status = 503
		case 1:
			ev.status = 401
		case 2:
			ev.status = 404
		}
		l.evs[i] = ev
	}
	return l
}

// fill sets evs to the requests of l from the i-th on, and returns how
// many it set.
func (l *tailLog) fill(evs []ingest.Event, i int) int {
	n := min(len(evs), len(l.evs)-i)
	step := float64(l.span) / float64(len(l.evs))
	for j := range n {
		t := &l.evs[i+j]
		ev := &evs[j]
		ev.Time = t0.Add(time.Duration(float64(i+j) * step))
		ev.ClientKey, ev.ClientKind, ev.RemoteIP = l.keys[t.client], ingest.ClientIP, l.addrs[t.client]
		ev.Path, ev.Route = l.paths[t.path], l.paths[t.path]
		if int(t.path) < l.ids {
			ev.Route = "/api/v1/orders/{id}"
		}
		ev.Status, ev.BytesOut, ev.Auth = int(t.status), int64(t.bytes), ingest.AuthOK
		if t.status == 401 {
			ev.Auth = ingest.AuthFailed
		}
	}
	return n
}

// manyClientsCases are the sizes BenchmarkObserveManyClients runs: a
// long tail of clients against the same events from 10,000 clients. The
// million-client pair (3M events each, 10-30 s on a busy 2-core machine)
// runs only with GATEWATCH_BENCH_1M=1, so the smoke run of every
// benchmark stays short.
func manyClientsCases() []struct{ clients, events int } {
	cases := []struct{ clients, events int }{{100_000, 300_000}, {10_000, 300_000}}
	if os.Getenv("GATEWATCH_BENCH_1M") == "1" {
		cases = append(cases, struct{ clients, events int }{1_000_000, 3_000_000}, struct{ clients, events int }{10_000, 3_000_000})
	}
	return cases
}

// BenchmarkObserveManyClients replays an hour of requests from a long
// tail of clients, three per client, through a fresh engine with
// ObserveBatch, as "gatewatch analyze" does, and the same number of
// requests from 10,000 clients: what each new client costs in time
// (events/s; the events are built from a compact form as they are
// handed over, a few percent of the time) and memory (B/client: the heap
// the engine holds at the end, everything included, per client).
func BenchmarkObserveManyClients(b *testing.B) {
	for _, c := range manyClientsCases() {
		name := "clients=" + strconv.Itoa(c.clients) + "/events=" + strconv.Itoa(c.events)
		b.Run(name, func(b *testing.B) {
			l := newTailLog(c.clients, c.events)
			var held float64
			var cpu time.Duration
			cpuOK := true
			for b.Loop() {
				r := replayTail(b, l)
				held, cpu, cpuOK = r.held, cpu+r.cpu, cpuOK && r.cpuOK
			}
			b.ReportMetric(float64(c.events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(held/float64(c.clients), "B/client")
			if cpuOK {
				// CPU time, the garbage collector's on the other core
				// included: the figure to compare on a busy machine.
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(c.events*b.N), "cpu-ns/event")
			}
		})
	}
}

// tailRun is what replayTail measured.
type tailRun struct {
	held  float64       // heap the engine holds at the end, bytes
	cpu   time.Duration // process CPU time of the replay
	cpuOK bool          // cpu could be read
}

// replayTail counts every request of l in a fresh engine. The
// collections around it, for measuring the heap, are not timed.
func replayTail(b *testing.B, l *tailLog) tailRun {
	var before, after runtime.MemStats
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.StartTimer()
	c0, ok0 := processCPU()
	e := New(Options{})
	batch := make([]ingest.Event, 256)
	for i := 0; i < len(l.evs); {
		n := l.fill(batch, i)
		e.ObserveBatch(batch[:n])
		i += n
	}
	c1, ok1 := processCPU()
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(e)
	b.StartTimer()
	return tailRun{held: float64(int64(after.HeapAlloc) - int64(before.HeapAlloc)), cpu: c1 - c0, cpuOK: ok0 && ok1}
}
