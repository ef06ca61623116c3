package sinks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/slack-go/slack/slacktest"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/alert/sinks"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// TestKafkaAlertsSurviveOutageAndRestart proves that `gatewatch alert`
// (sinks.New on a findings topic: one consumer group per sink, offsets
// committed only once the sink took the finding) neither loses nor
// re-posts anything across receiver faults and a restart, on the real
// broker. Run 1: Slack answers every call with a 5xx and the webhook is
// down; the service is stopped with everything undelivered, and neither
// group has committed an offset. Run 2, a new Service on the same state
// directory and groups: Slack throttles its second post (429,
// Retry-After: 1), the webhook loses one answer, and more findings are
// produced while it runs; both groups then commit to the end of the
// topic. Afterwards every incident has exactly one Slack
// chat.postMessage (later emissions are chat.update and thread replies)
// showing its last emission, every emission reached the webhook,
// duplicates under the same delivery id, and nothing was dead-lettered.
func TestKafkaAlertsSurviveOutageAndRestart(t *testing.T) {
	broker := testenv.Getenv(t, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic, prefix := "gatewatch-alert-e2e-findings-"+suffix, "gatewatch-alert-e2e-"+suffix
	client := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second}
	createTopic(t, client, topic)
	desk := newSlackDesk()
	srv := slacktest.NewTestServer(desk.bind)
	srv.Start()
	defer srv.Stop()
	wh := &flakyHook{}
	hs := httptest.NewServer(wh)
	defer hs.Close()
	o := kafkaAlertOptions(t, broker, srv.GetAPIURL(), hs.URL, topic, prefix)
	before, during := kafkaPhases()
	publishFindings(t, broker, topic, before)

	// Run 1: both receivers down, the service stopped mid-retry.
	desk.fail(true, 0)
	wh.fail(true, 0)
	stop := runAlert(t, o)
	waitFor(t, 15*time.Second, "retries against both receivers", func() bool {
		return desk.refusals() >= 2 && wh.refusals() >= 3
	})
	stop()
	for _, sink := range []string{"slack", "webhook"} {
		if _, committed := groupOffsets(t, client, topic, prefix+"-"+sink); fmt.Sprint(committed) != "[-1 -1 -1]" {
			t.Errorf("run 1: group of %s committed %v with nothing delivered, want nothing committed", sink, committed)
		}
	}
	if n := desk.postCount(); n != 0 {
		t.Fatalf("run 1: Slack took %d posts while down", n)
	}

	// Run 2: Slack throttles its second post (after the first went
	// through: the retry must edit that one, not post it again) then
	// works, the webhook loses one answer then works; more findings
	// arrive once the first are posted.
	desk.fail(false, 2)
	wh.fail(false, 1)
	stop = runAlert(t, o)
	waitFor(t, 20*time.Second, "Slack messages of the incidents of run 1", func() bool {
		return desk.posted("inc-A", "inc-B", "inc-C")
	})
	publishFindings(t, broker, topic, during)
	waitFor(t, 20*time.Second, "both groups committed to the end of the topic", func() bool {
		return caughtUp(t, client, topic, prefix+"-slack") && caughtUp(t, client, topic, prefix+"-webhook")
	})
	stop()
	all := slices.Concat(before, during)
	checkSlack(t, desk, all)
	checkWebhook(t, wh, all)
	if b, _ := os.ReadFile(filepath.Join(o.Deps.StateDir, "alert-dead.jsonl")); len(b) > 0 {
		t.Errorf("dead letters: %s", b)
	}
}

// partitions of the findings topic: incidents land on several, as the
// detect stage's client-keyed findings do.
const partitions = 3

// kafkaPhases are the emissions produced before run 1 and during run 2:
// incidents A, B and C open (A updated, B resolved) before; A updated
// and resolved, C resolved and a new incident D during.
func kafkaPhases() (before, during []detect.Finding) {
	at := func(inc string, client int, st detect.Status, windows int) detect.Finding {
		f := emission(inc, st, windows)
		f.Client = fmt.Sprintf("198.51.100.%d", client)
		return f
	}
	before = []detect.Finding{at("inc-A", 11, detect.StatusOpen, 1), at("inc-B", 12, detect.StatusOpen, 1),
		at("inc-C", 13, detect.StatusOpen, 1), at("inc-A", 11, detect.StatusUpdate, 2), at("inc-B", 12, detect.StatusResolved, 2)}
	during = []detect.Finding{at("inc-A", 11, detect.StatusUpdate, 3), at("inc-C", 13, detect.StatusResolved, 2),
		at("inc-D", 14, detect.StatusOpen, 1), at("inc-A", 11, detect.StatusResolved, 4), at("inc-D", 14, detect.StatusUpdate, 2)}
	return before, during
}

// kafkaAlertOptions are `gatewatch alert`'s Options (cmd/gatewatch/alertcmd.go)
// for a Slack bot and a webhook, with a state directory and consumer
// groups of the test's own.
func kafkaAlertOptions(t *testing.T, broker, slackURL, hookURL, topic, prefix string) sinks.Options {
	dir := t.TempDir()
	token := filepath.Join(dir, "slack.token")
	if err := os.WriteFile(token, []byte("xoxb-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service logs:\n%s", logs.String())
		}
	})
	cfg := sinks.Config{RetryInitial: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Slack: &sinks.SlackConfig{TokenFile: token, Channel: slackChannel, APIURL: slackURL,
			Pace: sinks.Pace{Linger: 200 * time.Millisecond}},
		Webhook: []sinks.WebhookConfig{{URL: hookURL, AllowHTTP: true}}}
	deps := sinks.Deps{Kafka: transport.Config{Brokers: []string{broker}, ClientID: "gatewatch-alert-e2e"},
		StateDir: filepath.Join(dir, "alert"), Log: slog.New(slog.NewTextHandler(logs, nil))}
	return sinks.Options{Config: cfg, Deps: deps, FindingsTopic: topic, GroupPrefix: prefix}
}

// runAlert runs a Service built from o, as `gatewatch alert` does, and
// returns stop: cancel (the process stopping) and check it ended cleanly.
func runAlert(t *testing.T, o sinks.Options) (stop func()) {
	t.Helper()
	svc, err := sinks.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("service: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("service did not stop within 15s of its cancellation")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(25 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// checkSlack: exactly one top-level post per incident, each incident's
// latest message (post or edit) carrying its last emission's delivery
// id, and the resolutions of incidents posted in run 2 before they
// resolved told by an edit and a thread reply.
func checkSlack(t *testing.T, d *slackDesk, all []detect.Finding) {
	t.Helper()
	last := map[string]detect.Finding{}
	for _, f := range all {
		last[f.IncidentID] = f
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.throttleAt != 0 {
		t.Errorf("Slack never reached post %d, the one to throttle", d.throttleAt)
	}
	if len(d.posts) != len(last) {
		t.Errorf("Slack posts for %d incidents, want %d: %v", len(d.posts), len(last), d.posts)
	}
	for inc, f := range last {
		if n := len(d.posts[inc]); n != 1 {
			t.Errorf("incident %s: %d chat.postMessage, want exactly 1", inc, n)
		}
		if id := alert.DeliveryID(f, "slack"); !strings.Contains(d.latest[inc], id) {
			t.Errorf("incident %s: its latest Slack message lacks its last emission (%s %d, delivery %s)", inc, f.Status, f.Windows, id)
		}
	}
	for _, inc := range []string{"inc-A", "inc-C"} {
		if d.updates[inc] == 0 || !strings.Contains(strings.Join(d.replies[inc], "\n"), "Resolved") {
			t.Errorf("incident %s: %d edits, thread replies %q; want edits and a Resolved reply", inc, d.updates[inc], d.replies[inc])
		}
	}
	if r := d.replies[""]; len(r) > 0 {
		t.Errorf("thread replies to messages Slack never had: %q", r)
	}
}

// checkWebhook: every emission reached the webhook, each request's
// delivery id is its body's, and the lost answer's redelivery came under
// the same id.
func checkWebhook(t *testing.T, h *flakyHook, all []detect.Finding) {
	t.Helper()
	want := map[string]bool{}
	for _, f := range all {
		want[alert.DeliveryID(f, "webhook")] = true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.bad) > 0 {
		t.Errorf("webhook requests whose delivery id is not their finding's: %q", h.bad)
	}
	got := map[string]int{}
	for _, id := range h.took {
		got[id]++
		if !want[id] {
			t.Errorf("webhook got unknown delivery id %s", id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("webhook got %d of %d emissions", len(got), len(want))
	}
	if h.lose != 0 || len(h.took) <= len(got) {
		t.Errorf("webhook took %d requests for %d emissions (%d answers still to lose): the lost answer was not redelivered", len(h.took), len(got), h.lose)
	}
}

// slackChannel is a channel id, so a restarted sink can look for its
// messages in the channel's history before posting.
const slackChannel = "C0GATEWATCH"

// slackDesk is a Slack Web API behind slacktest (a capturing Binder, as
// fakeSlack): down answers every call 5xx; throttleAt answers that
// chat.postMessage (counted from the last fail) 429 with Retry-After: 1.
// It records top-level posts by incident (from their metadata), edits,
// thread replies and each incident's latest blocks, and serves the posts
// back as the channel's history.
type slackDesk struct {
	mu         sync.Mutex
	down       bool
	throttleAt int
	calls      int // chat.postMessage calls since fail
	refused    int
	seq        int
	posts      map[string][]string // incident → ts of its top-level posts
	incident   map[string]string   // ts → incident
	updates    map[string]int      // incident → chat.update calls
	replies    map[string][]string // incident → thread reply texts
	latest     map[string]string   // incident → blocks of its latest post or edit
	history    []map[string]any    // oldest first
}

func newSlackDesk() *slackDesk {
	return &slackDesk{posts: map[string][]string{}, incident: map[string]string{}, updates: map[string]int{},
		replies: map[string][]string{}, latest: map[string]string{}}
}

func (d *slackDesk) bind(c slacktest.Customize) {
	c.Handle("/chat.postMessage", d.postMessage)
	c.Handle("/chat.update", d.update)
	c.Handle("/conversations.history", d.conversationsHistory)
}

// fail sets the outage, and which post from now on to throttle (0:
// none).
func (d *slackDesk) fail(down bool, throttleAt int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down, d.throttleAt, d.calls = down, throttleAt, 0
}

// refuse answers 5xx when down, 429 to the post to throttle; d.mu is
// held.
func (d *slackDesk) refuse(w http.ResponseWriter, post bool) bool {
	if post {
		d.calls++
	}
	switch {
	case d.down:
		d.refused++
		w.WriteHeader([]int{http.StatusServiceUnavailable, http.StatusInternalServerError}[d.refused%2])
	case post && d.calls == d.throttleAt:
		d.throttleAt = 0
		d.refused++
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	default:
		return false
	}
	return true
}

func (d *slackDesk) postMessage(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refuse(w, true) {
		return
	}
	d.seq++
	ts := fmt.Sprintf("1700000000.%06d", d.seq)
	if thread := r.Form.Get("thread_ts"); thread != "" {
		inc := d.incident[thread]
		d.replies[inc] = append(d.replies[inc], r.Form.Get("text"))
	} else {
		var md struct {
			EventPayload map[string]any `json:"event_payload"`
		}
		json.Unmarshal([]byte(r.Form.Get("metadata")), &md)
		inc := fmt.Sprint(md.EventPayload["incident_id"])
		d.posts[inc] = append(d.posts[inc], ts)
		d.incident[ts] = inc
		d.latest[inc] = r.Form.Get("blocks")
		d.history = append(d.history, map[string]any{"type": "message", "ts": ts, "metadata": json.RawMessage(r.Form.Get("metadata"))})
	}
	fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q}`, slackChannel, ts)
}

func (d *slackDesk) update(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refuse(w, false) {
		return
	}
	ts := r.Form.Get("ts")
	inc, ok := d.incident[ts]
	if !ok {
		fmt.Fprint(w, `{"ok":false,"error":"message_not_found"}`)
		return
	}
	d.updates[inc]++
	d.latest[inc] = r.Form.Get("blocks")
	fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q}`, slackChannel, ts)
}

func (d *slackDesk) conversationsHistory(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refuse(w, false) {
		return
	}
	msgs := make([]map[string]any, len(d.history))
	for i := range d.history {
		msgs[len(msgs)-1-i] = d.history[i] // newest first
	}
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "messages": msgs, "has_more": false})
}

func (d *slackDesk) refusals() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refused
}

func (d *slackDesk) postCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.posts)
}

// posted reports whether every incident of ids has a message.
func (d *slackDesk) posted(ids ...string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if len(d.posts[id]) == 0 {
			return false
		}
	}
	return true
}

// flakyHook is a webhook receiver: down (503) while down is set; for the
// next lose requests it takes the delivery, then answers 502, as a proxy
// that timed out on the way back would. It records the delivery id of
// every request taken, and those not matching their body.
type flakyHook struct {
	mu      sync.Mutex
	down    bool
	lose    int
	refused int
	took    []string
	bad     []string
}

// fail sets the outage and how many answers to lose next.
func (h *flakyHook) fail(down bool, lose int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down, h.lose = down, lose
}

func (h *flakyHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		h.refused++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	id := r.Header.Get("X-Gatewatch-Delivery")
	var f detect.Finding
	if err := json.Unmarshal(body, &f); err != nil || alert.DeliveryID(f, "webhook") != id {
		h.bad = append(h.bad, id)
	}
	h.took = append(h.took, id)
	if h.lose > 0 {
		h.lose--
		w.WriteHeader(http.StatusBadGateway)
	}
}

func (h *flakyHook) refusals() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refused
}

// lockedBuffer collects the service's logs from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// createTopic creates a fresh findings topic of partitions partitions.
func createTopic(t *testing.T, client *kafka.Client, topic string) {
	t.Helper()
	res, err := client.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}}})
	if err != nil || res.Errors[topic] != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, res.Errors[topic])
	}
}

// publishFindings produces fs as `gatewatch detect` does (detect/group:
// worker.emit, checkpoint): each finding's JSON keyed by its client,
// murmur2 partitioning, acknowledged by every in-sync replica, zstd.
func publishFindings(t *testing.T, broker, topic string, fs []detect.Finding) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: topic, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, Compression: kafka.Zstd}
	defer w.Close()
	msgs := make([]kafka.Message, len(fs))
	for i, f := range fs {
		v, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = kafka.Message{Key: []byte(f.Client), Value: v}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("produce findings: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the new topic's leader is being elected
	}
}

// groupOffsets returns the topic's end offsets and the offsets group
// committed (-1 where none), by partition.
func groupOffsets(t *testing.T, client *kafka.Client, topic, group string) (end, committed []int64) {
	t.Helper()
	ctx := context.Background()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {}}}
	parts := make([]int, partitions)
	for p := range parts {
		parts[p] = p
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	lo, err := client.ListOffsets(ctx, req)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	of, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err == nil {
		err = of.Error
	}
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	end, committed = make([]int64, partitions), make([]int64, partitions)
	for _, p := range lo.Topics[topic] {
		end[p.Partition] = p.LastOffset
	}
	for _, p := range of.Topics[topic] {
		committed[p.Partition] = p.CommittedOffset
	}
	return end, committed
}

// caughtUp reports whether group committed every partition holding
// findings to its end.
func caughtUp(t *testing.T, client *kafka.Client, topic, group string) bool {
	end, committed := groupOffsets(t, client, topic, group)
	for p := range end {
		if committed[p] != end[p] && !(end[p] == 0 && committed[p] < 0) {
			return false
		}
	}
	return true
}

// TestKafkaAlertStartedBeforeTheFindingsTopic: `gatewatch alert` started
// before any `detect` has created the findings topic waits for it, then
// delivers every finding written to it. A consumer group member that
// joined before the topic existed used to be assigned nothing, for good:
// nothing was ever delivered.
func TestKafkaAlertStartedBeforeTheFindingsTopic(t *testing.T) {
	broker := testenv.Getenv(t, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic, prefix := "gatewatch-alert-late-findings-"+suffix, "gatewatch-alert-late-"+suffix
	client := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second}
	desk := newSlackDesk()
	srv := slacktest.NewTestServer(desk.bind)
	srv.Start()
	defer srv.Stop()
	wh := &flakyHook{}
	hs := httptest.NewServer(wh)
	defer hs.Close()
	stop := runAlert(t, kafkaAlertOptions(t, broker, srv.GetAPIURL(), hs.URL, topic, prefix))
	time.Sleep(3 * time.Second) // the sinks start and find no topic
	createTopic(t, client, topic)
	before, during := kafkaPhases()
	all := slices.Concat(before, during)
	publishFindings(t, broker, topic, all)
	waitFor(t, 60*time.Second, "both groups committed to the end of the topic", func() bool {
		return caughtUp(t, client, topic, prefix+"-slack") && caughtUp(t, client, topic, prefix+"-webhook")
	})
	stop()
	wh.mu.Lock()
	took := slices.Clone(wh.took)
	wh.mu.Unlock()
	want := make([]string, len(all))
	for i, f := range all {
		want[i] = alert.DeliveryID(f, "webhook")
	}
	slices.Sort(took)
	slices.Sort(want)
	if !slices.Equal(took, want) {
		t.Errorf("webhook took %d deliveries %q, want each of the %d emissions once %q", len(took), took, len(want), want)
	}
	if n := desk.postCount(); n != 4 {
		t.Errorf("Slack took %d posts, want one per incident (4)", n)
	}
}
