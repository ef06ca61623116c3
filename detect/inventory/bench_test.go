package inventory

import (
	"bufio"
	"bytes"
	"fmt"
	"testing"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
)

// apiEvents are the normalised events of simulated shop-API traffic.
func apiEvents(b *testing.B, n int) []ingest.Event {
	b.Helper()
	log, _, err := simulate.APIRequests(simulate.APIConfig{Seed: 1, Learn: n, Normal: -1, Attacks: n / 20})
	if err != nil {
		b.Fatal(err)
	}
	dec, err := ingest.NewDecoder(ingest.DecoderOptions{Format: "nginx_combined", MaxSkew: -1})
	if err != nil {
		b.Fatal(err)
	}
	var evs []ingest.Event
	sc := bufio.NewScanner(bytes.NewReader(log))
	var ev ingest.Event
	for sc.Scan() {
		if dec.Decode(sc.Bytes(), &ev) == nil {
			evs = append(evs, ev.Clone())
		}
	}
	return evs
}

// BenchmarkObserve is the hot path: a request to an endpoint already
// known (the shop API's, attacks' one-off routes among them).
func BenchmarkObserve(b *testing.B) {
	evs := apiEvents(b, 20_000)
	inv := New(Options{})
	for i := range evs {
		inv.Observe(&evs[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		inv.Observe(&evs[i])
		if i++; i == len(evs) {
			i = 0
		}
	}
	b.ReportMetric(float64(inv.Bytes()), "inventory-bytes")
}

// BenchmarkObserveNewEndpoints is the worst case: every request a route
// never seen (a scanner), at the bound, so each one evicts.
func BenchmarkObserveNewEndpoints(b *testing.B) {
	routes := make([]string, 1<<16)
	for i := range routes {
		routes[i] = fmt.Sprintf("/probe/%d.php", i)
	}
	inv := New(Options{})
	ev := ingest.Event{Method: "GET", ClientKey: "198.51.100.7", Status: 404, BytesOut: 150}
	for i := range DefaultMaxEndpoints {
		ev.Route = routes[i%len(routes)]
		inv.Observe(&ev)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev.Route = routes[i&(len(routes)-1)]
		inv.Observe(&ev)
		i++
	}
}
