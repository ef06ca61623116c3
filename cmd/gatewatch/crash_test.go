package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// A collector killed with SIGKILL mid-file re-sends, when restarted, the
// lines after its last saved position (saved every second): the topic
// holds duplicates. What must hold is downstream of the dedup: every line
// counted once by detect (Stats.Replayed takes the rest) and stored once
// in ClickHouse (events FINAL), none lost.

const (
	// crashLines is the size of the log (~105 MB). collect ships 150-200k
	// lines/s on a 2-core box (measured: 300k lines in ~2 s; a position
	// saved every 1-2 s, 30-45% of this log apart), so a million lines
	// keep it busy 5-7 s: three kills land mid-file, some after a save and
	// some before the restarted run's first.
	crashLines      = 1_000_000
	crashKills      = 3
	crashPartitions = 4
	crashPathPrefix = "/api/v1/orders/"
)

// TestKillCollectNothingLostNothingCountedTwice runs "gatewatch collect"
// as a real process on a million-line nginx log against the real broker,
// SIGKILLs it mid-file three times (when the topic holds 1/4, 2/4, 3/4 of
// the lines' worth of messages) and restarts it until the file is
// shipped. Then: the topic holds every line, exactly crashLines distinct
// (origin, pos), and at each kill every line before the saved position; a
// detect.Engine per partition counts each line once and skips exactly the
// duplicates as Replayed; "gatewatch store" puts the topic in ClickHouse,
// where events FINAL has one row per line.
func TestKillCollectNothingLostNothingCountedTwice(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	chAddr, env := testClickHouse(t)
	ph := newCrashPhases()
	dir := t.TempDir()
	bin := buildGatewatchBinary(t, dir)
	logPath := filepath.Join(dir, "access.log")
	ends := writeCrashLog(t, logPath, crashLines, time.Now().UTC().Add(-3*time.Hour).Truncate(time.Second))
	suffix := fmt.Sprint(time.Now().UnixNano())
	top := newCrashTopic(t, broker, "test.crash.events."+suffix, crashPartitions)
	writeCrashFile(t, filepath.Join(dir, "gatewatch.yaml"), fmt.Sprintf("data_dir: %s\nkafka:\n  brokers: [%s]\n  topics: {events: %s, dead_letter: %s.dead}\n",
		filepath.Join(dir, "data"), broker, top.name, top.name))
	ph.mark("setup")

	kills := collectWithKills(t, bin, dir, logPath, top, crashKills)
	ph.mark("collect")
	store := startCrashStore(t, bin, dir, chAddr, env, top, suffix) // loads while the topic is tallied
	tally := tallyCrashTopic(t, top, ends, kills)
	ph.mark("tally")
	dups := tally.messages - tally.distinct
	if tally.messages < crashLines || tally.distinct != crashLines || tally.origins != 1 {
		t.Errorf("topic: %d messages, %d distinct (origin,pos) in %d origins; want >= %d, %d (every line) in 1",
			tally.messages, tally.distinct, tally.origins, crashLines, crashLines)
	}
	if tally.events != crashLines || tally.replayed != uint64(dups) {
		t.Errorf("engines counted %d events and skipped %d as replayed; want %d and the %d duplicates", tally.events, tally.replayed, crashLines, dups)
	}
	final, paths := store.finish(t, chAddr, env, tally.messages)
	ph.mark("store")
	if final != crashLines || paths != crashLines {
		t.Errorf("ClickHouse: %d rows in events FINAL, %d distinct paths; want %d of each", final, paths, crashLines)
	}
	t.Logf("kill-collect summary: lines=%d messages=%d duplicates=%d (lines past the saved position at the kills: %d) distinct=%d rows_final=%d engine_events=%d replayed=%d kills=%d %s time=%s",
		crashLines, tally.messages, dups, kills.unsaved(), tally.distinct, final, tally.events, tally.replayed, len(kills), kills, ph)
}

// crashPhases times the test's steps for its summary line.
type crashPhases struct {
	began, last time.Time
	steps       []string
}

func newCrashPhases() *crashPhases {
	now := time.Now()
	return &crashPhases{began: now, last: now}
}

func (p *crashPhases) mark(step string) {
	now := time.Now()
	p.steps = append(p.steps, step+" "+now.Sub(p.last).Round(100*time.Millisecond).String())
	p.last = now
}

func (p *crashPhases) String() string {
	return time.Since(p.began).Round(100*time.Millisecond).String() + " (" + strings.Join(p.steps, ", ") + ")"
}

// buildGatewatchBinary builds this command into dir, so collect can be
// killed as a real process (and runs at full speed under -race).
func buildGatewatchBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "gatewatch")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func writeCrashFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeCrashLog writes n nginx combined lines from 300 clients, line i
// requesting crashPathPrefix+i at from + i/150 seconds, and returns each
// line's end offset: the pos its event must carry. Lines are appended
// without fmt, which -race makes slow.
func writeCrashLog(t *testing.T, path string, n int, from time.Time) []int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	ends := make([]int64, n)
	var line []byte
	var ts string
	var off int64
	for i := range n {
		if i%150 == 0 {
			ts = from.Add(time.Duration(i/150) * time.Second).Format("02/Jan/2006:15:04:05 -0700")
		}
		c, status := (i*7)%300, 200
		if i%50 == 49 {
			status = 404
		}
		line = append(strconv.AppendInt(append(line[:0], "10.0."...), int64(c/100), 10), '.')
		line = append(strconv.AppendInt(line, int64(c%100+1), 10), " - - ["...)
		line = append(append(append(line, ts...), "] \"GET "+crashPathPrefix...), strconv.Itoa(i)...)
		line = append(strconv.AppendInt(append(line, " HTTP/1.1\" "...), int64(status), 10), ' ')
		line = append(strconv.AppendInt(line, int64(100+i%900), 10), " \"-\" \"curl/8.5.0\"\n"...)
		w.Write(line)
		off += int64(len(line))
		ends[i] = off
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return ends
}

// crashTopic is the test's events topic on the real broker.
type crashTopic struct {
	name   string
	parts  int
	client *kafka.Client
}

// newCrashTopic creates topic with parts partitions; it and the topics
// named after it are deleted when the test ends (a million events).
func newCrashTopic(t *testing.T, broker, name string, parts int) *crashTopic {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second}
	ctx := context.Background()
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: name, NumPartitions: parts, ReplicationFactor: 1}}})
	if err == nil {
		err = resp.Errors[name]
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	t.Cleanup(func() {
		topics := []string{name, name + ".dead", name + ".findings", name + ".windows"}
		if _, err := client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: topics}); err != nil {
			t.Logf("deleting the test topics: %v", err)
		}
	})
	top := &crashTopic{name: name, parts: parts, client: client}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// Until every partition has a leader, the broker answers "not leader".
		if _, err = top.ends(ctx); err == nil {
			return top
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s not ready: %v", name, err)
		}
	}
}

// ends returns each partition's end offset (the next offset to be
// written).
func (c *crashTopic) ends(ctx context.Context) ([]int64, error) {
	reqs := make([]kafka.OffsetRequest, c.parts)
	for p := range reqs {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	resp, err := c.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{c.name: reqs}})
	if err != nil {
		return nil, err
	}
	ends := make([]int64, c.parts)
	for _, po := range resp.Topics[c.name] {
		if po.Error != nil {
			return nil, po.Error
		}
		ends[po.Partition] = po.LastOffset
	}
	return ends, nil
}

// settledEnds returns the end offsets once two reads settle apart agree
// (at once with settle 0): what a killed producer had sent is then all
// appended.
func (c *crashTopic) settledEnds(t *testing.T, settle time.Duration) []int64 {
	t.Helper()
	var last []int64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(settle) {
		ends, err := c.ends(context.Background())
		if err != nil {
			t.Fatalf("end offsets of %s: %v", c.name, err)
		}
		if settle == 0 || slices.Equal(ends, last) {
			return ends
		}
		last = ends
	}
	t.Fatalf("topic %s still growing after 30s", c.name)
	return nil
}

func sum(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}

// crashProc is the gatewatch binary running as a child process.
type crashProc struct {
	cmd  *exec.Cmd
	out  string // its stdout and stderr
	done chan struct{}
	err  error // Wait's, once done is closed
}

// startCrashProc runs bin with args and the test's environment minus its
// GATEWATCH_ variables (so a developer's GATEWATCH_CONFIG cannot redirect
// it) plus env; the output goes to outPath. It is killed when the test
// ends.
func startCrashProc(t *testing.T, bin, outPath string, env []string, args ...string) *crashProc {
	t.Helper()
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEWATCH_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &crashProc{cmd: cmd, out: outPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *crashProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// output is what the process printed, for failure messages.
func (p *crashProc) output() string {
	b, _ := os.ReadFile(p.out)
	return string(b)
}

// signal sends sig and waits for the process to end; it fails t unless
// SIGKILL killed it, or it exited cleanly after another signal.
func (p *crashProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s exited before %v: %v\n%s", p.cmd.Args[1], sig, p.err, p.output())
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("%s did not end within 40s of %v:\n%s", p.cmd.Args[1], sig, p.output())
	}
	ws, _ := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	ok := p.cmd.ProcessState.Success()
	if sig == syscall.SIGKILL {
		ok = ws.Signaled() && ws.Signal() == syscall.SIGKILL
	}
	if !ok {
		t.Fatalf("%s after %v: %v\n%s", p.cmd.Args[1], sig, p.err, p.output())
	}
}

// crashKill is what one SIGKILL left behind. savedLines and present are
// filled in when the topic is read back.
type crashKill struct {
	ends       []int64 // the partitions' end offsets
	resumed    int64   // the position the run started from (bytes of the log)
	saved      int64   // the position saved when it was killed
	savedLines int     // the lines ending at or before it
	present    int     // distinct lines in the topic
}

type crashKillLog []crashKill

func (ks crashKillLog) String() string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = fmt.Sprintf("%d/%d/%d+%d", sum(k.ends), k.present, k.savedLines, k.saved-k.resumed)
	}
	return "(messages/lines/lines saved+bytes saved by the run at each kill: " + strings.Join(s, ", ") + ")"
}

// unsaved is the number of lines in the topic past the saved position,
// summed over the kills: a bound on the duplicates (the restarted run
// sends them again), reached when each run gets past the lines the run
// before it sent.
func (ks crashKillLog) unsaved() int {
	n := 0
	for _, k := range ks {
		n += k.present - k.savedLines
	}
	return n
}

// collectWithKills runs collect (config dir/gatewatch.yaml, data dir
// dir/data) kills times, each SIGKILLed mid-file, then once more until
// the whole log is shipped, stopping that one with SIGTERM. Odd runs are
// killed as soon as they saved a position past the one they resumed from
// (lines in flight beyond it, as in a crash between two saves); even runs
// as soon as they added crashLines/10 messages, before their first save
// (all they sent is sent again). GOMAXPROCS=2 keeps a bigger machine near
// the pace measured on a 2-core box.
func collectWithKills(t *testing.T, bin, dir, logPath string, top *crashTopic, kills int) crashKillLog {
	t.Helper()
	args := []string{"collect", "--config", filepath.Join(dir, "gatewatch.yaml"), "--listen", "", "--from-start", "--format", "nginx_combined", logPath}
	env := []string{"GOMAXPROCS=2"}
	posFile := filepath.Join(dir, "data", "collect-positions.json")
	st, err := os.Stat(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var done crashKillLog
	for k := 1; k <= kills; k++ {
		resumed, before := savedOffset(t, posFile), sum(top.settledEnds(t, 0))
		c := startCrashProc(t, bin, filepath.Join(dir, fmt.Sprintf("collect-%d.out", k)), env, args...)
		if k%2 == 1 {
			waitFor(t, c, func() bool { return savedOffset(t, posFile) > resumed }, func() string {
				return fmt.Sprintf("position %d saved, waiting for one past %d", savedOffset(t, posFile), resumed)
			})
		} else {
			waitFor(t, c, func() bool { return sum(top.settledEnds(t, 0)) >= before+crashLines/10 }, func() string {
				return fmt.Sprintf("%d messages in the topic, waiting for %d", sum(top.settledEnds(t, 0)), before+crashLines/10)
			})
		}
		c.signal(t, syscall.SIGKILL)
		done = append(done, crashKill{ends: top.settledEnds(t, 100*time.Millisecond), resumed: resumed, saved: savedOffset(t, posFile)})
	}
	c := startCrashProc(t, bin, filepath.Join(dir, "collect-last.out"), env, args...)
	// The collector saves a position only once everything read before it
	// is acknowledged: at the end of the log, the topic is complete.
	waitFor(t, c, func() bool { return savedOffset(t, posFile) == st.Size() }, func() string {
		return fmt.Sprintf("position %d saved, waiting for the end of the log at %d", savedOffset(t, posFile), st.Size())
	})
	c.signal(t, syscall.SIGTERM)
	return done
}

// waitFor polls cond every 5ms for up to a minute, failing t with what's
// description if the process exits or the minute passes first.
func waitFor(t *testing.T, p *crashProc, cond func() bool, what func() string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("%s; %s exited %v:\n%s", what(), p.cmd.Args[1], p.exited(), p.output())
		}
	}
}

// savedOffset is the offset in the positions file (0 when there is none
// yet); the test follows one file.
func savedOffset(t *testing.T, posFile string) int64 {
	t.Helper()
	b, err := os.ReadFile(posFile)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	var f struct {
		Files map[string]struct{ Offset int64 }
	}
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err != nil || len(f.Files) > 1 {
		t.Fatalf("positions file %s: %v, %d files: %s", posFile, err, len(f.Files), b)
	}
	for _, p := range f.Files {
		return p.Offset
	}
	return 0
}

// crashTally is what the topic holds, read back partition by partition.
type crashTally struct {
	messages, distinct, origins int
	events, replayed            uint64 // the engines' Stats, summed
	bad                         int    // events not at a line end of the log, or of another line
	// copies counts each origin's copies of each line (by index).
	copies map[uint64][]uint8
	// firstKill[i] is the first kill at which line i was in the topic
	// (len(kills) when only the last run sent it; 255 never).
	firstKill []uint8
}

func newCrashTally(lines int) *crashTally {
	c := &crashTally{copies: map[uint64][]uint8{}, firstKill: make([]uint8, lines)}
	for i := range c.firstKill {
		c.firstKill[i] = 255
	}
	return c
}

// tallyCrashTopic reads every partition to its end: it checks each event
// is the line of the log at its pos, counts the distinct (origin, pos),
// and feeds the partition's events to an engine of its own, as "detect"
// does. Then it checks what the topic held at each kill. (One partition
// at a time: under -race, reading them in parallel took longer.)
func tallyCrashTopic(t *testing.T, top *crashTopic, ends []int64, kills crashKillLog) *crashTally {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tally := newCrashTally(len(ends))
	for p, end := range top.settledEnds(t, 100*time.Millisecond) {
		if err := tally.readPartition(ctx, t, top, p, end, ends, kills); err != nil {
			t.Fatal(err)
		}
	}
	for _, copies := range tally.copies {
		for _, n := range copies {
			if n > 0 {
				tally.distinct++
			}
		}
	}
	tally.origins = len(tally.copies)
	if tally.bad > 0 {
		t.Errorf("%d events are not the line of the log at their pos", tally.bad)
	}
	checkKills(t, kills, tally.firstKill, ends)
	return tally
}

// readPartition tallies partition p, below offset end, through an engine
// of its own, and adds the engine's Stats.
func (c *crashTally) readPartition(ctx context.Context, t *testing.T, top *crashTopic, p int, end int64, ends []int64, kills crashKillLog) error {
	t.Helper()
	eng := detect.New(detect.Options{})
	var ev ingest.Event
	err := readCrashPartition(ctx, top, p, end, func(m kafka.Message) error {
		ev.Reset()
		if err := ingest.DecodeWire(m.Value, &ev); err != nil {
			return fmt.Errorf("partition %d offset %d: %w: %s", p, m.Offset, err, m.Value)
		}
		c.add(t, &ev, ends, kills, p, m.Offset)
		eng.Observe(&ev)
		return nil
	})
	st := eng.Stats()
	c.events += st.Events
	c.replayed += st.Replayed
	return err
}

// add counts ev, read at offset off of partition p, under its origin and
// line (the index in its path), checking its pos is that line's end, and
// notes at which kill the line was first there.
func (c *crashTally) add(t *testing.T, ev *ingest.Event, ends []int64, kills crashKillLog, p int, off int64) {
	t.Helper()
	c.messages++
	i, err := strconv.Atoi(strings.TrimPrefix(ev.Path, crashPathPrefix))
	if ev.Origin == 0 || err != nil || i < 0 || i >= len(ends) || ends[i] != ev.Pos {
		if c.bad++; c.bad <= 5 {
			t.Errorf("event origin %x pos %d path %s: not at a line end, or not the line there", ev.Origin, ev.Pos, ev.Path)
		}
		return
	}
	copies := c.copies[ev.Origin]
	if copies == nil {
		copies = make([]uint8, len(ends))
		c.copies[ev.Origin] = copies
	}
	copies[i] = min(copies[i]+1, 254)
	if c.firstKill[i] == 255 {
		k := 0
		for k < len(kills) && off >= kills[k].ends[p] {
			k++
		}
		c.firstKill[i] = uint8(k)
	}
}

// checkKills fills in each kill's present lines and checks it came
// mid-file (some lines not yet in the topic), and that every line
// before the position it had saved was in the topic: a saved position
// never runs ahead of what Kafka holds.
func checkKills(t *testing.T, kills crashKillLog, firstKill []uint8, ends []int64) {
	t.Helper()
	for k := range kills {
		kill := &kills[k]
		kill.savedLines = sort.Search(len(ends), func(i int) bool { return ends[i] > kill.saved })
		missing := -1
		for i, fk := range firstKill {
			if int(fk) <= k {
				kill.present++
			} else if i < kill.savedLines && missing < 0 {
				missing = i
			}
		}
		if missing >= 0 {
			t.Errorf("kill %d: position %d saved (%d lines), but line %d was not in the topic", k+1, kill.saved, kill.savedLines, missing)
		}
		if kill.present >= len(ends) {
			t.Errorf("kill %d: all %d lines were in the topic already; want it mid-file", k+1, len(ends))
		}
	}
}

// readCrashPartition passes fn every message of partition p below end.
func readCrashPartition(ctx context.Context, top *crashTopic, p int, end int64, fn func(kafka.Message) error) error {
	if end == 0 {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{top.client.Addr.String()}, Topic: top.name, Partition: p,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		if err := fn(m); err != nil {
			return err
		}
		if m.Offset >= end-1 {
			return nil
		}
	}
}

// crashStore is "gatewatch store" (the binary) loading the topic into a
// database of its own.
type crashStore struct {
	proc       *crashProc
	listen, db string
}

// startCrashStore starts store on the topic; the database is dropped when
// the test ends.
func startCrashStore(t *testing.T, bin, dir, chAddr string, env map[string]string, top *crashTopic, suffix string) *crashStore {
	t.Helper()
	s := &crashStore{listen: testenv.FreeAddr(t), db: "test_crash_" + suffix}
	dropDatabaseAtEnd(t, chAddr, env, s.db)
	cfgPath := filepath.Join(dir, "store.yaml")
	writeCrashFile(t, cfgPath, fmt.Sprintf("kafka:\n  brokers: [%s]\n  topics: {events: %s, findings: %s.findings, windows: %s.windows}\n"+
		"clickhouse:\n  addr: %s\n  database: %s\n  group: test-crash-%s\n  flush_interval: 200ms\n",
		top.client.Addr, top.name, top.name, top.name, chAddr, s.db, suffix))
	s.proc = startCrashProc(t, bin, filepath.Join(dir, "store.out"), []string{"GATEWATCH_CLICKHOUSE_PASSWORD=" + env["GATEWATCH_CLICKHOUSE_PASSWORD"]},
		"store", "--config", cfgPath, "--listen", s.listen)
	return s
}

// finish waits until store has committed want event rows, stops it, and
// counts the rows of events FINAL and their distinct paths (one per line).
func (s *crashStore) finish(t *testing.T, chAddr string, env map[string]string, want int) (final, paths uint64) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); storedEventRows(s.listen) != float64(want); time.Sleep(200 * time.Millisecond) {
		if s.proc.exited() || time.Now().After(deadline) {
			t.Fatalf("store: %v of %d event rows committed; exited %v:\n%s", storedEventRows(s.listen), want, s.proc.exited(), s.proc.output())
		}
	}
	s.proc.signal(t, syscall.SIGTERM)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr},
		Auth: clickhouse.Auth{Database: s.db, Username: "default", Password: env["GATEWATCH_CLICKHOUSE_PASSWORD"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.QueryRow(context.Background(), "SELECT count(), uniqExact(path) FROM events FINAL").Scan(&final, &paths); err != nil {
		t.Fatal(err)
	}
	return final, paths
}

var storedRowsRE = regexp.MustCompile(`(?m)^gatewatch_store_rows_total\{table="events"\} (\S+)$`)

// storedEventRows reads gatewatch_store_rows_total for events off the
// store's /metrics; -1 when it cannot.
func storedEventRows(listen string) float64 {
	resp, err := http.Get("http://" + listen + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := storedRowsRE.FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return -1
	}
	return v
}
