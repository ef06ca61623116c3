package slack

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// pngSignature starts every PNG file.
var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// testPNG is a small valid PNG image.
func testPNG(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 3))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fakeCharter answers Chart with png and err, recording the incidents
// it was asked for.
type fakeCharter struct {
	png []byte
	err error

	mu    sync.Mutex
	calls []string
}

func (c *fakeCharter) Chart(_ context.Context, f detect.Finding) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, f.IncidentID)
	return c.png, c.err
}

// called returns how many charts were asked for.
func (c *fakeCharter) called() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

// logBuffer is a log destination safe for concurrent writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newChartSink returns a bot-mode sink on fake charting with ch, state
// in dir, logging to the returned buffer.
func newChartSink(t *testing.T, fake *fakeSlack, dir string, digestOver int, ch Charter) (*Sink, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	s, err := New(Options{Token: "xoxb-test", Channel: testChannel, APIURL: fake.url(), StateDir: dir,
		DigestOver: digestOver, Chart: ch, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

// replies counts the thread replies saying what.
func replies(posts []call, what string) int {
	n := 0
	for _, p := range posts {
		if p.ThreadTS != "" && strings.Contains(p.Text, what) {
			n++
		}
	}
	return n
}

// TestChartOnResolve: a resolved incident's thread gets one PNG, whether
// the incident is edited to resolved or posted resolved; open and
// ongoing incidents, digests and incidents without a chart get none, and
// a retried Notify (or a restarted sink) uploads nothing more.
func TestChartOnResolve(t *testing.T) {
	img := testPNG(t)
	for _, tc := range []struct {
		name       string
		digestOver int
		charter    *fakeCharter
		steps      [][]detect.Finding // one Notify each
		uploads    int
		charts     int // Chart calls
		resolves   int // "Resolved" thread replies
	}{
		{"edit to resolved", 0, &fakeCharter{png: img}, [][]detect.Finding{
			{finding("r1", detect.StatusOpen)}, {finding("r1", detect.StatusUpdate)}, {finding("r1", detect.StatusResolved)}}, 1, 1, 1},
		{"posted resolved", 0, &fakeCharter{png: img}, [][]detect.Finding{{finding("r1", detect.StatusResolved)}}, 1, 1, 0},
		{"not resolved", 0, &fakeCharter{png: img}, [][]detect.Finding{
			{finding("r1", detect.StatusOpen)}, {finding("r1", detect.StatusUpdate)}}, 0, 0, 0},
		{"no chart for the incident", 0, &fakeCharter{}, [][]detect.Finding{
			{finding("r1", detect.StatusOpen)}, {finding("r1", detect.StatusResolved)}}, 0, 1, 1},
		{"digest", 1, &fakeCharter{png: img}, [][]detect.Finding{
			{finding("r1", detect.StatusOpen), finding("r2", detect.StatusOpen)}, {finding("r1", detect.StatusResolved)}}, 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeSlack(t)
			dir := t.TempDir()
			s, logs := newChartSink(t, fake, dir, tc.digestOver, tc.charter)
			for _, fs := range tc.steps {
				mustNotify(t, s, fs...)
			}
			last := tc.steps[len(tc.steps)-1]
			mustNotify(t, s, last...) // the dispatcher's retry
			restarted, _ := newChartSink(t, fake, dir, tc.digestOver, tc.charter)
			mustNotify(t, restarted, last...)

			ups, urls := fake.uploaded()
			posts, _, _, _ := fake.snapshot()
			if len(ups) != tc.uploads || urls != tc.uploads || tc.charter.called() != tc.charts {
				t.Fatalf("%d uploads (%d upload URLs), %d charts drawn; want %d, %d, %d",
					len(ups), urls, tc.charter.called(), tc.uploads, tc.uploads, tc.charts)
			}
			if n := replies(posts, "Resolved"); n != tc.resolves {
				t.Errorf("%d resolve replies; want %d", n, tc.resolves)
			}
			if logs.String() != "" {
				t.Errorf("unexpected log: %s", logs)
			}
			if tc.uploads == 0 {
				return
			}
			up, msg := ups[0], topLevel(posts)[0]
			if !bytes.HasPrefix(up.Data, pngSignature) || !bytes.Equal(up.Data, img) {
				t.Errorf("uploaded %d bytes %q…, want the chart's PNG", len(up.Data), up.Data[:min(8, len(up.Data))])
			}
			if up.ThreadTS != msg.TS || up.Channel != testChannel {
				t.Errorf("shared in %s thread %q; want %s thread %s", up.Channel, up.ThreadTS, testChannel, msg.TS)
			}
			if up.Filename != "incident-r1.png" || !strings.Contains(up.Title, "scanning") || !strings.Contains(up.AltTxt, "203.0.113.7") {
				t.Errorf("file %q titled %q, alt %q", up.Filename, up.Title, up.AltTxt)
			}
		})
	}
}

// TestChartFailures: an upload failing for a retryable reason fails the
// call for a retry, which uploads once without repeating the resolve
// reply; a refused upload or a chart that cannot be drawn is logged and
// given up without failing the delivery.
func TestChartFailures(t *testing.T) {
	img := testPNG(t)
	status := func(code int) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) { w.WriteHeader(code) }
	}
	for _, tc := range []struct {
		name     string
		endpoint string // "" for none
		answer   func(http.ResponseWriter)
		chartErr error
		retry    bool
		after    time.Duration
		uploads  int    // once the retry, if any, is done
		log      string // in the log when given up
	}{
		{"500 on upload", "upload", status(500), nil, true, 0, 1, ""},
		{"503 on complete", "files.completeUploadExternal", status(503), nil, true, 0, 1, ""},
		{"ratelimited", "files.getUploadURLExternal", rateLimited(5), nil, true, 5 * time.Second, 1, ""},
		{"internal_error", "files.getUploadURLExternal", slackError("internal_error"), nil, true, 0, 1, ""},
		{"missing_scope", "files.getUploadURLExternal", slackError("missing_scope"), nil, false, 0, 0, "files:write"},
		{"not_allowed", "files.completeUploadExternal", slackError("not_allowed"), nil, false, 0, 0, "not_allowed"},
		{"chart error", "", nil, errors.New("no windows stored"), false, 0, 0, "no windows stored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeSlack(t)
			ch := &fakeCharter{png: img, err: tc.chartErr}
			s, logs := newChartSink(t, fake, t.TempDir(), 0, ch)
			mustNotify(t, s, finding("f1", detect.StatusOpen))
			if tc.endpoint != "" {
				fake.failNext(tc.endpoint, tc.answer)
			}
			ns := notifications(finding("f1", detect.StatusResolved))
			retry, err := s.Notify(context.Background(), ns...)
			if retry != tc.retry || (err != nil) != tc.retry {
				t.Fatalf("retry=%v err=%v; want retry=%v", retry, err, tc.retry)
			}
			if d, _ := alert.RetryAfter(err); d != tc.after {
				t.Errorf("RetryAfter = %v; want %v", d, tc.after)
			}
			mustNotify(t, s, finding("f1", detect.StatusResolved)) // the retry, or a redelivery
			ups, _ := fake.uploaded()
			posts, _, _, _ := fake.snapshot()
			if len(ups) != tc.uploads || replies(posts, "Resolved") != 1 {
				t.Fatalf("%d uploads, %d resolve replies; want %d and 1", len(ups), replies(posts, "Resolved"), tc.uploads)
			}
			if tc.uploads > 0 && ups[0].ThreadTS != topLevel(posts)[0].TS {
				t.Errorf("uploaded in thread %q, want %s", ups[0].ThreadTS, topLevel(posts)[0].TS)
			}
			if l := logs.String(); !strings.Contains(l, tc.log) || (tc.log == "") != (l == "") || strings.Contains(l, "xoxb") {
				t.Errorf("log %q; want it to say %q (and no token)", l, tc.log)
			}
		})
	}
}

// TestChartGivenUpAfterRetries: an upload that keeps failing is retried
// maxChartTries times, then given up so the channel's alerts go on.
func TestChartGivenUpAfterRetries(t *testing.T) {
	fake := newFakeSlack(t)
	s, logs := newChartSink(t, fake, t.TempDir(), 0, &fakeCharter{png: testPNG(t)})
	for i := 1; i <= maxChartTries; i++ {
		fake.failNext("upload", func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) })
		retry, err := s.Notify(context.Background(), notifications(finding("g", detect.StatusResolved))...)
		if want := i < maxChartTries; retry != want || (err != nil) != want {
			t.Fatalf("attempt %d: retry=%v err=%v; want retry=%v", i, retry, err, want)
		}
	}
	mustNotify(t, s, finding("g", detect.StatusResolved))
	ups, urls := fake.uploaded()
	posts, _, _, _ := fake.snapshot()
	if len(ups) != 0 || urls != maxChartTries || len(topLevel(posts)) != 1 || !strings.Contains(logs.String(), "502") {
		t.Errorf("%d uploads, %d upload URLs, %d posts, log %q; want 0, %d, 1 and the 502 logged",
			len(ups), urls, len(topLevel(posts)), logs, maxChartTries)
	}
}

// TestChartNeedsCharter: without Options.Chart a resolve uploads nothing.
func TestChartNeedsCharter(t *testing.T) {
	fake := newFakeSlack(t)
	s := newTestSink(t, fake, t.TempDir(), 0)
	mustNotify(t, s, finding("n", detect.StatusOpen))
	mustNotify(t, s, finding("n", detect.StatusResolved))
	if ups, urls := fake.uploaded(); len(ups) != 0 || urls != 0 {
		t.Errorf("%d uploads, %d upload URLs without a charter", len(ups), urls)
	}
	if e, _ := s.st.get("n"); e.Chart {
		t.Errorf("entry %+v marks a chart without a charter", e)
	}
}
