package hec

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
)

func TestEncoderFailureRejectsOnlyThatNotification(t *testing.T) {
	t.Parallel()
	r, srv := newReceiver(t)
	ns := notifications(3)
	bad := ns[1].DeliveryID
	enc := func(dst []byte, n alert.Notification) ([]byte, error) {
		if n.DeliveryID == bad {
			return dst, errors.New("no can do")
		}
		return append(dst, "CEF:0|gatewatch|gatewatch|1|volume|"+n.Finding.Summary+"|7|\n"...), nil
	}
	s := newSink(t, srv, Options{Encoder: enc, Ack: true, AckPoll: 10 * time.Millisecond})
	retry, err := s.Notify(context.Background(), ns...)
	var rej *alert.RejectedError
	if retry || !errors.As(err, &rej) || len(rej.Reasons) != 1 || !strings.Contains(rej.Reasons[bad], "no can do") {
		t.Fatalf("retry=%v err=%v, want a RejectedError for %s only", retry, err, bad)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.envelopes) != 2 {
		t.Fatalf("receiver got %d events, want 2", len(r.envelopes))
	}
	ev, ok := r.envelopes[0]["event"].(string)
	if !ok || !strings.HasPrefix(ev, "CEF:0|") || strings.HasSuffix(ev, "\n") {
		t.Errorf("non-JSON encoder output not embedded as a trimmed string: %#v", r.envelopes[0]["event"])
	}
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]Options{
		"no url":      {Token: "t"},
		"ftp url":     {URL: "ftp://splunk:8088", Token: "t"},
		"no token":    {URL: "https://splunk:8088"},
		"bad channel": {URL: "https://splunk:8088", Token: "t", Channel: "not-a-uuid"},
		"bad ca file": {URL: "https://splunk:8088", Token: "t", CAFile: "/nonexistent/ca.pem"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New accepted %v", name, o)
		}
	}
	s, err := New(Options{URL: "https://splunk:8088/", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "hec" || s.MaxBatch() != 100 || !isUUID(s.Channel()) || s.eventURL != "https://splunk:8088/services/collector/event" {
		t.Errorf("defaults: name=%s batch=%d channel=%s url=%s", s.Name(), s.MaxBatch(), s.Channel(), s.eventURL)
	}
	s2, _ := New(Options{URL: "https://splunk:8088", Token: "t"})
	if s2.Channel() == s.Channel() {
		t.Error("two sinks got the same random channel")
	}
	const ch = "0F6B7D3C-1A2B-4C3D-8E9F-001122334455"
	if s3, err := New(Options{URL: "https://splunk:8088", Token: "t", Channel: ch}); err != nil || s3.Channel() != ch {
		t.Errorf("configured channel: %v %v", s3, err)
	}
}
