package timesort

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// event returns a small event at t0+sec seconds; its request id records
// the order it was added in, so tests can check ties keep it.
func event(sec float64, seq int) ingest.Event {
	return ingest.Event{
		Time:       t0.Add(time.Duration(sec * float64(time.Second))),
		ClientKey:  "198.51.100." + strconv.Itoa(seq%250),
		ClientKind: ingest.ClientIP,
		Path:       "/v1/items/" + strconv.Itoa(seq),
		Status:     200,
		RequestID:  strconv.Itoa(seq),
	}
}

// sortAll adds evs to a sorter and returns what Merge hands back, owned.
func sortAll(t testing.TB, opts Options, evs []ingest.Event) ([]ingest.Event, *Sorter) {
	t.Helper()
	s := New(opts)
	t.Cleanup(func() { s.Close() })
	for i := range evs {
		if err := s.Add(&evs[i]); err != nil {
			t.Fatalf("Add(%d): %v", i, err)
		}
	}
	var out []ingest.Event
	err := s.Merge(context.Background(), func(b []ingest.Event) error {
		for i := range b {
			out = append(out, b[i].Clone())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Merge: %v", err)
	}
	return out, s
}

func TestSortOrders(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := make([]float64, 2000)
	for i := range shuffled {
		shuffled[i] = float64(rng.IntN(600)) // many equal times
	}
	descending := make([]float64, 500)
	for i := range descending {
		descending[i] = float64(len(descending) - i)
	}
	for _, tc := range []struct {
		name     string
		secs     []float64
		runBytes int
		minRuns  int
		batch    int
	}{
		{"empty", nil, 0, 1, 0},
		{"one", []float64{5}, 0, 1, 0},
		{"sorted", []float64{1, 2, 2, 3, 4.5, 4.5, 9}, 0, 1, 0},
		{"shuffled in memory", shuffled, 0, 1, 0},
		{"shuffled spilled", shuffled, 8 << 10, 5, 0},
		{"shuffled one event per run", shuffled[:200], 1, 200, 7},
		{"descending spilled", descending, 4 << 10, 3, 3},
		{"nanoseconds", []float64{1e-9, 3e-9, 2e-9, 0}, 1, 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs := make([]ingest.Event, len(tc.secs))
			for i, s := range tc.secs {
				evs[i] = event(s, i)
			}
			dir := t.TempDir()
			out, s := sortAll(t, Options{RunBytes: tc.runBytes, Dir: dir, Batch: tc.batch}, evs)
			if len(out) != len(evs) || s.Len() != int64(len(evs)) {
				t.Fatalf("got %d events back (Len %d), added %d", len(out), s.Len(), len(evs))
			}
			if s.Runs() < tc.minRuns {
				t.Errorf("%d runs, want at least %d", s.Runs(), tc.minRuns)
			}
			for i := 1; i < len(out); i++ {
				a, b := out[i-1], out[i]
				seqA, _ := strconv.Atoi(a.RequestID)
				seqB, _ := strconv.Atoi(b.RequestID)
				if b.Time.Before(a.Time) || (b.Time.Equal(a.Time) && seqB < seqA) {
					t.Fatalf("out of order at %d: %v #%d then %v #%d", i, a.Time, seqA, b.Time, seqB)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("Close left %d files in %s", len(left), dir)
			}
		})
	}
}

// TestSortKeepsEngineFields checks that an event comes back with every
// field the detectors read, through a spilled run and the in-memory one.
func TestSortKeepsEngineFields(t *testing.T) {
	t.Parallel()
	full := ingest.Event{
		Time:       t0.Add(1234567 * time.Nanosecond),
		Source:     "edge",
		Format:     "nginx_combined",
		ClientKey:  "k_3f9a0c1d2e4b5a69",
		ClientKind: ingest.ClientAPIKey,
		RemoteIP:   netip.MustParseAddr("2001:db8::7"),
		Method:     "POST",
		Host:       "api.example.com",
		Path:       "/v1/orders/12345/\"q\"\x01",
		Route:      "/v1/orders/{id}/\"q\"\x01",
		Query:      "id=1%27%20OR%201=1&token=REDACTED",
		Status:     401,
		BytesIn:    312,
		BytesOut:   51200,
		Latency:    12345 * time.Microsecond,
		UserAgent:  "sqlmap/1.7 \\ tab\t",
		Referer:    "https://example.com/ü",
		Auth:       ingest.AuthFailed,
		Scheme:     "https",
		TLSVersion: "TLSv1.3",
		APIVersion: "v1",
		RequestID:  "7f0c9a",
	}
	later := full
	later.Time = full.Time.Add(time.Hour)
	later.RemoteIP = netip.MustParseAddr("203.0.113.9")
	earlier := full
	earlier.Time = full.Time.Add(-time.Hour)
	earlier.RemoteIP = netip.Addr{}
	earlier.ClientKind, earlier.Auth = ingest.ClientIP, ingest.AuthNone
	// The first two fill a run and are spilled; the last stays in memory.
	in := []ingest.Event{later, full, earlier}
	size := len(ingest.AppendWireBinary(nil, &later)) + len(ingest.AppendWireBinary(nil, &full)) + 2*entrySize
	out, s := sortAll(t, Options{RunBytes: 2 * size, Dir: t.TempDir()}, in) // two runs of half
	if s.Runs() != 2 {
		t.Fatalf("%d runs, want 2 (one spilled, one in memory)", s.Runs())
	}
	for i, want := range []ingest.Event{earlier, full, later} {
		got := out[i]
		if !got.Time.Equal(want.Time) {
			t.Fatalf("event %d: time %v, want %v", i, got.Time, want.Time)
		}
		got.Time = want.Time
		if !reflect.DeepEqual(got, want.Clone()) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
}

func TestAddRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ev   ingest.Event
		want error
	}{
		{"zero time", ingest.Event{ClientKey: "a"}, ErrNoTime},
		{"year 1500", ingest.Event{Time: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), ClientKey: "a"}, ErrNoTime},
		{"year 9999", ingest.Event{Time: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ClientKey: "a"}, ErrNoTime},
		{"no client", ingest.Event{Time: t0}, errNoClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(Options{})
			defer s.Close()
			if err := s.Add(&tc.ev); !errors.Is(err, tc.want) {
				t.Fatalf("Add = %v, want %v", err, tc.want)
			}
			if s.Len() != 0 {
				t.Fatalf("a rejected event was kept")
			}
		})
	}
}

// TestMergeErrors checks that Merge stops on fn's error, on a cancelled
// context and on a damaged run file, and that Close still cleans up.
func TestMergeErrors(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		fn     func([]ingest.Event) error
		damage func(name string) error
		want   string
	}{
		{"fn error", context.Background(), func([]ingest.Event) error { return stop }, nil, "stop"},
		{"cancelled", cancelled, nil, nil, "context canceled"},
		{"truncated run", context.Background(), nil, func(name string) error { return os.Truncate(name, 30) }, "truncated record"},
		{"garbled length", context.Background(), nil, func(name string) error {
			return os.WriteFile(name, []byte("\x00\x00\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff\x7f"), 0o600)
		}, "damaged run"},
		{"garbled event", context.Background(), nil, func(name string) error {
			return os.WriteFile(name, []byte("\x00\x00\x00\x00\x00\x00\x00\x01\x03{x}"), 0o600)
		}, "decode event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := New(Options{RunBytes: 2 << 10, Dir: dir})
			for i := range 100 {
				ev := event(float64(100-i), i)
				if err := s.Add(&ev); err != nil {
					t.Fatal(err)
				}
			}
			if tc.damage != nil {
				if err := tc.damage(s.files[0]); err != nil {
					t.Fatal(err)
				}
			}
			fn := tc.fn
			if fn == nil {
				fn = func([]ingest.Event) error { return nil }
			}
			err := s.Merge(tc.ctx, fn)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Merge = %v, want an error containing %q", err, tc.want)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("Close left %d files", len(left))
			}
		})
	}
}

func TestMergeOnce(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	defer s.Close()
	nop := func([]ingest.Event) error { return nil }
	if err := s.Merge(context.Background(), nop); err != nil {
		t.Fatal(err)
	}
	if err := s.Merge(context.Background(), nop); err == nil {
		t.Fatal("second Merge did not fail")
	}
	ev := event(1, 1)
	if err := s.Add(&ev); err == nil {
		t.Fatal("Add after Merge did not fail")
	}
}

// FuzzReadFrame feeds arbitrary bytes to the run reader as a run file:
// it must return records or an error, never panic or allocate past its
// bound.
func FuzzReadFrame(f *testing.F) {
	var run bytes.Buffer
	s := New(Options{RunBytes: 1, Dir: f.TempDir()})
	for i := range 3 {
		ev := event(float64(3-i), i)
		if err := s.Add(&ev); err != nil {
			f.Fatal(err)
		}
	}
	b, err := os.ReadFile(s.files[0])
	if err != nil {
		f.Fatal(err)
	}
	s.Close()
	run.Write(b)
	f.Add(run.Bytes())
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x01\x80"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		var buf []byte
		for range 1000 {
			_, frame, err := readFrame(r, buf)
			if err != nil {
				return
			}
			var ev ingest.Event
			_ = ingest.DecodeWire(frame, &ev)
			buf = frame
		}
	})
}

// FuzzSort sorts events whose times come from the fuzzer, through
// spilled runs, and checks the order and that nothing is lost.
func FuzzSort(f *testing.F) {
	f.Add([]byte{3, 1, 2, 2, 0, 9}, uint16(64))
	f.Add([]byte{}, uint16(1))
	f.Add(bytes.Repeat([]byte{7}, 100), uint16(300))
	f.Fuzz(func(t *testing.T, secs []byte, runBytes uint16) {
		evs := make([]ingest.Event, len(secs))
		for i, s := range secs {
			evs[i] = event(float64(s), i)
		}
		out, _ := sortAll(t, Options{RunBytes: int(runBytes), Dir: t.TempDir(), Batch: 5}, evs)
		if len(out) != len(evs) {
			t.Fatalf("%d events back, %d added", len(out), len(evs))
		}
		for i := 1; i < len(out); i++ {
			seqA, _ := strconv.Atoi(out[i-1].RequestID)
			seqB, _ := strconv.Atoi(out[i].RequestID)
			if c := out[i].Time.Compare(out[i-1].Time); c < 0 || (c == 0 && seqB < seqA) {
				t.Fatalf("out of order at %d", i)
			}
		}
	})
}

// BenchmarkSort measures adding and merging shuffled events, in one run
// in memory and spilled in several.
func BenchmarkSort(b *testing.B) {
	const n = 200_000
	rng := rand.New(rand.NewPCG(3, 4))
	evs := make([]ingest.Event, n)
	for i := range evs {
		evs[i] = event(float64(rng.IntN(7200)), i)
		evs[i].UserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"
		evs[i].Method, evs[i].Host = "GET", "api.example.com"
	}
	for _, runBytes := range []int{0, 4 << 20} {
		b.Run(fmt.Sprintf("run=%dMiB", runBytes>>20), func(b *testing.B) {
			dir := b.TempDir()
			for b.Loop() {
				s := New(Options{RunBytes: runBytes, Dir: dir})
				for i := range evs {
					if err := s.Add(&evs[i]); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Merge(context.Background(), func([]ingest.Event) error { return nil }); err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
				b.Fatalf("%d files left", len(left))
			}
		})
	}
}
