package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect"
)

// faultAttackLog is a log of 240 event-seconds: 50 normal clients one request
// a second each, and two rounds of attacks (seconds 100-103 and
// 170-173), each a 404 scanner (60 distinct paths a second) and a brute
// force on the login route (40 POSTs answered 401 a second).
type faultAttackLog struct {
	lines      [][]byte
	attackers  []string
	firstRound int // the index of the first line of the first round's attacks
	lastRound  int // ... and of the line after it
}

func newFaultAttackLog() *faultAttackLog {
	a := &faultAttackLog{}
	from := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	add := func(ts, client, method, path string, status, bytes int) {
		a.lines = append(a.lines, fmt.Appendf(nil, "%s - - [%s] \"%s %s HTTP/1.1\" %d %d \"-\" \"fault-test/1.0\"\n", client, ts, method, path, status, bytes))
	}
	rounds := map[int]int{100: 0, 101: 0, 102: 0, 103: 0, 170: 1, 171: 1, 172: 1, 173: 1}
	for s := range 240 {
		ts := from.Add(time.Duration(s) * time.Second).Format("02/Jan/2006:15:04:05 -0700")
		for c := range 50 {
			path := "/api/v1/orders"
			if (c+s)%3 == 0 {
				path = fmt.Sprintf("/api/v1/items/%d", (c*7+s)%40)
			}
			add(ts, fmt.Sprintf("192.0.2.%d", c+1), "GET", path, 200, 300+c)
		}
		r, attack := rounds[s]
		if !attack {
			continue
		}
		if s == 100 {
			a.firstRound = len(a.lines)
		}
		scanner, brute := fmt.Sprintf("198.51.100.%d", 77+r), fmt.Sprintf("198.51.100.%d", 66+r)
		if s == 100 || s == 170 {
			a.attackers = append(a.attackers, scanner, brute)
		}
		for j := range 60 {
			add(ts, scanner, "GET", fmt.Sprintf("/api/v1/internal/backup-%d-%03d", s, j), 404, 20)
		}
		for range 40 {
			add(ts, brute, "POST", "/api/v1/login", 401, 30)
		}
		if s == 103 {
			a.lastRound = len(a.lines)
		}
	}
	return a
}

func (a *faultAttackLog) gen(line []byte, i int) []byte {
	if i >= len(a.lines) {
		return nil
	}
	return append(line, a.lines[i]...)
}

// emission is one finding record of the findings topic.
type emission struct {
	key, seq, client string
}

// readEmissions returns the findings topic's records, by emission
// (incident, status, windows, end of its last window).
func readEmissions(t *testing.T, top *crashTopic) map[string][]emission {
	t.Helper()
	out := map[string][]emission{}
	for _, m := range readAll(t, top) {
		var f detect.Finding
		if err := json.Unmarshal(m.Value, &f); err != nil {
			t.Fatalf("finding %q: %v", m.Value, err)
		}
		e := emission{key: fmt.Sprintf("%s/%s/%d/%s", f.IncidentID, f.Status, f.Windows, f.WindowEnd.Format(time.RFC3339Nano)), client: f.Client}
		for _, h := range m.Headers {
			if h.Key == "gatewatch-seq" {
				e.seq = string(h.Value)
			}
		}
		out[e.key] = append(out[e.key], e)
	}
	return out
}

var (
	generationRE    = regexp.MustCompile(`msg="detect group: generation"`)
	stoppedEventsRE = regexp.MustCompile(`msg="detect stopped" events=(\d+)`)
	assignedRE      = regexp.MustCompile(`msg="detect group: partition assigned".* partition=(\d+)`)
)

// ownedPartitions returns the partitions a detect replica was assigned in
// its latest generation, as its log says.
func ownedPartitions(p *crashProc) []int {
	var parts []int
	for _, line := range strings.Split(p.output(), "\n") {
		if generationRE.MatchString(line) {
			parts = nil
		} else if m := assignedRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			parts = append(parts, n)
		}
	}
	sort.Ints(parts)
	return parts
}

// TestKillDetectReplicaMidAttack: collect ships a log with two rounds of
// attacks at 500 lines a second to two "gatewatch detect" replicas of one
// group; in the middle of the first round, the replica owning the
// scanner's partition is SIGKILLed. The other takes its partitions over
// from their checkpoints. The findings topic must end up with exactly the
// emissions of a control run (one replica, never killed, on the same
// events), none of them twice. Both runs use --replay (windows close by
// event time only), so the findings depend on the events alone.
func TestKillDetectReplicaMidAttack(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	ph := faultPrelude(t)
	dir := t.TempDir()
	bin := buildGatewatchBinary(t, dir)
	suffix := fmt.Sprint(time.Now().UnixNano())
	top := newCrashTopic(t, broker, "test.fault.detect."+suffix, crashPartitions)
	findings, control := top.name+".findings", top.name+".control"
	findingsTop, controlTop := newCrashTopic(t, broker, findings, crashPartitions), newCrashTopic(t, broker, control, crashPartitions)
	t.Cleanup(func() {
		var topics []string
		for _, run := range []string{"kill", "control"} {
			topics = append(topics, top.name+".state."+run, top.name+".windows."+run)
		}
		top.client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: topics})
	})
	detectConfig := func(name, run, findings string) string {
		path := filepath.Join(dir, name+".yaml")
		writeCrashFile(t, path, fmt.Sprintf(`data_dir: %[1]s/data-%[2]s
kafka:
  brokers: [%[3]s]
  detect_group: test-fault-detect-%[4]s-%[5]s
  topics: {events: %[6]s, findings: %[7]s, windows: %[6]s.windows.%[5]s, detect_state: %[6]s.state.%[5]s}
detect:
  window: 2s
  allowed_lateness: 1s
  min_history: 3
`, dir, name, broker, suffix, run, top.name, findings))
		return path
	}
	startDetect := func(name, run, findings string) *crashProc {
		return startCrashProc(t, bin, filepath.Join(dir, name+".out"), []string{"GOMAXPROCS=2"},
			"detect", "--config", detectConfig(name, run, findings), "--listen", "", "--replay", "--checkpoint", "1s")
	}
	d1 := startDetect("detect-1", "kill", findings)
	d2 := startDetect("detect-2", "kill", findings)
	// Both replicas hold two partitions before any event is sent.
	faultWait(t, 2*time.Minute, func() string {
		return fmt.Sprintf("replicas' partitions %v and %v", ownedPartitions(d1), ownedPartitions(d2))
	}, func() bool { return len(ownedPartitions(d1)) == 2 && len(ownedPartitions(d2)) == 2 }, d1, d2)
	ph.mark("setup")

	log := newFaultAttackLog()
	logPath := filepath.Join(dir, "access.log")
	lg := startFaultLogOf(t, logPath, 500, log.gen)
	c := startFaultCollect(t, bin, dir, broker, top.name, logPath, "")
	// Mid-attack: half the first round written and shipped.
	mid := (log.firstRound + log.lastRound) / 2
	faultWait(t, 2*time.Minute, func() string { return fmt.Sprintf("%d of %d lines in the topic", sum(top.settledEnds(t, 0)), mid) },
		func() bool { return sum(top.settledEnds(t, 0)) >= int64(mid) }, c, d1, d2)
	scannerPart := attackerPartition(t, top, log.attackers[0])
	victim, survivor := d1, d2
	if !containsInt(ownedPartitions(d1), scannerPart) {
		victim, survivor = d2, d1
	}
	victim.signal(t, syscall.SIGKILL)
	killedAt := time.Now()
	ph.mark("to the kill")

	lg.wait(t, 2*time.Minute)
	ends, _ := lg.finish()
	drainCollect(t, c, filepath.Join(dir, "data", "collect-positions.json"), logPath, 2*time.Minute)
	ph.mark("shipped")
	// The control: one replica of another group on the same events.
	ctl := startDetect("control", "control", control)
	faultWait(t, 3*time.Minute, func() string {
		return fmt.Sprintf("survivor holds partitions %v", ownedPartitions(survivor))
	}, func() bool { return len(ownedPartitions(survivor)) == crashPartitions }, survivor, ctl)
	tookOver := time.Since(killedAt)
	var want, got map[string][]emission
	settled := func() bool {
		want, got = readEmissions(t, controlTop), readEmissions(t, findingsTop)
		return len(want) > 0 && len(got) >= len(want)
	}
	faultWait(t, 3*time.Minute, func() string {
		return fmt.Sprintf("%d emissions after the kill, %d in the control", len(got), len(want))
	}, settled, survivor, ctl)
	recovered := time.Since(killedAt)
	sleepAlive(t, 5*time.Second, survivor, ctl) // what else would come, comes now
	want, got = readEmissions(t, controlTop), readEmissions(t, findingsTop)
	survivor.signal(t, syscall.SIGTERM)
	ctl.signal(t, syscall.SIGTERM)
	ph.mark("findings")
	ctlEvents := -1
	if m := stoppedEventsRE.FindStringSubmatch(ctl.output()); m != nil {
		ctlEvents, _ = strconv.Atoi(m[1])
	}
	if ctlEvents != len(ends) {
		t.Errorf("the control replica counted %d events (its closing log line); want the %d lines", ctlEvents, len(ends))
	}

	var missing, extra, repeated, sameSeq []string
	incidents, found := map[string]bool{}, map[string]bool{}
	for k, es := range want {
		inc, _, _ := strings.Cut(k, "/")
		incidents[inc] = true
		found[es[0].client] = true
		if len(got[k]) == 0 {
			missing = append(missing, k)
		}
	}
	records := 0
	for k, es := range got {
		records += len(es)
		if len(want[k]) == 0 {
			extra = append(extra, k)
		}
		seqs := map[string]bool{}
		for _, e := range es {
			seqs[e.seq] = true
		}
		if len(seqs) > 1 {
			repeated = append(repeated, fmt.Sprintf("%s x%d (seq %v)", k, len(es), seqs))
		} else if len(es) > 1 {
			sameSeq = append(sameSeq, fmt.Sprintf("%s x%d", k, len(es)))
		}
	}
	if len(missing)+len(extra)+len(repeated) > 0 {
		t.Errorf("findings after the kill differ from the control run (%d emissions): missing %v, extra %v, repeated under another seq %v",
			len(want), missing, extra, repeated)
	}
	for _, a := range log.attackers {
		if !found[a] {
			t.Errorf("the control run has no incident of attacker %s (incidents of %v)", a, found)
		}
	}
	if len(sameSeq) > 0 {
		// Documented (detect/group): a crash between producing findings and
		// writing the state repeats them, with the same gatewatch-seq.
		t.Logf("repeated with the same gatewatch-seq (a crash between the findings and the state write): %v", sameSeq)
	}
	t.Logf("killed the replica owning partition %d (the first scanner's) at line %d of %d; the survivor held every partition %s later",
		scannerPart, mid, len(ends), tookOver.Round(100*time.Millisecond))
	t.Logf("phases: %s", ph)
	faultSummary(t, "SIGKILL 1 of 2 detect replicas mid-attack", len(ends), ctlEvents, "-",
		fmt.Sprintf("%d (%d emissions = control; %d records)", len(incidents), len(want), records), records-len(want),
		fmt.Sprintf("partitions taken over %s after the kill (session timeout); findings = control %s after it",
			tookOver.Round(100*time.Millisecond), recovered.Round(100*time.Millisecond)))
}

// attackerPartition returns the partition of the events topic holding
// client's events.
func attackerPartition(t *testing.T, top *crashTopic, client string) int {
	t.Helper()
	for _, m := range readAll(t, top) {
		if string(m.Key) == client {
			return m.Partition
		}
	}
	t.Fatalf("no event of %s in %s", client, top.name)
	return -1
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// readAll returns every message top holds now.
func readAll(t *testing.T, top *crashTopic) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var msgs []kafka.Message
	for p, end := range top.settledEnds(t, 0) {
		if err := readCrashPartition(ctx, top, p, end, func(m kafka.Message) error { msgs = append(msgs, m); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return msgs
}
