package hec

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert/alerttest"
	"github.com/gatewatch/gatewatch/alert/encode"
	"github.com/gatewatch/gatewatch/detect"
)

// BenchmarkSustainedHEC measures sustained delivery to an HTTP Event
// Collector: the HEC receiver of these tests (token and channel checked,
// every envelope decoded, ack ids handed out and acknowledged at once)
// behind httptest's TLS server, fed by an alert.Dispatcher draining a
// backlog of b.N findings from an Outbox into the sink as gatewatch
// configures it (ECS events, batches of 100). Three settings:
//
//   - ack: indexer acknowledgement with the default AckPoll of 1 s. The
//     sink polls first 50 ms after the batch was accepted, doubling up
//     to AckPoll, and the dispatcher has one batch in flight, so a batch
//     costs at least 50 ms here; with a real Splunk, whose acks take
//     seconds, a batch costs what its ack takes.
//   - ack-poll-10ms: the same with AckPoll 10 ms: what the sink and
//     dispatcher can do when acknowledgements come quickly.
//   - noack: a 200 answer delivers.
//
// The receiver runs in this process: its decoding shares the CPUs and
// counts in B/op and allocs/op. The receiver must have got exactly b.N
// events. Reported: alerts/s acknowledged (or accepted, for noack).
func BenchmarkSustainedHEC(b *testing.B) {
	for _, tc := range []struct {
		name string
		ack  bool
		poll time.Duration
	}{{"ack", true, 0}, {"ack-poll-10ms", true, 10 * time.Millisecond}, {"noack", false, 0}} {
		b.Run(tc.name, func(b *testing.B) {
			r, srv := newReceiver(b)
			r.discard = true
			run := fmt.Sprintf("bench%d", time.Now().UnixNano())
			o, feed := alerttest.Backlog(b, "hec", b.N, func(i int) detect.Finding { return alerttest.Finding(run, i) })
			defer o.Close()
			s := newSink(b, srv, Options{Index: "security", Encoder: encode.ECS, Ack: tc.ack, AckPoll: tc.poll})
			b.ResetTimer()
			stop := alerttest.Deliver(b, s, feed, b.N)
			b.StopTimer()
			stop()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.events != b.N {
				b.Fatalf("the receiver got %d events, want %d", r.events, b.N)
			}
		})
	}
}
