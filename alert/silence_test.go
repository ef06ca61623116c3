package alert

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
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
