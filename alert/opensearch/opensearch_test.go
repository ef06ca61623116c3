package opensearch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
)

func newSink(t *testing.T, url string, o Options) *Sink {
	t.Helper()
	o.URL = url
	if o.Encoder == nil {
		o.Encoder = ecsLike
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNotifyCreatesDocuments(t *testing.T) {
	t.Parallel()
	c, srv := newCluster(t)
	s := newSink(t, srv.URL, Options{Username: "gw", Password: "s3cret"})
	ns := notifications(3, "opensearch")
	if retry, err := s.Notify(context.Background(), ns...); err != nil {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bulks != 1 || len(c.actions) != 3 || c.templates != 0 {
		t.Fatalf("bulks=%d docs=%d templates=%d, want 1 request of 3 documents and no template", c.bulks, len(c.actions), c.templates)
	}
	for i, a := range c.actions {
		if a["create"]["_index"] != "gatewatch-findings" || a["create"]["_id"] != ns[i].DeliveryID {
			t.Errorf("action %d = %v", i, a)
		}
		if ev := c.docs[i]["event"].(map[string]any); ev["id"] != ns[i].DeliveryID {
			t.Errorf("document %d event = %v", i, ev)
		}
	}
	h := c.headers[0]
	if h.Get("Content-Type") != "application/x-ndjson" || !strings.HasPrefix(h.Get("Authorization"), "Basic ") {
		t.Errorf("headers: %v", h)
	}
	if !strings.Contains(c.queries[0], "filter_path=") {
		t.Errorf("query %q has no filter_path", c.queries[0])
	}
}

func TestRedeliveryConflictsCountAsDelivered(t *testing.T) {
	t.Parallel()
	c, srv := newCluster(t)
	s := newSink(t, srv.URL, Options{})
	ns := notifications(3, "opensearch")
	for _, n := range ns[:2] {
		c.itemStatus[n.DeliveryID] = 409
	}
	if retry, err := s.Notify(context.Background(), ns...); err != nil {
		t.Fatalf("retry=%v err=%v, want 409s counted as delivered", retry, err)
	}
}

func TestRejectedDocument(t *testing.T) {
	t.Parallel()
	c, srv := newCluster(t)
	s := newSink(t, srv.URL, Options{})
	ns := notifications(4, "opensearch")
	bad := ns[2].DeliveryID
	c.itemStatus[bad] = 400
	c.itemStatus[ns[0].DeliveryID] = 409
	retry, err := s.Notify(context.Background(), ns...)
	var rej *alert.RejectedError
	if retry || !errors.As(err, &rej) || len(rej.Reasons) != 1 {
		t.Fatalf("retry=%v err=%v, want a RejectedError for one document", retry, err)
	}
	reason := rej.Reasons[bad]
	for _, want := range []string{"400", "mapper_parsing_exception", "source.ip", "not an IP"} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason %q does not mention %q", reason, want)
		}
	}
}

func TestItemFailuresRetryTheBatch(t *testing.T) {
	t.Parallel()
	for _, status := range []int{429, 503} {
		c, srv := newCluster(t)
		s := newSink(t, srv.URL, Options{})
		ns := notifications(3, "opensearch")
		c.itemStatus[ns[1].DeliveryID] = status
		c.itemStatus[ns[2].DeliveryID] = 400
		retry, err := s.Notify(context.Background(), ns...)
		if !retry || err == nil || !strings.Contains(err.Error(), "1 of 3 documents need another attempt") {
			t.Errorf("item %d: retry=%v err=%v, want the batch retried", status, retry, err)
		}
		var rej *alert.RejectedError
		if errors.As(err, &rej) {
			t.Errorf("item %d: a retried batch reported rejections: %v", status, rej.Reasons)
		}
	}
}

func TestWholeRequestAnswers(t *testing.T) {
	t.Parallel()
	osErr := func(typ, reason string) string {
		return `{"error":{"type":"` + typ + `","reason":"` + reason + `"},"status":0}`
	}
	for _, tc := range []struct {
		name      string
		status    int
		header    http.Header
		body      string
		retry     bool
		after     time.Duration
		errSubstr string
	}{
		{"429 Retry-After", 429, http.Header{"Retry-After": {"5"}}, osErr("rejected_execution_exception", "queue full"), true, 5 * time.Second, "rejected_execution_exception"},
		{"429 bare", 429, nil, osErr("rejected_execution_exception", "queue full"), true, 0, "HTTP 429"},
		{"503 Retry-After", 503, http.Header{"Retry-After": {"3"}}, osErr("cluster_block_exception", "blocked"), true, 3 * time.Second, "blocked"},
		{"500", 500, nil, osErr("exception", "boom"), true, 0, "boom"},
		{"502 proxy", 502, nil, "<html>Bad Gateway</html>", true, 0, "Bad Gateway"},
		{"401", 401, nil, osErr("security_exception", "missing authentication credentials"), false, 0, "API key"},
		{"403", 403, nil, osErr("security_exception", "no permissions for [indices:data/write/bulk]"), false, 0, "no permissions"},
		{"413", 413, nil, "", false, 0, "batch too large"},
		{"400", 400, nil, osErr("illegal_argument_exception", "Malformed action/metadata line"), false, 0, "Malformed"},
		{"200 garbage", 200, nil, "not json", true, 0, "_bulk answer"},
		{"200 wrong count", 200, nil, `{"errors":true,"items":[{"create":{"status":201}}]}`, true, 0, "1 items for 2 documents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, srv := newCluster(t)
			c.answer = func() (int, http.Header, string) { return tc.status, tc.header, tc.body }
			s := newSink(t, srv.URL, Options{})
			retry, err := s.Notify(context.Background(), notifications(2, "opensearch")...)
			if err == nil || retry != tc.retry || !strings.Contains(err.Error(), tc.errSubstr) {
				t.Fatalf("retry=%v err=%v, want retry=%v and an error mentioning %q", retry, err, tc.retry, tc.errSubstr)
			}
			if after, ok := alert.RetryAfter(err); ok != (tc.after > 0) || after != tc.after {
				t.Errorf("RetryAfter = %s, %v; want %s", after, ok, tc.after)
			}
		})
	}
}

func TestNetworkErrorRetried(t *testing.T) {
	t.Parallel()
	_, srv := newCluster(t)
	s := newSink(t, srv.URL, Options{})
	srv.Close()
	if retry, err := s.Notify(context.Background(), notifications(1, "opensearch")...); !retry || err == nil {
		t.Fatalf("retry=%v err=%v, want a retryable error", retry, err)
	}
}

func TestTemplateInstalledOnce(t *testing.T) {
	t.Parallel()
	c, srv := newCluster(t)
	s := newSink(t, srv.URL, Options{Template: true, IndexDaily: true, APIKey: "aWQ6a2V5"})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := s.Notify(context.Background(), notifications(2, "opensearch")...); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.templates != 1 || c.bulks != 4 {
		t.Fatalf("templates=%d bulks=%d, want 1 and 4", c.templates, c.bulks)
	}
	var tmpl struct {
		Patterns []string `json:"index_patterns"`
		Template struct {
			Mappings struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(c.tmplBody, &tmpl); err != nil || len(tmpl.Patterns) != 2 || tmpl.Patterns[1] != "gatewatch-findings-*" {
		t.Fatalf("template %s: %v", c.tmplBody, err)
	}
	if src := string(tmpl.Template.Mappings.Properties["source"]); !strings.Contains(src, `"ip":{"type":"ip"}`) {
		t.Errorf("source mapping %s", src)
	}
	if got := c.actions[0]["create"]["_index"]; got != "gatewatch-findings-2026.12.05" {
		t.Errorf("daily index %q", got)
	}
	if h := c.headers[0].Get("Authorization"); h != "ApiKey aWQ6a2V5" {
		t.Errorf("Authorization %q", h)
	}
}

func TestTemplateFailureStopsAndIsRetried(t *testing.T) {
	t.Parallel()
	c, srv := newCluster(t)
	c.tmplStatus = 503
	s := newSink(t, srv.URL, Options{Template: true})
	if retry, err := s.Notify(context.Background(), notifications(1, "opensearch")...); !retry || err == nil || !strings.Contains(err.Error(), "index template") {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	c.mu.Lock()
	c.tmplStatus = 403
	c.mu.Unlock()
	if retry, err := s.Notify(context.Background(), notifications(1, "opensearch")...); retry || err == nil {
		t.Fatalf("403 on the template: retry=%v err=%v", retry, err)
	}
	c.mu.Lock()
	c.tmplStatus = 200
	c.mu.Unlock()
	if _, err := s.Notify(context.Background(), notifications(1, "opensearch")...); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.templates != 3 || c.bulks != 1 {
		t.Errorf("templates=%d bulks=%d, want 3 attempts and 1 bulk after the success", c.templates, c.bulks)
	}
}
