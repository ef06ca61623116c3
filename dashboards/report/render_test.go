package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// hostile are strings a log may carry to attack whoever reads the
// report.
var hostile = []string{
	`<script>window.__pwned=1</script>`,
	`"><img src=x onerror="window.__pwned=2">`,
	"\x1b[31mred\x1b[0m \x07bell",
	`</script><script>window.__pwned=3</script>`,
	"</ScRiPt ><svg onload=alert(1)>",
	"rtl \u202eexe.txt\u202c and zero\u200bwidth",
	"bad utf8 \xff\xfe\xc0",
	`'single' & "double" &amp; &lt;`,
	"nul\x00byte\x7f del \u0085 nel",
	"line\u2028sep\u2029para",
	"<!-- ]]> <![CDATA[ {{.Title}}",
	`\u003c/script\u003e`,
}

// renderPage renders d and checks the page's structure.
func renderPage(t testing.TB, d Data, o RenderOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, d, o); err != nil {
		t.Fatalf("Render: %v", err)
	}
	if err := checkPage(buf.String()); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// jsonOpen starts the data block.
const jsonOpen = `<script type="application/json" id="gw-data">`

// checkPage checks that a page kept its structure whatever the data:
// two script elements, no control byte, a data block that is valid
// JSON, and (with the script's constant body taken out) a well-formed
// XML document, so no string broke out of its element or attribute.
func checkPage(page string) error {
	lower := strings.ToLower(page)
	if n, m := strings.Count(lower, "<script"), strings.Count(lower, "</script"); n != 2 || m != 2 {
		return errors.New("page has " + itoa(n) + " <script and " + itoa(m) + " </script, want 2 each")
	}
	for i := 0; i < len(page); i++ {
		if c := page[i]; (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
			return errors.New("raw control byte " + itoa(int(c)) + " at " + itoa(i) + ": " + snippet(page, i))
		}
	}
	if _, err := dataBlock(page); err != nil {
		return err
	}
	dec := xml.NewDecoder(strings.NewReader(strings.Replace(page, pageJS, "", 1)))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errors.New("page is not well-formed: " + err.Error())
		}
	}
}

// dataBlock decodes the page's data block.
func dataBlock(page string) (map[string]any, error) {
	i := strings.Index(page, jsonOpen)
	if i < 0 {
		return nil, errors.New("no data block")
	}
	rest := page[i+len(jsonOpen):]
	j := strings.Index(rest, "</script>")
	var v map[string]any
	if err := json.Unmarshal([]byte(rest[:j]), &v); err != nil {
		return nil, errors.New("data block is not JSON: " + err.Error())
	}
	return v, nil
}

func itoa(n int) string { return icount(int64(n)) }

func snippet(s string, i int) string { return s[max(i-40, 0):min(i+40, len(s))] }

// TestRenderEveryIncident checks every incident has its row and its
// entry in the data block.
func TestRenderEveryIncident(t *testing.T) {
	c := New(Options{})
	ids := scenario{events: 20_000, minutes: 300, clients: 500, incidents: 40, seed: 2}.run(c)
	page := renderPage(t, c.Data(), RenderOptions{})
	data, _ := dataBlock(page)
	rows, _ := data["incidents"].([]any)
	if len(rows) != len(ids) {
		t.Errorf("data block has %d incidents, want %d", len(rows), len(ids))
	}
	for _, id := range ids {
		if !strings.Contains(page, `<tbody data-i="`) || !strings.Contains(page, `data-id="`+id+`"`) {
			t.Errorf("incident %s has no row", id)
		}
	}
}

// hostileData is a report with s in every string field from a log.
func hostileData(s string) Data {
	c := New(Options{Title: s})
	c.Window(windowOf(s, 10, 50))
	f := findingOf(s, s, detect.DetectorScanning, detect.Severity(s), detect.StatusResolved, 10, 11)
	f.Routes, f.Samples, f.Why, f.Summary, f.Unit, f.Campaign = []string{s}, []string{s, "request id " + s}, s, s, s, s
	f.Detectors, f.TopClients, f.Baseline = []string{s}, []string{s}, s
	c.Finding(f)
	g := findingOf("camp-"+s, "campaign:"+s, detect.DetectorCampaign, detect.SeverityHigh, detect.StatusOpen, 10, 11)
	g.Clients, g.ClientCount = []string{s, s + "2"}, 2
	c.Finding(g)
	c.Input(InputStats{Lines: 1, Events: 1, Inputs: []InputCount{{Name: s, Format: s}}})
	c.Events(eventsOf(s))
	return c.Data()
}

// TestRenderEscapesHostile checks that no hostile string breaks the
// page, runs, or shows a raw control byte.
func TestRenderEscapesHostile(t *testing.T) {
	for _, s := range hostile {
		t.Run(printable(s), func(t *testing.T) {
			page := renderPage(t, hostileData(s), RenderOptions{})
			for _, bad := range []string{"<script>window", "<img", "<svg onload", "\u202e", "\u200b", "\u2028", "\xff", "\x1b", "\x00"} {
				if strings.Contains(s, bad) && strings.Contains(page, bad) {
					t.Errorf("page holds %q raw", bad)
				}
			}
			if strings.Contains(s, "\x1b") && !strings.Contains(page, `\x1b[31mred`) {
				t.Error(`ESC not shown as \x1b`)
			}
			data, _ := dataBlock(page)
			rows := data["incidents"].([]any)
			if len(rows) != 2 {
				t.Fatalf("%d incidents in the data block, want 2", len(rows))
			}
			clients := []string{rows[0].(map[string]any)["client"].(string), rows[1].(map[string]any)["client"].(string)}
			if clients[0] != printable(s) && clients[1] != printable(s) {
				t.Errorf("data block clients %q, want %q among them", clients, printable(s))
			}
		})
	}
}

// TestPrintable pins the escaping of log strings.
func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/api/v1", "/api/v1"},
		{"a\x1bb", `a\x1bb`},
		{"tab\tnl\n", `tab\x09nl\x0a`},
		{"bad\xff", `bad\xff`},
		{"r\u202el", `r\u202el`},
		{"zw\u200bj", `zw\u200bj`},
		{"c1\u0085", `c1\u0085`},
		{"café ✓", "café ✓"},
		{"tag\U000E0041", `tag\U000e0041`},
	} {
		if got := printable(tc.in); got != tc.want {
			t.Errorf("printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := strings.Repeat("é", maxShown)
	if got := printable(long); len(got) > maxShown+3 || !strings.HasSuffix(got, "…") {
		t.Errorf("long string not cut: %d bytes", len(got))
	}
}

// TestRenderBanner checks the red banner: a run that parsed almost
// nothing, or got much of its input late, must not look all clear.
func TestRenderBanner(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     InputStats
		events int
		want   string
	}{
		{"clean", InputStats{Lines: 1000, Events: 1000}, 1000, ""},
		{"few rejects", InputStats{Lines: 1000, Events: 960, Rejects: 40}, 960, ""},
		{"many rejects", InputStats{Lines: 1000, Events: 900, Rejects: 100}, 900, "10% of the lines (100 of 1,000) failed to parse"},
		{"future", InputStats{Lines: 1000, Events: 930, Rejects: 10, Future: 60}, 930, "7.0% of the lines (70 of 1,000) failed to parse"},
		{"late", InputStats{Lines: 1000, Events: 1000, Late: 20}, 1000, "2.0% of the lines (20) arrived later"},
		{"nothing parsed", InputStats{Lines: 1000, Rejects: 1000}, 0, "failed to parse"},
		{"no input stats", InputStats{}, 10, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Options{})
			c.Input(tc.in)
			c.Events(eventsOf("k").repeat(tc.events))
			page := renderPage(t, c.Data(), RenderOptions{})
			has := strings.Contains(page, `class="banner"`)
			if tc.want == "" && has {
				t.Errorf("banner shown: %s", snippet(page, strings.Index(page, `class="banner"`)+60))
			}
			if tc.want != "" && (!has || !strings.Contains(page, tc.want)) {
				t.Errorf("no banner saying %q", tc.want)
			}
		})
	}
}

// TestRenderGolden compares a small report with testdata/small.html
// (go test -run TestRenderGolden -update rewrites it).
func TestRenderGolden(t *testing.T) {
	c := New(Options{Title: "golden", Context: 5})
	scenario{events: 3000, minutes: 60, clients: 20, incidents: 3, seed: 9}.run(c)
	c.Input(InputStats{Lines: 3100, Events: 3000, Rejects: 100, Inputs: []InputCount{{Name: "access.log", Format: "nginx_combined", Events: 3000, Rejects: 100}}})
	got := renderPage(t, c.Data(), RenderOptions{Generated: t0})
	path := filepath.Join("testdata", "small.html")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Errorf("page differs from %s at byte %d:\n got %q\nwant %q\n(run with -update if the change is intended)",
			path, i, snippet(got, i), snippet(string(want), i))
	}
}

// TestRenderDownsamples checks a long overview is summed into at most
// ChartPoints columns, keeping the total.
func TestRenderDownsamples(t *testing.T) {
	d := Data{Window: time.Minute, Overview: Overview{Start: t0, Step: time.Minute, Points: make([]Bucket, 5000)}}
	for i := range d.Overview.Points {
		d.Overview.Points[i].Requests = 1
	}
	pts, k := downsample(d.Overview.Points, 2000)
	if len(pts) > 2000 || k != 3 {
		t.Errorf("downsampled to %d points of %d buckets, want ≤2000 of 3", len(pts), k)
	}
	var sum uint64
	for _, p := range pts {
		sum += p.Requests
	}
	if sum != 5000 {
		t.Errorf("downsampling kept %d requests of 5000", sum)
	}
	page := renderPage(t, d, RenderOptions{ChartPoints: 2000})
	ov := page[strings.Index(page, `<svg class="ch ov"`):]
	ov = ov[:strings.Index(ov, "</section>")]
	if n := strings.Count(ov, `width="1" height="1"><title>`); n != len(pts) {
		t.Errorf("overview has %d hover columns, want %d", n, len(pts))
	}
}

// TestHandler checks the served page's methods and headers.
func TestHandler(t *testing.T) {
	c := New(Options{})
	scenario{events: 1000, minutes: 60, clients: 10, incidents: 2, seed: 4}.run(c)
	srv := httptest.NewServer(Handler(c, RenderOptions{Refresh: 5 * time.Second}))
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		status       int
		body         bool
	}{
		{http.MethodGet, "/", 200, true},
		{http.MethodHead, "/", 200, false},
		{http.MethodPost, "/", 405, false},
		{http.MethodDelete, "/", 405, false},
		{http.MethodGet, "/other", 404, false},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		if h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s %s: headers %v", tc.method, tc.path, h)
		}
		if tc.status == 405 && h.Get("Allow") != "GET, HEAD" {
			t.Errorf("405 without Allow: %v", h)
		}
		if tc.body != strings.Contains(string(body), "<!DOCTYPE html>") {
			t.Errorf("%s %s: body %.80q", tc.method, tc.path, body)
		}
		if tc.body {
			checkCSP(t, string(body), h.Get("Content-Security-Policy"))
		}
	}
}

// checkCSP checks the policy allows exactly the page's inline script
// and style, by hash.
func checkCSP(t *testing.T, page, policy string) {
	t.Helper()
	script := page[strings.LastIndex(page, "<script>")+len("<script>") : strings.LastIndex(page, "</script>")]
	style := page[strings.Index(page, "<style>")+len("<style>") : strings.Index(page, "</style>")]
	for _, want := range []string{"script-src '" + hash(script) + "'", "style-src '" + hash(style) + "'", "frame-ancestors 'none'"} {
		if !strings.Contains(policy, want) {
			t.Errorf("policy %q lacks %q", policy, want)
		}
	}
	if !strings.Contains(page, `<noscript><meta http-equiv="refresh" content="5"/></noscript>`) {
		t.Error("live page without a no-script refresh")
	}
}
