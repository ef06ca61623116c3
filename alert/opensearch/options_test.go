package opensearch

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/alert"
)

func TestEncoderOutputRejectedLocally(t *testing.T) {
	t.Parallel()
	c, srv := newCluster(t)
	ns := notifications(3, "opensearch")
	enc := func(dst []byte, n alert.Notification) ([]byte, error) {
		switch n.DeliveryID {
		case ns[0].DeliveryID:
			return append(dst, "CEF:0|not json"...), nil
		case ns[1].DeliveryID:
			return dst, errors.New("cannot encode")
		}
		// Pretty-printed JSON must become one NDJSON line.
		b, err := ecsLike(nil, n)
		return append(dst, strings.ReplaceAll(string(b), ",", ",\n  ")...), err
	}
	s := newSink(t, srv.URL, Options{Encoder: enc})
	retry, err := s.Notify(context.Background(), ns...)
	var rej *alert.RejectedError
	if retry || !errors.As(err, &rej) || len(rej.Reasons) != 2 ||
		!strings.Contains(rej.Reasons[ns[0].DeliveryID], "not a JSON object") || !strings.Contains(rej.Reasons[ns[1].DeliveryID], "cannot encode") {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.docs) != 1 || c.actions[0]["create"]["_id"] != ns[2].DeliveryID {
		t.Errorf("sent %d documents: %v", len(c.docs), c.actions)
	}
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]Options{
		"no url":      {Encoder: ecsLike},
		"bad scheme":  {URL: "opensearch:9200", Encoder: ecsLike},
		"no encoder":  {URL: "http://os:9200"},
		"two logins":  {URL: "http://os:9200", Encoder: ecsLike, Username: "u", APIKey: "k"},
		"upper index": {URL: "http://os:9200", Encoder: ecsLike, Index: "Findings"},
		"index space": {URL: "http://os:9200", Encoder: ecsLike, Index: "my findings"},
		"index dash":  {URL: "http://os:9200", Encoder: ecsLike, Index: "-findings"},
		"missing ca":  {URL: "https://os:9200", Encoder: ecsLike, CAFile: "/nonexistent.pem"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	s, err := New(Options{URL: "http://os:9200/", Encoder: ecsLike})
	if err != nil || s.Name() != "opensearch" || s.MaxBatch() != 500 || s.IndexFor(notifications(1, "x")[0]) != "gatewatch-findings" {
		t.Fatalf("defaults: %v %v", s, err)
	}
	str := Options{Username: "gw", Password: "hunter2", APIKey: "topsecretkey"}.String()
	if strings.Contains(str, "hunter2") || strings.Contains(str, "topsecretkey") {
		t.Errorf("Options.String leaks a secret: %s", str)
	}
}

func TestTLSUnknownCARejected(t *testing.T) {
	t.Parallel()
	c := &cluster{itemStatus: map[string]int{}}
	srv := httptest.NewUnstartedServer(c)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the first handshake fails on purpose
	srv.StartTLS()
	defer srv.Close()
	s := newSink(t, srv.URL, Options{})
	if _, err := s.Notify(context.Background(), notifications(1, "opensearch")...); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err=%v, want a certificate error", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	s = newSink(t, srv.URL, Options{CAFile: ca})
	if _, err := s.Notify(context.Background(), notifications(1, "opensearch")...); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("é", 10) // 20 bytes
	got := truncate(s, 8)
	if len(got) > 8 || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") {
		t.Errorf("truncate = %q", got)
	}
	if truncate("short", 8) != "short" {
		t.Error("truncated a short string")
	}
}
