package slack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// benchBatch and benchIncidents shape BenchmarkSustainedSlack's stream.
const (
	benchBatch     = 5  // notifications per Notify, each a different incident
	benchIncidents = 50 // incidents of one generation
)

// BenchmarkSustainedSlack measures the Slack sink's own sustained rate:
// Notify called directly, in bot mode with its state file (as gatewatch
// runs it), against the slacktest fake of these tests. The stream is
// generations of 50 incidents, each opened, updated and resolved (a post;
// an edit and a thread reply; an edit and a thread reply, each followed
// by an atomic rewrite of the state file), in batches of 5 notifications
// of different incidents, so that nothing coalesces and no digest is
// posted. The fake must have seen every post and edit. The state file
// keeps every incident of the run (resolved ones for 7 days) and each
// delivery rewrites it whole, so the cost of an alert grows with b.N:
// state-incidents reports how many it held at the end.
//
// In production the dispatcher's pace for Slack (about 1 message/s per
// channel with bursts of 3, and a 3 s linger: slackPace in alert/sinks),
// and Slack's own rate limits, bound the delivery, not the sink: this
// figure is the sink's headroom, not a delivery rate. The fake runs in
// this process: its work shares the CPUs and counts in B/op and
// allocs/op. Reported: alerts/s (notifications delivered).
func BenchmarkSustainedSlack(b *testing.B) {
	fake := newFakeSlack(b)
	s, err := New(Options{Token: "xoxb-bench", Channel: testChannel, APIURL: fake.url(), StateDir: b.TempDir(),
		GrafanaURL: "https://grafana.example/d/gw-client?var-client={{client}}",
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	run := fmt.Sprintf("bench%d", time.Now().UnixNano())
	batch := make([]alert.Notification, 0, benchBatch)
	opens, edits := 0, 0
	b.ResetTimer()
	for i := 0; i < b.N; i += benchBatch {
		batch = batch[:0]
		for j := i; j < min(i+benchBatch, b.N); j++ {
			f := benchFinding(run, j)
			if f.Status == detect.StatusOpen {
				opens++
			} else {
				edits++
			}
			batch = append(batch, alert.NewNotification(f, "slack", "gw-1"))
		}
		if retry, err := s.Notify(context.Background(), batch...); err != nil {
			b.Fatalf("Notify: retry=%v %v", retry, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
	b.ReportMetric(float64(len(s.st.data.Incidents)), "state-incidents")
	posts, updates, _, _ := fake.snapshot()
	if top := len(topLevel(posts)); top != opens || len(updates) != edits || len(posts)-top != edits {
		b.Fatalf("%d posts, %d edits, %d replies; want %d, %d, %d", top, len(updates), len(posts)-top, opens, edits, edits)
	}
}

// benchFinding is the i-th notification's finding: incident i%50 of
// generation i/150, opened, updated or resolved as i/50%3 says.
func benchFinding(run string, i int) detect.Finding {
	stage := i / benchIncidents % 3
	f := finding(fmt.Sprintf("%s-%d-%d", run, i/(3*benchIncidents), i%benchIncidents),
		[]detect.Status{detect.StatusOpen, detect.StatusUpdate, detect.StatusResolved}[stage])
	f.Windows += stage
	f.WindowEnd = f.WindowEnd.Add(time.Duration(stage) * time.Minute)
	return f
}
