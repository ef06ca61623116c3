package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// recorder is a Feedback that keeps what it is given.
type recorder struct {
	mu      sync.Mutex
	actions []Action
	err     error
}

func (r *recorder) Record(_ context.Context, a Action) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.actions = append(r.actions, a)
	return nil
}

func (r *recorder) got() []Action {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Action(nil), r.actions...)
}

// signedRequest returns a POST of body signed with secret at ts.
func signedRequest(body, secret string, ts time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", stamp, body)
	r.Header.Set("X-Slack-Request-Timestamp", stamp)
	r.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return r
}

// clickBody is the form body of a click on actionID of the message at
// ts with blocks, as Slack sends it.
func clickBody(actionID, value, ts string, blocks json.RawMessage) string {
	payload := map[string]any{
		"type":      "block_actions",
		"user":      map[string]any{"id": "U024BE7LH", "name": "alice"},
		"container": map[string]any{"type": "message", "message_ts": ts, "channel_id": testChannel},
		"channel":   map[string]any{"id": testChannel},
		"message":   map[string]any{"ts": ts, "text": "incident", "blocks": blocks},
		"actions": []map[string]any{{"action_id": actionID, "block_id": blockIDActions, "type": "button",
			"value": value, "action_ts": "1715004000.1"}},
	}
	b, _ := json.Marshal(payload)
	return url.Values{"payload": {string(b)}}.Encode()
}

func TestInteractionHandler(t *testing.T) {
	fake := newFakeSlack(t)
	sink := newTestSink(t, fake, t.TempDir(), 0)
	f := finding("ia", detect.StatusOpen)
	mustNotify(t, sink, f)
	posts, _, _, _ := fake.snapshot()
	ts, blocks := posts[0].TS, posts[0].Blocks
	fb := &recorder{}
	h := NewInteractionHandler(InteractionOptions{SigningSecret: testSecret, Feedback: fb, Sink: sink, MaxBody: 8 << 10}).(*interactionHandler)

	valid := clickBody(ActionSilence1h, buttonValue(f), ts, blocks)
	now := time.Now()
	for _, tc := range []struct {
		name    string
		req     *http.Request
		code    int
		actions int // recorded so far
	}{
		{"valid", signedRequest(valid, testSecret, now), 200, 1},
		{"replay", signedRequest(valid, testSecret, now), 409, 1},
		{"forged", signedRequest(valid, "not-the-secret", now.Add(time.Second)), 401, 1},
		{"stale", signedRequest(valid, testSecret, now.Add(-6*time.Minute)), 401, 1},
		{"unsigned", httptest.NewRequest(http.MethodPost, "/", strings.NewReader(valid)), 401, 1},
		{"too large", signedRequest(valid+strings.Repeat("x", 9<<10), testSecret, now), 413, 1},
		{"GET", httptest.NewRequest(http.MethodGet, "/", nil), 405, 1},
		{"no payload", signedRequest("a=b", testSecret, now.Add(2*time.Second)), 400, 1},
		{"grafana link", signedRequest(clickBody(ActionGrafana, "", ts, blocks), testSecret, now.Add(3*time.Second)), 200, 1},
		{"bad value", signedRequest(clickBody(ActionAck, "nope", ts, blocks), testSecret, now.Add(4*time.Second)), 200, 1},
		{"ack", signedRequest(clickBody(ActionAck, buttonValue(f), ts, blocks), testSecret, now.Add(5*time.Second)), 200, 2},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, tc.req)
		if w.Code != tc.code || len(fb.got()) != tc.actions {
			t.Errorf("%s: %d %q, %d actions; want %d, %d", tc.name, w.Code, w.Body, len(fb.got()), tc.code, tc.actions)
		}
		if w.Code != 200 && (len(w.Body.String()) > 40 || strings.Contains(w.Body.String(), "slack")) {
			t.Errorf("%s: error answer not terse: %q", tc.name, w.Body)
		}
	}
	checkActionsRecorded(t, fb.got(), f, ts)
	h.wg.Wait()
	_, updates, _, _ := fake.snapshot()
	// The two clicks' edits run on their own goroutines, in either order;
	// the later one carries both notes.
	if len(updates) != 2 || updates[0].TS != ts || updates[1].TS != ts ||
		!strings.Contains(string(updates[0].Blocks)+string(updates[1].Blocks), "Silenced by \\u003c@U024BE7LH\\u003e") ||
		!strings.Contains(string(updates[1].Blocks), "Acknowledged by") ||
		!strings.Contains(string(updates[1].Blocks), "Silenced by") {
		t.Fatalf("message edits: %+v", updates)
	}
	// Later edits by the sink keep the notes.
	mustNotify(t, sink, finding("ia", detect.StatusUpdate))
	_, updates, _, _ = fake.snapshot()
	if last := string(updates[len(updates)-1].Blocks); !strings.Contains(last, "Acknowledged by") {
		t.Errorf("the sink's edit dropped the notes: %s", last)
	}
}

// checkActionsRecorded checks the silence then the ack of f's message.
func checkActionsRecorded(t *testing.T, got []Action, f detect.Finding, ts string) {
	t.Helper()
	a := got[0]
	if a.Kind != KindSilence || a.IncidentID != f.IncidentID || a.Client != f.Client || a.Detector != f.Detector ||
		a.User != (User{ID: "U024BE7LH", Name: "alice"}) || a.Until.Sub(a.At) != time.Hour ||
		a.Channel != testChannel || a.MessageTS != ts || time.Since(a.At) > time.Minute {
		t.Errorf("action = %+v", a)
	}
	if got[1].Kind != KindAck || !got[1].Until.IsZero() {
		t.Errorf("second action = %+v", got[1])
	}
}

func TestInteractionFeedbackError(t *testing.T) {
	fb := &recorder{err: errors.New("database is down at 10.1.2.3")}
	h := NewInteractionHandler(InteractionOptions{SigningSecret: testSecret, Feedback: fb,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest(clickBody(ActionFalsePositive, buttonValue(finding("x", detect.StatusOpen)), "1.2", nil), testSecret, time.Now()))
	if w.Code != 500 || strings.Contains(w.Body.String(), "10.1.2.3") {
		t.Errorf("%d %q; want a terse 500", w.Code, w.Body)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(3)
	now := time.Now()
	for i := range 10 {
		if !c.add(strconv.Itoa(i), now) {
			t.Fatalf("fresh key %d refused", i)
		}
	}
	if len(c.seen) > 3 || len(c.order) > 3 || c.add("9", now) {
		t.Errorf("cache holds %d, or a replay of the newest passed", len(c.seen))
	}
	if !c.add("9", now.Add(replayWindow+time.Second)) {
		t.Error("an expired key is still refused")
	}
}
