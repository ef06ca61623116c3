package analyze

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// manyClientsLog writes to path a time-ordered nginx combined log of
// lines lines from clients distinct IPv4 addresses over span: every
// client appears in the first min(clients, lines) lines, in shuffled
// order, and the rest of the lines come from clients drawn at random, as
// on a public API whose long tail sends a request or two each. Four in
// ten requests go to a route with an object id, 1% are 503, 1% 401, 1%
// 404.
func manyClientsLog(tb testing.TB, path string, clients, lines int, span time.Duration) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(7, 9))
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	plain := []string{"/api/v1/me", "/api/v2/search?q=shoes", "/api/v1/orders", "/api/v2/catalog/categories", "/static/app.js"}
	agents := []string{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", "okhttp/4.12.0", "python-requests/2.31.0"}
	perm := r.Perm(clients)
	var buf []byte
	var stamp string
	var stampSec int64 = -1
	for i := range lines {
		id := r.IntN(clients)
		if i < clients {
			id = perm[i]
		}
		t := start.Add(time.Duration(float64(i) * float64(span) / float64(lines)))
		if s := t.Unix(); s != stampSec {
			stamp, stampSec = t.Format("02/Jan/2006:15:04:05 -0700"), s
		}
		buf = appendClientIP(buf[:0], id)
		buf = append(buf, " - - ["...)
		buf = append(buf, stamp...)
		buf = append(buf, `] "GET `...)
		if r.IntN(10) < 4 {
			buf = strconv.AppendInt(append(buf, "/api/v1/orders/"...), int64(1_000_000+r.IntN(9_000_000)), 10)
		} else {
			buf = append(buf, plain[r.IntN(len(plain))]...)
		}
		buf = append(buf, ` HTTP/1.1" `...)
		status := 200
		switch u := r.IntN(100); u {
		case 0:
			status = 503
		case 1:
			status = 401
		case 2:
			status = 404
		}
		buf = strconv.AppendInt(buf, int64(status), 10)
		buf = strconv.AppendInt(append(buf, ' '), int64(200+r.IntN(20_000)), 10)
		buf = append(buf, ` "-" "`...)
		buf = append(buf, agents[id%len(agents)]...)
		buf = append(buf, "\"\n"...)
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// appendClientIP appends the address of client id: distinct for every id
// below 2^32, scattered over the public IPv4 space as real clients are.
func appendClientIP(b []byte, id int) []byte {
	h := uint32(id)*2654435761 + 0x0a000000 // odd multiplier: a bijection
	b = strconv.AppendUint(b, uint64(1+byte(h>>24)%223), 10)
	for _, shift := range [...]uint{16, 8, 0} {
		b = strconv.AppendUint(append(b, '.'), uint64(byte(h>>shift)), 10)
	}
	return b
}

// manyClientsCases are the logs BenchmarkAnalyzeManyClients analyses: a
// long tail of clients, three lines each, against as many lines from
// 10,000 clients. The million-client pair (two 400 MB logs, a minute
// with their writing) runs only with GATEWATCH_BENCH_1M=1, so the smoke
// run of every benchmark stays short.
func manyClientsCases() []struct{ clients, lines int } {
	cases := []struct{ clients, lines int }{{100_000, 300_000}, {10_000, 300_000}}
	if os.Getenv("GATEWATCH_BENCH_1M") == "1" {
		cases = append(cases, struct{ clients, lines int }{1_000_000, 3_000_000}, struct{ clients, lines int }{10_000, 3_000_000})
	}
	return cases
}

// BenchmarkAnalyzeManyClients measures the analysis of an hour's log of a
// long tail of clients against the same number of lines from 10,000
// clients: what the clients cost in time (lines/s, end to end: reading,
// parsing on every core, detecting) and memory (the peak of the heap in
// use, sampled every 20ms, in all and per client). The peak RSS of
// "gatewatch analyze" on such a log (/usr/bin/time -v) is a little above
// the peak heap: 0.71 GB at a million clients (3M lines), with a peak
// heap of 0.61 GB; 2.59 GB before the client table was paged.
func BenchmarkAnalyzeManyClients(b *testing.B) {
	for _, c := range manyClientsCases() {
		name := "clients=" + strconv.Itoa(c.clients) + "/lines=" + strconv.Itoa(c.lines)
		b.Run(name, func(b *testing.B) { benchAnalyzeLog(b, c.clients, c.lines) })
	}
}

// benchAnalyzeLog runs Analysis on a manyClientsLog of the given size and
// reports lines/s, the peak of the heap in use and that per client.
func benchAnalyzeLog(b *testing.B, clients, lines int) {
	path := filepath.Join(b.TempDir(), "access.log")
	manyClientsLog(b, path, clients, lines, time.Hour)
	tmp := b.TempDir()
	var peak uint64
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		a, err := New(Options{Inputs: []string{path}, Format: "nginx_combined", TmpDir: tmp})
		if err != nil {
			b.Fatal(err)
		}
		stop := watchHeap(&peak)
		sum, err := a.Run(context.Background())
		stop()
		if err != nil {
			b.Fatal(err)
		}
		if sum.Lines != int64(lines) || sum.Late != 0 || sum.Detect.ActiveClients != clients {
			b.Fatalf("%d lines, %d late, %d clients; want %d, 0, %d", sum.Lines, sum.Late, sum.Detect.ActiveClients, lines, clients)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(peak)/float64(clients), "peak-heap-B/client")
}

// watchHeap samples the heap in use every 20ms into *peak, the largest
// seen, until the returned function is called.
func watchHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		*peak = max(*peak, ms.HeapInuse)
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		sample()
	}
}
