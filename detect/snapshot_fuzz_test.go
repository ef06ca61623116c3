package detect

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect/internal/binenc"
	"github.com/gatewatch/gatewatch/ingest"
)

// binaryAppendCRC appends the snapshot checksum of b.
func binaryAppendCRC(b []byte) []byte {
	return binenc.Seal(b, 0)
}

// FuzzRestore feeds Restore arbitrary bytes, and the same bytes with a
// valid checksum so the fuzzer gets past it into the decoder. Restore must
// not panic; what it accepts must re-encode to the same bytes and work as
// an engine.
//
// The seeds are real snapshots of several kilobytes, which the fuzzer's
// default minimisation of every new input (up to a minute each) stalls
// on; run it with a short -fuzzminimizetime:
//
//	go test ./detect -run '^$' -fuzz '^FuzzRestore$' -fuzztime 30s -fuzzminimizetime 2s
func FuzzRestore(f *testing.F) {
	stream := churnStream(rand.New(rand.NewPCG(5, 6)))
	var mid int // inside the flood, with incidents open
	for i, o := range stream {
		if !o.at.IsZero() && o.at.Sub(t0) > 42*time.Minute {
			mid = i
			break
		}
	}
	// One replay of the stream, cut at each point: the fuzzer's workers each
	// run this set-up within -fuzztime, so it must stay cheap.
	for _, snap := range churnSnapshotsOf(f, stream, 0, 1, 60, 700, mid) {
		f.Add(snap)
	}
	f.Add(campaignSnapshot(f))
	f.Add(routeSnapshot(f))
	// The previous format too: the decoder still reads it.
	v2, err := os.ReadFile(filepath.Join("testdata", "snapshot_v2.bin"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v2)
	f.Fuzz(func(t *testing.T, data []byte) {
		restoreFuzzed(t, data)
		restoreFuzzed(t, reseal(data))
	})
}

func restoreFuzzed(t *testing.T, data []byte) {
	e, err := Restore(Options{}, data)
	if err != nil {
		if e != nil {
			t.Fatal("an engine with an error")
		}
		return
	}
	again, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(Options{}, again); err != nil {
		t.Fatalf("re-encoded snapshot refused: %v", err)
	}
	// Whatever was accepted must survive use: a few events, a late one, an
	// idle jump, the end of input.
	e.opts.Emit = func(Finding) {}
	ev := ingest.Event{ClientKey: "192.0.2.1", Status: 503, Auth: ingest.AuthFailed}
	base := t0
	if e.clock.started {
		base = time.Unix(0, e.clock.newest).UTC()
	}
	for _, d := range []time.Duration{0, time.Second, -time.Hour, 2 * time.Minute, 48 * time.Hour} {
		ev.Time = base.Add(d)
		e.Observe(&ev)
	}
	e.AdvanceTo(base.Add(72 * time.Hour))
	e.Flush()
	if st := e.Stats(); st.OpenIncidents != 0 {
		t.Fatalf("%d incidents open after Flush", st.OpenIncidents)
	}
}

// TestRestoreFuzzedSeeds runs the fuzz body over byte-level mutations of
// a real snapshot with valid checksums, so the decoder's checks run in
// every ordinary test run, not only under -fuzz.
func TestRestoreFuzzedSeeds(t *testing.T) {
	t.Parallel()
	data := churnSnapshot(t, 700)
	r := rand.New(rand.NewPCG(9, 9))
	refused := 0
	for range 300 {
		b := append([]byte(nil), data[:len(data)-4]...)
		for range 1 + r.IntN(3) {
			b[len(snapshotMagic)+1+r.IntN(len(b)-len(snapshotMagic)-1)] = byte(r.Uint32())
		}
		b = binaryAppendCRC(b)
		if _, err := Restore(Options{}, b); err != nil {
			refused++
		}
		restoreFuzzed(t, b)
	}
	t.Logf("%d of 300 mutated snapshots refused", refused)
}

// campaignSnapshot is a snapshot taken while a login campaign and a probe
// campaign are open, so the fuzzer starts from the sections that hold
// them.
func campaignSnapshot(tb testing.TB) []byte {
	e := New(Options{})
	var ev ingest.Event
	send := func(at time.Time, client, method, path string, status int) {
		ev.Reset()
		ev.Time, ev.ClientKey, ev.ClientKind = at, client, ingest.ClientIP
		ev.Method, ev.Path, ev.Route, ev.Status = method, path, path, status
		e.Observe(&ev)
	}
	for w := range 20 {
		at := t0.Add(time.Duration(w) * time.Minute)
		for c := range 12 {
			send(at.Add(time.Duration(c)*time.Second), "100.64.0."+itoa(c), "POST", "/login", 401)
		}
		send(at.Add(30*time.Second), "100.65.0."+itoa(w), "GET", "/.env", 404)
		send(at.Add(31*time.Second), "100.66.0.1", "GET", "/index.html", 200)
	}
	b, err := e.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	if len(e.camps) < 2 || e.camps[0].inc == 0 {
		tb.Fatalf("no open campaigns in the seed: %d", len(e.camps))
	}
	return b
}

// routeSnapshot is a snapshot taken in the shop's sign-up spam
// (routesurge_test.go): route baselines, their open windows and a route
// campaign's incident. Five of the shop's 30 customers and half the
// spammers keep it small: the fuzzer runs every seed before it starts,
// within CI's few seconds.
func routeSnapshot(tb testing.TB) []byte {
	site := newShopSite(5)
	var kept []siteEvent
	for _, x := range site.events {
		if x.at.Before(t0.Add((shopSpamAt+3)*time.Minute+30*time.Second)) &&
			(!strings.HasPrefix(x.client, "192.0.2.") || x.client < "192.0.2.15") &&
			(!strings.HasPrefix(x.client, "100.64.") || x.client[len(x.client)-1]%2 == 0) {
			kept = append(kept, x)
		}
	}
	site.events = kept
	e := New(Options{})
	site.observe(e, 0, len(kept))
	if e.routeStatsN == 0 || len(e.camps) == 0 {
		tb.Fatalf("no route baselines (%d) or campaigns (%d) in the seed", e.routeStatsN, len(e.camps))
	}
	b, err := e.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
