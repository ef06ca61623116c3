package alert

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/feedback"
)

func TestSilencesPersist(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feedback.jsonl")
	s, err := OpenSilences(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	f := finding(1, detect.SeverityHigh, detect.StatusUpdate)
	other := finding(2, detect.SeverityHigh, detect.StatusUpdate)
	for _, fb := range []Feedback{
		{At: now, Kind: FeedbackAck, Client: other.Client, Detector: other.Detector, User: "U1 alice"},
		{At: now, Kind: FeedbackSilence, Client: f.Client, Detector: f.Detector, Until: now.Add(time.Hour), User: "U1 alice"},
		{At: now, Kind: FeedbackFalsePositive, Client: other.Client, Detector: "scanning", User: "U2 bob"},
	} {
		if err := s.Record(context.Background(), fb); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s2, err := OpenSilences(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	scan := other
	scan.Detector = "scanning"
	resolved := f
	resolved.Status = detect.StatusResolved
	for _, tc := range []struct {
		name string
		f    detect.Finding
		at   time.Time
		want bool
	}{
		{"silenced pair", f, now.Add(30 * time.Minute), true},
		{"silence over", f, now.Add(61 * time.Minute), false},
		{"resolution still sent", resolved, now.Add(30 * time.Minute), false},
		{"ack silences nothing", other, now.Add(time.Minute), false},
		{"false positive quiets its pair for a day", scan, now.Add(23 * time.Hour), true},
		{"and then no longer", scan, now.Add(25 * time.Hour), false},
	} {
		if got := s2.Silenced(tc.f, tc.at); got != tc.want {
			t.Errorf("%s: silenced %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFalsePositivesReachTheDetectors: what Silences records from a
// "False positive" button is what detect/feedback reads, and only that
// kind: a silence or an acknowledgement does not teach the baselines.
func TestFalsePositivesReachTheDetectors(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "alert-feedback.jsonl")
	s, err := OpenSilences(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	set, err := feedback.Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	for _, fb := range []Feedback{
		{At: now, Kind: FeedbackFalsePositive, Client: "10.1.2.3", Detector: "volume", User: "U2 bob"},
		{At: now, Kind: FeedbackSilence, Client: "10.1.2.4", Detector: "volume", Until: now.Add(time.Hour)},
		{At: now, Kind: FeedbackAck, Client: "10.1.2.5", Detector: "volume"},
	} {
		if err := s.Record(context.Background(), fb); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Reload(); err != nil {
		t.Fatal(err)
	}
	for client, want := range map[string]bool{"10.1.2.3": true, "10.1.2.4": false, "10.1.2.5": false} {
		if got := set.FalsePositive(client, "volume", now.Add(time.Minute)); got != want {
			t.Errorf("%s: false positive for the detectors %v, want %v", client, got, want)
		}
	}
	if set.Skipped() != 0 {
		t.Errorf("%d feedback lines unreadable by detect/feedback", set.Skipped())
	}
}
