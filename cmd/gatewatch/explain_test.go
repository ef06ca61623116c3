package main

import (
	"context"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/storage"
)

// explainFixture stores, through the storage writer, 90 one-minute
// windows of k:alice (requests spike in windows 40 to 44, 5xx in 60 to
// 62) and three incidents: a volume one with hostile log text, an
// error_ratio one and a campaign. It returns the config path and the env
// of the commands.
func explainFixture(t *testing.T) (cfgPath string, env map[string]string) {
	t.Helper()
	chAddr, env := testClickHouse(t)
	db := fmt.Sprintf("test_explain_%d", time.Now().UnixNano())
	ctx := context.Background()
	st, err := storage.Open(ctx, storage.Options{Addr: chAddr, Database: db, Password: env["GATEWATCH_CLICKHOUSE_PASSWORD"]})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dropDatabaseAtEnd(t, chAddr, env, db)
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Hour)
	var ws []storage.ClientWindow
	for i := range 90 {
		start := t0.Add(time.Duration(i) * time.Minute)
		w := storage.ClientWindow{Client: "k:alice", ClientKind: "api_key", WindowStart: start, WindowEnd: start.Add(time.Minute),
			Requests: uint64(100 + i%7), Errors: 1, AuthFailures: 0, ExpectedRequests: 102, SpreadRequests: 6,
			ExpectedErrorRatio: 0.01, SpreadErrorRatio: 0.004, ExpectedAuthFailures: 0.2, SpreadAuthFailures: 0.4}
		if i >= 40 && i < 45 {
			w.Requests = 900
		}
		if i >= 60 && i < 63 {
			w.Errors = 40
		}
		ws = append(ws, w)
	}
	w := storage.NewWriter(st, storage.WriterOptions{})
	if err := w.WriteWindows(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFindings(ctx, explainFindings(t0)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	env["GATEWATCH_CLICKHOUSE_ADDR"] = chAddr
	cfgPath = filepath.Join(t.TempDir(), "gatewatch.yaml")
	if err := os.WriteFile(cfgPath, []byte("clickhouse:\n  database: "+db+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, env
}

// explainFindings are the fixture's incidents: inc-vol (two emissions,
// the latest covering windows 40 to 44), inc-err and inc-camp.
func explainFindings(t0 time.Time) []detect.Finding {
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	vol := detect.Finding{IncidentID: "inc-vol", Status: detect.StatusOpen, Client: "k:alice", ClientKind: "api_key",
		Detector: detect.DetectorVolume, WindowStart: at(40), WindowEnd: at(41), Windows: 1, Observed: 900, Expected: 102, Spread: 6,
		Unit: "req/min", Score: 0.9, PValue: 1e-30, Severity: detect.SeverityHigh, Baseline: detect.BaselineOwn, History: 40,
		Summary: "client k:alice sent 900 req/min \x1b[31mred\x1b[0m", Why: "own baseline",
		Routes: []string{"/v1/orders/{id}", "/v1/\u202egnp.exe"}, Samples: []string{"GET /v1/orders/1 200", "GET /v1/x\r\nInjected: yes 200"},
		Detectors: []string{detect.DetectorVolume, detect.DetectorScanning}, Totals: &detect.Totals{Requests: 4500, Bytes: 2e6}}
	volUpd := vol
	volUpd.Status, volUpd.WindowEnd, volUpd.Windows, volUpd.Severity = detect.StatusUpdate, at(45), 5, detect.SeverityCritical
	errs := detect.Finding{IncidentID: "inc-err", Status: detect.StatusOpen, Client: "k:alice", ClientKind: "api_key",
		Detector: detect.DetectorErrorRatio, WindowStart: at(60), WindowEnd: at(63), Windows: 3, Observed: 0.39, Expected: 0.01,
		Spread: 0.004, Unit: "5xx ratio", Severity: detect.SeverityMedium, Baseline: detect.BaselineOwn, History: 60, Summary: "5xx"}
	camp := detect.Finding{IncidentID: "inc-camp", Status: detect.StatusOpen, Client: "campaign:env-file", ClientKind: "campaign",
		Detector: detect.DetectorCampaign, WindowStart: at(10), WindowEnd: at(20), Windows: 10, Unit: "clients",
		Severity: detect.SeverityHigh, Baseline: detect.BaselineNone, Summary: "37 clients probed /.env",
		Campaign: "env-file", Clients: []string{"192.0.2.1", "192.0.2.2\x1b]0;x\a"}, ClientCount: 37}
	return []detect.Finding{vol, volUpd, errs, camp}
}

// dropDatabaseAtEnd drops database db when the test ends.
func dropDatabaseAtEnd(t *testing.T, chAddr string, env map[string]string, db string) {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr},
		Auth: clickhouse.Auth{Username: "default", Password: env["GATEWATCH_CLICKHOUSE_PASSWORD"]}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("drop test database: %v", err)
		}
		conn.Close()
	})
}

// TestExplain runs "gatewatch explain" on incidents stored in the real
// ClickHouse: the text, the marked windows, escaped log text, the PNG,
// and the refusals (campaign --png, unknown id, no id).
func TestExplain(t *testing.T) {
	t.Parallel()
	cfgPath, env := explainFixture(t)
	dir := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		code       int
		want       []string // in stdout
		wantErr    string   // in stderr
		png        string   // a PNG file the command must have written
		incidentRE string   // windows marked *: this many lines match
		marked     int
	}{
		{"volume", []string{"inc-vol", "--png", filepath.Join(dir, "vol.png")}, 0,
			[]string{"Incident inc-vol: volume, CRITICAL, update", "client:   k:alice (api_key)", "5 anomalous windows",
				`\x1b[31mred\x1b[0m`, `/v1/\u202egnp.exe`, `GET /v1/x\x0d\x0aInjected: yes 200`, "also:     scanning",
				"(requests/min; * = in the incident)", "WINDOW (UTC)", "totals:   requests 4,500"},
			"wrote", filepath.Join(dir, "vol.png"), `(?m)^\*\s+\S+\s+900\s+102\s+6\s+133\.0\s+900$`, 5},
		{"error ratio", []string{"inc-err", "--context", "10m", "--png", filepath.Join(dir, "err.png")}, 0,
			[]string{"Incident inc-err: error_ratio, MEDIUM, open", "(5xx ratio; * = in the incident)"},
			"", filepath.Join(dir, "err.png"), `(?m)^\*\s+\S+\s+0\.\d+\s+0\.01\s+0\.004\s+\d+\.\d\s+\d+$`, 3},
		{"rows", []string{"inc-vol", "--rows", "9"}, 0, []string{"(56 of 65 windows not listed; --rows 0 lists all)"}, "", "",
			`(?m)^\*\s+\S+\s+900\s+102\s+6\s+133\.0\s+900$`, 5},
		{"campaign", []string{"inc-camp"}, 0,
			[]string{"Incident inc-camp: campaign, HIGH, open", "campaign: env-file", `clients:  37, heaviest first: 192.0.2.1, 192.0.2.2\x1b]0;x\x07`,
				"No per-client windows"}, "", "", "", 0},
		{"campaign png", []string{"inc-camp", "--png", filepath.Join(dir, "camp.png")}, 1,
			[]string{"Incident inc-camp"}, "the band is drawn per client only", "", "", 0},
		{"unknown", []string{"inc-nope"}, 1, nil, "incident inc-nope is not stored", "", "", 0},
		{"no id", nil, 2, nil, "name one incident id", "", "", 0},
		{"bad context", []string{"inc-vol", "--context", "-1m"}, 1, nil, "must not be negative", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := testCLI(t, "", env, append(append([]string{"explain"}, tt.args...), "--config", cfgPath)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr lacks %q: %s", tt.wantErr, stderr)
			}
			if strings.ContainsAny(stdout, "\x1b\r\a\u202e") {
				t.Errorf("stdout holds raw control characters:\n%q", stdout)
			}
			if tt.incidentRE != "" {
				if n := len(regexp.MustCompile(tt.incidentRE).FindAllString(stdout, -1)); n != tt.marked {
					t.Errorf("%d incident windows match %s, want %d:\n%s", n, tt.incidentRE, tt.marked, stdout)
				}
			}
			if tt.png != "" {
				checkPNG(t, tt.png, 900, 360)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "camp.png")); !os.IsNotExist(err) {
		t.Errorf("explain --png wrote an image for a campaign: %v", err)
	}
}

// checkPNG decodes the PNG at path and checks its size.
func checkPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("%s is %dx%d, want %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
}

// TestExplainHelp: the help teaches the command without a server.
func TestExplainHelp(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := testCLI(t, "", nil, "explain", "--help")
	for _, want := range []string{"Usage: gatewatch explain INCIDENT_ID [flags]", "--png FILE", "--context duration",
		"gatewatch explain inc-5f0c8a3d29e1b7a4 --context 2h --png incident.png", "brute_force", "per client"} {
		if code != 0 || !strings.Contains(stderr, want) {
			t.Errorf("explain --help (exit %d) lacks %q:\n%s%s", code, want, stdout, stderr)
		}
	}
	if code, stdout, _ := testCLI(t, "", nil, "help"); code != 0 || !strings.Contains(stdout, "\n  explain ") {
		t.Errorf("gatewatch help does not list explain:\n%s", stdout)
	}
}

// TestMetricFor: each detector's series and unit.
func TestMetricFor(t *testing.T) {
	t.Parallel()
	w := detect.WindowStats{Start: time.Unix(0, 0), End: time.Unix(300, 0), Requests: 200, Errors: 10, AuthFailures: 7,
		ExpectedRequests: 150, ExpectedErrorRatio: 0.02, ExpectedAuthFailures: 1, SpreadRequests: 20, SpreadErrorRatio: 0.01, SpreadAuthFailures: 2}
	tests := []struct {
		detector      string
		unit          string
		obs, exp, spr float64
	}{
		{detect.DetectorVolume, "requests/5m", 200, 150, 20},
		{detect.DetectorErrorRatio, "5xx ratio", 0.05, 0.02, 0.01},
		{detect.DetectorAuthFailures, "auth failures/5m", 7, 1, 2},
		{detect.DetectorBruteForce, "auth failures/5m", 7, 1, 2},
		{detect.DetectorScanning, "requests/5m", 200, 150, 20},
		{detect.DetectorExfiltration, "requests/5m", 200, 150, 20},
	}
	for _, tt := range tests {
		m := metricFor(tt.detector)
		obs, exp, spr := m.value(w)
		if u := m.unit(w.End.Sub(w.Start)); u != tt.unit || obs != tt.obs || exp != tt.exp || spr != tt.spr {
			t.Errorf("%s: %s %v %v %v, want %s %v %v %v", tt.detector, u, obs, exp, spr, tt.unit, tt.obs, tt.exp, tt.spr)
		}
	}
	if obs, _, _ := metricFor(detect.DetectorErrorRatio).value(detect.WindowStats{}); obs == obs {
		t.Errorf("5xx ratio of a window without requests = %v, want NaN", obs)
	}
	for d, want := range map[time.Duration]string{time.Minute: "requests/min", time.Hour: "requests/h", 30 * time.Second: "requests/30s", 0: "requests/window"} {
		if got := metricFor(detect.DetectorVolume).unit(d); got != want {
			t.Errorf("unit(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestListed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n, a, b, rows int
		want          [][2]int
	}{
		{10, 3, 5, 0, [][2]int{{0, 10}}},
		{10, 3, 5, 10, [][2]int{{0, 10}}},
		{65, 30, 35, 9, [][2]int{{28, 37}}},
		{65, 0, 5, 9, [][2]int{{0, 9}}},
		{65, 60, 65, 9, [][2]int{{56, 65}}},
		{65, 1, 5, 9, [][2]int{{0, 9}}},
		{100, 10, 90, 10, [][2]int{{10, 15}, {85, 90}}},
		{100, 100, 100, 10, [][2]int{{45, 55}}},
	}
	for _, tt := range tests {
		got := listed(tt.n, tt.a, tt.b, tt.rows)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("listed(%d, %d, %d, %d) = %v, want %v", tt.n, tt.a, tt.b, tt.rows, got, tt.want)
		}
	}
}

func TestVisible(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"k:alice":           "k:alice",
		"é ü 日本":            "é ü 日本",
		"\x1b[31mred":       `\x1b[31mred`,
		"a\tb\r\n":          `a\x09b\x0d\x0a`,
		"x\u202ey\u2028z":   `x\u202ey\u2028z`,
		"bad\xffutf8\x7f":   `bad\xffutf8\x7f`,
		"c1\u0085\u009b":    `c1\u0085\u009b`,
		"bom\ufeff\ufffd":   `bom\ufeff\ufffd`,
		"\u061c arabic lrm": `\u061c arabic lrm`,
	} {
		if got := visible(in); got != want {
			t.Errorf("visible(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestStoreCharterClickHouse: the Slack charter of "gatewatch alert"
// draws, from the real ClickHouse, the band explain --png draws.
func TestStoreCharterClickHouse(t *testing.T) {
	t.Parallel()
	cfgPath, env := explainFixture(t)
	ctx := context.Background()
	c := &cli{stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string { return env[k] }}
	cfg, err := c.loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	db, err := c.openStorage(ctx, cfg, log, false)
	if err != nil {
		t.Fatal(err)
	}
	vol, err := db.Finding(ctx, "inc-vol")
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	ch, done := c.storeChart(cfg, log)
	defer done()
	if ch == nil {
		t.Fatal("no charter with clickhouse.addr set")
	}
	b, err := ch.Chart(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	checkPNGBytes(t, b)
	vol.Status = detect.StatusResolved
	vol.Client = "k:nobody"
	if _, err := ch.Chart(ctx, vol); err == nil || !strings.Contains(err.Error(), "no windows") {
		t.Errorf("client without windows: err %v", err)
	}
}
