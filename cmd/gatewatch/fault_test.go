package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// The fault tests run the stack's commands as real processes while a
// server they depend on goes away (the broker, ClickHouse, an alert
// receiver) or one of them is SIGKILLed, and then count exactly: every
// log line in the topic by its (origin, pos), once per line downstream of
// the dedup (detect's engine, events FINAL), every incident delivered
// once. Each logs one summary line starting "FAULT-SUMMARY |", a row of
//
//	| test | fault | lines | events | rows FINAL | incidents | duplicates | recover |
//
// The tests that stop a server start a private one of their own with
// deploy/kafka/kafka.sh or deploy/clickhouse/clickhouse.sh (free ports,
// a temporary directory; a second start in it keeps the data and ports):
// the shared broker and server of deploy/test.sh are never stopped. They
// need the shared ones anyway (GATEWATCH_TEST_KAFKA, ..._CLICKHOUSE) to
// run at all: those say the machine has what the scripts need (the
// broker's jars, clickhouse-server), and without them a test is skipped,
// or fails under CI=true.

// faultSummary logs the test's row of the summary table.
func faultSummary(t *testing.T, fault string, lines, events int, rows, incidents string, duplicates int, recover string) {
	t.Helper()
	t.Logf("FAULT-SUMMARY | %s | %s | %d | %d | %s | %s | %d | %s |", t.Name(), fault, lines, events, rows, incidents, duplicates, recover)
}

// faultPrelude skips under -short and returns a phase timer.
func faultPrelude(t *testing.T) *crashPhases {
	t.Helper()
	if testing.Short() {
		t.Skip("fault tests stop and start servers for minutes; skipped under -short")
	}
	return newCrashPhases()
}

// privateServer is a broker or ClickHouse server of the test's own,
// driven by its deploy script.
type privateServer struct {
	script, dir string
	env         []string // the port knobs (used by the first start)
	addr        string   // the plain listener, 127.0.0.1:port
}

// startPrivateKafka starts a broker of the test's own; it is stopped
// when the test ends.
func startPrivateKafka(t *testing.T) *privateServer {
	t.Helper()
	p := testenv.FreePorts(t, 3)
	s := &privateServer{script: "../../deploy/kafka/kafka.sh", dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", p[0]),
		env: []string{fmt.Sprintf("KAFKA_PORT=%d", p[0]), fmt.Sprintf("KAFKA_SASL_PORT=%d", p[1]), fmt.Sprintf("KAFKA_CONTROLLER_PORT=%d", p[2])}}
	s.start(t)
	t.Cleanup(func() { s.stop(t) })
	return s
}

// startPrivateClickHouse starts a ClickHouse server of the test's own; it
// is stopped when the test ends. env holds its password for the commands.
func startPrivateClickHouse(t *testing.T) (*privateServer, map[string]string) {
	t.Helper()
	p := testenv.FreePorts(t, 3)
	s := &privateServer{script: "../../deploy/clickhouse/clickhouse.sh", dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", p[0]),
		env: []string{fmt.Sprintf("CLICKHOUSE_PORT=%d", p[0]), fmt.Sprintf("CLICKHOUSE_TLS_PORT=%d", p[1]), fmt.Sprintf("CLICKHOUSE_HTTP_PORT=%d", p[2])}}
	s.start(t)
	t.Cleanup(func() { s.stop(t) })
	pw, err := os.ReadFile(filepath.Join(s.dir, "password"))
	if err != nil {
		t.Fatal(err)
	}
	return s, map[string]string{"GATEWATCH_CLICKHOUSE_PASSWORD": strings.TrimSpace(string(pw))}
}

func (s *privateServer) run(t *testing.T, verb string) {
	t.Helper()
	cmd := exec.Command("bash", s.script, verb, s.dir)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasSuffix(name, "_PORT") && !strings.HasSuffix(name, "_START_TIMEOUT") {
			cmd.Env = append(cmd.Env, kv) // the test's own ports and timeouts come next
		}
	}
	// Generous on a loaded 2-core machine; the defaults are 60 and 30.
	cmd.Env = append(append(cmd.Env, s.env...), "KAFKA_START_TIMEOUT=150", "CLICKHOUSE_START_TIMEOUT=150")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s %s: %v\n%s", s.script, verb, s.dir, err, out)
	}
}

func (s *privateServer) start(t *testing.T) { t.Helper(); s.run(t, "start") }
func (s *privateServer) stop(t *testing.T)  { t.Helper(); s.run(t, "stop") }

// faultLog appends log lines to a file at a steady rate until stopped
// (or until gen has no more), keeping each line's end offset.
type faultLog struct {
	path string
	gen  func(line []byte, i int) []byte // appends line i; nil: no more
	mu   sync.Mutex
	ends []int64
	stop chan struct{}
	done chan struct{}
	err  error
}

// startFaultLog writes the first second's lines at once (collect reads
// the file's origin off its first line), then rate lines a second, the
// lines of crashLine.
func startFaultLog(t *testing.T, path string, rate, max int) *faultLog {
	t.Helper()
	from := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	return startFaultLogOf(t, path, rate, func(line []byte, i int) []byte {
		if i >= max {
			return nil
		}
		return crashLine(line, i, from)
	})
}

// crashLine appends line i in crash_test.go's format: client (i*7)%300,
// path crashPathPrefix+i (so tallyCrashTopic checks the events), at from
// + i/150 seconds.
func crashLine(line []byte, i int, from time.Time) []byte {
	ts := from.Add(time.Duration(i/150) * time.Second).Format("02/Jan/2006:15:04:05 -0700")
	c, status := (i*7)%300, 200
	if i%50 == 49 {
		status = 404
	}
	line = append(strconv.AppendInt(append(line, "10.0."...), int64(c/100), 10), '.')
	line = append(strconv.AppendInt(line, int64(c%100+1), 10), " - - ["...)
	line = append(append(append(line, ts...), "] \"GET "+crashPathPrefix...), strconv.Itoa(i)...)
	line = append(strconv.AppendInt(append(line, " HTTP/1.1\" "...), int64(status), 10), ' ')
	return append(strconv.AppendInt(line, int64(100+i%900), 10), " \"-\" \"curl/8.5.0\"\n"...)
}

// startFaultLogOf is startFaultLog with the lines of gen.
func startFaultLogOf(t *testing.T, path string, rate int, gen func(line []byte, i int) []byte) *faultLog {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	l := &faultLog{path: path, gen: gen, stop: make(chan struct{}), done: make(chan struct{})}
	if _, err := l.write(f, rate); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(l.done)
		defer f.Close()
		began := time.Now()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			want := rate + int(time.Since(began).Seconds()*float64(rate))
			if n := want - l.lines(); n > 0 {
				more, err := l.write(f, n)
				if err != nil || !more {
					l.err = err
					return
				}
			}
		}
	}()
	t.Cleanup(func() { l.finish() })
	return l
}

// write appends up to n lines; more is false once gen has no more.
func (l *faultLog) write(f *os.File, n int) (more bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := bufio.NewWriterSize(f, 1<<20)
	var line []byte
	off := int64(0)
	if len(l.ends) > 0 {
		off = l.ends[len(l.ends)-1]
	}
	more = true
	for range n {
		if line = l.gen(line[:0], len(l.ends)); line == nil {
			more = false
			break
		}
		w.Write(line)
		off += int64(len(line))
		l.ends = append(l.ends, off)
	}
	return more, w.Flush()
}

// wait waits until gen has no more lines (or limit passes).
func (l *faultLog) wait(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(limit):
		t.Fatalf("the log writer did not finish within %s (%d lines)", limit, l.lines())
	}
}

func (l *faultLog) lines() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ends)
}

// finish stops the writer and returns every line's end offset.
func (l *faultLog) finish() ([]int64, error) {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ends, l.err
}

// healthProbe polls a /healthz every 200ms and keeps every answer.
type healthProbe struct {
	mu   sync.Mutex
	obs  []healthObs
	stop chan struct{}
	done chan struct{}
}

type healthObs struct {
	at   time.Time
	code int // 0: no answer
	body string
}

func startHealthProbe(t *testing.T, listen string) *healthProbe {
	t.Helper()
	h := &healthProbe{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 2 * time.Second}
	go func() {
		defer close(h.done)
		for {
			o := healthObs{at: time.Now()}
			if resp, err := client.Get("http://" + listen + "/healthz"); err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				resp.Body.Close()
				o.code, o.body = resp.StatusCode, strings.TrimSpace(string(b))
			}
			h.mu.Lock()
			h.obs = append(h.obs, o)
			h.mu.Unlock()
			select {
			case <-h.stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(h.close)
	return h
}

func (h *healthProbe) close() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
}

// latest is the newest answer as "code body" (code 0: no answer; "" before
// the first).
func (h *healthProbe) latest() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.obs) == 0 {
		return ""
	}
	o := h.obs[len(h.obs)-1]
	return fmt.Sprintf("%d %s", o.code, o.body)
}

// between returns the answers from..to: how many were 200, how many
// something else (or none), and the first other answer's body.
func (h *healthProbe) between(from, to time.Time) (ok, bad int, firstBad string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.obs {
		if o.at.Before(from) || o.at.After(to) {
			continue
		}
		if o.code == http.StatusOK {
			ok++
		} else {
			if bad == 0 {
				firstBad = fmt.Sprintf("%d %s", o.code, o.body)
			}
			bad++
		}
	}
	return ok, bad, firstBad
}

// firstOK returns the time of the first 200 at or after from, and
// whether there is one; last says whether the latest answer is a 200.
func (h *healthProbe) firstOK(from time.Time) (at time.Time, found, last bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.obs {
		if !o.at.Before(from) && o.code == http.StatusOK && !found {
			at, found = o.at, true
		}
	}
	if n := len(h.obs); n > 0 {
		last = h.obs[n-1].code == http.StatusOK
	}
	return at, found, last
}

// faultWait polls cond every 100ms until it holds, failing t after
// limit or when one of procs exits.
func faultWait(t *testing.T, limit time.Duration, what func() string, cond func() bool, procs ...*crashProc) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(100 * time.Millisecond) {
		for _, p := range procs {
			if p.exited() {
				t.Fatalf("%s: %s exited: %v\n%s", what(), p.cmd.Args[1], p.err, p.output())
			}
		}
		if time.Now().After(deadline) {
			var outs strings.Builder
			for _, p := range procs {
				fmt.Fprintf(&outs, "\n--- %s:\n%s", p.cmd.Args[1], tailOf(p.output(), 3000))
			}
			t.Fatalf("after %s: %s%s", limit, what(), outs.String())
		}
	}
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// sleepAlive sleeps d, failing t if one of procs exits meanwhile.
func sleepAlive(t *testing.T, d time.Duration, procs ...*crashProc) {
	t.Helper()
	end := time.Now().Add(d)
	faultWait(t, d+time.Minute, func() string { return "sleeping" }, func() bool { return time.Now().After(end) }, procs...)
}

var metricLineRE = regexp.MustCompile(`(?m)^(\w+)(\{[^}]*\})? (\S+)$`)

// metricValue reads the sum of the series of name off listen's /metrics
// (-1 when it cannot).
func metricValue(listen, name string) float64 {
	resp, err := http.Get("http://" + listen + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	v, found := 0.0, false
	for _, m := range metricLineRE.FindAllSubmatch(b, -1) {
		if string(m[1]) != name {
			continue
		}
		if f, err := strconv.ParseFloat(string(m[3]), 64); err == nil {
			v, found = v+f, true
		}
	}
	if !found {
		return -1
	}
	return v
}

// startFaultCollect runs "gatewatch collect" on logPath into topic (on
// broker), with /healthz and /metrics on listen.
func startFaultCollect(t *testing.T, bin, dir, broker, topic, logPath, listen string) *crashProc {
	t.Helper()
	cfg := filepath.Join(dir, "collect.yaml")
	writeCrashFile(t, cfg, fmt.Sprintf("data_dir: %s\nkafka:\n  brokers: [%s]\n  topics: {events: %s, dead_letter: %s.dead}\n",
		filepath.Join(dir, "data"), broker, topic, topic))
	return startCrashProc(t, bin, filepath.Join(dir, "collect.out"), []string{"GOMAXPROCS=2"},
		"collect", "--config", cfg, "--listen", listen, "--from-start", "--format", "nginx_combined", logPath)
}

// drainCollect waits until collect has saved the end of the log as its
// position (everything before it acknowledged by Kafka), then stops it
// with SIGTERM.
func drainCollect(t *testing.T, c *crashProc, posFile, logPath string, limit time.Duration) {
	t.Helper()
	st, err := os.Stat(logPath)
	if err != nil {
		t.Fatal(err)
	}
	faultWait(t, limit, func() string {
		return fmt.Sprintf("collect saved position %d, want the end of the log %d", savedOffset(t, posFile), st.Size())
	}, func() bool { return savedOffset(t, posFile) == st.Size() }, c)
	c.signal(t, syscall.SIGTERM)
}

// TestFaultBrokerStopped30s: "gatewatch collect" tails a log written at
// 2,000 lines a second; 10 s in, the broker (a private one) stops for 30
// s and is started again. collect must not exit, must say it is
// unhealthy while events wait for the broker, and must get every line
// into the topic: exactly one distinct (origin, pos) per line, and
// detect's engine counts each line once.
func TestFaultBrokerStopped30s(t *testing.T) {
	t.Parallel()
	testKafka(t) // the shared broker says the machine can run one (the jars are cached)
	ph := faultPrelude(t)
	kafka := startPrivateKafka(t)
	dir := t.TempDir()
	bin := buildGatewatchBinary(t, dir)
	top := newCrashTopic(t, kafka.addr, fmt.Sprintf("test.fault.broker.%d", time.Now().UnixNano()), crashPartitions)
	ph.mark("setup")

	logPath, posFile, listen := filepath.Join(dir, "access.log"), filepath.Join(dir, "data", "collect-positions.json"), testenv.FreeAddr(t)
	lg := startFaultLog(t, logPath, 2000, 150_000)
	c := startFaultCollect(t, bin, dir, kafka.addr, top.name, logPath, listen)
	health := startHealthProbe(t, listen)
	sleepAlive(t, 10*time.Second, c)
	faultWait(t, time.Minute, func() string { return "collect delivering nothing before the fault" },
		func() bool { return metricValue(listen, "gatewatch_collect_delivered_events_total") > 0 }, c)
	ph.mark("before")

	stopAt := time.Now()
	kafka.stop(t)
	stopped := time.Now()
	linesAtStop := lg.lines()
	sleepAlive(t, 30*time.Second, c)
	restartAt := time.Now()
	kafka.start(t)
	back := time.Now()
	linesAtBack := lg.lines()
	ph.mark("outage")
	_, down, downBody := health.between(stopped.Add(5*time.Second), back)
	upDuring, _, _ := health.between(stopped.Add(5*time.Second), restartAt)

	// Recovered: everything written by the time the broker was back is
	// delivered.
	faultWait(t, 3*time.Minute, func() string {
		return fmt.Sprintf("collect delivered %v events, want %d (the lines when the broker came back)",
			metricValue(listen, "gatewatch_collect_delivered_events_total"), linesAtBack)
	}, func() bool {
		return metricValue(listen, "gatewatch_collect_delivered_events_total") >= float64(linesAtBack)
	}, c)
	caughtUp := time.Since(restartAt)
	sleepAlive(t, 5*time.Second, c)
	ends, err := lg.finish()
	if err != nil {
		t.Fatal(err)
	}
	drainCollect(t, c, posFile, logPath, 3*time.Minute)
	healthyAt, healthyAgain, _ := health.firstOK(restartAt)
	health.close()
	ph.mark("drain")

	tally := tallyCrashTopic(t, top, ends, nil)
	ph.mark("tally")
	lines := len(ends)
	dups := tally.messages - tally.distinct
	if tally.distinct != lines || tally.origins != 1 || tally.messages < lines {
		t.Errorf("topic: %d messages, %d distinct (origin,pos) in %d origins; want every one of the %d lines, one origin",
			tally.messages, tally.distinct, tally.origins, lines)
	}
	if tally.events != uint64(lines) || tally.replayed != uint64(dups) {
		n, where := topicOrder(t, top)
		// Seen once in six runs: 2048 events (one kafka-go partition
		// batch) appended after later ones, so detect took them for
		// re-sent lines. Suspected: transport.Producer re-queues a failed
		// per-partition batch of one WriteMessages call after kafka-go
		// already delivered the next batch of that partition.
		t.Errorf("engines counted %d events and skipped %d as replayed; want %d and the %d duplicates. %d events come after a later line of their file in their partition:\n%s",
			tally.events, tally.replayed, lines, dups, n, strings.Join(where, "\n"))
	}
	if down == 0 {
		t.Errorf("collect's /healthz answered 200 %d times and never anything else while the broker was down with events buffered", upDuring)
	}
	healthy := "never"
	if healthyAgain {
		healthy = healthyAt.Sub(restartAt).Round(100 * time.Millisecond).String()
	} else {
		t.Errorf("collect's /healthz never answered 200 after the broker came back (it was drained and stopped %s later)", time.Since(back).Round(time.Second))
	}
	t.Logf("broker stopped at line %d (stop took %s), down %s, back at line %d (start took %s); /healthz while down: %d not ok (first: %q), %d ok",
		linesAtStop, stopped.Sub(stopAt).Round(100*time.Millisecond), back.Sub(stopped).Round(100*time.Millisecond), linesAtBack,
		back.Sub(restartAt).Round(100*time.Millisecond), down, downBody, upDuring)
	t.Logf("phases: %s", ph)
	faultSummary(t, "broker stopped 30 s under collect", lines, int(tally.events), "-", "-", int(tally.events)-lines,
		fmt.Sprintf("caught up %s after the restart began (broker start %s); /healthz ok after %s (%d duplicate messages in the topic)",
			caughtUp.Round(100*time.Millisecond), back.Sub(restartAt).Round(100*time.Millisecond), healthy, dups))
}

// topicOrder reads every partition of top and returns how many events
// come after a later line of their origin in the same partition (what
// detect's engine takes for a re-sent line and skips), describing the
// first few: where a partition's order broke.
func topicOrder(t *testing.T, top *crashTopic) (backwards int, where []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for p, end := range top.settledEnds(t, 100*time.Millisecond) {
		maxPos := map[uint64]int64{}
		var ev ingest.Event
		runStart := int64(-1)
		err := readCrashPartition(ctx, top, p, end, func(m kafka.Message) error {
			ev.Reset()
			if err := ingest.DecodeWire(m.Value, &ev); err != nil {
				return err
			}
			if mp, ok := maxPos[ev.Origin]; ok && ev.Pos <= mp {
				if backwards++; runStart < 0 {
					runStart = m.Offset
					if len(where) < 6 {
						where = append(where, fmt.Sprintf("partition %d offset %d: pos %d (%s) after pos %d", p, m.Offset, ev.Pos, ev.Path, mp))
					}
				}
				return nil
			}
			if runStart >= 0 && len(where) < 6 {
				where = append(where, fmt.Sprintf("partition %d: %d events out of order from offset %d", p, m.Offset-runStart, runStart))
			}
			runStart = -1
			maxPos[ev.Origin] = ev.Pos
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return backwards, where
}

// TestFaultClickHouseStopped60s: "gatewatch store" loads an events topic
// that collect fills from a log written at 1,000 lines a second; 10 s in,
// ClickHouse (a private server) stops for 60 s and is started again.
// store must not exit, must say it is unhealthy while inserts fail, and
// must end with one row of events FINAL per line.
func TestFaultClickHouseStopped60s(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	testClickHouse(t) // the shared server says the machine can run one
	ph := faultPrelude(t)
	ch, chEnv := startPrivateClickHouse(t)
	dir := t.TempDir()
	bin := buildGatewatchBinary(t, dir)
	suffix := fmt.Sprint(time.Now().UnixNano())
	top := newCrashTopic(t, broker, "test.fault.clickhouse."+suffix, crashPartitions)
	ph.mark("setup")

	logPath, posFile := filepath.Join(dir, "access.log"), filepath.Join(dir, "data", "collect-positions.json")
	lg := startFaultLog(t, logPath, 1000, 100_000)
	c := startFaultCollect(t, bin, dir, broker, top.name, logPath, "")
	store := startCrashStore(t, bin, dir, ch.addr, chEnv, top, suffix)
	health := startHealthProbe(t, store.listen)
	sleepAlive(t, 10*time.Second, c, store.proc)
	faultWait(t, time.Minute, func() string { return "store committed no row before the fault" },
		func() bool { return storedEventRows(store.listen) > 0 }, c, store.proc)
	ph.mark("before")

	stopAt := time.Now()
	ch.stop(t)
	stopped := time.Now()
	rowsAtStop := storedEventRows(store.listen)
	sleepAlive(t, 60*time.Second, c, store.proc)
	restartAt := time.Now()
	ch.start(t)
	back := time.Now()
	msgsAtBack := sum(top.settledEnds(t, 0))
	ph.mark("outage")
	okDuring, down, downBody := health.between(stopped.Add(10*time.Second), restartAt)

	faultWait(t, 3*time.Minute, func() string {
		return fmt.Sprintf("store committed %v rows, want %d (the topic when ClickHouse came back)", storedEventRows(store.listen), msgsAtBack)
	}, func() bool { return storedEventRows(store.listen) >= float64(msgsAtBack) }, c, store.proc)
	caughtUp := time.Since(restartAt)
	sleepAlive(t, 5*time.Second, c, store.proc)
	ends, err := lg.finish()
	if err != nil {
		t.Fatal(err)
	}
	drainCollect(t, c, posFile, logPath, 3*time.Minute)
	messages := int(sum(top.settledEnds(t, 100*time.Millisecond)))
	// /healthz reports inserts that failed in the last 30 s: give it that.
	faultWait(t, time.Minute, func() string { return "store's /healthz not ok again after ClickHouse came back" },
		func() bool { _, found, last := health.firstOK(restartAt); return found && last }, store.proc)
	healthyAt, _, _ := health.firstOK(restartAt)
	health.close()
	ph.mark("recover")
	final, paths := store.finish(t, ch.addr, chEnv, messages)
	ph.mark("store")
	tally := tallyCrashTopic(t, top, ends, nil)
	ph.mark("tally")

	lines := len(ends)
	if tally.distinct != lines || tally.events != uint64(lines) {
		t.Errorf("topic: %d messages, %d distinct lines, %d counted by the engines; want %d", tally.messages, tally.distinct, tally.events, lines)
	}
	if final != uint64(lines) || paths != uint64(lines) {
		t.Errorf("ClickHouse: %d rows in events FINAL, %d distinct paths; want %d of each", final, paths, lines)
	}
	if down == 0 {
		t.Errorf("store's /healthz answered 200 %d times and never anything else while ClickHouse was down", okDuring)
	}
	t.Logf("ClickHouse stopped with %v rows committed (stop took %s), down %s (start took %s); /healthz while down: %d not ok (first: %q), %d ok",
		rowsAtStop, stopped.Sub(stopAt).Round(100*time.Millisecond), back.Sub(stopped).Round(100*time.Millisecond),
		back.Sub(restartAt).Round(100*time.Millisecond), down, downBody, okDuring)
	t.Logf("phases: %s", ph)
	faultSummary(t, "ClickHouse stopped 60 s under store", lines, int(tally.events), fmt.Sprint(final), "-", int(final)-lines,
		fmt.Sprintf("caught up %s after the restart began (server start %s); /healthz ok after %s (it reports inserts failed in the last 30 s)",
			caughtUp.Round(100*time.Millisecond), back.Sub(restartAt).Round(100*time.Millisecond), healthyAt.Sub(restartAt).Round(100*time.Millisecond)))
}
