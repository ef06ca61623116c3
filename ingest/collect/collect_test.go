package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// recorder is a Publisher that keeps what it was given.
type recorder struct {
	mu      sync.Mutex
	events  []ingest.Event
	dead    map[string][]string // label -> reasons
	records [][]byte            // dead-letter records, as published
	flushes int
	fail    error // returned by Flush when set
	// limit, when set, is the largest message taken: a larger one is
	// refused as transport.Producer does (an *ingest.TooLargeError).
	limit int64
	// failAt fails the Publish call of that number (1-based) once with
	// its error, as a full buffer or a broker outage would.
	failAt map[int]error
	calls  int
}

func (r *recorder) Publish(_ context.Context, ev *ingest.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if err, ok := r.failAt[r.calls]; ok {
		delete(r.failAt, r.calls)
		return err
	}
	if err := r.tooLarge(len(ev.ClientKey) + len(ingest.AppendWire(nil, ev))); err != nil {
		return err
	}
	r.events = append(r.events, ev.Clone())
	return nil
}

// tooLarge is the error for a message of size bytes over the limit.
func (r *recorder) tooLarge(size int) error {
	if r.limit > 0 && int64(size) > r.limit {
		return fmt.Errorf("fake producer: %w", &ingest.TooLargeError{Size: int64(size), Limit: r.limit})
	}
	return nil
}

func (r *recorder) PublishRaw(_ context.Context, key, value []byte) error {
	var rec struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(value, &rec); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.tooLarge(len(key) + len(value)); err != nil {
		return err
	}
	if r.dead == nil {
		r.dead = map[string][]string{}
	}
	r.dead[string(key)] = append(r.dead[string(key)], rec.Reason)
	r.records = append(r.records, bytes.Clone(value))
	return nil
}

func (r *recorder) Flush(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushes++
	return r.fail
}

func (r *recorder) count() (events, dead int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.dead {
		dead += len(d)
	}
	return len(r.events), dead
}

func line(client, ts, path string) string {
	return client + ` - - [` + ts + `] "GET ` + path + ` HTTP/1.1" 200 512 "-" "curl/8.5.0"`
}

// TestCollectorInputs runs a file, the HTTP endpoint and a syslog
// listener through one Collector: every event reaches the events
// publisher with its input's source, every bad line the dead letters
// under its input's label and reason, and the file's position is saved
// once the run ends.
func TestCollectorInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	now := time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700")
	content := strings.Join([]string{
		line("203.0.113.7", now, "/a"), "", "garbage line", line("203.0.113.8", "02/Nov/2099:00:00:00 +0000", "/b"),
		line("203.0.113.9", now, "/c"),
	}, "\n") + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	positions, err := ingest.LoadPositions(filepath.Join(dir, "positions.json"))
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("token-key")
	httpAddr := make(chan net.Addr, 1)
	syslog := &ingest.SyslogServer{UDPAddr: "127.0.0.1:0"}
	if err := syslog.Listen(); err != nil {
		t.Fatal(err)
	}
	events, dead := &recorder{}, &recorder{}
	col, err := New(Options{
		Inputs: []ingest.Input{
			{Source: &ingest.FileSource{Path: path, FromStart: true, Positions: positions}, Format: "nginx_combined"},
			{Source: &ingest.HTTPListener{Addr: "127.0.0.1:0", OnListen: func(a net.Addr) { httpAddr <- a },
				Options: ingest.HTTPSourceOptions{TokenKey: key, Tokens: []ingest.HTTPToken{{Name: "edge-1", Hash: ingest.HashToken(key, "s3cret")}}}}},
			{Source: &ingest.SyslogListener{Server: syslog}, Format: "nginx_combined"},
		},
		Events: events, DeadLetters: dead, Positions: positions, PositionsEvery: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- col.Run(ctx) }()

	postLines(t, <-httpAddr, line("198.51.100.1", now, "/h")+"\nnot a log line\n")
	udp, err := net.Dial("udp", syslog.Addrs().UDP.String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(udp, "<134>1 2026-11-02T10:00:00Z gw nginx - - - %s", line("192.0.2.5", now, "/s"))
	udp.Close()

	waitFor(t, func() bool { e, _ := events.count(); _, d := dead.count(); return e >= 4 && d >= 3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	sources := map[string]int{}
	for _, ev := range events.events {
		sources[ev.Source]++
	}
	if want := map[string]int{"access.log": 2, "http": 1, "syslog": 1}; fmt.Sprint(sources) != fmt.Sprint(want) {
		t.Errorf("events by source %v, want %v", sources, want)
	}
	if got := fmt.Sprint(dead.dead); !strings.Contains(got, "access.log:[nginx_combined:") || !strings.Contains(got, ingest.ReasonFuture) ||
		!strings.Contains(got, "http:edge-1:[") {
		t.Errorf("dead letters %s: want the file's garbage and future lines and the HTTP sender's bad line", got)
	}
	abs, _ := filepath.Abs(path)
	reloaded, err := ingest.LoadPositions(filepath.Join(dir, "positions.json"))
	if err != nil {
		t.Fatal(err)
	}
	if pos, ok := reloaded.Get(abs); !ok || pos.Offset != int64(len(content)) {
		t.Errorf("saved position %+v (%v), want offset %d", pos, ok, len(content))
	}
}

// TestCollectorKeepsPositionsWhenUndelivered: when the transport cannot
// deliver what was read, the final positions are not saved, so a restart
// reads the lines again.
func TestCollectorKeepsPositionsWhenUndelivered(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	if err := os.WriteFile(path, []byte(line("203.0.113.7", time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700"), "/a")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	positions, err := ingest.LoadPositions(filepath.Join(dir, "positions.json"))
	if err != nil {
		t.Fatal(err)
	}
	events := &recorder{fail: fmt.Errorf("kafka down")}
	col, err := New(Options{Inputs: []ingest.Input{{Source: &ingest.FileSource{Path: path, FromStart: true, Positions: positions}}},
		Events: events, DeadLetters: &recorder{}, Positions: positions, PositionsEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- col.Run(ctx) }()
	waitFor(t, func() bool { e, _ := events.count(); return e == 1 })
	time.Sleep(50 * time.Millisecond) // several saver ticks
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "kafka down") {
		t.Errorf("Run: %v, want the flush failure", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "positions.json")); !os.IsNotExist(err) {
		t.Errorf("positions were saved although nothing was delivered (%v)", err)
	}
}

func TestNewRequires(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err == nil {
		t.Error("New without inputs or publishers succeeded")
	}
}

func postLines(t *testing.T, addr net.Addr, body string) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+addr.String()+"/v1/lines?format=nginx_combined", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer s3cret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("POST /v1/lines: %s", res.Status)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
