package alert

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

// fakeSink records what it took; answer decides each call's outcome.
type fakeSink struct {
	name   string
	batch  int
	mu     sync.Mutex
	got    []Notification
	calls  int
	answer func(call int, ns []Notification) (bool, error)
}

func (s *fakeSink) Name() string  { return s.name }
func (s *fakeSink) MaxBatch() int { return s.batch }
func (s *fakeSink) Notify(_ context.Context, ns ...Notification) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.answer != nil {
		if retry, err := s.answer(s.calls, ns); err != nil {
			var rej *RejectedError
			if errors.As(err, &rej) {
				for _, n := range ns {
					if _, bad := rej.Reasons[n.DeliveryID]; !bad {
						s.got = append(s.got, n)
					}
				}
			}
			return retry, err
		}
	}
	s.got = append(s.got, ns...)
	return false, nil
}

func (s *fakeSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.got {
		out = append(out, n.Finding.IncidentID+"/"+string(n.Finding.Status))
	}
	return out
}

// memDead keeps dead letters in memory.
type memDead struct {
	mu   sync.Mutex
	dead []Dead
}

func (m *memDead) Write(_ context.Context, d Dead) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dead = append(m.dead, d)
	return nil
}

func (m *memDead) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.dead)
}

func finding(i int, sev detect.Severity, st detect.Status) detect.Finding {
	end := time.Date(2026, 12, 5, 6, i, 0, 0, time.UTC)
	return detect.Finding{IncidentID: fmt.Sprintf("inc-%d", i), Status: st, Client: fmt.Sprintf("198.51.100.%d", i),
		ClientKind: "ip", Detector: detect.DetectorVolume, WindowStart: end.Add(-time.Minute), WindowEnd: end,
		Windows: 1, Severity: sev, Routes: []string{"GET /api/items/{id}"}}
}

// runUntil runs d until cond holds (or fails the test after 10 s).
func runUntil(t *testing.T, d *Dispatcher, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// noWait makes a dispatcher's retries immediate, recording the delays.
func noWait(d *Dispatcher) *[]time.Duration {
	var mu sync.Mutex
	delays := &[]time.Duration{}
	for _, w := range d.workers {
		w.wait = func(ctx context.Context, dl time.Duration) error {
			mu.Lock()
			*delays = append(*delays, dl)
			mu.Unlock()
			return ctx.Err()
		}
	}
	return delays
}

func openTestOutbox(t *testing.T, dir string) *Outbox {
	t.Helper()
	o, err := OpenOutbox(dir, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func TestDispatcherOutcomes(t *testing.T) {
	t.Parallel()
	throttle := &RetryAfterError{After: 7 * time.Second, Err: errors.New("429")}
	for _, tc := range []struct {
		name          string
		answer        func(call int, ns []Notification) (bool, error)
		wantDelivered int
		wantDead      int
		wantRetries   uint64
		minDelay      time.Duration
	}{
		{"delivered", nil, 4, 0, 0, 0},
		{"retried until delivered", func(c int, _ []Notification) (bool, error) {
			if c <= 3 {
				return true, errors.New("connection refused")
			}
			return false, nil
		}, 4, 0, 3, 0},
		{"retry-after honoured", func(c int, _ []Notification) (bool, error) {
			if c == 1 {
				return true, throttle
			}
			return false, nil
		}, 4, 0, 1, 7 * time.Second},
		{"refused for good", func(int, []Notification) (bool, error) { return false, errors.New("invalid_auth") }, 0, 4, 0, 0},
		{"one rejected", func(c int, ns []Notification) (bool, error) {
			if c == 1 {
				return false, &RejectedError{Reasons: map[string]string{ns[1].DeliveryID: "mapper_parsing_exception"}}
			}
			return false, nil
		}, 3, 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := openTestOutbox(t, t.TempDir())
			sink := &fakeSink{name: "s", batch: 10, answer: tc.answer}
			dead := &memDead{}
			d := New(Options{DeadLetter: dead})
			feed, err := o.Feed("s")
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Add(sink, feed, SinkOptions{Linger: 50 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			delays := noWait(d)
			for i := range 4 {
				if err := o.Write(finding(i, detect.SeverityHigh, detect.StatusOpen)); err != nil {
					t.Fatal(err)
				}
			}
			runUntil(t, d, func() bool { return feed.Lag() == 0 && len(sink.ids())+dead.len() == 4 })
			st := d.Stats()[0]
			if len(sink.ids()) != tc.wantDelivered || dead.len() != tc.wantDead || st.Retries != tc.wantRetries {
				t.Errorf("delivered %d, dead %d, retries %d; want %d, %d, %d",
					len(sink.ids()), dead.len(), st.Retries, tc.wantDelivered, tc.wantDead, tc.wantRetries)
			}
			if tc.minDelay > 0 && (len(*delays) == 0 || (*delays)[0] < tc.minDelay) {
				t.Errorf("retry delays %v, want the first >= %v", *delays, tc.minDelay)
			}
		})
	}
}

func TestDispatcherRoutingSilenceDedup(t *testing.T) {
	t.Parallel()
	o := openTestOutbox(t, t.TempDir())
	slack := &fakeSink{name: "slack", batch: 10}
	siem := &fakeSink{name: "siem", batch: 10}
	routing := Routing{
		{Sinks: []string{"slack"}, MinSeverity: detect.SeverityHigh, Statuses: []detect.Status{detect.StatusOpen, detect.StatusResolved}},
		{Sinks: []string{"siem"}},
	}
	d := New(Options{Routing: routing, Silences: silenceClient("198.51.100.3")})
	for _, s := range []*fakeSink{slack, siem} {
		feed, err := o.Feed(s.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Add(s, feed, SinkOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []detect.Finding{
		finding(1, detect.SeverityHigh, detect.StatusOpen),
		finding(1, detect.SeverityHigh, detect.StatusUpdate),   // slack: status filtered
		finding(2, detect.SeverityLow, detect.StatusOpen),      // slack: severity filtered
		finding(3, detect.SeverityCritical, detect.StatusOpen), // silenced everywhere
		finding(1, detect.SeverityHigh, detect.StatusOpen),     // the same emission again: a duplicate
		finding(1, detect.SeverityHigh, detect.StatusResolved),
	} {
		if err := o.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	runUntil(t, d, func() bool { return len(siem.ids()) == 4 && len(slack.ids()) == 2 })
	if got := fmt.Sprint(slack.ids()); got != "[inc-1/open inc-1/resolved]" {
		t.Errorf("slack got %s", got)
	}
	if got := fmt.Sprint(siem.ids()); got != "[inc-1/open inc-1/update inc-2/open inc-1/resolved]" {
		t.Errorf("siem got %s", got)
	}
	st := d.Stats()
	if st[0].Dropped["silenced"] != 1 || st[0].Dropped["duplicate"] != 1 || st[0].Filtered != 2 {
		t.Errorf("slack stats %+v", st[0])
	}
}

type silenceClient string

func (s silenceClient) Silenced(f detect.Finding, _ time.Time) bool { return f.Client == string(s) }

func TestDispatcherHealthAndBatches(t *testing.T) {
	t.Parallel()
	o := openTestOutbox(t, t.TempDir())
	var sizes []int
	sink := &fakeSink{name: "hec", batch: 3, answer: func(_ int, ns []Notification) (bool, error) {
		sizes = append(sizes, len(ns))
		return false, nil
	}}
	d := New(Options{})
	feed, _ := o.Feed("hec")
	if err := d.Add(sink, feed, SinkOptions{Linger: time.Second}); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		o.Write(finding(i, detect.SeverityLow, detect.StatusOpen))
	}
	runUntil(t, d, func() bool { return len(sink.ids()) == 7 })
	if fmt.Sprint(sizes) != "[3 3 1]" {
		t.Errorf("batch sizes %v, want [3 3 1]", sizes)
	}
	if err := d.Healthy(); err != nil {
		t.Errorf("healthy sink reported: %v", err)
	}
	d.workers[0].stats.failed(errors.New("down"), false)
	d.workers[0].stats.s.FailingSince = time.Now().Add(-DefaultFailAfter - time.Minute)
	if err := d.Healthy(); err == nil {
		t.Error("a sink failing for 11 minutes is reported healthy")
	}
}

// TestDispatcherRestart: a sink down while the process stops; after a
// restart on the same outbox, every finding reaches it, in order, the
// delivery ids of redelivered findings unchanged.
func TestDispatcherRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := openTestOutbox(t, dir)
	down := &fakeSink{name: "s", answer: func(c int, _ []Notification) (bool, error) {
		if c <= 2 {
			return false, nil
		}
		return true, errors.New("503")
	}}
	d := New(Options{})
	feed, _ := o.Feed("s")
	d.Add(down, feed, SinkOptions{})
	noWait(d)
	for i := range 5 {
		o.Write(finding(i, detect.SeverityHigh, detect.StatusOpen))
	}
	runUntil(t, d, func() bool { down.mu.Lock(); defer down.mu.Unlock(); return down.calls >= 5 })
	o.Close()

	o2 := openTestOutbox(t, dir)
	up := &fakeSink{name: "s", batch: 10}
	d2 := New(Options{})
	feed2, err := o2.Feed("s")
	if err != nil {
		t.Fatal(err)
	}
	d2.Add(up, feed2, SinkOptions{})
	runUntil(t, d2, func() bool { return len(up.ids()) == 3 })
	got := append(down.ids(), up.ids()...)
	if fmt.Sprint(got) != "[inc-0/open inc-1/open inc-2/open inc-3/open inc-4/open]" {
		t.Errorf("across the restart the sink got %v", got)
	}
	if want := DeliveryID(finding(2, detect.SeverityHigh, detect.StatusOpen), "s"); up.got[0].DeliveryID != want {
		t.Errorf("redelivered with id %s, want %s", up.got[0].DeliveryID, want)
	}
}
