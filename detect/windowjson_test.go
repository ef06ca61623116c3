package detect

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// TestWindowStatsAppendJSON checks that AppendJSON decodes to the same
// WindowStats as encoding/json's encoding, on edge and random values.
func TestWindowStatsAppendJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []WindowStats{
		{},
		{Client: "203.0.113.7", ClientKind: "ip", Start: t0, End: t0.Add(time.Minute), Requests: 12, ExpectedRequests: 3.5, SpreadRequests: 1.25},
		{Client: "key:\"quoted\"\\ <b>&\x1b[31m\xff", ClientKind: "api_key", Start: t0.Add(time.Nanosecond), End: t0.In(time.FixedZone("x", 3600)),
			Requests: 1 << 63, Errors: 1, AuthFailures: 2, BytesOut: 1 << 40, ExpectedErrorRatio: 1e-300, ExpectedAuthFailures: 1e21, SpreadErrorRatio: -0.5},
	}
	for range 200 {
		cases = append(cases, WindowStats{Client: clientName(rng.IntN(1000)), ClientKind: "ip",
			Start: t0.Add(time.Duration(rng.Int64N(1e15))), End: t0.Add(time.Duration(rng.Int64N(1e15))),
			Requests: rng.Uint64(), Errors: rng.Uint64N(100), AuthFailures: rng.Uint64N(100), BytesOut: rng.Uint64(),
			ExpectedRequests: rng.ExpFloat64() * 100, ExpectedErrorRatio: rng.Float64(), ExpectedAuthFailures: rng.NormFloat64(),
			SpreadRequests: rng.Float64() * 1e-9, SpreadAuthFailures: rng.ExpFloat64()})
	}
	for i, ws := range cases {
		want, err := json.Marshal(ws)
		if err != nil {
			t.Fatal(err)
		}
		got := ws.AppendJSON(nil)
		var a, b WindowStats
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("case %d: %s does not decode: %v", i, got, err)
		}
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		if !a.Start.Equal(b.Start) || !a.End.Equal(b.End) {
			t.Errorf("case %d: times %s %s, want %s %s", i, a.Start, a.End, b.Start, b.End)
		}
		a.Start, a.End, b.Start, b.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if a != b {
			t.Errorf("case %d:\n got  %s\n want %s", i, got, want)
		}
	}
}

// BenchmarkWindowStatsJSON compares AppendJSON with encoding/json.
func BenchmarkWindowStatsJSON(b *testing.B) {
	ws := WindowStats{Client: "203.0.113.7", ClientKind: "ip", Start: t0, End: t0.Add(time.Minute), Requests: 42, Errors: 1,
		AuthFailures: 2, BytesOut: 123456, ExpectedRequests: 37.25, ExpectedErrorRatio: 0.0123, ExpectedAuthFailures: 0.5,
		SpreadRequests: 6.1, SpreadErrorRatio: 0.01, SpreadAuthFailures: 0.7}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf = ws.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(ws); err != nil {
				b.Fatal(err)
			}
		}
	})
}
