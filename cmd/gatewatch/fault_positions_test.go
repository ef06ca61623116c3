package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/internal/testenv"
)

// TestFaultPositionsFullOrUnwritable: "gatewatch collect" tails a log
// written at 2,000 lines a second while its read positions cannot be
// saved: first the disk is full (the temporary file a save writes is
// /dev/full, so the write fails with ENOSPC), then data_dir is not a
// directory (unwritable, for root too). Each time collect must go on
// delivering, say so once in its log and on /healthz, and never move
// the saved position; it says when saving works again. SIGKILLed while
// data_dir is unwritable and started again once it is back, it re-sends
// the lines read since the last save, no more, and detect's engines
// count every line exactly once.
func TestFaultPositionsFullOrUnwritable(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	ph := faultPrelude(t)
	dir := t.TempDir()
	bin := buildGatewatchBinary(t, dir)
	top := newCrashTopic(t, broker, fmt.Sprintf("test.fault.positions.%d", time.Now().UnixNano()), crashPartitions)
	ph.mark("setup")

	dataDir := filepath.Join(dir, "data")
	logPath, posFile, listen := filepath.Join(dir, "access.log"), filepath.Join(dataDir, "collect-positions.json"), testenv.FreeAddr(t)
	lg := startFaultLog(t, logPath, 2000, 80_000)
	c := startFaultCollect(t, bin, dir, broker, top.name, logPath, listen)
	health := startHealthProbe(t, listen)
	faultWait(t, time.Minute, func() string { return "collect saved no position" },
		func() bool { return savedOffset(t, posFile) > 0 }, c)
	ph.mark("before")

	tmp := posFile + ".tmp"
	full := positionsOutage(t, c, health, listen, posFile, "no space left on device", func() error {
		return retryFault(func() error { return os.Symlink("/dev/full", tmp) }) // EEXIST while a save is under way
	})
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
	faultWait(t, time.Minute, func() string { return "collect never said its positions were saved again" }, func() bool {
		return strings.Contains(c.output(), "read positions saved again") && savedOffset(t, posFile) > full.saved
	}, c)
	ph.mark("full")

	away := dataDir + ".away"
	unwritable := positionsOutage(t, c, health, listen, filepath.Join(away, "collect-positions.json"), "not a directory", func() error {
		if err := os.Rename(dataDir, away); err != nil {
			return err
		}
		return retryFault(func() error {
			// A save between the two steps makes data_dir again: drop it.
			if err := os.Remove(dataDir); err != nil && !os.IsNotExist(err) {
				os.RemoveAll(dataDir)
			}
			return os.WriteFile(dataDir, []byte("not a directory\n"), 0o600)
		})
	})
	c.signal(t, syscall.SIGKILL)
	atKill := sum(top.settledEnds(t, 100*time.Millisecond))
	if err := os.Remove(dataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(away, dataDir); err != nil {
		t.Fatal(err)
	}
	ph.mark("unwritable")

	restarted := time.Now()
	if err := os.Rename(filepath.Join(dir, "collect.out"), filepath.Join(dir, "collect-1.out")); err != nil {
		t.Fatal(err)
	}
	c = startFaultCollect(t, bin, dir, broker, top.name, logPath, listen)
	lg.wait(t, 2*time.Minute)
	ends, err := lg.finish()
	if err != nil {
		t.Fatal(err)
	}
	drainCollect(t, c, posFile, logPath, 3*time.Minute)
	healthyAt, healthyAgain, _ := health.firstOK(restarted)
	health.close()
	ph.mark("drain")

	tally := tallyCrashTopic(t, top, ends, nil)
	ph.mark("tally")
	checkPositionsFault(t, tally, ends, unwritable.saved, atKill)
	if !healthyAgain {
		t.Errorf("the restarted collect's /healthz never answered 200")
	}
	lines, dups := len(ends), tally.messages-tally.distinct
	t.Logf("full: %s; unwritable: %s; killed with %d messages in the topic; phases: %s", full, unwritable, atKill, ph)
	faultSummary(t, "positions: disk full 6 s, then data_dir unwritable 6 s and collect SIGKILLed", lines, int(tally.events), "-", "-",
		int(tally.events)-lines, fmt.Sprintf("/healthz 503 within %s and %s; the restart re-sent %d lines (all past the last save, all skipped as replays), /healthz ok %s after it",
			full.noticed.Round(100*time.Millisecond), unwritable.noticed.Round(100*time.Millisecond), dups, healthyAt.Sub(restarted).Round(100*time.Millisecond)))
}

// positionsOutcome is what one outage of the positions file showed.
type positionsOutcome struct {
	saved     int64         // the saved position, before and after
	noticed   time.Duration // from the fault to /healthz's 503
	delivered float64       // events delivered during the outage
}

func (o positionsOutcome) String() string {
	return fmt.Sprintf("saved position %d kept, /healthz 503 after %s, %.0f events delivered meanwhile",
		o.saved, o.noticed.Round(100*time.Millisecond), o.delivered)
}

// positionsOutage breaks collect's positions file with brk and checks,
// over 6 s, that /healthz says so (503 naming the positions), the log
// names the error (errText) once, events keep flowing and the position
// saved (read from savedAt, where the file is during the outage) does
// not move.
func positionsOutage(t *testing.T, c *crashProc, health *healthProbe, listen, savedAt, errText string, brk func() error) positionsOutcome {
	t.Helper()
	logged := strings.Count(c.output(), "saving read positions failed")
	delivered, broke := metricValue(listen, "gatewatch_collect_delivered_events_total"), time.Now()
	if err := brk(); err != nil {
		t.Fatal(err)
	}
	saved := savedOffset(t, savedAt) // no save succeeds from here
	var body string
	faultWait(t, 30*time.Second, func() string { return "collect's /healthz still 200 with its positions unsaveable: " + body },
		func() bool { body = health.latest(); return strings.Contains(body, "read positions cannot be saved") }, c)
	out := positionsOutcome{saved: saved, noticed: time.Since(broke)}
	sleepAlive(t, 6*time.Second, c)
	out.delivered = metricValue(listen, "gatewatch_collect_delivered_events_total") - delivered
	if body = health.latest(); !strings.HasPrefix(body, "503 ") {
		t.Errorf("/healthz 6 s into the outage: %q, want 503", body)
	}
	msgs := c.output()
	if n := strings.Count(msgs, "saving read positions failed") - logged; n != 1 || !strings.Contains(msgs, errText) {
		t.Errorf("collect logged the failed save %d times (want once per outage), naming %q: %v\n%s", n, errText, strings.Contains(msgs, errText), tailOf(msgs, 2000))
	}
	if got := savedOffset(t, savedAt); got != saved {
		t.Errorf("the saved position moved from %d to %d while it could not be saved", saved, got)
	}
	if out.delivered < 2000 {
		t.Errorf("%.0f events delivered in the 6 s the positions could not be saved, want collect to go on (2,000 lines a second)", out.delivered)
	}
	return out
}

// retryFault retries a step that races with collect's saves, up to 20
// times 10 ms apart.
func retryFault(step func() error) (err error) {
	for range 20 {
		if err = step(); err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// checkPositionsFault checks the topic after the restart: every line once
// counted, the re-sent lines all past the position saved before the kill
// and no more than the topic held past it then.
func checkPositionsFault(t *testing.T, tally *crashTally, ends []int64, saved, atKill int64) {
	t.Helper()
	lines, dups := len(ends), tally.messages-tally.distinct
	if tally.distinct != lines || tally.origins != 1 || tally.bad != 0 {
		t.Errorf("topic: %d messages, %d distinct lines in %d origins; want every one of the %d lines, one origin", tally.messages, tally.distinct, tally.origins, lines)
	}
	if tally.events != uint64(lines) || tally.replayed != uint64(dups) {
		t.Errorf("engines counted %d events and skipped %d as replayed; want %d and the %d re-sent", tally.events, tally.replayed, lines, dups)
	}
	savedLines := sort.Search(len(ends), func(i int) bool { return ends[i] > saved })
	if unsaved := int(atKill) - savedLines; dups < 1 || dups > unsaved {
		t.Errorf("%d lines re-sent after the restart; want 1 to %d (the messages past the saved position %d, line %d, when collect was killed)",
			dups, unsaved, saved, savedLines)
	}
}
