package slack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
)

// testChannel is the fake channel's id.
const testChannel = "C0TESTCHAN"

// call is one captured Web API or webhook request.
type call struct {
	Channel, TS, ThreadTS, Text string
	Blocks                      json.RawMessage
	Metadata                    slackapi.SlackMetadata
}

// upload is one file shared through files.completeUploadExternal: what
// files.getUploadURLExternal announced, the bytes sent to the upload URL
// and where it was shared.
type upload struct {
	FileID, Filename, AltTxt, Title string
	Channel, ThreadTS               string
	Length                          int
	Data                            []byte
}

// fakeSlack is a slacktest server whose Binder captures chat.postMessage,
// chat.update, conversations.history, file uploads and a webhook, keeps
// the channel's history with metadata, and can fail an endpoint on
// demand.
type fakeSlack struct {
	srv *slacktest.Server

	mu         sync.Mutex
	posts      []call // top-level posts and thread replies
	updates    []call
	webhooks   []call
	histories  int
	history    []slackapi.Message // top-level messages, oldest first
	ts         int
	uploadURLs int                 // files.getUploadURLExternal calls answered
	files      map[string]*upload  // file id → announced (and uploaded) file
	uploads    []upload            // files shared, in order
	fail       map[string]*failure // endpoint → a failure to answer once
}

// failure is an answer given once to an endpoint after skip requests.
type failure struct {
	skip   int
	answer func(w http.ResponseWriter)
}

// newFakeSlack starts a fake Slack, stopped at the end of the test.
func newFakeSlack(t testing.TB) *fakeSlack {
	t.Helper()
	fs := &fakeSlack{fail: map[string]*failure{}, files: map[string]*upload{}}
	fs.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", fs.guard("chat.postMessage", fs.postMessage))
		c.Handle("/chat.update", fs.guard("chat.update", fs.update))
		c.Handle("/conversations.history", fs.guard("conversations.history", fs.historyHandler))
		c.Handle("/files.getUploadURLExternal", fs.guard("files.getUploadURLExternal", fs.getUploadURL))
		c.Handle("/upload/", fs.guard("upload", fs.uploadHandler))
		c.Handle("/files.completeUploadExternal", fs.guard("files.completeUploadExternal", fs.completeUpload))
		c.Handle("/webhook", fs.guard("webhook", fs.webhook))
	})
	fs.srv.Start()
	t.Cleanup(fs.srv.Stop)
	return fs
}

// url returns the fake's API base URL; webhookURL its webhook.
func (fs *fakeSlack) url() string        { return fs.srv.GetAPIURL() }
func (fs *fakeSlack) webhookURL() string { return "http://" + fs.srv.ServerAddr + "/webhook" }

// failNext makes the next request to endpoint get answer instead.
func (fs *fakeSlack) failNext(endpoint string, answer func(w http.ResponseWriter)) {
	fs.failAfter(endpoint, 0, answer)
}

// failAfter lets skip requests to endpoint through, then answers one
// with answer.
func (fs *fakeSlack) failAfter(endpoint string, skip int, answer func(w http.ResponseWriter)) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.fail[endpoint] = &failure{skip: skip, answer: answer}
}

// slackError answers like Slack refusing a call.
func slackError(code string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":false,"error":%q}`, code)
	}
}

// rateLimited answers 429 with Retry-After.
func rateLimited(seconds int) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", fmt.Sprint(seconds))
		w.WriteHeader(http.StatusTooManyRequests)
	}
}

// guard runs a pending failure for endpoint instead of h.
func (fs *fakeSlack) guard(endpoint string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		f := fs.fail[endpoint]
		if f != nil && f.skip > 0 {
			f.skip--
			f = nil
		} else {
			delete(fs.fail, endpoint)
		}
		fs.mu.Unlock()
		if f != nil {
			f.answer(w)
			return
		}
		h(w, r)
	}
}

// formCall reads a form-encoded chat call.
func formCall(r *http.Request) call {
	_ = r.ParseForm()
	c := call{Channel: r.PostForm.Get("channel"), TS: r.PostForm.Get("ts"), ThreadTS: r.PostForm.Get("thread_ts"),
		Text: r.PostForm.Get("text"), Blocks: json.RawMessage(r.PostForm.Get("blocks"))}
	if md := r.PostForm.Get("metadata"); md != "" {
		_ = json.Unmarshal([]byte(md), &c.Metadata)
	}
	return c
}

// reply writes a JSON answer.
func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (fs *fakeSlack) postMessage(w http.ResponseWriter, r *http.Request) {
	c := formCall(r)
	fs.mu.Lock()
	fs.ts++
	c.TS = fmt.Sprintf("1700000000.%06d", fs.ts)
	fs.posts = append(fs.posts, c)
	if c.ThreadTS == "" {
		m := slackapi.Message{}
		m.Type, m.Timestamp, m.Text, m.Metadata = "message", c.TS, c.Text, c.Metadata
		fs.history = append(fs.history, m)
	}
	fs.mu.Unlock()
	reply(w, map[string]any{"ok": true, "channel": testChannel, "ts": c.TS})
}

func (fs *fakeSlack) update(w http.ResponseWriter, r *http.Request) {
	c := formCall(r)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, m := range fs.history {
		if m.Timestamp == c.TS && c.Channel == testChannel {
			fs.updates = append(fs.updates, c)
			reply(w, map[string]any{"ok": true, "channel": c.Channel, "ts": c.TS, "text": c.Text})
			return
		}
	}
	reply(w, map[string]any{"ok": false, "error": "message_not_found"})
}

func (fs *fakeSlack) historyHandler(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.histories++
	if r.PostForm.Get("channel") != testChannel || r.PostForm.Get("include_all_metadata") == "" {
		reply(w, map[string]any{"ok": false, "error": "channel_not_found"})
		return
	}
	msgs := make([]slackapi.Message, 0, len(fs.history))
	for i := len(fs.history) - 1; i >= 0; i-- { // newest first, like Slack
		msgs = append(msgs, fs.history[i])
	}
	reply(w, map[string]any{"ok": true, "messages": msgs, "has_more": false})
}

func (fs *fakeSlack) webhook(w http.ResponseWriter, r *http.Request) {
	var m slackapi.WebhookMessage
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	c := call{Text: m.Text}
	if m.Blocks != nil {
		c.Blocks, _ = json.Marshal(m.Blocks.BlockSet)
	}
	fs.mu.Lock()
	fs.webhooks = append(fs.webhooks, c)
	fs.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

// getUploadURL answers files.getUploadURLExternal with an upload URL on
// the API's host (slack-go sends the token only there or to Slack).
func (fs *fakeSlack) getUploadURL(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	n, err := strconv.Atoi(r.PostForm.Get("length"))
	if err != nil || n <= 0 || r.PostForm.Get("filename") == "" {
		reply(w, map[string]any{"ok": false, "error": "invalid_arguments"})
		return
	}
	fs.mu.Lock()
	fs.uploadURLs++
	id := fmt.Sprintf("F%08d", fs.uploadURLs)
	fs.files[id] = &upload{FileID: id, Filename: r.PostForm.Get("filename"), AltTxt: r.PostForm.Get("alt_txt"), Length: n}
	fs.mu.Unlock()
	reply(w, map[string]any{"ok": true, "upload_url": "http://" + fs.srv.ServerAddr + "/upload/" + id, "file_id": id})
}

// uploadHandler takes the multipart file posted to an upload URL.
func (fs *fakeSlack) uploadHandler(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	f, _, err := r.FormFile("file")
	if err != nil {
		http.Error(w, "no file", http.StatusBadRequest)
		return
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	up := fs.files[id]
	if err != nil || up == nil || len(data) != up.Length || r.Header.Get("Authorization") != "Bearer xoxb-test" {
		http.Error(w, "bad upload", http.StatusBadRequest)
		return
	}
	up.Data = data
	fmt.Fprintf(w, "OK - %d", len(data))
}

// completeUpload shares the uploaded files in channel_id, in the thread
// of thread_ts when set.
func (fs *fakeSlack) completeUpload(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	var files []slackapi.FileSummary
	if err := json.Unmarshal([]byte(r.PostForm.Get("files")), &files); err != nil || len(files) == 0 {
		reply(w, map[string]any{"ok": false, "error": "invalid_arguments"})
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range files {
		if up := fs.files[f.ID]; up == nil || up.Data == nil {
			reply(w, map[string]any{"ok": false, "error": "file_not_found"})
			return
		}
	}
	for _, f := range files {
		up := *fs.files[f.ID]
		up.Title, up.Channel, up.ThreadTS = f.Title, r.PostForm.Get("channel_id"), r.PostForm.Get("thread_ts")
		fs.uploads = append(fs.uploads, up)
		delete(fs.files, f.ID)
	}
	reply(w, map[string]any{"ok": true, "files": files})
}

// uploaded returns the files shared so far and how many upload URLs
// were asked for.
func (fs *fakeSlack) uploaded() (ups []upload, urls int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]upload(nil), fs.uploads...), fs.uploadURLs
}

// snapshot returns copies of the captured calls.
func (fs *fakeSlack) snapshot() (posts, updates, webhooks []call, histories int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]call(nil), fs.posts...), append([]call(nil), fs.updates...),
		append([]call(nil), fs.webhooks...), fs.histories
}

// topLevel keeps the posts that are not thread replies.
func topLevel(cs []call) []call {
	var out []call
	for _, c := range cs {
		if c.ThreadTS == "" {
			out = append(out, c)
		}
	}
	return out
}
