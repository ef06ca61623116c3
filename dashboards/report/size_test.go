package report

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// TestRenderSizeBound checks that a page holds aggregates, not events: a
// day of a million events with 500 incidents renders under 5 MB.
func TestRenderSizeBound(t *testing.T) {
	c := New(Options{})
	start := time.Now()
	ids := scenario{events: 1_000_000, minutes: 1440, clients: 20_000, incidents: 500, seed: 1}.run(c)
	fed := time.Since(start)
	d := c.Data()
	if len(d.Incidents) != len(ids) {
		t.Fatalf("%d incidents in the data, want %d", len(d.Incidents), len(ids))
	}
	var buf bytes.Buffer
	start = time.Now()
	if err := Render(&buf, d, RenderOptions{Generated: t0}); err != nil {
		t.Fatal(err)
	}
	t.Logf("fed in %v, rendered %d bytes in %v", fed, buf.Len(), time.Since(start))
	if buf.Len() >= 5<<20 {
		t.Errorf("page is %d bytes, want under 5 MB", buf.Len())
	}
	if p := os.Getenv("GATEWATCH_REPORT_OUT"); p != "" {
		_ = os.WriteFile(p, buf.Bytes(), 0o644)
	}
}
