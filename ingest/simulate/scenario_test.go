package simulate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// small is a scenario that runs in well under a second.
func small(seed uint64) Config {
	return Config{Seed: seed, Clients: 150, Duration: 30 * time.Minute, AttackAt: 20 * time.Minute, AttackFor: 5 * time.Minute}
}

func mustNew(t testing.TB, cfg Config) *Scenario {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// digest hashes every field of every event Run emits.
func digest(t *testing.T, s *Scenario) ([32]byte, int) {
	t.Helper()
	h := sha256.New()
	var b []byte
	n := 0
	err := s.Run(context.Background(), func(ev *ingest.Event) error {
		n++
		b = b[:0]
		b = ev.Time.AppendFormat(b, time.RFC3339Nano)
		for _, f := range []string{ev.ClientKey, ev.RemoteIP.String(), ev.Method, ev.Path, ev.Route, ev.Query, ev.UserAgent, ev.Referer, ev.APIVersion, ev.Format} {
			b = append(b, '|')
			b = append(b, f...)
		}
		b = strconv.AppendInt(b, int64(ev.Status), 10)
		b = strconv.AppendInt(b, ev.BytesOut, 10)
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a1, n1 := digest(t, mustNew(t, small(1)))
	a2, n2 := digest(t, mustNew(t, small(1)))
	b, _ := digest(t, mustNew(t, small(2)))
	if n1 == 0 || n1 != n2 || a1 != a2 {
		t.Fatalf("same seed, different traffic: %d vs %d events", n1, n2)
	}
	if a1 == b {
		t.Fatal("different seeds gave identical traffic")
	}

	// The nginx rendering is as reproducible, and one Scenario reruns the same.
	s := mustNew(t, small(1))
	var w1, w2 bytes.Buffer
	if err := s.WriteNginx(context.Background(), &w1); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteNginx(context.Background(), &w2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w1.Bytes(), w2.Bytes()) {
		t.Fatal("two WriteNginx runs differ")
	}
	if lines := bytes.Count(w1.Bytes(), []byte("\n")); lines != n1 {
		t.Fatalf("WriteNginx wrote %d lines, Run emitted %d events", lines, n1)
	}
	if st := s.Stats(); st.Events != int64(n1) {
		t.Fatalf("Stats().Events = %d, want %d", st.Events, n1)
	}
}

func TestTimeOrder(t *testing.T) {
	t.Parallel()
	s := mustNew(t, small(3))
	var prev time.Time
	n := 0
	err := s.Run(context.Background(), func(ev *ingest.Event) error {
		if ev.Time.Before(prev) {
			return errors.New("time went back from " + prev.String() + " to " + ev.Time.String())
		}
		if ev.Time.Before(s.Start()) || !ev.Time.Before(s.End()) {
			return errors.New("event outside the run at " + ev.Time.String())
		}
		prev = ev.Time
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no events")
	}
}

func TestLabels(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Seed: 4, Clients: 50})
	labels := s.Labels()
	want := append(AttackKinds(), TrapKinds()...)
	if len(labels) != len(want) {
		t.Fatalf("got %d labels, want %d", len(labels), len(want))
	}
	start := DefaultStart()
	seen := map[string]bool{}
	for i, l := range labels {
		if l.Kind != want[i] {
			t.Errorf("label %d is %s, want %s", i, l.Kind, want[i])
		}
		switch {
		case l.Kind == TrapTokenRefresh:
			if l.Client != "" || l.End.Sub(l.Start) != time.Minute {
				t.Errorf("%s: client %q, window %v..%v; want fleet-wide, one minute", l.Kind, l.Client, l.Start, l.End)
			}
			if !l.Start.After(start.Add(2*time.Hour + 10*time.Minute)) {
				t.Errorf("%s at %v overlaps the attack window", l.Kind, l.Start)
			}
		case l.Kind.IsTrap():
			if !l.Start.Equal(start) || !l.End.Equal(start.Add(3*time.Hour)) {
				t.Errorf("%s: window %v..%v, want the whole run", l.Kind, l.Start, l.End)
			}
		default:
			if !l.Start.Equal(start.Add(2*time.Hour)) || !l.End.Equal(start.Add(2*time.Hour+10*time.Minute)) {
				t.Errorf("%s: window %v..%v, want 02:00..02:10", l.Kind, l.Start, l.End)
			}
		}
		if l.Kind.IsTrap() != (len(l.Detectors) == 0) {
			t.Errorf("%s: detectors %v", l.Kind, l.Detectors)
		}
		if l.Kind == TrapTokenRefresh {
			continue
		}
		addr, err := netip.ParseAddr(l.Client)
		if err != nil || addr.String() != l.Client {
			t.Errorf("%s: client %q is not a canonical IP", l.Kind, l.Client)
		}
		if seen[l.Client] {
			t.Errorf("%s: client %s labelled twice", l.Kind, l.Client)
		}
		seen[l.Client] = true
	}
	for _, c := range s.clients[:s.normal] {
		if seen[c.addr] {
			t.Errorf("normal client shares address %s with a labelled one", c.addr)
		}
	}

	// Repeated kinds get distinct clients; Labels returns copies.
	s = mustNew(t, Config{Seed: 4, Clients: 10, Attacks: []Kind{Flood, Flood, CredentialStuffing, CredentialStuffing}})
	labels = s.Labels()
	if labels[0].Client == labels[1].Client || labels[2].Client == labels[3].Client {
		t.Fatalf("repeated kinds share a client: %+v", labels)
	}
	labels[0].Detectors[0] = "mutated"
	if s.Labels()[0].Detectors[0] != DetectorVolume {
		t.Fatal("Labels exposes the scenario's own slices")
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"short run", Config{Duration: 30 * time.Second}},
		{"year 10000", Config{Start: time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC)}},
		{"negative clients", Config{Clients: -1}},
		{"too many clients", Config{Clients: maxClients + 1}},
		{"attack after end", Config{Duration: time.Hour, AttackAt: 55 * time.Minute, AttackFor: 10 * time.Minute}},
		{"negative attack", Config{AttackAt: -time.Minute}},
		{"unknown kind", Config{Attacks: []Kind{"port_scan"}}},
		{"normal is not an attack", Config{Attacks: []Kind{Normal}}},
		{"token refresh twice", Config{Attacks: []Kind{TrapTokenRefresh, TrapTokenRefresh}}},
		{"token refresh after end", Config{Attacks: []Kind{TrapTokenRefresh}, TokenRefreshAt: 4 * time.Hour}},
		{"too many stuffers", Config{Clients: 1, Attacks: slices.Repeat([]Kind{CredentialStuffing}, 509)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if s, err := New(tt.cfg); err == nil {
				t.Fatalf("New(%+v) = %d clients, want an error", tt.cfg, len(s.clients))
			}
		})
	}
}

func TestNoAttacks(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Clients: 20, Duration: 10 * time.Minute, Attacks: []Kind{}})
	if len(s.Labels()) != 0 || len(s.clients) != 20 {
		t.Fatalf("%d labels, %d clients; want none and 20", len(s.Labels()), len(s.clients))
	}
}

func TestRunStopsOnError(t *testing.T) {
	t.Parallel()
	s := mustNew(t, small(5))
	stop := errors.New("stop")
	n := 0
	err := s.Run(context.Background(), func(*ingest.Event) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Fatalf("Run = %v after %d events, want stop after 10", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx, func(*ingest.Event) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run on a cancelled context = %v", err)
	}
	if st := s.Stats(); st.Events != 0 {
		t.Fatalf("Stats after failed runs = %+v, want zero", st)
	}
}

// TestFleetShape checks the population the traffic is drawn from: heavy
// tailed rates, some intermittent clients, and distinct addresses.
func TestFleetShape(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Seed: 6, Attacks: []Kind{}})
	var rates []float64
	intermittent, monitors, v6 := 0, 0, 0
	addrs := map[string]bool{}
	for _, c := range s.clients {
		if addrs[c.addr] {
			t.Fatalf("address %s used twice", c.addr)
		}
		addrs[c.addr] = true
		if netip.MustParseAddr(c.addr).Is6() {
			v6++
		}
		if c.monitor > 0 {
			monitors++
			continue
		}
		if c.intermittent {
			intermittent++
		}
		rates = append(rates, c.rate)
	}
	slices.Sort(rates)
	median, p99, top := rates[len(rates)/2], rates[len(rates)*99/100], rates[len(rates)-1]
	over100 := len(rates) - slices.IndexFunc(rates, func(r float64) bool { return r >= 100 })
	t.Logf("rates: median %.1f p99 %.1f max %.1f, %d >= 100/min; %d intermittent, %d monitors, %d IPv6",
		median, p99, top, over100, intermittent, monitors, v6)
	if median < 2 || median > 5 {
		t.Errorf("median rate %.2f/min, want 2..5", median)
	}
	if top < 150 || top > 900 || over100 < 3 || over100 > 40 {
		t.Errorf("tail: max %.0f/min, %d clients >= 100/min; want a few in the hundreds", top, over100)
	}
	if f := float64(intermittent) / float64(len(s.clients)); f < 0.1 || f > 0.4 {
		t.Errorf("intermittent share %.2f, want 0.1..0.4", f)
	}
	if monitors == 0 || v6 == 0 {
		t.Errorf("%d monitors, %d IPv6 clients; want some of each", monitors, v6)
	}
}

func TestAppendCLFTime(t *testing.T) {
	t.Parallel()
	tests := []time.Time{
		time.Date(2026, 11, 2, 0, 0, 5, 0, time.UTC),
		time.Date(1999, 1, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2030, 12, 9, 7, 3, 0, 0, time.FixedZone("", 3600)),
	}
	for _, tm := range tests {
		got := string(appendCLFTime(nil, tm))
		want := tm.UTC().Format("02/Jan/2006:15:04:05 -0700")
		if got != want {
			t.Errorf("appendCLFTime(%v) = %q, want %q", tm, got, want)
		}
	}
}

func TestDiurnalIsMild(t *testing.T) {
	t.Parallel()
	lo, hi := math.Inf(1), math.Inf(-1)
	for m := range 24 * 60 {
		d := diurnal(DefaultStart().Add(time.Duration(m) * time.Minute))
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 0.75 || hi > 1.25 || hi-lo < 0.2 {
		t.Fatalf("diurnal factor spans %.2f..%.2f", lo, hi)
	}
}
