package ingest

import (
	"context"
	"strings"
	"testing"
	"time"
)

type count int

func (c *count) Inc() { *c++ }

// TestIntake: the decode step every input shares — lines decoded with the
// input's format or their own, blank lines skipped, failures rejected
// under the input's (and sender's) label, events checked for time.
func TestIntake(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	var events []string
	var rejects []string
	var lines, rejected count
	in, err := NewIntake(IntakeOptions{
		Name:    "edge",
		Decoder: DecoderOptions{Format: "nginx_combined", Now: func() time.Time { return now }},
		Emit: func(_ context.Context, ev *Event) error {
			events = append(events, ev.Source+" "+ev.ClientKey+" "+ev.Format)
			return nil
		},
		Reject: func(_ context.Context, label string, r Reject) error {
			rejects = append(rejects, label+" "+r.Reason)
			return nil
		},
		Lines: &lines, Rejects: &rejected,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	combined := `203.0.113.7 - - [02/Nov/2026:09:59:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "x"`
	for _, l := range []Line{
		{Text: []byte(combined)},
		{Text: []byte("  ")},
		{Text: []byte("junk"), Sender: "token-a"},
		{Text: []byte(combined), Source: "lb-2"},
		{Text: []byte(`{"time":"2026-11-02T09:59:00Z","remote_addr":"198.51.100.4","request":"GET / HTTP/1.1","status":200}`), Format: "nginx_json"},
		{Text: []byte(combined), Format: "no-such-format"},
		{Text: []byte("\x00\x01"), Malformed: "syslog: no PRI"},
	} {
		if err := in.Line(ctx, &l); err != nil {
			t.Fatal(err)
		}
	}
	future := Event{Time: now.Add(2 * time.Hour), ClientKey: "c", Source: "sender"}
	if reason, err := in.Event(ctx, &future); err != nil || reason != ReasonFuture {
		t.Fatalf("future event: %q, %v", reason, err)
	}
	ok := Event{Time: now, ClientKey: "c", Source: "sender"}
	if reason, err := in.Event(ctx, &ok); err != nil || reason != "" {
		t.Fatalf("event: %q, %v", reason, err)
	}
	wantEvents := "edge 203.0.113.7 nginx_combined|lb-2 203.0.113.7 nginx_combined|edge 198.51.100.4 nginx_json|sender c "
	if got := strings.Join(events, "|"); got != wantEvents {
		t.Errorf("events\n%s\nwant\n%s", got, wantEvents)
	}
	wantRejects := []string{"edge:token-a nginx_combined:", "edge unknown log format", "edge syslog: no PRI", "edge " + ReasonFuture}
	if len(rejects) != len(wantRejects) {
		t.Fatalf("rejects %q, want %d", rejects, len(wantRejects))
	}
	for i, w := range wantRejects {
		if !strings.HasPrefix(rejects[i], w) {
			t.Errorf("reject %d: %q, want it to start %q", i, rejects[i], w)
		}
	}
	if lines != 7 || rejected != 4 {
		t.Errorf("counted %d lines, %d rejects; want 7 and 4", lines, rejected)
	}
	if _, err := NewIntake(IntakeOptions{}); err == nil {
		t.Error("an Intake without Emit and Reject was made")
	}
}
