package opensearch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// cluster is an OpenSearch written for the tests: it answers _bulk with
// one item per create action, each 201 unless itemStatus says otherwise,
// and _index_template with tmplStatus (default 200). answer, when set,
// replaces the whole _bulk answer.
type cluster struct {
	mu         sync.Mutex
	itemStatus map[string]int
	tmplStatus int
	answer     func() (int, http.Header, string)

	bulks     int
	templates int
	actions   []map[string]map[string]string
	docs      []map[string]any
	headers   []http.Header
	queries   []string
	tmplBody  []byte
}

func newCluster(t *testing.T) (*cluster, *httptest.Server) {
	c := &cluster{itemStatus: map[string]int{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv
}

func (c *cluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.headers = append(c.headers, r.Header.Clone())
	switch {
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_index_template/"):
		c.templates++
		c.tmplBody = body
		status := c.tmplStatus
		if status == 0 {
			status = 200
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"acknowledged":%v}`, status == 200)
	case r.Method == http.MethodPost && r.URL.Path == "/_bulk":
		c.bulks++
		c.queries = append(c.queries, r.URL.RawQuery)
		c.bulk(w, body)
	default:
		http.NotFound(w, r)
	}
}

func (c *cluster) bulk(w http.ResponseWriter, body []byte) {
	if c.answer != nil {
		status, h, b := c.answer()
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		io.WriteString(w, b)
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	var items []string
	errs := false
	for sc.Scan() {
		var action map[string]map[string]string
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || !sc.Scan() {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"type":"illegal_argument_exception","reason":"Malformed action/metadata line"},"status":400}`)
			return
		}
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			panic(err)
		}
		c.actions, c.docs = append(c.actions, action), append(c.docs, doc)
		id := action["create"]["_id"]
		status := c.itemStatus[id]
		if status == 0 {
			status = 201
		}
		errs = errs || status > 201
		items = append(items, fmt.Sprintf(`{"create":{"_id":%q,"status":%d%s}}`, id, status, fakeItemError(status)))
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"errors":%v,"items":[%s]}`, errs, strings.Join(items, ","))
}

func fakeItemError(status int) string {
	switch {
	case status == 409:
		return `,"error":{"type":"version_conflict_engine_exception","reason":"[x]: version conflict, document already exists"}`
	case status == 400:
		return `,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [source.ip] of type [ip]",` +
			`"caused_by":{"type":"illegal_argument_exception","reason":"'not-an-ip' is not an IP string literal."}}`
	case status == 429:
		return `,"error":{"type":"rejected_execution_exception","reason":"rejected execution of coordinating operation"}`
	case status >= 500:
		return `,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}`
	}
	return ""
}

// ecsLike is a small ECS encoder for the tests (encode.ECS's shape:
// event.id is the delivery id, source.ip the client when it is an IP).
func ecsLike(dst []byte, n alert.Notification) ([]byte, error) {
	f := n.Finding
	doc := map[string]any{
		"@timestamp": f.WindowEnd.UTC().Format(time.RFC3339Nano),
		"message":    f.Summary,
		"event":      map[string]any{"id": n.DeliveryID, "kind": "alert", "severity": 73},
		"rule":       map[string]any{"name": f.Detector},
		"url":        map[string]any{"path": "/login"},
		"gatewatch":  map[string]any{"incident_id": f.IncidentID, "observed": f.Observed, "windows": f.Windows},
	}
	if f.ClientKind == "ip" {
		doc["source"] = map[string]any{"ip": f.Client}
	}
	b, err := json.Marshal(doc)
	return append(dst, b...), err
}

func notifications(n int, sink string) []alert.Notification {
	end := time.Date(2026, 12, 5, 10, 30, 0, 0, time.UTC)
	var out []alert.Notification
	for i := range n {
		f := detect.Finding{
			IncidentID: fmt.Sprintf("volume-198.51.100.%d-1", i+1), Status: detect.StatusOpen,
			Client: fmt.Sprintf("198.51.100.%d", i+1), ClientKind: "ip", Detector: "volume",
			WindowStart: end.Add(-time.Minute), WindowEnd: end, Windows: 1, Observed: 52.5, Expected: 2,
			Severity: detect.SeverityHigh, Summary: fmt.Sprintf("client 198.51.100.%d sent 52 req/min", i+1),
		}
		out = append(out, alert.NewNotification(f, sink, "gw-1"))
	}
	return out
}
