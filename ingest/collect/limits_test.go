package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// counter is an ingest.Counter.
type counter struct{ n atomic.Int64 }

func (c *counter) Inc() { c.n.Add(1) }

// TestCollectorLongLines: a 600 KB path in the middle of a followed file
// neither stops the collector nor reaches the transport whole. With
// Kafka's 1 MiB limit it is published truncated; with a limit its
// truncated event still exceeds, it is dead-lettered ("event too large",
// counted as a reject). A line over the reader's limit is dead-lettered
// ("line too long"). Every other line is published once, including one
// written afterwards, and every dead letter fits the limit too.
func TestCollectorLongLines(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700")
	content := strings.Join([]string{
		line("203.0.113.7", now, "/before"),
		line("203.0.113.8", now, "/long/"+strings.Repeat("p", 600<<10)),
		line("203.0.113.9", now, "/over-the-line-limit/"+strings.Repeat("q", 2<<20)),
		line("203.0.113.7", now, "/after"),
	}, "\n") + "\n"
	tests := []struct {
		name       string
		limit      int64  // the transport's largest message
		wantEvents string // paths, cut to 12 bytes
		wantDead   string // reasons, in order, with an event's size as N
	}{
		{name: "kafka's limit", limit: 1 << 20, wantEvents: "/before|/long/pppppp|/after|/later",
			wantDead: "line too long (over 1048576 bytes)"},
		{name: "smaller limit", limit: 16 << 10, wantEvents: "/before|/after|/later",
			wantDead: "event too large (N bytes, limit 16384)|line too long (over 1048576 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "access.log")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			events, dead := &recorder{limit: tt.limit}, &recorder{limit: tt.limit}
			var rejects counter
			col, err := New(Options{Inputs: []ingest.Input{{Source: &ingest.FileSource{Path: path, FromStart: true}, Format: "nginx_combined"}},
				Events: events, DeadLetters: dead,
				Counters: func(string) (ingest.Counter, ingest.Counter) { return &counter{}, &rejects }})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- col.Run(ctx) }()
			waitFor(t, func() bool { e, _ := events.count(); _, d := dead.count(); return e+d == 4 })
			appendLine(t, path, line("203.0.113.7", now, "/later")) // the collector is still reading
			waitFor(t, func() bool { e, _ := events.count(); _, d := dead.count(); return e+d == 5 })
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			var paths []string
			for _, ev := range events.events {
				paths = append(paths, ev.Path[:min(len(ev.Path), 12)])
				if ev.Truncated != strings.HasPrefix(ev.Path, "/long/") || len(ev.Path) > ingest.MaxPathBytes {
					t.Errorf("event %.20q: truncated %v, path %d bytes", ev.Path, ev.Truncated, len(ev.Path))
				}
			}
			if got := strings.Join(paths, "|"); got != tt.wantEvents {
				t.Errorf("events %q, want %q", got, tt.wantEvents)
			}
			got := eventSize.ReplaceAllString(strings.Join(dead.dead["access.log"], "|"), "(N bytes,")
			if got != tt.wantDead || rejects.n.Load() != int64(len(dead.records)) {
				t.Errorf("dead letters %q (%d counted), want %q", got, rejects.n.Load(), tt.wantDead)
			}
			for _, rec := range dead.records {
				var r struct {
					Truncated bool `json:"line_truncated"`
				}
				if err := json.Unmarshal(rec, &r); err != nil || !r.Truncated || int64(len(rec)) > tt.limit {
					t.Errorf("dead letter of %d bytes (limit %d), line_truncated %v, %v", len(rec), tt.limit, r.Truncated, err)
				}
			}
		})
	}
}

// eventSize matches the size in an "event too large" reason.
var eventSize = regexp.MustCompile(`\(1\d{4} bytes,`)

func appendLine(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.WriteString(f, s+"\n"); err != nil {
		t.Fatal(err)
	}
}

// httpAnswer is HTTP ingest's per-line answer.
type httpAnswer struct {
	Accepted int `json:"accepted"`
	Rejected []struct {
		Line   int    `json:"line"`
		Reason string `json:"reason"`
	} `json:"rejected"`
	RetryFrom int `json:"retry_from"`
}

// sendLines is a well-behaved HTTP ingest sender: it posts lines and, on
// a 503, sends again only the lines from the answer's retry_from on. It
// returns the answers it got.
func sendLines(t *testing.T, addr net.Addr, lines []string) []httpAnswer {
	t.Helper()
	var answers []httpAnswer
	for from := 0; len(answers) < 5; {
		req, err := http.NewRequest("POST", "http://"+addr.String()+"/v1/lines?format=nginx_combined",
			strings.NewReader(strings.Join(lines[from:], "\n")+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Authorization", "Bearer s3cret")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var a httpAnswer
		err = json.NewDecoder(res.Body).Decode(&a)
		res.Body.Close()
		if err != nil {
			t.Fatalf("answer %s: %v", res.Status, err)
		}
		answers = append(answers, a)
		switch {
		case res.StatusCode == http.StatusOK:
			return answers
		case res.StatusCode != http.StatusServiceUnavailable || a.RetryFrom < 1 || res.Header.Get("Retry-After") == "":
			t.Fatalf("answer %s %+v", res.Status, a)
		}
		from += a.RetryFrom - 1 // retry_from numbers the lines of the body sent
	}
	t.Fatalf("still not taken after %d tries: %+v", len(answers), answers)
	return nil
}

// TestCollectorHTTPPerLine: HTTP ingest answers per line. A batch with a
// line that does not parse and one with a 600 KB path is taken: the bad
// line rejected by number with its reason (and dead-lettered), the long
// one published truncated. When publishing fails part way (the buffer
// full), the answer says where to resume, and a sender that resends from
// there gets every line published exactly once.
func TestCollectorHTTPPerLine(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700")
	key := []byte("token-key")
	httpAddr := make(chan net.Addr, 1)
	events, dead := &recorder{limit: 1 << 20}, &recorder{}
	// The 6th event published fails once: the 2nd line of the 2nd batch.
	events.failAt = map[int]error{6: errors.New("kafka producer: waiting for buffer space: context deadline exceeded")}
	col, err := New(Options{
		Inputs: []ingest.Input{{Source: &ingest.HTTPListener{Addr: "127.0.0.1:0", OnListen: func(a net.Addr) { httpAddr <- a },
			Options: ingest.HTTPSourceOptions{TokenKey: key, Tokens: []ingest.HTTPToken{{Name: "edge-1", Hash: ingest.HashToken(key, "s3cret")}}}}}},
		Events: events, DeadLetters: dead,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- col.Run(ctx) }()
	addr := <-httpAddr

	first := []string{line("198.51.100.1", now, "/b1/1"), "not a log line", line("198.51.100.1", now, "/b1/long/"+strings.Repeat("p", 600<<10)),
		"", line("198.51.100.1", now, "/b1/5"), line("198.51.100.1", now, "/b1/6")}
	answers := sendLines(t, addr, first)
	if a := answers[0]; len(answers) != 1 || a.Accepted != 4 || len(a.Rejected) != 1 || a.Rejected[0].Line != 2 ||
		!strings.HasPrefix(a.Rejected[0].Reason, "nginx_combined: ") {
		t.Errorf("first batch: answers %+v", answers)
	}
	var second []string
	for i := range 5 {
		second = append(second, line("198.51.100.2", now, fmt.Sprint("/b2/", i+1)))
	}
	second[3] = "garbage"
	answers = sendLines(t, addr, second)
	// 503 at the 2nd line with the 1st accepted; the resend of lines 2-5
	// is taken with its 3rd line (the batch's 4th) rejected.
	if len(answers) != 2 || answers[0].Accepted != 1 || answers[0].RetryFrom != 2 || len(answers[0].Rejected) != 0 ||
		answers[1].Accepted != 3 || answers[1].RetryFrom != 0 || len(answers[1].Rejected) != 1 || answers[1].Rejected[0].Line != 3 {
		t.Errorf("second batch: answers %+v", answers)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	seen := map[string]int{}
	for _, ev := range events.events {
		seen[ev.Path[:min(len(ev.Path), 12)]]++
	}
	want := map[string]int{"/b1/1": 1, "/b1/long/ppp": 1, "/b1/5": 1, "/b1/6": 1, "/b2/1": 1, "/b2/2": 1, "/b2/3": 1, "/b2/5": 1}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("published %v, want each of %v once", seen, want)
	}
	if got := len(dead.dead["http:edge-1"]); got != 2 {
		t.Errorf("dead letters %v, want the 2 bad lines once each", dead.dead)
	}
}
