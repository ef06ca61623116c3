package main

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/internal/testenv"
)

// TestSoakPipelineThroughput measures the whole pipeline as separate
// processes on the real broker and server: GATEWATCH_SOAK_LINES nginx
// lines (default 2,000,000) from 5,000 clients are in a file when
// "gatewatch collect" starts on it; one "gatewatch detect" replica (its
// default windows topic on) and "gatewatch store" run beside it. The
// figure is lines/s from collect's start until store has committed the
// last event row, with when detect had counted every event. It runs only
// with GATEWATCH_SOAK=1: minutes of both cores, for the README's table
// and the closing note, not for CI.
func TestSoakPipelineThroughput(t *testing.T) {
	if os.Getenv("GATEWATCH_SOAK") != "1" {
		t.Skip("a load measurement: GATEWATCH_SOAK=1 runs it")
	}
	lines := 2_000_000
	if v, err := strconv.Atoi(os.Getenv("GATEWATCH_SOAK_LINES")); err == nil && v > 0 {
		lines = v
	}
	broker := testKafka(t)
	chAddr, env := testClickHouse(t)
	dir := t.TempDir()
	bin := buildGatewatchBinary(t, dir)
	logPath := filepath.Join(dir, "access.log")
	// 500 lines a second of log time, ending an hour ago: a long soak
	// stays in the past.
	writeSoakLog(t, logPath, lines, time.Now().UTC().Add(-time.Duration(lines/500)*time.Second-time.Hour).Truncate(time.Second))
	suffix := fmt.Sprint(time.Now().UnixNano())
	top := newCrashTopic(t, broker, "test.soak.events."+suffix, crashPartitions)
	db := "test_soak_" + suffix
	dropDatabaseAtEnd(t, chAddr, env, db)
	// GATEWATCH_SOAK_WIRE=json, GATEWATCH_SOAK_COMPRESSION and
	// GATEWATCH_SOAK_BATCH_ROWS compare the event encodings, codecs and
	// store's batch sizes.
	wire := cmp.Or(os.Getenv("GATEWATCH_SOAK_WIRE"), "binary")
	codec := cmp.Or(os.Getenv("GATEWATCH_SOAK_COMPRESSION"), "lz4")
	batchRows, _ := strconv.Atoi(os.Getenv("GATEWATCH_SOAK_BATCH_ROWS")) // 0: store's default
	cfgPath := filepath.Join(dir, "gatewatch.yaml")
	writeCrashFile(t, cfgPath, fmt.Sprintf(`data_dir: %[1]s
kafka:
  brokers: [%[2]s]
  wire: %[7]s
  compression: %[8]s
  detect_group: test-soak-detect-%[3]s
  topics: {events: %[4]s, findings: %[4]s.findings, windows: %[4]s.windows, dead_letter: %[4]s.dead, detect_state: %[4]s.state}
clickhouse:
  addr: %[5]s
  database: %[6]s
  group: test-soak-store-%[3]s
  batch_rows: %[9]d
`, filepath.Join(dir, "data"), broker, suffix, top.name, chAddr, db, wire, codec, batchRows))
	chEnv := []string{"GATEWATCH_CLICKHOUSE_PASSWORD=" + env["GATEWATCH_CLICKHOUSE_PASSWORD"]}
	detectAt, storeAt := testenv.FreeAddr(t), testenv.FreeAddr(t)
	detect := startCrashProc(t, bin, filepath.Join(dir, "detect.out"), nil, "detect", "--config", cfgPath, "--listen", detectAt)
	store := startCrashProc(t, bin, filepath.Join(dir, "store.out"), chEnv, "store", "--config", cfgPath, "--listen", storeAt)
	time.Sleep(3 * time.Second) // both joined their groups
	start := time.Now()
	cpu0 := []time.Duration{0, cpuTime(detect), cpuTime(store)}
	servers0 := serversCPUTime()
	collect := startCrashProc(t, bin, filepath.Join(dir, "collect.out"), nil, "collect", "--config", cfgPath, "--listen", "",
		"--from-start", "--format", "nginx_combined", logPath)
	var detected time.Duration
	var stored []float64 // rows committed at every soakStep
	for deadline, next := start.Add(60*time.Minute), start; storedEventRows(storeAt) < float64(lines); time.Sleep(100 * time.Millisecond) {
		if detected == 0 && metricValue(detectAt, "gatewatch_detect_events_total") >= float64(lines) {
			detected = time.Since(start)
		}
		if store.exited() || time.Now().After(deadline) {
			t.Fatalf("store: %v of %d rows committed:\n%s", storedEventRows(storeAt), lines, store.output())
		}
		if time.Now().After(next) {
			stored, next = append(stored, max(storedEventRows(storeAt), 0)), next.Add(soakStep)
		}
	}
	elapsed := time.Since(start)
	if detected == 0 {
		detected = elapsed
	}
	var perLine []string
	for i, p := range []*crashProc{collect, detect, store} {
		perLine = append(perLine, fmt.Sprintf("%s %.1f µs", p.cmd.Args[1], float64((cpuTime(p)-cpu0[i]).Nanoseconds())/1e3/float64(lines)))
	}
	for i, d := range serversCPUTime() {
		if d >= 0 && servers0[i] >= 0 {
			perLine = append(perLine, fmt.Sprintf("%s %.1f µs", []string{"ClickHouse", "broker"}[i], float64((d-servers0[i]).Nanoseconds())/1e3/float64(lines)))
		}
	}
	t.Logf("CPU per line since collect started (/proc): %s", strings.Join(perLine, ", "))
	t.Logf("rows committed per second, %s at a time: %s", soakStep, soakRates(stored))
	t.Logf("peak resident memory (/proc VmHWM): collect %s, detect %s, store %s", peakRSS(collect), peakRSS(detect), peakRSS(store))
	t.Logf("soak (%s events, %s): %d lines, 5,000 clients: stored in %v = %.0f lines/s end to end; detect counted them all after %v (%.0f events/s)",
		wire, codec, lines, elapsed.Round(time.Millisecond), float64(lines)/elapsed.Seconds(), detected.Round(time.Millisecond), float64(lines)/detected.Seconds())
}

// soakStep is how often the soak samples the rows committed.
const soakStep = 10 * time.Second

// soakRates lists the rows a second between samples, in thousands.
func soakRates(stored []float64) string {
	var out []string
	for i := 1; i < len(stored); i++ {
		out = append(out, fmt.Sprintf("%.0fk", (stored[i]-stored[i-1])/soakStep.Seconds()/1e3))
	}
	return strings.Join(out, " ")
}

// peakRSS is p's peak resident memory (VmHWM), "?" once it has exited
// or where there is no /proc.
func peakRSS(p *crashProc) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil || p.exited() {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// cpuTime is the CPU time (user and system) p has used so far: from
// /proc/<pid>/stat in the kernel's clock ticks of 1/100 s while it runs,
// 0 where there is no /proc.
func cpuTime(p *crashProc) time.Duration {
	if p.exited() {
		return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
	}
	return max(testenv.PidCPUTime(p.cmd.Process.Pid), 0)
}

// serversCPUTime is the CPU time ClickHouse and the broker have used when
// deploy/'s scripts started them; -1 for one that cannot be read.
func serversCPUTime() [2]time.Duration {
	return [2]time.Duration{
		testenv.ServerCPUTime("GATEWATCH_TEST_CLICKHOUSE_DIR", "clickhouse.pid"),
		testenv.ServerCPUTime("GATEWATCH_TEST_KAFKA_DIR", "kafka.pid"),
	}
}

// writeSoakLog writes n nginx combined lines from 5,000 clients, 500 a
// second from from, to a small API: orders, items by id, a search.
func writeSoakLog(t *testing.T, path string, n int, from time.Time) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var line []byte
	var ts string
	for i := range n {
		if i%500 == 0 {
			ts = from.Add(time.Duration(i/500) * time.Second).Format("02/Jan/2006:15:04:05 -0700")
		}
		c := (i * 7919) % 5000
		line = append(strconv.AppendInt(append(line[:0], "10."...), int64(c/250), 10), '.')
		line = append(strconv.AppendInt(line, int64(c%250), 10), ".7.9 - - ["...)
		line = append(append(line, ts...), "] \"GET "...)
		switch i % 3 {
		case 0:
			line = append(line, "/api/v1/orders"...)
		case 1:
			line = strconv.AppendInt(append(line, "/api/v1/items/"...), int64(i%10_000), 10)
		default:
			line = append(line, "/api/v1/search?q=shoes&page=2"...)
		}
		line = append(strconv.AppendInt(append(line, " HTTP/1.1\" "...), int64(200+(i%97/96)*204), 10), ' ')
		line = append(strconv.AppendInt(line, int64(200+i%5000), 10), " \"-\" \"okhttp/4.12\"\n"...)
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
