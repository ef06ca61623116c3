package opensearch

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert/alerttest"
	"github.com/gatewatch/gatewatch/alert/encode"
	"github.com/gatewatch/gatewatch/detect"
)

// BenchmarkSustainedOpenSearch measures sustained indexing into the real
// OpenSearch node (GATEWATCH_TEST_OPENSEARCH): a backlog of b.N findings
// in an Outbox drained by an alert.Dispatcher into the sink as the
// embedded pipeline configures it (ECS documents, daily index, index
// template, _bulk batches of up to 500 created with op_type=create).
// Every bulk item must answer created (a 409 for a document already
// there would count as delivered, so every round's delivery ids are
// new), and after each round the index is refreshed and must hold b.N
// more documents. The index is unique to the run and deleted with its
// template afterwards. Reported: alerts/s indexed.
func BenchmarkSustainedOpenSearch(b *testing.B) {
	base := realCluster(b)
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	index := "gatewatch-bench-" + hex.EncodeToString(suffix[:])
	b.Cleanup(func() {
		for _, p := range []string{"/" + index + "-*", "/_index_template/" + index} {
			req, _ := http.NewRequest(http.MethodDelete, base+p, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	})
	b.Run("bulk/ecs", func(b *testing.B) { benchOpenSearch(b, base, index) })
}

// benchOpenSearch is one round of BenchmarkSustainedOpenSearch.
func benchOpenSearch(b *testing.B, base, index string) {
	run := fmt.Sprintf("bench%d", time.Now().UnixNano())
	o, feed := alerttest.Backlog(b, "opensearch", b.N, func(i int) detect.Finding { return alerttest.Finding(run, i) })
	defer o.Close()
	s, err := New(Options{URL: base, Index: index, IndexDaily: true, Template: true, Encoder: encode.ECS})
	if err != nil {
		b.Fatal(err)
	}
	before := countDocs(b, base, index)
	b.ResetTimer()
	stop := alerttest.Deliver(b, s, feed, b.N)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
	if got := countDocs(b, base, index) - before; got != b.N {
		b.Fatalf("the index gained %d documents, want %d", got, b.N)
	}
}

// countDocs refreshes the run's indices and counts their documents
// (0 before the first round created one).
func countDocs(b *testing.B, base, index string) int {
	pattern := base + "/" + index + "-*"
	for _, req := range []struct{ method, url string }{
		{http.MethodPost, pattern + "/_refresh?allow_no_indices=true"},
		{http.MethodGet, pattern + "/_count?allow_no_indices=true"},
	} {
		r, _ := http.NewRequest(req.method, req.url, strings.NewReader(""))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		var out struct{ Count int }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%s %s: HTTP %d %v", req.method, req.url, resp.StatusCode, err)
		}
		if req.method == http.MethodGet {
			return out.Count
		}
	}
	return 0
}
