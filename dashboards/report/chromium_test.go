package report

import (
	"cmp"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gatewatch/gatewatch/detect"
)

// chromiumPath finds Debian's chromium: without it the test skips, or
// fails when CI=true.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "chromium not found (apt-get install chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so this fails instead of skipping")
	}
	t.Skip(msg)
	return ""
}

// browser starts a headless chromium and returns a tab's context and
// the console messages it collects.
func browser(t *testing.T) (context.Context, *consoleLog) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chromiumPath(t)), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true)}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	logs := &consoleLog{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			logs.add(m)
		}
	}()
	return ctx, logs
}

// consoleLog keeps a tab's console messages.
type consoleLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func (l *consoleLog) add(m chromedp.ConsoleMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, m)
}

// check fails the test for every error or exception logged, and logs
// the other messages.
func (l *consoleLog) check(t *testing.T) {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // let the last events arrive
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			t.Errorf("browser console: %s (%s:%d)", m, m.URL, m.Line)
		} else {
			t.Logf("browser console: %s", m)
		}
	}
}

// eval runs a JavaScript expression in the tab.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// do runs actions in the tab.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// browserData is the report the browser test opens: synthetic traffic
// with incidents of every severity, a campaign, and a hostile client.
func browserData() Data {
	c := New(Options{Title: "browser test"})
	scenario{events: 200_000, minutes: 600, clients: 3000, incidents: 60, seed: 3}.run(c)
	for i, h := range hostile[:4] {
		f := findingOf("hostile-"+fmt.Sprint(i), h, detect.DetectorScanning, detect.SeverityHigh, detect.StatusResolved, 100, 103)
		f.Routes, f.Samples, f.Summary = []string{h}, []string{h}, h
		c.Window(windowOf(h, 101, 50))
		c.Finding(f)
	}
	c.Input(InputStats{Lines: 200_500, Events: 200_000, Rejects: 500})
	return c.Data()
}

// visible counts the incident rows the filters show, as the page's
// script should: rank at least sev, client containing client.
func visible(d *Data, sev int, client string) int {
	n := 0
	for _, inc := range d.Incidents {
		f := &inc.Finding
		in := strings.Contains(strings.ToLower(printable(f.Client)), client) ||
			(client != "" && strings.Contains(strings.ToLower(joinPrintable(f.Clients, f.TopClients)), client))
		if f.Severity.Rank() >= sev && in {
			n++
		}
	}
	return n
}

// TestReportInChromium opens a rendered report from disk in a real
// browser and checks it: no console errors (which would include CSP
// violations), every incident row present, charts drawn, the filters,
// sorting and row expansion working, hostile strings inert.
func TestReportInChromium(t *testing.T) {
	d := browserData()
	path := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Render(f, d, RenderOptions{Generated: t0}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, logs := browser(t)
	do(t, ctx, "opening the report", chromedp.Navigate("file://"+path))
	logLoadTime(t, ctx)
	checkRows(t, ctx, &d)
	checkCharts(t, ctx, &d)
	checkFilters(t, ctx, &d)
	checkSorting(t, ctx, &d)
	checkExpand(t, ctx, &d)
	checkHostile(t, ctx)
	screenshot(t, ctx)
	logs.check(t)
}

// logLoadTime logs the page's load time by the browser's own clock.
func logLoadTime(t *testing.T, ctx context.Context) {
	t.Helper()
	js := `(() => { const e = performance.getEntriesByType('navigation')[0]; return e ? e.loadEventEnd - e.startTime : 0; })()`
	var ms float64
	for range 50 {
		if ms = eval[float64](t, ctx, js); ms > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ms <= 0 {
		t.Fatal("no load time from PerformanceNavigationTiming")
	}
	t.Logf("page load (PerformanceNavigationTiming loadEventEnd - startTime): %.1f ms", ms)
}

func checkRows(t *testing.T, ctx context.Context, d *Data) {
	t.Helper()
	got := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#incidents tbody'), b => b.dataset.id)`)
	var want []string
	for _, inc := range d.Incidents {
		want = append(want, printable(inc.Finding.IncidentID))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("incident rows in the DOM:\n%q\nwant\n%q", got, want)
	}
}

func checkCharts(t *testing.T, ctx context.Context, d *Data) {
	t.Helper()
	js := `(() => {
		const drawn = (sel) => Array.from(document.querySelectorAll(sel)).filter(p => {
			const b = p.getBBox(); return (p.getAttribute('d') || '').length > 4 && b.width > 0; }).length;
		const hasData = (sel) => Array.from(document.querySelectorAll(sel)).filter(p => (p.getAttribute('d') || '').length > 4).length;
		return [drawn('svg.ov path.ar'), hasData('#incidents svg.ch path.obs'),
			document.querySelectorAll('svg.act rect.ac').length, document.querySelectorAll('svg.ov .hv rect').length];
	})()`
	got := eval[[]int](t, ctx, js)
	series := 0
	for _, inc := range d.Incidents {
		if len(inc.Series) > 0 {
			series++
		}
	}
	if got[0] != len(panels) {
		t.Errorf("%d overview panels drawn, want %d", got[0], len(panels))
	}
	if got[1] != series {
		t.Errorf("%d incident series drawn, want %d", got[1], series)
	}
	if got[2] == 0 {
		t.Error("no campaign activity marks drawn")
	}
	if got[3] == 0 || got[3] > DefaultChartPoints {
		t.Errorf("%d overview hover columns, want 1..%d", got[3], DefaultChartPoints)
	}
}

// shown counts the incident rows not hidden by a filter.
const shown = `document.querySelectorAll('#incidents tbody:not([hidden])').length`

func setFilter(t *testing.T, ctx context.Context, id, value string) {
	t.Helper()
	eval[bool](t, ctx, fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %q; e.dispatchEvent(new Event('input')); return true; })()`, id, value))
}

func checkFilters(t *testing.T, ctx context.Context, d *Data) {
	t.Helper()
	for sev := 3; sev >= 0; sev-- {
		setFilter(t, ctx, "f-sev", fmt.Sprint(sev))
		if got, want := eval[int](t, ctx, shown), visible(d, sev, ""); got != want {
			t.Errorf("severity filter %d shows %d rows, want %d", sev, got, want)
		}
	}
	do(t, ctx, "typing a client", chromedp.SendKeys(chromedp.CSS("#f-client"), "CLIENT-001"))
	got, want := eval[int](t, ctx, shown), visible(d, 0, "client-001")
	if got != want || want == 0 {
		t.Errorf("client filter shows %d rows, want %d (>0)", got, want)
	}
	setFilter(t, ctx, "f-sev", "2")
	if got, want := eval[int](t, ctx, shown), visible(d, 2, "client-001"); got != want {
		t.Errorf("client and severity filters show %d rows, want %d", got, want)
	}
	setFilter(t, ctx, "f-sev", "0")
	setFilter(t, ctx, "f-client", "")
	if got := eval[int](t, ctx, shown); got != len(d.Incidents) {
		t.Errorf("cleared filters show %d rows, want %d", got, len(d.Incidents))
	}
}

func checkSorting(t *testing.T, ctx context.Context, d *Data) {
	t.Helper()
	clients := func() []string {
		return eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#incidents tbody'), b => b.querySelector('td.cl').textContent)`)
	}
	want := make([]string, len(d.Incidents))
	for i, inc := range d.Incidents {
		want[i] = printable(inc.Finding.Client)
	}
	slices.SortStableFunc(want, strings.Compare)
	do(t, ctx, "sorting by client", chromedp.Click(chromedp.CSS(`th[data-key="client"] button`)))
	if got := clients(); !slices.Equal(got, want) {
		t.Errorf("sorted by client:\n%q\nwant\n%q", got, want)
	}
	do(t, ctx, "sorting by client, descending", chromedp.Click(chromedp.CSS(`th[data-key="client"] button`)))
	slices.Reverse(want)
	if got := clients(); !slices.IsSortedFunc(got, func(a, b string) int { return cmp.Compare(b, a) }) {
		t.Errorf("sorted by client, descending: %q", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('th[data-key="client"]').getAttribute('aria-sort')`); got != "descending" {
		t.Errorf("aria-sort = %q, want descending", got)
	}
	do(t, ctx, "sorting by score", chromedp.Click(chromedp.CSS(`th[data-key="score"] button`)))
	scores := eval[[]float64](t, ctx, `Array.from(document.querySelectorAll('#incidents tbody'), b => +b.querySelector('td:nth-child(9)').textContent)`)
	if !slices.IsSortedFunc(scores, func(a, b float64) int { return cmp.Compare(b, a) }) {
		t.Errorf("sorted by score, not descending: %v", scores)
	}
}

func checkExpand(t *testing.T, ctx context.Context, d *Data) {
	t.Helper()
	id := printable(d.Incidents[0].Finding.IncidentID)
	ev := fmt.Sprintf(`document.querySelector('tbody[data-id=%q] tr.ev')`, id)
	if h := eval[int](t, ctx, ev+`.offsetHeight`); h != 0 {
		t.Errorf("evidence of %s shown (%dpx high) before expanding", id, h)
	}
	do(t, ctx, "expanding a row", chromedp.Click(chromedp.CSS(fmt.Sprintf(`tbody[data-id=%q] button.x`, id))))
	if h := eval[int](t, ctx, ev+`.offsetHeight`); h < 100 {
		t.Errorf("evidence of %s is %dpx high after expanding, want it shown", id, h)
	}
	text := eval[string](t, ctx, ev+`.textContent`)
	for _, want := range []string{"Why:", "Routes", "Samples", "Request ids", printable(d.Incidents[0].Finding.Summary)} {
		if !strings.Contains(text, want) {
			t.Errorf("expanded evidence lacks %q", want)
		}
	}
	if n := eval[int](t, ctx, ev+`.querySelectorAll('svg.ch').length`); n != 1 {
		t.Errorf("expanded evidence has %d charts, want 1", n)
	}
	js := ev + `.querySelector('svg.ch path.obs, svg.ch rect.ac, svg.ch path.ar').getBBox().width`
	if w := eval[float64](t, ctx, js); w <= 0 {
		t.Errorf("expanded chart drawn %v wide", w)
	}
}

// checkHostile checks that the hostile strings stayed text: no script
// ran, control bytes show escaped.
func checkHostile(t *testing.T, ctx context.Context) {
	t.Helper()
	if got := eval[string](t, ctx, `String(window.__pwned)`); got != "undefined" {
		t.Errorf("a hostile string ran script: window.__pwned = %s", got)
	}
	if n := eval[int](t, ctx, `document.scripts.length`); n != 2 {
		t.Errorf("%d script elements, want 2", n)
	}
	if !eval[bool](t, ctx, `document.body.innerText.includes('\\x1b[31m')`) {
		t.Error(`ESC not shown as \x1b`)
	}
	if eval[bool](t, ctx, `document.body.innerText.includes('\x1b')`) {
		t.Error("a raw ESC byte is in the page text")
	}
}

// screenshot saves a full-page PNG where GATEWATCH_SCREENSHOT says.
func screenshot(t *testing.T, ctx context.Context) {
	t.Helper()
	path := os.Getenv("GATEWATCH_SCREENSHOT")
	if path == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot saved to %s", path)
}

// TestLiveReportInChromium serves a collector through Handler with a
// refresh and checks the page refetches itself, keeping its filter and
// expanded rows, within the CSP (no console errors).
func TestLiveReportInChromium(t *testing.T) {
	c := New(Options{Title: "live"})
	scenario{events: 20_000, minutes: 120, clients: 300, incidents: 10, seed: 5}.run(c)
	srv := httptest.NewServer(Handler(c, RenderOptions{Refresh: 300 * time.Millisecond}))
	defer srv.Close()
	ctx, logs := browser(t)
	do(t, ctx, "opening the live report", chromedp.Navigate(srv.URL+"/"))
	id := printable(c.Data().Incidents[0].Finding.IncidentID)
	do(t, ctx, "expanding a row", chromedp.Click(chromedp.CSS(fmt.Sprintf(`tbody[data-id=%q] button.x`, id))))
	setFilter(t, ctx, "f-sev", "1")
	for i := range 5 {
		f := findingOf(fmt.Sprintf("live-%d", i), "late-client", detect.DetectorVolume, detect.SeverityCritical, detect.StatusOpen, 60, 61)
		c.Finding(f)
	}
	want := visible(ptr(c.Data()), 1, "")
	deadline := time.Now().Add(20 * time.Second)
	for eval[int](t, ctx, shown) != want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := eval[int](t, ctx, shown); got != want {
		t.Fatalf("after new incidents the live page shows %d rows, want %d", got, want)
	}
	if !eval[bool](t, ctx, fmt.Sprintf(`document.querySelector('tbody[data-id=%q]').classList.contains('open')`, id)) {
		t.Error("the expanded row closed on refresh")
	}
	if got := eval[string](t, ctx, `document.getElementById('live').textContent`); !strings.HasPrefix(got, "updated") {
		t.Errorf("live status %q, want updated …", got)
	}
	logs.check(t)
}

func ptr[T any](v T) *T { return &v }

// TestBigReportInChromium opens the largest report the size bound
// allows for (a day of a million events, 500 incidents) and logs its
// load time; every row must be there and nothing logged as an error.
func TestBigReportInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("renders a million events; -short")
	}
	c := New(Options{})
	scenario{events: 1_000_000, minutes: 1440, clients: 20_000, incidents: 500, seed: 1}.run(c)
	d := c.Data()
	path := filepath.Join(t.TempDir(), "big.html")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Render(f, d, RenderOptions{Generated: t0}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, logs := browser(t)
	do(t, ctx, "opening the report", chromedp.Navigate("file://"+path))
	logLoadTime(t, ctx)
	checkRows(t, ctx, &d)
	setFilter(t, ctx, "f-sev", "3")
	if got, want := eval[int](t, ctx, shown), visible(&d, 3, ""); got != want {
		t.Errorf("severity filter shows %d rows, want %d", got, want)
	}
	logs.check(t)
}
