package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/detect/inventory"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/config"
	"github.com/gatewatch/gatewatch/internal/testenv"
	"github.com/gatewatch/gatewatch/storage"
)

// testClickHouse returns the address of the test ClickHouse server
// (deploy/test.sh starts one) and the env the commands need to log in.
func testClickHouse(t *testing.T) (addr string, env map[string]string) {
	t.Helper()
	addr = testenv.Getenv(t, "ClickHouse server", "GATEWATCH_TEST_CLICKHOUSE")[0]
	return addr, map[string]string{"GATEWATCH_CLICKHOUSE_PASSWORD": os.Getenv("GATEWATCH_TEST_CLICKHOUSE_PASSWORD")}
}

// TestStoreAndQuery runs the storage path of the split deployment on the
// real broker and server: events and findings in Kafka, "gatewatch store"
// puts them in ClickHouse (migrating first), "gatewatch query" answers
// from there, and "gatewatch migrate --status" shows the schema applied.
func TestStoreAndQuery(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	chAddr, env := testClickHouse(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	events, findings := "test.store.events."+suffix, "test.store.findings."+suffix
	db := "test_store_" + suffix

	// 3 clients: 7.c sends the most, 8.c fails auth the most.
	now := time.Now().UTC().Truncate(time.Second)
	p, err := transport.NewProducer(transport.Config{Brokers: []string{broker}}, transport.ProducerOptions{Topic: events, AllowAutoTopicCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	want := map[string]int{"198.51.100.7": 300, "198.51.100.8": 120, "198.51.100.9": 30}
	total := 0
	for client, n := range want {
		for i := range n {
			ev := &ingest.Event{Time: now.Add(-time.Duration(i) * time.Second), ClientKey: client, ClientKind: ingest.ClientIP,
				Method: "GET", Path: fmt.Sprintf("/v1/orders/%d", i), Route: "/v1/orders/{id}", Status: 200, RequestID: fmt.Sprintf("%s-%d", client, i)}
			if client == "198.51.100.8" {
				ev.Status, ev.Auth = 401, ingest.AuthFailed
			}
			if err := p.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
			total++
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	fp, err := transport.NewProducer(transport.Config{Brokers: []string{broker}}, transport.ProducerOptions{Topic: findings, AllowAutoTopicCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	f := detect.Finding{IncidentID: "inc-1", Status: detect.StatusOpen, Client: "198.51.100.8", ClientKind: "ip", Detector: "auth_failures",
		WindowStart: now.Add(-time.Minute), WindowEnd: now, Windows: 1, Observed: 120, Expected: 1, Unit: "auth failures/min",
		Severity: detect.SeverityHigh, Baseline: "own", Summary: "198.51.100.8: 120 auth failures/min, expected 1"}
	v, _ := json.Marshal(f)
	if err := fp.PublishRaw(ctx, []byte(f.Client), v); err != nil {
		t.Fatal(err)
	}
	if err := fp.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Two window records, one of them replayed (a crash between producing
	// and checkpointing): storage keeps one row per client and window.
	windows := "test.store.windows." + suffix
	wp, err := transport.NewProducer(transport.Config{Brokers: []string{broker}}, transport.ProducerOptions{Topic: windows, AllowAutoTopicCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, client := range []string{"198.51.100.7", "198.51.100.8", "198.51.100.7"} {
		ws := detect.WindowStats{Client: client, ClientKind: "ip", Start: now.Add(-time.Minute), End: now, Requests: uint64(100 + i), ExpectedRequests: 50}
		v, _ := json.Marshal(ws)
		if err := wp.PublishRaw(ctx, []byte(client), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := wp.Close(ctx); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gatewatch.yaml")
	cfg := fmt.Sprintf("kafka:\n  brokers: [%s]\n  topics: {events: %s, findings: %s, windows: %s}\n"+
		"clickhouse:\n  addr: %s\n  database: %s\n  group: test-store-%s\n  flush_interval: 200ms\n",
		broker, events, findings, windows, chAddr, db, suffix)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return env[k] }
	store := startBackground(t, getenv, "store", "--config", cfgPath, "--listen", "")

	query := func(args ...string) string {
		t.Helper()
		var out, errOut syncBuffer
		c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: getenv}
		if code := c.main(context.Background(), append(append([]string{"query"}, args...), "--config", cfgPath)); code != 0 {
			t.Fatalf("query %v exited %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	// Wait until every event is stored.
	var top []storage.ClientStat
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		if code, ok := store.exited(); ok {
			t.Fatalf("store exited %d: %s", code, store.stderr.String())
		}
		top = nil
		json.Unmarshal([]byte(runQuiet(getenv, cfgPath, "top", "--since", "2h", "--output", "json")), &top)
		n := 0
		for _, s := range top {
			n += int(s.Requests)
		}
		if n == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events stored; store: %s", n, total, store.stderr.String())
		}
	}
	if top[0].Client != "198.51.100.7" || top[0].Requests != 300 {
		t.Errorf("top by requests = %+v, want 198.51.100.7 with 300", top[0])
	}
	var byAuth []storage.ClientStat
	json.Unmarshal([]byte(query("top", "--by", "auth_failures", "--since", "2h", "--output", "json")), &byAuth)
	if len(byAuth) == 0 || byAuth[0].Client != "198.51.100.8" || byAuth[0].AuthFailures != 120 {
		t.Errorf("top by auth failures = %+v", byAuth)
	}
	var timeline []storage.StoredEvent
	json.Unmarshal([]byte(query("timeline", "198.51.100.9", "--since", "2h", "--output", "json")), &timeline)
	if len(timeline) != 30 || !timeline[0].Time.Before(timeline[29].Time) {
		t.Errorf("timeline: %d events (want 30, in time order)", len(timeline))
	}
	if table := query("top", "--since", "2h"); !strings.Contains(table, "CLIENT") || !strings.Contains(table, "198.51.100.7") {
		t.Errorf("table output:\n%s", table)
	}
	var open []detect.Finding
	for deadline := time.Now().Add(30 * time.Second); len(open) == 0 && time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		json.Unmarshal([]byte(query("findings", "--since", "2h", "--output", "json")), &open)
	}
	if len(open) != 1 || open[0].IncidentID != "inc-1" || open[0].Detector != "auth_failures" {
		t.Errorf("open findings = %+v", open)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr},
		Auth: clickhouse.Auth{Database: db, Username: "default", Password: env["GATEWATCH_CLICKHOUSE_PASSWORD"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var windowRows uint64
	for deadline := time.Now().Add(30 * time.Second); windowRows != 2 && time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		conn.QueryRow(ctx, "SELECT count() FROM (SELECT client FROM client_windows FINAL)").Scan(&windowRows)
	}
	if windowRows != 2 {
		t.Errorf("%d client windows stored after FINAL, want 2 (one replayed)", windowRows)
	}
	var mOut, mErr syncBuffer
	m := &cli{stdin: strings.NewReader(""), stdout: &mOut, stderr: &mErr, getenv: getenv}
	if code := m.main(ctx, []string{"migrate", "--status", "--config", cfgPath}); code != 0 || !strings.Contains(mOut.String(), "true") || strings.Contains(mOut.String(), "false") {
		t.Errorf("migrate --status (%d):\n%s%s", code, mOut.String(), mErr.String())
	}
	store.stop(t)
	if pw := env["GATEWATCH_CLICKHOUSE_PASSWORD"]; pw != "" && strings.Contains(store.stderr.String(), pw) {
		t.Error("store logged the ClickHouse password")
	}
}

// runQuiet runs a query and returns its output, "" on failure (the
// tables may not exist yet while store starts).
func runQuiet(getenv func(string) string, cfgPath string, args ...string) string {
	var out, errOut syncBuffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: getenv}
	if c.main(context.Background(), append(append([]string{"query"}, args...), "--config", cfgPath)) != 0 {
		return ""
	}
	return out.String()
}

// TestRunStoresInClickHouse: the embedded pipeline with clickhouse.addr
// set stores every parsed event and every finding, without Kafka.
func TestRunStoresInClickHouse(t *testing.T) {
	t.Parallel()
	chAddr, env := testClickHouse(t)
	path, labels := writeScenarioLog(t, smallScenario())
	in, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(in), "\n")
	db := fmt.Sprintf("test_run_%d", time.Now().UnixNano())
	env["GATEWATCH_DATA_DIR"] = t.TempDir()
	env["GATEWATCH_CLICKHOUSE_ADDR"] = chAddr
	cfgPath := filepath.Join(t.TempDir(), "gatewatch.yaml")
	if err := os.WriteFile(cfgPath, []byte("clickhouse:\n  database: "+db+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := testCLI(t, string(in), env, "run", "--config", cfgPath, "--listen", "", "--format", "nginx_combined", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	opened := strings.Count(stdout, `"status":"open"`)
	ctx := context.Background()
	st, err := storage.Open(ctx, storage.Options{Addr: chAddr, Database: db, Password: env["GATEWATCH_CLICKHOUSE_PASSWORD"]})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	top, err := st.TopClients(ctx, storage.TopQuery{From: time.Unix(0, 0), To: time.Now().Add(24 * time.Hour), Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range top {
		n += int(s.Requests)
	}
	if n != lines {
		t.Errorf("%d events stored, want every one of the %d lines", n, lines)
	}
	open, err := st.OpenFindings(ctx, storage.FindingsQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// run flushes at the end, resolving every incident: none stays open,
	// and every emission printed is a row of the findings table.
	if opened == 0 || len(open) != 0 {
		t.Errorf("%d incidents opened on stdout, %d open in ClickHouse after the run resolved them all", opened, len(open))
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr},
		Auth: clickhouse.Auth{Database: db, Username: "default", Password: env["GATEWATCH_CLICKHOUSE_PASSWORD"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM findings").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if printed := strings.Count(stdout, "\n"); int(rows) != printed {
		t.Errorf("%d finding rows stored, %d findings printed", rows, printed)
	}
	// Every request is in exactly one stored client window.
	var windowed uint64
	if err := conn.QueryRow(ctx, "SELECT sum(requests) FROM client_windows").Scan(&windowed); err != nil {
		t.Fatal(err)
	}
	if int(windowed) != lines {
		t.Errorf("client windows hold %d requests, want %d", windowed, lines)
	}
	// The run's own metrics went to pipeline_health, the last sample
	// after the drain.
	var read float64
	if err := conn.QueryRow(ctx, "SELECT max(value) FROM pipeline_health WHERE component = 'run' AND metric LIKE 'gatewatch_ingest_lines_total{%'").Scan(&read); err != nil {
		t.Fatal(err)
	}
	if int(read) != lines {
		t.Errorf("pipeline_health says %v lines read, want %d", read, lines)
	}
	for _, l := range labels {
		if len(l.Detectors) == 0 {
			continue
		}
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM findings WHERE client = ?", l.Client).Scan(&n); err != nil || n == 0 {
			t.Errorf("attack %s by %s: %d finding rows (%v)", l.Kind, l.Client, n, err)
		}
	}
	checkRunInventory(t, st, env, cfgPath, lines)
}

// checkRunInventory checks what run kept of the endpoint inventory: a
// snapshot in ClickHouse counting every request, the same as the file it
// saved in the data directory, and "query endpoints" listing it.
func checkRunInventory(t *testing.T, st *storage.DB, env map[string]string, cfgPath string, lines int) {
	t.Helper()
	eps, err := st.Endpoints(context.Background(), storage.EndpointsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var stored int64
	for _, e := range eps {
		stored += e.Requests
	}
	inv, err := inventory.Load(filepath.Join(env["GATEWATCH_DATA_DIR"], config.InventoryFile))
	if err != nil {
		t.Fatal(err)
	}
	var saved int64
	for _, e := range inv.Endpoints() {
		saved += e.Requests
	}
	if len(eps) == 0 || stored != saved || saved != int64(lines) {
		t.Errorf("endpoints: %d stored with %d requests, %d requests in the saved inventory, %d lines", len(eps), stored, saved, lines)
	}
	code, out, stderr := testCLI(t, "", env, "query", "endpoints", "--config", cfgPath, "--output", "json")
	var listed []inventory.Endpoint
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil || len(listed) != len(eps) {
		t.Errorf("query endpoints: exit %d, %d endpoints listed of %d (%v): %s", code, len(listed), len(eps), err, stderr)
	}
}

// TestDetectBackfillFromStore stores a scenario's events in ClickHouse
// with "run", then backfills detector state from them with "detect
// --backfill --from-store", and from the same access log with "detect
// --backfill": the two histories are the same events, so both must route
// the same events to the partitions and end with the same clients and
// findings.
func TestDetectBackfillFromStore(t *testing.T) {
	t.Parallel()
	chAddr, env := testClickHouse(t)
	broker := testKafka(t)
	path, _ := writeScenarioLog(t, smallScenario())
	in, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(in), "\n")
	suffix := fmt.Sprint(time.Now().UnixNano())
	db := "test_backfill_" + suffix
	env["GATEWATCH_DATA_DIR"] = t.TempDir()
	env["GATEWATCH_CLICKHOUSE_ADDR"] = chAddr
	env["GATEWATCH_HMAC_KEY"] = "0123456789abcdef0123456789abcdef"
	conn, err := kafka.Dial("tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	events := "test.backfill-store.events." + suffix
	if err := conn.CreateTopics(kafka.TopicConfig{Topic: events, NumPartitions: 4, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	config := func(name, state string) string {
		p := filepath.Join(t.TempDir(), name)
		cfg := fmt.Sprintf("clickhouse:\n  database: %s\nkafka:\n  brokers: [%s]\n  detect_group: test-%s-%s\n  topics: {events: %s, findings: %s.findings, detect_state: %s}\n",
			db, broker, name, suffix, events, events, state)
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfgStore, cfgLogs := config("store", events+".state-store"), config("logs", events+".state-logs")
	if code, _, stderr := testCLI(t, string(in), env, "run", "--config", cfgStore, "--listen", "", "--format", "nginx_combined", "-"); code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	if code, _, stderr := testCLI(t, "", env, "detect", "--backfill", "--from-store", "24h", "--config", cfgStore, path); code != 2 || !strings.Contains(stderr, "one of them") {
		t.Errorf("--from-store with files: exit %d: %s", code, stderr)
	}
	code, _, fromStore := testCLI(t, "", env, "detect", "--backfill", "--from-store", "2000-01-01T00:00:00Z", "--config", cfgStore)
	if code != 0 {
		t.Fatalf("backfill from the store: exit %d: %s", code, fromStore)
	}
	if want := fmt.Sprintf("backfill: %d stored events since 2000-01-01T00:00:00Z, %d events into 4 partitions", lines, lines); !strings.Contains(fromStore, want) {
		t.Errorf("backfill from the store says:\n%s\nwant %q", fromStore, want)
	}
	code, _, fromLogs := testCLI(t, "", env, "detect", "--backfill", "--config", cfgLogs, "--format", "nginx_combined", path)
	if code != 0 {
		t.Fatalf("backfill from the log: exit %d: %s", code, fromLogs)
	}
	summary := regexp.MustCompile(`\d+ events into \d+ partitions, \d+ clients with baselines, \d+ findings in the history`)
	if s, l := summary.FindString(fromStore), summary.FindString(fromLogs); s == "" || s != l {
		t.Errorf("the stored history and the log it came from seed different state:\n store: %q\n logs:  %q", s, l)
	}
	if msgs := readTopic(t, broker, events+".state-store", 4, 30*time.Second); len(msgs) != 4 {
		t.Errorf("%d state records, want 4", len(msgs))
	}
}

func TestDashboardsCommand(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := testCLI(t, "", nil, "dashboards", "--database", "audit_7", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, name := range []string{"overview.json", "client.json", "findings.json", "pipeline.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID        string `json:"uid"`
			Templating struct {
				List []struct {
					Name  string `json:"name"`
					Query any    `json:"query"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(b, &d); err != nil || d.UID == "" {
			t.Fatalf("%s: uid %q, %v", name, d.UID, err)
		}
		if !strings.Contains(string(b), "audit_7") || !strings.Contains(stdout, name) {
			t.Errorf("%s does not use the database given, or was not listed: %s", name, stdout)
		}
	}
	if code, _, _ := testCLI(t, "", nil, "dashboards"); code != 2 {
		t.Errorf("no directory: exit %d, want 2", code)
	}
	if code, _, stderr := testCLI(t, "", nil, "dashboards", "--database", "a-b", dir); code == 0 || !strings.Contains(stderr, "database name") {
		t.Errorf("bad database name: exit %d: %s", code, stderr)
	}
}

// TestQueryContract: "gatewatch query contract" lists the stored requests
// outside the API's contract, newest first, as a table and as JSON, of
// every client or of the one named.
func TestQueryContract(t *testing.T) {
	t.Parallel()
	chAddr, env := testClickHouse(t)
	db := fmt.Sprintf("test_query_contract_%d", time.Now().UnixNano())
	ctx := context.Background()
	st, err := storage.Open(ctx, storage.Options{Addr: chAddr, Database: db, Password: env["GATEWATCH_CLICKHOUSE_PASSWORD"]})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
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
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	reports := []contract.Report{
		{Time: now.Add(-20 * time.Minute), Client: "198.51.100.7", ClientKind: "ip", Method: "GET", Route: "/v1/orders/{id}",
			Path: "/v1/orders/abc", Status: 400, RequestID: "r-1",
			Violations: []contract.Violation{{Reason: contract.WrongKind, Param: "id", Expected: "integer", Got: `"abc"`}}},
		{Time: now.Add(-10 * time.Minute), Client: "198.51.100.9", ClientKind: "ip", Method: "GET", Path: "/.env", Status: 404,
			Violations: []contract.Violation{{Reason: contract.ProbeFile, Got: "/.env"}}},
	}
	if err := st.InsertViolations(ctx, reports); err != nil {
		t.Fatal(err)
	}
	env["GATEWATCH_CLICKHOUSE_ADDR"] = chAddr
	cfgPath := filepath.Join(t.TempDir(), "gatewatch.yaml")
	if err := os.WriteFile(cfgPath, []byte("clickhouse:\n  database: "+db+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := testCLI(t, "", env, "query", "contract", "--since", "1h", "--config", cfgPath)
	wantTable := regexp.MustCompile(`(?s)^TIME +CLIENT +METHOD +PATH +STATUS +REASONS\n\S+ +198\.51\.100\.9 +GET +/\.env +404 +probe_file\n\S+ +198\.51\.100\.7 +GET +/v1/orders/abc +400 +wrong_kind\(id\)\n$`)
	if code != 0 || !wantTable.MatchString(stdout) {
		t.Errorf("query contract: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = testCLI(t, "", env, "query", "contract", "198.51.100.7", "--since", "1h", "--output", "json", "--config", cfgPath)
	var got []contract.Report
	if err := json.Unmarshal([]byte(stdout), &got); code != 0 || err != nil || len(got) != 1 || got[0].RequestID != "r-1" ||
		len(got[0].Violations) != 1 || got[0].Violations[0] != reports[0].Violations[0] || !got[0].Time.Equal(reports[0].Time) {
		t.Errorf("query contract 198.51.100.7 --output json: exit %d, %v, %+v\n%s%s", code, err, got, stdout, stderr)
	}
	if code, _, stderr := testCLI(t, "", env, "query", "contract", "a", "b", "--config", cfgPath); code == 0 || !strings.Contains(stderr, "at most one client") {
		t.Errorf("query contract with two clients: exit %d: %s", code, stderr)
	}
}

// TestStoreStartsBeforeTopicsHealthz starts "gatewatch store" with
// clickhouse.create_topics off before its topics exist: /healthz says
// which topics it waits for (503), the log says it once per topic, and
// once the topics are created and written to, every row is stored,
// /healthz turns 200 and gatewatch_store_rows_total counts exactly the
// rows committed.
func TestStoreStartsBeforeTopicsHealthz(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	chAddr, env := testClickHouse(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	events, findings, windows := "test.early.events."+suffix, "test.early.findings."+suffix, "test.early.windows."+suffix
	// The contract topic is named too: the default, gatewatch.contract,
	// exists on the test broker only once another test created it, and
	// /healthz is not ok while any table waits for its topic.
	contract := "test.early.contract." + suffix
	listen := testenv.FreeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "gatewatch.yaml")
	cfg := fmt.Sprintf("kafka:\n  brokers: [%s]\n  topics: {events: %s, findings: %s, windows: %s, contract: %s}\n"+
		"clickhouse:\n  addr: %s\n  database: test_early_%s\n  group: test-early-%s\n  flush_interval: 200ms\n  create_topics: false\n",
		broker, events, findings, windows, contract, chAddr, suffix, suffix)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	store := startBackground(t, func(k string) string { return env[k] }, "store", "--config", cfgPath, "--listen", listen)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + listen + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitUntil(t, store, time.Minute, "/healthz naming the missing topics", func() bool {
		code, body := get("/healthz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "not consuming: waiting for topic "+events) &&
			strings.Contains(body, "waiting for topic "+windows)
	})
	time.Sleep(3 * time.Second) // a few more checks of each topic
	conn, err := kafka.Dial("tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{events, findings, windows, contract} {
		if err := conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: 1}); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	publishEarly(t, broker, events, findings, windows)
	var health, metrics string
	defer func() {
		if t.Failed() {
			t.Logf("last /healthz: %s", health)
			for _, l := range strings.Split(metrics, "\n") {
				if strings.HasPrefix(l, "gatewatch_store_") {
					t.Log(l)
				}
			}
		}
	}()
	waitUntil(t, store, 2*time.Minute, "/healthz ok and every row counted", func() bool {
		var code int
		code, health = get("/healthz")
		_, metrics = get("/metrics")
		return code == http.StatusOK && strings.Contains(metrics, `gatewatch_store_rows_total{table="events"} 200`+"\n") &&
			strings.Contains(metrics, `gatewatch_store_rows_total{table="findings"} 1`+"\n") &&
			strings.Contains(metrics, `gatewatch_store_rows_total{table="client_windows"} 1`+"\n") &&
			strings.Contains(metrics, `gatewatch_store_partitions{table="events"} 3`+"\n")
	})
	store.stop(t)
	for _, topic := range []string{events, findings, windows, contract} {
		if n := strings.Count(store.stderr.String(), "waiting for topic "+topic); n != 1 {
			t.Errorf("the log says %d times that it waits for %s, want once:\n%s", n, topic, store.stderr.String())
		}
	}
}

// waitUntil polls cond, failing t if the command exits or the deadline
// passes first.
func waitUntil(t *testing.T, b *background, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(200 * time.Millisecond) {
		if code, ok := b.exited(); ok {
			t.Fatalf("exited %d waiting for %s: %s", code, what, b.stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v: %s", what, d, b.stderr.String())
		}
	}
}

// publishEarly writes 200 events, a finding and a window record.
func publishEarly(t *testing.T, broker, events, findings, windows string) {
	t.Helper()
	ctx := context.Background()
	cfg := transport.Config{Brokers: []string{broker}}
	now := time.Now().UTC().Truncate(time.Second)
	p, err := transport.NewProducer(cfg, transport.ProducerOptions{Topic: events})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		ev := &ingest.Event{Time: now.Add(-time.Duration(i) * time.Second), ClientKey: "198.51.100.7", ClientKind: ingest.ClientIP,
			Method: "GET", Path: "/v1/orders", Route: "/v1/orders", Status: 200, RequestID: fmt.Sprint("r-", i)}
		if err := p.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	f, _ := json.Marshal(detect.Finding{IncidentID: "inc-1", Status: detect.StatusOpen, Client: "198.51.100.7", ClientKind: "ip",
		Detector: "volume", WindowStart: now.Add(-time.Minute), WindowEnd: now, Windows: 1, Severity: detect.SeverityHigh})
	w, _ := json.Marshal(detect.WindowStats{Client: "198.51.100.7", ClientKind: "ip", Start: now.Add(-time.Minute), End: now, Requests: 200})
	for topic, v := range map[string][]byte{findings: f, windows: w} {
		p, err := transport.NewProducer(cfg, transport.ProducerOptions{Topic: topic})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.PublishRaw(ctx, []byte("198.51.100.7"), v); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
