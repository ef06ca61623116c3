package opensearch

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/alert/encode"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// integrationEncoder renders the documents of the integration test.
var integrationEncoder alert.Encoder = encode.ECS

// realCluster returns the URL of the node deploy/opensearch/opensearch.sh
// started (GATEWATCH_TEST_OPENSEARCH), skipping the test without one
// unless CI=true.
func realCluster(t testing.TB) string {
	t.Helper()
	u := testenv.Getenv(t, "OpenSearch node", "GATEWATCH_TEST_OPENSEARCH")[0]
	return strings.TrimRight(u, "/")
}

// breakIP wraps enc so that the document of delivery id bad carries a
// source.ip the ip mapping refuses.
func breakIP(enc alert.Encoder, bad string) alert.Encoder {
	return func(dst []byte, n alert.Notification) ([]byte, error) {
		out, err := enc(dst, n)
		if err != nil || n.DeliveryID != bad {
			return out, err
		}
		var doc map[string]any
		if err := json.Unmarshal(out[len(dst):], &doc); err != nil {
			return out, err
		}
		doc["source"] = map[string]any{"ip": "not-an-ip"}
		b, err := json.Marshal(doc)
		return append(dst, b...), err
	}
}

// call sends one request to the real node and decodes its JSON answer.
func call(t *testing.T, method, url, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: HTTP %d %s", method, url, resp.StatusCode, raw)
	}
	return out
}

// hits counts the documents of pattern matching query.
func hits(t *testing.T, base, pattern, query string) int {
	t.Helper()
	out := call(t, http.MethodPost, base+"/"+pattern+"/_count", `{"query":`+query+`}`)
	n, err := out["count"].(json.Number).Int64()
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func TestIntegrationBulkIntoOpenSearch(t *testing.T) {
	base := realCluster(t)
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	index := "gatewatch-it-" + hex.EncodeToString(suffix[:])
	t.Cleanup(func() {
		for _, p := range []string{"/" + index + "-*", "/_index_template/" + index} {
			req, _ := http.NewRequest(http.MethodDelete, base+p, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	})
	ns := notifications(5, "opensearch")
	bad := ns[3].DeliveryID
	s := newSink(t, base, Options{Index: index, IndexDaily: true, Template: true, Encoder: breakIP(integrationEncoder, bad)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	retry, err := s.Notify(ctx, ns...)
	var rej *alert.RejectedError
	if retry || !errors.As(err, &rej) || len(rej.Reasons) != 1 || rej.Reasons[bad] == "" {
		t.Fatalf("first batch: retry=%v err=%v, want a RejectedError naming %s only", retry, err, bad)
	}
	t.Logf("rejected %s: %s", bad, rej.Reasons[bad])
	if !strings.Contains(rej.Reasons[bad], "mapper_parsing_exception") {
		t.Errorf("reason %q is not a mapper_parsing_exception", rej.Reasons[bad])
	}
	checkIndexed(t, base, index, ns, bad)

	// The same batch again: the good documents answer 409 and count as
	// delivered, the bad one is rejected again, and nothing is doubled.
	retry, err = s.Notify(ctx, ns...)
	if retry || !errors.As(err, &rej) || len(rej.Reasons) != 1 || rej.Reasons[bad] == "" {
		t.Fatalf("second batch: retry=%v err=%v", retry, err)
	}
	good := append(append([]alert.Notification{}, ns[:3]...), ns[4])
	if retry, err := s.Notify(ctx, good...); err != nil {
		t.Fatalf("redelivering the delivered ones: retry=%v err=%v, want all 409s counted as delivered", retry, err)
	}
	checkIndexed(t, base, index, ns, bad)
}

// checkIndexed refreshes the test's indices and checks each good
// delivery id is there exactly once, the bad one is not, a CIDR query on
// source.ip finds the good ones and the template typed the fields.
func checkIndexed(t *testing.T, base, index string, ns []alert.Notification, bad string) {
	t.Helper()
	pattern := index + "-*"
	call(t, http.MethodPost, base+"/"+pattern+"/_refresh", "")
	if n := hits(t, base, pattern, `{"match_all":{}}`); n != len(ns)-1 {
		t.Errorf("index holds %d documents, want %d", n, len(ns)-1)
	}
	for _, n := range ns {
		want := 1
		if n.DeliveryID == bad {
			want = 0
		}
		if got := hits(t, base, pattern, fmt.Sprintf(`{"term":{"event.id":%q}}`, n.DeliveryID)); got != want {
			t.Errorf("event.id %s: %d documents, want %d", n.DeliveryID, got, want)
		}
	}
	if got := hits(t, base, pattern, `{"term":{"source.ip":"198.51.100.0/24"}}`); got != len(ns)-1 {
		t.Errorf("CIDR query on source.ip found %d, want %d", got, len(ns)-1)
	}
	day := ns[0].Finding.WindowEnd.UTC().Format("2006.01.02")
	m := call(t, http.MethodGet, base+"/"+index+"-"+day+"/_mapping/field/source.ip,@timestamp,event.id", "")
	raw, _ := json.Marshal(m)
	for _, want := range []string{`"type":"ip"`, `"type":"date"`, `"type":"keyword"`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("mapping %s lacks %s", raw, want)
		}
	}
}
