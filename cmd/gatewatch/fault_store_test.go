package main

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// TestKillStoreMidLoad: "gatewatch store" loads an events topic that
// collect fills from a log written at 3,000 lines a second (90,000 in
// all) into ClickHouse in batches of 5,000 rows, and is SIGKILLed
// mid-load, preferably between storing a batch and committing its
// offsets (the table holds more rows than its /metrics say it
// committed), then started again: it re-reads from the last committed
// offset, so a batch may be stored twice. events FINAL must hold exactly
// one row per line.
func TestKillStoreMidLoad(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	chAddr, chEnv := testClickHouse(t)
	ph := faultPrelude(t)
	const lines = 90_000
	dir := t.TempDir()
	bin := buildGatewatchBinary(t, dir)
	suffix := fmt.Sprint(time.Now().UnixNano())
	top := newCrashTopic(t, broker, "test.fault.store."+suffix, crashPartitions)
	ph.mark("setup")

	store := &crashStore{listen: testenv.FreeAddr(t), db: "test_fault_store_" + suffix}
	dropDatabaseAtEnd(t, chAddr, chEnv, store.db)
	cfgPath := filepath.Join(dir, "store.yaml")
	writeCrashFile(t, cfgPath, fmt.Sprintf("kafka:\n  brokers: [%s]\n  topics: {events: %s, findings: %s.findings, windows: %s.windows}\n"+
		"clickhouse:\n  addr: %s\n  database: %s\n  group: test-fault-store-%s\n  flush_interval: 200ms\n  batch_rows: 5000\n",
		broker, top.name, top.name, top.name, chAddr, store.db, suffix))
	startStore := func(out string) *crashProc {
		return startCrashProc(t, bin, filepath.Join(dir, out), []string{"GATEWATCH_CLICKHOUSE_PASSWORD=" + chEnv["GATEWATCH_CLICKHOUSE_PASSWORD"]},
			"store", "--config", cfgPath, "--listen", store.listen)
	}
	store.proc = startStore("store-1.out")
	logPath := filepath.Join(dir, "access.log")
	lg := startFaultLog(t, logPath, 3000, lines)
	c := startFaultCollect(t, bin, dir, broker, top.name, logPath, "")
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr},
		Auth: clickhouse.Auth{Database: store.db, Username: "default", Password: chEnv["GATEWATCH_CLICKHOUSE_PASSWORD"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func(q string) uint64 {
		var n uint64
		if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
			return 0 // the table is not there yet
		}
		return n
	}
	faultWait(t, 3*time.Minute, func() string {
		return fmt.Sprintf("%d rows in events, waiting for %d", count("SELECT count() FROM events"), lines/4)
	},
		func() bool { return count("SELECT count() FROM events") >= lines/4 }, store.proc)
	// Between a stored batch and its commit if it can be caught (rows in
	// the table beyond the ones store has committed: counted first, so
	// the commit count read after cannot have missed them), else at two
	// thirds.
	between := false
	faultWait(t, 3*time.Minute, func() string { return "waiting for the moment to kill store" }, func() bool {
		rows := count("SELECT count() FROM events")
		committed := storedEventRows(store.listen)
		between = committed >= 0 && float64(rows) > committed
		return between || rows >= 2*lines/3
	}, store.proc, c)
	store.proc.signal(t, syscall.SIGKILL)
	killedAt := fmt.Sprintf("%d rows (%d FINAL), between a batch and its commit: %v", count("SELECT count() FROM events"), count("SELECT count() FROM events FINAL"), between)
	restarted := time.Now()
	store.proc = startStore("store-2.out")
	lg.wait(t, 2*time.Minute)
	ends, err := lg.finish()
	if err != nil {
		t.Fatal(err)
	}
	drainCollect(t, c, filepath.Join(dir, "data", "collect-positions.json"), logPath, 3*time.Minute)
	messages := int(sum(top.settledEnds(t, 100*time.Millisecond)))
	ph.mark("kill")
	faultWait(t, 3*time.Minute, func() string {
		return fmt.Sprintf("%d rows in events FINAL, want %d", count("SELECT count() FROM events FINAL"), lines)
	}, func() bool { return count("SELECT count() FROM events FINAL") >= lines }, store.proc)
	recovered := time.Since(restarted)
	// Anything more the last run stores would be a replay: give it time to show.
	sleepAlive(t, 3*time.Second, store.proc)
	store.proc.signal(t, syscall.SIGTERM)
	var final, paths, raw uint64
	if err := conn.QueryRow(context.Background(), "SELECT count(), uniqExact(path) FROM events FINAL").Scan(&final, &paths); err != nil {
		t.Fatal(err)
	}
	raw = count("SELECT count() FROM events")
	ph.mark("load")
	if messages != lines || final != lines || paths != lines {
		t.Errorf("%d messages in the topic, %d rows in events FINAL, %d distinct paths; want %d of each", messages, final, paths, lines)
	}
	if raw <= lines {
		t.Logf("note: %d rows before FINAL: no batch was stored twice (the kill fell after a commit)", raw)
	}
	t.Logf("killed at %s; %d rows before FINAL (%d stored again after a kill)", killedAt, raw, raw-uint64(lines))
	t.Logf("phases: %s", ph)
	faultSummary(t, "SIGKILL store mid-load, restarted", len(ends), messages, fmt.Sprint(final), "-", int(final)-lines,
		fmt.Sprintf("events FINAL complete %s after the restart (%d rows stored twice, collapsed by FINAL; the restarted store waits out the killed one's session, 30 s)",
			recovered.Round(100*time.Millisecond), raw-uint64(lines)))
}
