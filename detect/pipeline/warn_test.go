package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestPipelineWarnsOnWrongFormat reads a JSON log as nginx_combined: the
// log says most lines fail to parse and names the format they look like.
func TestPipelineWarnsOnWrongFormat(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var in bytes.Buffer
	for i := range 500 {
		fmt.Fprintf(&in, `{"time_iso8601":"%s","remote_addr":"198.51.100.%d","request_method":"GET","request_uri":"/api/v1/items/%d","status":"200","body_bytes_sent":"512","http_user_agent":"client/1.0"}`+"\n",
			start.Add(time.Duration(i)*time.Second).Format(time.RFC3339), 10+i%40, i%50)
	}
	var log bytes.Buffer
	lines := 0
	p, err := New(Options{
		Inputs:        []ingest.Input{{Source: &ingest.FileSource{SourceName: "stdin", Path: "-", Stdin: &in}, Format: "nginx_combined"}},
		DeadLetterDir: t.TempDir(),
		Logger:        slog.New(slog.NewTextHandler(&log, nil)),
		Counters: func(string) (ingest.Counter, ingest.Counter) {
			return countFunc(func() { lines++ }), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `level=WARN msg="many lines fail to parse: wrong format?" source=stdin format=nginx_combined looks_like=nginx_json parse_errors=500 lines=500 share=1`
	if !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}
	if lines != 500 {
		t.Errorf("the Counters' lines counter counted %d, want 500", lines)
	}
}

type countFunc func()

func (f countFunc) Inc() { f() }

func TestShareAlarm(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	type step struct {
		after    time.Duration
		bad, all float64 // running totals
		warn     bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"too few to judge", []step{{0, 10, 10, false}, {time.Second, 40, 40, false}}},
		{"over the limit", []step{{0, 0, 0, false}, {time.Second, 10, 100, true}}},
		{"at most once a minute", []step{{0, 10, 100, true}, {30 * time.Second, 60, 200, false}, {61 * time.Second, 120, 300, true}}},
		{"a clean minute, then a bad one", []step{{0, 0, 1000, false}, {61 * time.Second, 0, 2000, false}, {62 * time.Second, 60, 2100, true}}},
		{"a bad spell long after a clean start", []step{{0, 0, 0, false}, {10 * time.Minute, 0, 1e6, false}, {11 * time.Minute, 0, 2e6, false}, {11*time.Minute + time.Second, 100, 2e6 + 100, true}}},
		{"just under", []step{{0, 0, 0, false}, {time.Second, 5, 100, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := shareAlarm{limit: 0.05}
			for i, s := range tc.steps {
				if _, _, warn := a.check(t0.Add(s.after), s.bad, s.all); warn != s.warn {
					t.Fatalf("step %d: warn %v, want %v", i, warn, s.warn)
				}
			}
		})
	}
}
