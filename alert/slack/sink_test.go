package slack

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// t0 is the start of the test incidents.
var t0 = time.Date(2024, 5, 6, 14, 0, 0, 0, time.UTC)

// finding returns a scanning finding of incident id with status st.
func finding(id string, st detect.Status) detect.Finding {
	return detect.Finding{
		IncidentID: id, Status: st, Client: "203.0.113.7", ClientKind: "ip", Detector: detect.DetectorScanning,
		WindowStart: t0, WindowEnd: t0.Add(5 * time.Minute), Windows: 5,
		Observed: 412, Expected: 3, Spread: 2, Unit: "distinct paths/min", Score: 0.93, PValue: 1e-12,
		Severity: detect.SeverityHigh, Baseline: detect.BaselineOwn, History: 120,
		Summary: "client 203.0.113.7 got 404/403 on ~412 distinct paths/min, baseline 3±2",
		Routes:  []string{"GET /admin", "GET /.env"}, Samples: []string{"GET /.env 404 ua=Nikto"},
	}
}

// notifications wraps fs for the sink named "slack".
func notifications(fs ...detect.Finding) []alert.Notification {
	ns := make([]alert.Notification, len(fs))
	for i, f := range fs {
		ns[i] = alert.NewNotification(f, "slack", "gw1")
	}
	return ns
}

// newTestSink returns a bot-mode sink on fake with state in dir.
func newTestSink(t *testing.T, fake *fakeSlack, dir string, digestOver int) *Sink {
	t.Helper()
	s, err := New(Options{Token: "xoxb-test", Channel: testChannel, APIURL: fake.url(), StateDir: dir,
		DigestOver: digestOver, GrafanaURL: "https://grafana.example/d/gw-client?var-client={{client}}"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustNotify fails the test unless Notify succeeds.
func mustNotify(t *testing.T, s *Sink, fs ...detect.Finding) {
	t.Helper()
	if retry, err := s.Notify(context.Background(), notifications(fs...)...); err != nil {
		t.Fatalf("Notify: retry=%v err=%v", retry, err)
	}
}

func TestBotIncidentLifecycle(t *testing.T) {
	fake := newFakeSlack(t)
	dir := t.TempDir()
	s := newTestSink(t, fake, dir, 0)
	steps := []struct {
		name             string
		f                detect.Finding
		posts, replies   int
		updates          int
		header, lastText string
	}{
		{"open posts", finding("inc1", detect.StatusOpen), 1, 0, 0, "HIGH scanning", ""},
		{"update edits and replies", finding("inc1", detect.StatusUpdate), 1, 1, 1, "HIGH scanning", "Ongoing"},
		{"same status edits only", finding("inc1", detect.StatusUpdate), 1, 1, 2, "HIGH scanning", "Ongoing"},
		{"resolve edits header and replies", finding("inc1", detect.StatusResolved), 1, 2, 3, "Resolved: scanning", "Resolved"},
	}
	for _, st := range steps {
		mustNotify(t, s, st.f)
		posts, updates, _, _ := fake.snapshot()
		top := topLevel(posts)
		if len(top) != st.posts || len(posts)-len(top) != st.replies || len(updates) != st.updates {
			t.Fatalf("%s: %d posts, %d replies, %d updates; want %d, %d, %d", st.name,
				len(top), len(posts)-len(top), len(updates), st.posts, st.replies, st.updates)
		}
		last := string(top[0].Blocks)
		if len(updates) > 0 {
			last = string(updates[len(updates)-1].Blocks)
			if updates[len(updates)-1].TS != top[0].TS {
				t.Fatalf("%s: edited %s, posted %s", st.name, updates[len(updates)-1].TS, top[0].TS)
			}
		}
		if !strings.Contains(last, st.header) {
			t.Errorf("%s: blocks lack %q: %s", st.name, st.header, last)
		}
		if st.replies > 0 {
			r := posts[len(posts)-1]
			if r.ThreadTS != top[0].TS || !strings.Contains(r.Text, st.lastText) {
				t.Errorf("%s: reply %+v, want in thread %s saying %q", st.name, r, top[0].TS, st.lastText)
			}
		}
	}
	posts, _, _, _ := fake.snapshot()
	if md := posts[0].Metadata; md.EventType != EventIncident || md.EventPayload["incident_id"] != "inc1" {
		t.Errorf("metadata = %+v", md)
	}

	// A restarted sink keeps editing the same message.
	s2 := newTestSink(t, fake, dir, 0)
	mustNotify(t, s2, finding("inc1", detect.StatusResolved))
	posts2, updates, _, histories := fake.snapshot()
	if len(topLevel(posts2)) != 1 || updates[len(updates)-1].TS != posts[0].TS || histories != 1 {
		t.Errorf("after restart: %d posts, last edit %s (want %s), %d history lookups",
			len(topLevel(posts2)), updates[len(updates)-1].TS, posts[0].TS, histories)
	}
}

func TestBatchCoalescesPerIncident(t *testing.T) {
	fake := newFakeSlack(t)
	s := newTestSink(t, fake, t.TempDir(), 0)
	mustNotify(t, s, finding("a", detect.StatusOpen), finding("b", detect.StatusOpen),
		finding("a", detect.StatusUpdate), finding("a", detect.StatusResolved))
	posts, updates, _, _ := fake.snapshot()
	if len(posts) != 2 || len(updates) != 0 {
		t.Fatalf("%d posts, %d updates; want 2 posts", len(posts), len(updates))
	}
	if !strings.Contains(string(posts[0].Blocks), "Resolved: scanning") {
		t.Errorf("incident a was not posted in its latest state: %s", posts[0].Blocks)
	}
}

func TestCrashBetweenPostAndStore(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash func(s *Sink, dir string) // breaks the state after the post
	}{
		{"state write fails", nil},
		{"state file lost", func(s *Sink, dir string) {
			files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
			for _, f := range files {
				os.Remove(f)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeSlack(t)
			dir := t.TempDir()
			s := newTestSink(t, fake, dir, 0)
			if tc.crash == nil {
				s.st.write = func(string, []byte) error { return errors.New("disk full") }
				retry, err := s.Notify(context.Background(), notifications(finding("x", detect.StatusOpen))...)
				if !retry || err == nil {
					t.Fatalf("failed store: retry=%v err=%v; want a retry", retry, err)
				}
			} else {
				mustNotify(t, s, finding("x", detect.StatusOpen))
				tc.crash(s, dir)
			}
			restarted := newTestSink(t, fake, dir, 0)
			mustNotify(t, restarted, finding("x", detect.StatusOpen))
			mustNotify(t, restarted, finding("x", detect.StatusResolved))
			posts, updates, _, histories := fake.snapshot()
			if n := len(topLevel(posts)); n != 1 || histories != 2 {
				t.Fatalf("%d top-level posts, %d history lookups; want 1 and 2 (one per sink)", n, histories)
			}
			if len(updates) != 2 || updates[0].TS != posts[0].TS {
				t.Fatalf("updates %+v; want two edits of %s", updates, posts[0].TS)
			}
			if r := posts[len(posts)-1]; r.ThreadTS != posts[0].TS || !strings.Contains(r.Text, "Resolved") {
				t.Errorf("no resolve reply in the thread: %+v", r)
			}
		})
	}
}

func TestErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		name       string
		endpoint   string
		answer     func(http.ResponseWriter)
		retry      bool
		after      time.Duration // a RetryAfterError's delay, when not 0
		rejected   bool
		prepostOld bool // the incident has a message already
	}{
		{"429 on post", "chat.postMessage", rateLimited(7), true, 7 * time.Second, false, false},
		{"429 on update", "chat.update", rateLimited(3), true, 3 * time.Second, false, true},
		{"429 on history", "conversations.history", rateLimited(2), true, 2 * time.Second, false, false},
		{"invalid_auth", "chat.postMessage", slackError("invalid_auth"), false, 0, false, false},
		{"not_authed", "chat.update", slackError("not_authed"), false, 0, false, true},
		{"channel_not_found", "chat.postMessage", slackError("channel_not_found"), false, 0, false, false},
		{"is_archived", "chat.postMessage", slackError("is_archived"), false, 0, false, false},
		{"msg_too_long", "chat.postMessage", slackError("msg_too_long"), false, 0, true, false},
		{"invalid_blocks", "chat.update", slackError("invalid_blocks"), false, 0, true, true},
		{"internal_error", "chat.postMessage", slackError("internal_error"), true, 0, false, false},
		{"503", "chat.postMessage", func(w http.ResponseWriter) { w.WriteHeader(503) }, true, 0, false, false},
		{"400", "chat.postMessage", func(w http.ResponseWriter) { w.WriteHeader(400) }, false, 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeSlack(t)
			s := newTestSink(t, fake, t.TempDir(), 0)
			if tc.prepostOld {
				mustNotify(t, s, finding("e", detect.StatusOpen))
			}
			fake.failNext(tc.endpoint, tc.answer)
			ns := notifications(finding("e", detect.StatusUpdate))
			retry, err := s.Notify(context.Background(), ns...)
			if err == nil || retry != tc.retry {
				t.Fatalf("retry=%v err=%v; want retry=%v and an error", retry, err, tc.retry)
			}
			if d, ok := alert.RetryAfter(err); ok != (tc.after != 0) || d != tc.after {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tc.after)
			}
			var rej *alert.RejectedError
			if errors.As(err, &rej) != tc.rejected || (tc.rejected && rej.Reasons[ns[0].DeliveryID] == "") {
				t.Errorf("err = %v (%T); rejected want %v", err, err, tc.rejected)
			}
		})
	}
}

func TestNetworkErrorRetries(t *testing.T) {
	fake := newFakeSlack(t)
	url := fake.url()
	fake.srv.Stop()
	s, err := New(Options{Token: "xoxb-test", Channel: testChannel, APIURL: url})
	if err != nil {
		t.Fatal(err)
	}
	if retry, err := s.Notify(context.Background(), notifications(finding("n", detect.StatusOpen))...); !retry || err == nil {
		t.Fatalf("retry=%v err=%v; want a retry", retry, err)
	}
}

func TestPartialFailureDoesNotRepost(t *testing.T) {
	fake := newFakeSlack(t)
	s := newTestSink(t, fake, t.TempDir(), 10)
	batch := []detect.Finding{finding("p1", detect.StatusOpen), finding("p2", detect.StatusOpen), finding("p3", detect.StatusOpen)}
	fake.failAfter("chat.postMessage", 1, rateLimited(1))
	if retry, err := s.Notify(context.Background(), notifications(batch...)...); !retry || err == nil {
		t.Fatalf("retry=%v err=%v; want a retry", retry, err)
	}
	mustNotify(t, s, batch...)
	posts, updates, _, _ := fake.snapshot()
	seen := map[string]int{}
	for _, p := range posts {
		seen[p.Metadata.EventPayload["incident_id"].(string)]++
	}
	if len(posts) != 3 || seen["p1"] != 1 || seen["p2"] != 1 || seen["p3"] != 1 || len(updates) != 1 {
		t.Fatalf("posts per incident %v, %d updates; want one post each and one edit of p1", seen, len(updates))
	}
}

func TestDigest(t *testing.T) {
	fake := newFakeSlack(t)
	dir := t.TempDir()
	s := newTestSink(t, fake, dir, 5)
	var batch []detect.Finding
	for i := range 7 {
		f := finding("d"+string(rune('a'+i)), detect.StatusOpen)
		f.Score = float64(i) / 10
		if i == 2 {
			f.Severity = detect.SeverityCritical
		}
		batch = append(batch, f)
	}
	mustNotify(t, s, batch...)
	posts, _, _, _ := fake.snapshot()
	if len(posts) != 1 {
		t.Fatalf("%d posts; want one digest", len(posts))
	}
	d := posts[0]
	ids, _ := d.Metadata.EventPayload["incident_ids"].([]any)
	if d.Metadata.EventType != EventDigest || len(ids) != 7 || !strings.Contains(string(d.Blocks), "7 new incidents") {
		t.Fatalf("digest %s metadata %+v", d.Blocks, d.Metadata)
	}
	if i, j := strings.Index(string(d.Blocks), "CRITICAL"), strings.Index(string(d.Blocks), "HIGH"); i < 0 || i > j {
		t.Errorf("critical incident not listed first: %s", d.Blocks)
	}

	// Updates of a digested incident go in the digest's thread; the
	// digest itself is not edited. After losing the state, history
	// finds the digest.
	os.RemoveAll(dir)
	s2 := newTestSink(t, fake, t.TempDir(), 5)
	mustNotify(t, s2, finding("dc", detect.StatusUpdate))
	posts, updates, _, _ := fake.snapshot()
	if len(posts) != 2 || posts[1].ThreadTS != d.TS || len(updates) != 0 {
		t.Fatalf("posts %+v, %d updates; want one reply in the digest's thread", posts, len(updates))
	}
}

func TestWebhookMode(t *testing.T) {
	fake := newFakeSlack(t)
	s, err := New(Options{WebhookURL: fake.webhookURL(), StateDir: t.TempDir(),
		GrafanaURL: "https://grafana.example/d/x?var-client={{client}}"})
	if err != nil {
		t.Fatal(err)
	}
	batch := []detect.Finding{finding("w", detect.StatusOpen), finding("w", detect.StatusUpdate), finding("w", detect.StatusResolved)}
	for range 2 { // the second time, as a retry, posts nothing
		mustNotify(t, s, batch...)
	}
	_, _, hooks, _ := fake.snapshot()
	if len(hooks) != 2 {
		t.Fatalf("%d webhook posts; want open and resolved", len(hooks))
	}
	for _, h := range hooks {
		if strings.Contains(string(h.Blocks), ActionAck) || !strings.Contains(string(h.Blocks), ActionGrafana) {
			t.Errorf("webhook blocks have buttons or lack the link: %s", h.Blocks)
		}
	}
	if !strings.Contains(string(hooks[1].Blocks), "Resolved: scanning") {
		t.Errorf("second post is not the resolve: %s", hooks[1].Blocks)
	}
	fake.failNext("webhook", rateLimited(4))
	retry, err := s.Notify(context.Background(), notifications(finding("w2", detect.StatusOpen))...)
	if d, _ := alert.RetryAfter(err); !retry || d != 4*time.Second {
		t.Errorf("webhook 429: retry=%v err=%v", retry, err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, o := range []Options{{}, {Token: "x"}, {WebhookURL: "ftp://x"}, {Token: "x", Channel: "C1", APIURL: "::"}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
	s, err := New(Options{Token: "x", Channel: "#alerts"})
	if err != nil || s.Name() != "slack" || s.MaxBatch() != DefaultMaxBatch || s.opts.DigestOver != DefaultDigestOver {
		t.Errorf("defaults: %v %+v", err, s)
	}
}

func TestChannelNameLearnsID(t *testing.T) {
	fake := newFakeSlack(t)
	s, err := New(Options{Token: "xoxb-test", Channel: "#alerts", APIURL: fake.url(), StateDir: filepath.Join(t.TempDir(), "new")})
	if err != nil {
		t.Fatal(err)
	}
	mustNotify(t, s, finding("c1", detect.StatusOpen))
	if _, _, _, h := fake.snapshot(); h != 0 {
		t.Fatalf("%d history lookups with a channel name and no id; want 0", h)
	}
	mustNotify(t, s, finding("c2", detect.StatusOpen))
	if _, _, _, h := fake.snapshot(); h != 1 {
		t.Fatalf("%d history lookups once the id is known; want 1", h)
	}
}

func TestDeletedMessageIsPostedAgain(t *testing.T) {
	fake := newFakeSlack(t)
	s := newTestSink(t, fake, t.TempDir(), 0)
	mustNotify(t, s, finding("del", detect.StatusOpen))
	fake.mu.Lock()
	fake.history = nil // someone deleted the message
	fake.mu.Unlock()
	mustNotify(t, s, finding("del", detect.StatusUpdate))
	posts, _, _, _ := fake.snapshot()
	if top := topLevel(posts); len(top) != 2 || top[0].TS == top[1].TS {
		t.Fatalf("posts %+v; want the incident posted again", posts)
	}
	mustNotify(t, s, finding("del", detect.StatusResolved))
	_, updates, _, _ := fake.snapshot()
	if len(updates) != 1 || updates[0].TS != topLevel(posts)[1].TS {
		t.Errorf("updates %+v; want an edit of the new message", updates)
	}
}
