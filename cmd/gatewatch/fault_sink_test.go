package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// sinkReceiver is a webhook receiver whose answer the test sets: "429"
// (Retry-After: 1), "503" (Retry-After: 1), "down" (its listener closed:
// connection refused) or "ok". It counts every request by what it was
// answered and, for the ones it took, each delivery (X-Gatewatch-Delivery)
// and the incident and status in its body.
type sinkReceiver struct {
	addr string
	mu   sync.Mutex
	mode string
	srv  *http.Server
	// answers counts requests by the answer given.
	answers map[string]int
	// taken counts each delivery id taken; emission is its incident/status.
	taken    map[string]int
	emission map[string]string
	lastTake time.Time
}

func startSinkReceiver(t *testing.T, mode string) *sinkReceiver {
	t.Helper()
	r := &sinkReceiver{addr: testenv.FreeAddr(t), mode: mode, answers: map[string]int{}, taken: map[string]int{}, emission: map[string]string{}}
	r.listen(t)
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.srv != nil {
			r.srv.Close()
		}
	})
	return r
}

func (r *sinkReceiver) listen(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	// The port was ours a moment ago; a connection in TIME_WAIT does not
	// keep a listener off it, but give the kernel a few tries.
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("receiver listen %s: %v", r.addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	r.srv = srv
	go srv.Serve(ln)
}

func (r *sinkReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.mode {
	case "429", "503":
		r.answers[r.mode]++
		w.Header().Set("Retry-After", "1")
		code := http.StatusTooManyRequests
		if r.mode == "503" {
			code = http.StatusServiceUnavailable
		}
		http.Error(w, "not now", code)
		return
	}
	var f detect.Finding
	if err := json.Unmarshal(body, &f); err != nil || f.IncidentID == "" {
		r.answers["bad"]++
		http.Error(w, "bad finding", http.StatusBadRequest)
		return
	}
	id := req.Header.Get("X-Gatewatch-Delivery")
	r.answers["200"]++
	r.taken[id]++
	r.emission[id] = f.IncidentID + "/" + string(f.Status)
	r.lastTake = time.Now()
	w.WriteHeader(http.StatusOK)
}

// set changes the answer; "down" closes the listener (and every open
// connection), leaving "down" listens again.
func (r *sinkReceiver) set(t *testing.T, mode string) {
	t.Helper()
	r.mu.Lock()
	was := r.mode
	r.mode = mode
	srv := r.srv
	r.mu.Unlock()
	switch {
	case mode == "down" && was != "down":
		srv.Close()
	case was == "down" && mode != "down":
		r.mu.Lock()
		r.listen(t)
		r.mu.Unlock()
	}
}

// deliveries returns, per emission (incident/status), how many times it
// was taken, and how many requests got each answer.
func (r *sinkReceiver) deliveries() (perEmission map[string]int, answers map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	perEmission = map[string]int{}
	for id, n := range r.taken {
		perEmission[r.emission[id]] += n
	}
	answers = map[string]int{}
	for k, v := range r.answers {
		answers[k] = v
	}
	return perEmission, answers
}

// TestFaultSinkDownAnswers429And5xx runs "gatewatch alert" with a webhook
// sink on a findings topic that gets 20 incidents (an open and a resolved
// finding each) in four waves, while the receiver answers 429 with
// Retry-After for 4 s, then 503 with Retry-After for 4 s, then is down
// (connection refused) for 10 s, then takes everything. Every emission
// must be delivered exactly once in the end, after retries, and /healthz
// must say the sink is failing while it is.
func TestFaultSinkDownAnswers429And5xx(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	ph := faultPrelude(t)
	dir := t.TempDir()
	bin := buildGatewatchBinary(t, dir)
	suffix := fmt.Sprint(time.Now().UnixNano())
	// Created before alert starts (see TestEndToEndNginxToClickHouseAndAlerts).
	top := newCrashTopic(t, broker, "test.fault.sink.findings."+suffix, crashPartitions)
	recv := startSinkReceiver(t, "429")
	listen := testenv.FreeAddr(t)
	cfg := filepath.Join(dir, "alert.yaml")
	writeCrashFile(t, cfg, fmt.Sprintf(`data_dir: %[1]s/data
kafka:
  brokers: [%[2]s]
  topics: {findings: %[3]s}
alert:
  state_dir: %[1]s/state
  retry_initial: 100ms
  retry_max: 1s
  fail_after: 2s
  webhook:
    - name: hook-%[4]s
      url: http://%[5]s/hook
      allow_http: true
`, dir, broker, top.name, suffix, recv.addr))
	alert := startCrashProc(t, bin, filepath.Join(dir, "alert.out"), nil, "alert", "--config", cfg, "--listen", listen)
	health := startHealthProbe(t, listen)
	ph.mark("setup")

	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: top.name, Balancer: &kafka.Hash{}, BatchTimeout: 10 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	const incidents, waves = 20, 4
	at := time.Now().UTC().Truncate(time.Second)
	wave := func(k int) {
		t.Helper()
		var msgs []kafka.Message
		for i := k * incidents / waves; i < (k+1)*incidents/waves; i++ {
			for _, st := range []detect.Status{detect.StatusOpen, detect.StatusResolved} {
				f := detect.Finding{IncidentID: fmt.Sprintf("inc-fault-%s-%02d", suffix, i), Status: st, Client: fmt.Sprintf("198.51.100.%d", i+1),
					ClientKind: "ip", Detector: detect.DetectorScanning, WindowStart: at, WindowEnd: at.Add(time.Minute), Windows: 1,
					Observed: 60, Expected: 1, Unit: "distinct 404 paths/min", Severity: detect.SeverityHigh, Baseline: detect.BaselineNone,
					Summary: "fault test finding"}
				b, err := json.Marshal(f)
				if err != nil {
					t.Fatal(err)
				}
				msgs = append(msgs, kafka.Message{Key: []byte(f.IncidentID), Value: b})
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("writing findings: %v", err)
		}
	}
	var faultStart, faultEnd time.Time
	phases := []struct {
		mode string
		hold time.Duration
	}{{"429", 4 * time.Second}, {"503", 4 * time.Second}, {"down", 10 * time.Second}, {"ok", 0}}
	for k, p := range phases {
		recv.set(t, p.mode)
		if k == 0 {
			faultStart = time.Now()
		}
		if p.mode == "ok" {
			faultEnd = time.Now()
		}
		wave(k)
		sleepAlive(t, p.hold, alert)
	}
	ph.mark("faults")
	_, downCount, downBody := health.between(faultStart.Add(3*time.Second), faultEnd)

	want := 2 * incidents
	faultWait(t, 2*time.Minute, func() string {
		got, answers := recv.deliveries()
		return fmt.Sprintf("%d of %d emissions delivered (answers %v)", len(got), want, answers)
	}, func() bool { got, _ := recv.deliveries(); return len(got) >= want }, alert)
	delivered := time.Since(faultEnd)
	faultWait(t, time.Minute, func() string { return "alert's /healthz not ok again after the receiver recovered" },
		func() bool { _, found, last := health.firstOK(faultEnd); return found && last }, alert)
	healthyAt, _, _ := health.firstOK(faultEnd)
	sleepAlive(t, 3*time.Second, alert) // a second delivery of anything would show now
	retries := metricValue(listen, "gatewatch_alert_retries_total")
	throttled := metricValue(listen, "gatewatch_alert_throttled_total")
	alert.signal(t, syscall.SIGTERM)
	health.close()
	ph.mark("delivered")

	got, answers := recv.deliveries()
	var dupes []string
	seen := map[string]bool{}
	total := 0
	for em, n := range got {
		total += n
		if n != 1 {
			dupes = append(dupes, fmt.Sprintf("%s x%d", em, n))
		}
		inc, _, _ := strings.Cut(em, "/")
		seen[inc] = true
	}
	sort.Strings(dupes)
	if len(got) != want || len(seen) != incidents || len(dupes) > 0 {
		t.Errorf("receiver took %d emissions of %d incidents (%d deliveries); want %d of %d, each once; repeated: %v",
			len(got), len(seen), total, want, incidents, dupes)
	}
	if answers["429"] == 0 || answers["503"] == 0 || answers["bad"] > 0 {
		t.Errorf("receiver answers %v: want some 429s and 503s (retries), no bad request", answers)
	}
	if retries < float64(answers["429"]+answers["503"]) || throttled < float64(answers["429"]) {
		t.Errorf("alert counted %v retries (%v throttled); the receiver refused %d times (%d with 429), and was down", retries, throttled,
			answers["429"]+answers["503"], answers["429"])
	}
	if downCount == 0 {
		t.Errorf("alert's /healthz never said the sink was failing in the %s it failed (fail_after 2s)", faultEnd.Sub(faultStart).Round(time.Second))
	}
	t.Logf("receiver answers %v; alert retries %v (throttled %v); /healthz while failing: %d not ok (first %q)", answers, retries, throttled, downCount, downBody)
	t.Logf("phases: %s", ph)
	faultSummary(t, "alert webhook receiver: 429 4 s, 503 4 s, down 10 s", 0, 0, "-", fmt.Sprintf("%d (%d emissions, %d deliveries)", len(seen), len(got), total),
		total-len(got), fmt.Sprintf("all delivered %s after the receiver recovered; /healthz ok after %s",
			delivered.Round(100*time.Millisecond), healthyAt.Sub(faultEnd).Round(100*time.Millisecond)))
}
