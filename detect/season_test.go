package detect

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestClientSeasonality runs six days of five-minute windows in which one
// client, "sync", sends six times its usual traffic every night from
// 02:00 to 03:00: its own schedule, which the fleet does not share. The
// first nights are flagged; once the hour has been active on three days
// its factor is trusted and the nightly peak is not. The same peak in the
// afternoon, and a flood far beyond the learned factor in the night, are
// still found.
func TestClientSeasonality(t *testing.T) {
	t.Parallel()
	const (
		window = 5 * time.Minute
		perDay = int(24 * time.Hour / window)
		days   = 6
		usual  = 30.0
	)
	s := newSynth(t, Options{Window: window})
	night := func(d int) time.Time {
		return t0.Truncate(24 * time.Hour).Add(time.Duration(d)*24*time.Hour + 2*time.Hour)
	}
	start := night(0).Add(-2 * time.Hour) // midnight of the first day
	afternoon := night(days - 1).Add(12 * time.Hour)
	in := func(at, from time.Time, d time.Duration) bool { return !at.Before(from) && at.Before(from.Add(d)) }
	for w := range days * perDay {
		at := start.Add(time.Duration(w) * window)
		ts := s.background(30)
		lam := usual
		switch {
		case in(at, night(days-1), 30*time.Minute):
			lam = 40 * usual // a flood at the usual hour: beyond what any factor excuses
		case in(at, afternoon, 30*time.Minute):
			lam = 6 * usual // the nightly peak at another hour
		case in(at.Add(-2*time.Hour), at.Truncate(24*time.Hour), time.Hour):
			lam = 6 * usual // the nightly sync
		}
		ts = append(ts, traffic{client: "sync", req: s.poisson(lam)})
		s.windowSpread(at, window, ts)
	}
	s.eng.Flush()
	found := s.of("sync", DetectorVolume)
	flagged := func(from time.Time) bool {
		return slices.ContainsFunc(found, func(f Finding) bool {
			return f.Status == StatusOpen && !f.WindowStart.Before(from) && f.WindowStart.Before(from.Add(time.Hour))
		})
	}
	if !flagged(night(0)) {
		t.Errorf("the first night's peak was not flagged: %v", summaries(found))
	}
	for d := 3; d < days-1; d++ {
		if flagged(night(d)) {
			t.Errorf("night %d: the peak was flagged although the hour has been active on %d days: %v", d, d, summaries(found))
		}
	}
	if !flagged(night(days - 1)) {
		t.Errorf("a flood at the usual hour was not flagged: %v", summaries(found))
	}
	if !flagged(afternoon) {
		t.Errorf("the nightly peak sent in the afternoon was not flagged: %v", summaries(found))
	}
	var seasonal bool
	for _, f := range found {
		seasonal = seasonal || (f.WindowStart.After(night(3)) && f.Baseline == "own" && strings.Contains(f.Why, "day-of-week factors"))
	}
	if !seasonal {
		t.Errorf("no later finding says its expectation used the client's own factors: %v", summaries(found))
	}
}

// windowSpread sends one window's traffic from at, each client's requests
// spread evenly over width and interleaved in time order.
func (s *synth) windowSpread(at time.Time, width time.Duration, ts []traffic) {
	s.recs = s.recs[:0]
	for _, tr := range ts {
		for i := range tr.req {
			st := 200
			switch {
			case i < tr.errs:
				st = 503
			case i < tr.errs+tr.auth:
				st = 401
			}
			off := time.Duration((float64(i) + 0.5) * float64(width) / float64(tr.req))
			s.recs = append(s.recs, rec{at: at.Sub(t0) + off, client: tr.client, status: st})
		}
	}
	slices.SortStableFunc(s.recs, func(a, b rec) int { return int(a.at - b.at) })
	for _, r := range s.recs {
		s.send(t0.Add(r.at), r.client, r.status)
	}
}

func TestSeasonPoint(t *testing.T) {
	t.Parallel()
	e := New(Options{Window: time.Minute})
	for _, tc := range []struct {
		at        time.Time
		hour, dow int
	}{
		{time.Date(2026, 11, 23, 15, 59, 0, 0, time.UTC), 15, int(time.Monday)},
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), 0, int(time.Thursday)},
		{time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), 23, int(time.Wednesday)},
		{time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), 2, int(time.Sunday)},
	} {
		p := e.seasonPointOf(e.clock.index(tc.at.UnixNano()))
		if !p.ok || p.hour != tc.hour || p.dow != tc.dow {
			t.Errorf("%v: hour %d weekday %d, want %d %d", tc.at, p.hour, p.dow, tc.hour, tc.dow)
		}
	}
	if p := New(Options{Window: 2 * time.Hour}).seasonPointOf(10); p.ok {
		t.Error("two-hour windows have an hour of day")
	}
}

func TestClientSeasonCounting(t *testing.T) {
	t.Parallel()
	var s clientSeason
	p := seasonPoint{ok: true, hourSlot: 2, weekdaySlot: 24 + 3}
	for i := range 30 {
		day := []int64{10, 10, 10, 11, 11, 12, 13, 14}[min(i, 7)]
		p.day, p.week = day, day/7
		s.learn(&p, math.Log(4))
	}
	if got := s.days(2); got != 3 {
		t.Errorf("hour seen on %d days, want 3 (saturated)", got)
	}
	if got := s.days(24 + 3); got != 2 {
		t.Errorf("weekday seen in %d weeks, want 2", got)
	}
	f, ok := s.logFactor(&p)
	if !ok || math.Abs(f-math.Log(4)) > 0.1 {
		t.Errorf("factor %.3f (trusted %v), want about ln 4 = %.3f", f, ok, math.Log(4))
	}
	s.learn(&p, math.Inf(1))
	if v := s.value(2); v > seasonClip+1e-3 {
		t.Errorf("factor %.3f above the clip %.3f", v, seasonClip)
	}
	s.learn(&p, math.NaN())
	if v := s.value(2); math.IsNaN(v) {
		t.Error("NaN learned")
	}
}

// TestRestoreVersion2 restores a snapshot written by the build before
// seasonal profiles (testdata/snapshot_v2.bin: 20 clients after 30
// one-minute windows of newSynth's background traffic) and checks that
// the clients and their baselines come back with empty profiles, and
// that the engine runs on and checkpoints in the current version.
func TestRestoreVersion2(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "snapshot_v2.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if data[len(snapshotMagic)] != 2 {
		t.Fatalf("testdata holds version %d", data[len(snapshotMagic)])
	}
	e, err := Restore(Options{}, data)
	if err != nil {
		t.Fatalf("version 2 snapshot: %v", err)
	}
	if n := e.Stats().ActiveClients; n != 20 {
		t.Fatalf("%d clients restored, want 20", n)
	}
	for i := range int32(e.tab.list.len()) {
		c := e.tab.list.at(i)
		if season := e.seasonOf(i); c.live && (c.vol.n < 20 || *season != (clientSeason{})) {
			t.Errorf("client %s: %d windows, profile %+v", e.tab.key(i), c.vol.n, *season)
		}
	}
	s := newSynth(t, Options{})
	s.eng = e
	for w := 30; w < 40; w++ {
		s.window(w, s.background(20))
	}
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if b[len(snapshotMagic)] != snapshotVersion {
		t.Errorf("checkpoint written as version %d", b[len(snapshotMagic)])
	}
	if _, err := Restore(Options{}, b); err != nil {
		t.Errorf("restoring the new checkpoint: %v", err)
	}
}
