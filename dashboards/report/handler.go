package report

import (
	"bytes"
	"net/http"
	"strconv"
	"time"
)

// Handler serves c's report page at "/" (mount it with
// http.StripPrefix under another path): GET and HEAD only (405
// otherwise), 404 for other paths. Responses are not cached, carry the
// page's Content-Security-Policy (inline style and script by hash,
// nothing fetched but the page itself, no framing) and nosniff.
// RenderOptions.Refresh makes the page refetch itself; a zero Generated
// is the time of each request. Authentication is the caller's.
func Handler(c *Collector, o RenderOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", csp+"; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		ro := o
		if ro.Generated.IsZero() {
			ro.Generated = time.Now()
		}
		var buf bytes.Buffer
		if err := Render(&buf, c.Data(), ro); err != nil {
			http.Error(w, "rendering the report failed", http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(buf.Len()))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(buf.Bytes())
	})
}
