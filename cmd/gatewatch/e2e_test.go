//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/slack-go/slack/slacktest"

	"github.com/gatewatch/gatewatch/alert/encode"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// e2eSlack is the Slack stand-in: it records the incident of every
// top-level chat.postMessage (from the message metadata), counts edits and
// answers history lookups, as Slack would.
type e2eSlack struct {
	mu      sync.Mutex
	posts   []string // incident ids of top-level posts, in order
	updates int
	history []map[string]any
	bodies  []string // every form posted but its token, for the secrets check
}

func (f *e2eSlack) bind(c slacktest.Customize) {
	c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		f.mu.Lock()
		defer f.mu.Unlock()
		f.bodies = append(f.bodies, formWithoutToken(r))
		ts := fmt.Sprintf("1700000000.%06d", len(f.history)+f.updates+1)
		if r.Form.Get("thread_ts") == "" {
			var md struct {
				EventPayload map[string]any `json:"event_payload"`
			}
			json.Unmarshal([]byte(r.Form.Get("metadata")), &md)
			f.posts = append(f.posts, fmt.Sprint(md.EventPayload["incident_id"]))
			f.history = append(f.history, map[string]any{"type": "message", "ts": ts, "metadata": json.RawMessage(r.Form.Get("metadata"))})
		}
		fmt.Fprintf(w, `{"ok":true,"channel":"C0E2E","ts":%q}`, ts)
	})
	c.Handle("/chat.update", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		f.mu.Lock()
		f.updates++
		f.bodies = append(f.bodies, formWithoutToken(r))
		f.mu.Unlock()
		fmt.Fprintf(w, `{"ok":true,"channel":"C0E2E","ts":%q}`, r.Form.Get("ts"))
	})
	c.Handle("/conversations.history", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		msgs := make([]map[string]any, len(f.history))
		for i := range f.history {
			msgs[len(msgs)-1-i] = f.history[i]
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "messages": msgs, "has_more": false})
	})
}

// formWithoutToken is what a Slack call posted besides the token, which
// slack-go sends in the form (the one place it belongs).
func formWithoutToken(r *http.Request) string {
	form := r.Form
	form.Del("token")
	return form.Encode()
}

func (f *e2eSlack) postedIncidents() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.posts...)
}

// rsyslogIncidents reads the JSON lines rsyslog wrote (jsonmesg after
// mmpstrucdata) and returns, per incident, how many messages carried it
// and the client each named.
func rsyslogIncidents(path string) (count map[string]int, client map[string]string) {
	count, client = map[string]int{}, map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		vars, _ := m["$!"].(map[string]any)
		elems, _ := vars["rfc5424-sd"].(map[string]any)
		params, _ := elems[encode.SDID].(map[string]any)
		inc, _ := params["incident"].(string)
		if inc == "" {
			inc = "?" // not parsed as RFC 5424 with our structured data
		}
		count[inc]++
		client[inc], _ = params["client"].(string)
	}
	return
}

// countLines counts the lines of the file at path.
func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// TestEndToEndNginxToClickHouseAndAlerts is the whole deployment on real
// parts, loopback only: a real nginx serves a small API and writes its
// access log; a driver sends steady traffic from 50 clients (one address
// each, through X-Forwarded-For) plus two attacks, a brute force on the
// login route and a 404 scanner; "gatewatch collect" tails the log into a
// real Kafka, two "gatewatch detect" replicas of one consumer group judge
// it, "gatewatch store" writes events, windows and findings to ClickHouse,
// and "gatewatch alert" delivers to a Slack stand-in and a real rsyslog.
//
// It asserts: every line nginx logged is exactly one row of the audit
// trail (events FINAL); each attack is exactly one incident in the
// findings topic, in ClickHouse's findings table, in Slack (one top-level
// message) and in rsyslog's file; no finding anywhere names anyone else.
func TestEndToEndNginxToClickHouseAndAlerts(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	sasl := testenv.Getenv(t, "Kafka broker with SASL over TLS", "GATEWATCH_TEST_KAFKA_SASL", "GATEWATCH_TEST_KAFKA_CA",
		"GATEWATCH_TEST_KAFKA_USER", "GATEWATCH_TEST_KAFKA_PASSWORD")
	chAddr, chEnv := testClickHouse(t)
	nginx := needTool(t, "nginx", "nginx-light")
	rsyslogd := needTool(t, "rsyslogd", "rsyslog")
	testenv.Stat(t, "/usr/lib/x86_64-linux-gnu/rsyslog/mmpstrucdata.so", "rsyslog")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	started := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(started).Seconds(), what) }

	dir := t.TempDir()
	suffix := fmt.Sprint(time.Now().UnixNano())
	events, findings, windows := "test.e2e.events."+suffix, "test.e2e.findings."+suffix, "test.e2e.windows."+suffix
	db := "test_e2e_" + suffix
	dropDatabaseAtEnd(t, chAddr, chEnv, db)
	accessLog := filepath.Join(dir, "access.log")

	// nginx: a small API. The driver is many clients on one machine, so
	// nginx logs the forwarded address where combined has $remote_addr
	// (nginx behind a load balancer), which nginx_combined reads as is.
	web := testenv.FreeAddr(t)
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	nginxConf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events { worker_connections 256; }
http {
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  log_format lb '$http_x_forwarded_for - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';
  access_log %[2]s lb;
  default_type application/json;
  server {
    listen %[3]s;
    location = /ready { return 200 "ok\n"; }
    location = /api/v1/login { return 401 "{\"error\":\"invalid credentials\"}\n"; }
    location = /api/v1/orders { return 200 "[]\n"; }
    location /api/v1/items/ { return 200 "{\"id\":1}\n"; }
    location / { return 404 "{\"error\":\"not found\"}\n"; }
  }
}
`, dir, accessLog, web)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(nginxConf), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, dir, nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))

	// rsyslog: the SIEM side. imtcp (octet counting), mmpstrucdata and
	// every parsed message as JSON, one line each.
	sysAddr := testenv.FreeAddr(t)
	_, sysPort, _ := strings.Cut(sysAddr, ":")
	syslogOut := filepath.Join(dir, "rsyslog", "messages.json")
	if err := os.MkdirAll(filepath.Join(dir, "rsyslog", "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	rsyslogConf := fmt.Sprintf(`global(workDirectory="%[1]s/rsyslog/work" maxMessageSize="64k")
module(load="imtcp" maxSessions="20")
module(load="mmpstrucdata")
input(type="imtcp" address="127.0.0.1" port="%[2]s" ruleset="siem")
template(name="json" type="string" string="%%jsonmesg%%\n")
ruleset(name="siem") {
  action(type="mmpstrucdata")
  action(type="omfile" file="%[3]s" template="json")
}
`, dir, sysPort, syslogOut)
	if err := os.WriteFile(filepath.Join(dir, "rsyslog.conf"), []byte(rsyslogConf), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, dir, rsyslogd, "-n", "-f", filepath.Join(dir, "rsyslog.conf"), "-i", filepath.Join(dir, "rsyslog.pid"))

	// Slack stand-in.
	fs := &e2eSlack{}
	slackSrv := slacktest.NewTestServer(fs.bind)
	slackSrv.Start()
	defer slackSrv.Stop()
	token := filepath.Join(dir, "slack.token")
	// Marker secrets: each must reach only where it is used, never a log,
	// a topic, a table, a file or a sink (checkSecrets at the end).
	secrets := map[string]string{
		"kafka password":      sasl[3],
		"clickhouse password": chEnv["GATEWATCH_CLICKHOUSE_PASSWORD"],
		"slack token":         "xoxb-e2e-marker-" + suffix,
		"hmac key":            "e2e-hmac-marker-" + suffix,
		"a client's secret":   "client-secret-marker-" + suffix, // in requests' query strings
	}
	if err := os.WriteFile(token, []byte(secrets["slack token"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// One config per process (data dirs apart; one HMAC key for all, as
	// a deployment shares the collectors' key). Short windows so the test
	// takes seconds of event time, not hours.
	writeConfig := func(name, data string) string {
		t.Helper()
		path := filepath.Join(dir, name+".yaml")
		cfg := fmt.Sprintf(`data_dir: %[1]s
kafka:
  brokers: [%[2]s]
  tls: {enabled: true, ca_file: %[12]s}
  sasl: {mechanism: scram-sha-512, username: %[13]s}
  detect_group: test-e2e-detect-%[3]s
  topics: {events: %[4]s, findings: %[5]s, windows: %[6]s, dead_letter: %[4]s.dead, detect_state: %[4]s.state}
detect:
  window: 2s
  allowed_lateness: 1s
  min_history: 3
clickhouse:
  addr: %[7]s
  database: %[8]s
  group: test-e2e-store-%[3]s
  flush_interval: 200ms
alert:
  state_dir: %[1]s
  retry_initial: 100ms
  retry_max: 1s
  slack:
    name: slack-e2e-%[3]s
    token_file: %[9]s
    channel: C0E2E
    api_url: %[10]s
    linger: 200ms
  syslog:
    - name: syslog-e2e-%[3]s
      address: %[11]s
      transport: tcp
      format: rfc5424
`, data, sasl[0], suffix, events, findings, windows, chAddr, db, token, slackSrv.GetAPIURL(), sysAddr, sasl[1], sasl[2])
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	env := map[string]string{
		"GATEWATCH_HMAC_KEY":            secrets["hmac key"],
		"GATEWATCH_CLICKHOUSE_PASSWORD": secrets["clickhouse password"],
		"GATEWATCH_KAFKA_PASSWORD":      secrets["kafka password"],
	}
	getenv := func(k string) string { return env[k] }
	// "gatewatch alert" starts before any detect has created the findings
	// topic, and waits for it.
	procs := map[string]*background{}
	for _, p := range []struct {
		name string
		args []string
	}{
		{"store", []string{"store", "--listen", ""}},
		{"alert", []string{"alert", "--listen", ""}},
		{"detect-1", []string{"detect", "--listen", "", "--checkpoint", "1s"}},
		{"detect-2", []string{"detect", "--listen", "", "--checkpoint", "1s"}},
		{"collect", []string{"collect", "--listen", "", "--from-start", "--format", "nginx_combined", accessLog}},
	} {
		cfg := writeConfig(p.name, filepath.Join(dir, "data-"+p.name))
		procs[p.name] = startBackground(t, getenv, append(p.args, "--config", cfg)...)
	}
	dump := func() string {
		var b strings.Builder
		for _, n := range []string{"collect", "detect-1", "detect-2", "store", "alert"} {
			fmt.Fprintf(&b, "\n--- %s stderr:\n%s", n, procs[n].stderr.String())
		}
		return b.String()
	}
	alive := func() {
		t.Helper()
		for n, p := range procs {
			if code, ok := p.exited(); ok {
				t.Fatalf("%s exited %d early:%s", n, code, dump())
			}
		}
	}

	// The driver. nginx first answers /ready (a logged request, no
	// client: it has no X-Forwarded-For).
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + web + "/ready")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("nginx did not start: %v", err)
		}
	}
	phase("nginx, rsyslog and gatewatch started")
	send := func(method, client, path string) int {
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+web+path, nil)
		req.Header.Set("X-Forwarded-For", client)
		req.Header.Set("User-Agent", "e2e-driver/1.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	const normalClients = 50
	normal := func(i int) string { return fmt.Sprintf("192.0.2.%d", i+1) }
	brute, scanner := "198.51.100.66", "198.51.100.77"
	attackers := map[string]bool{brute: true, scanner: true}

	// readFindings returns the findings topic's findings by incident.
	readFindings := func() map[string][]detect.Finding {
		out := map[string][]detect.Finding{}
		for _, m := range readTopicNowOrEmpty(broker, findings) {
			var f detect.Finding
			if err := json.Unmarshal(m.Value, &f); err != nil {
				t.Fatalf("finding %q: %v", m.Value, err)
			}
			out[f.IncidentID] = append(out[f.IncidentID], f)
		}
		return out
	}
	incidentsOf := func(byInc map[string][]detect.Finding) map[string][]string { // client -> incidents
		out := map[string][]string{}
		for inc, fs := range byInc {
			out[fs[0].Client] = append(out[fs[0].Client], inc)
		}
		return out
	}

	// Traffic: each normal client one request a second (orders or an
	// item); at tick 10 the brute force (40 POSTs answered 401) and the
	// scanner (60 distinct paths answered 404), each inside one second.
	// The driver goes on until both attacks are findings, then six more
	// seconds so the incidents can resolve while traffic flows.
	var byInc map[string][]detect.Finding
	stopAt := -1
	for tick := 0; stopAt < 0 || tick < stopAt; tick++ {
		if ctx.Err() != nil {
			t.Fatalf("deadline: no finding for both attacks after %d s of traffic; findings %v%s", tick, incidentsOf(readFindings()), dump())
		}
		alive()
		for i := range normalClients {
			path := "/api/v1/orders?secret=" + secrets["a client's secret"]
			if (i+tick)%3 == 0 {
				path = fmt.Sprintf("/api/v1/items/%d", (i*7+tick)%40)
			}
			if code := send("GET", normal(i), path); code != 200 {
				t.Fatalf("GET %s answered %d", path, code)
			}
		}
		if tick == 10 {
			for range 40 {
				if code := send("POST", brute, "/api/v1/login"); code != 401 {
					t.Fatalf("POST /api/v1/login answered %d", code)
				}
			}
			for j := range 60 {
				if code := send("GET", scanner, fmt.Sprintf("/api/v1/internal/backup-%03d", j)); code != 404 {
					t.Fatalf("scan answered %d", code)
				}
			}
			phase("attacks sent")
		}
		time.Sleep(time.Second)
		if tick > 10 && stopAt < 0 && tick%2 == 0 {
			byInc = readFindings()
			got := incidentsOf(byInc)
			if len(got[brute]) > 0 && len(got[scanner]) > 0 {
				stopAt = tick + 6
				phase(fmt.Sprintf("both attacks in the findings topic at tick %d", tick))
			}
		}
	}
	phase("traffic stopped")
	// Both replicas of the detect group took part.
	for _, n := range []string{"detect-1", "detect-2"} {
		if !strings.Contains(procs[n].stderr.String(), "detect group: partition assigned") {
			t.Errorf("%s was assigned no partition of the events topic", n)
		}
	}
	logged := countLines(t, accessLog)

	// The audit trail: every line nginx logged is one row of events.
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr},
		Auth: clickhouse.Auth{Database: db, Username: "default", Password: chEnv["GATEWATCH_CLICKHOUSE_PASSWORD"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var rows, raw uint64
	for {
		alive()
		conn.QueryRow(ctx, "SELECT count() FROM events FINAL").Scan(&rows)
		if int(rows) >= logged {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("events FINAL holds %d rows, nginx logged %d lines%s", rows, logged, dump())
		}
		time.Sleep(300 * time.Millisecond)
	}
	phase(fmt.Sprintf("%d events stored", rows))
	time.Sleep(2 * time.Second) // anything beyond would be a duplicate: give it time to show
	conn.QueryRow(ctx, "SELECT count() FROM events FINAL").Scan(&rows)
	conn.QueryRow(ctx, "SELECT count() FROM events").Scan(&raw)
	if int(rows) != logged {
		t.Errorf("events FINAL holds %d rows, nginx logged %d lines (%d rows before FINAL)", rows, logged, raw)
	}
	perClient := map[string]uint64{}
	crows, err := conn.Query(ctx, "SELECT client, count() FROM events FINAL GROUP BY client")
	if err != nil {
		t.Fatal(err)
	}
	for crows.Next() {
		var c string
		var n uint64
		if err := crows.Scan(&c, &n); err != nil {
			t.Fatal(err)
		}
		perClient[c] = n
	}
	crows.Close()
	if perClient[brute] != 40 {
		t.Errorf("brute force client has %d events stored, sent 40", perClient[brute])
	}
	if perClient[scanner] != 60 {
		t.Errorf("scanner has %d events stored, sent 60", perClient[scanner])
	}

	// Findings topic: only the attackers, one incident each.
	byInc = readFindings()
	want := map[string]string{} // incident -> client
	for inc, fs := range byInc {
		c := fs[0].Client
		for _, f := range fs {
			if f.Client != c {
				t.Errorf("incident %s names %s and %s", inc, c, f.Client)
			}
		}
		if !attackers[c] {
			raw, _ := json.Marshal(fs[0])
			t.Errorf("a finding names %s, not an attacker: %s", c, raw)
			continue
		}
		want[inc] = c
	}
	topicInc := incidentsOf(byInc)
	for a := range attackers {
		if len(topicInc[a]) != 1 {
			t.Errorf("findings topic: %s has incidents %v, want exactly one", a, topicInc[a])
		}
	}

	// ClickHouse's findings table: the same incidents, nothing else.
	chInc := map[string]string{}
	for {
		chInc = map[string]string{}
		frows, err := conn.Query(ctx, "SELECT DISTINCT incident_id, client FROM findings FINAL")
		if err == nil {
			for frows.Next() {
				var inc, c string
				frows.Scan(&inc, &c)
				chInc[inc] = c
			}
			frows.Close()
		}
		if len(chInc) >= len(byInc) || ctx.Err() != nil {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !sameIncidents(chInc, byInc) {
		t.Errorf("ClickHouse findings hold incidents %v, the topic %v", chInc, incidentsOf(byInc))
	}

	// Slack: one top-level message per incident; rsyslog: every incident,
	// none other. Wait until both have them all (the sinks linger).
	var posts []string
	var sysCount map[string]int
	var sysClient map[string]string
	for {
		alive()
		posts = fs.postedIncidents()
		sysCount, sysClient = rsyslogIncidents(syslogOut)
		if (len(posts) >= len(byInc) && len(sysCount) >= len(byInc)) || ctx.Err() != nil {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a second post for an incident would show now
	posts = fs.postedIncidents()
	sysCount, sysClient = rsyslogIncidents(syslogOut)
	sort.Strings(posts)
	var wantIDs []string
	for inc := range byInc {
		wantIDs = append(wantIDs, inc)
	}
	sort.Strings(wantIDs)
	if strings.Join(posts, ",") != strings.Join(wantIDs, ",") {
		t.Errorf("slack top-level posts for incidents %v, want one each for %v", posts, wantIDs)
	}
	sysGot := map[string]string{}
	for inc := range sysCount {
		sysGot[inc] = sysClient[inc]
	}
	if !sameIncidents(sysGot, byInc) {
		t.Errorf("rsyslog got incidents %v (messages per incident %v), want %v", sysGot, sysCount, incidentsOf(byInc))
	}
	fs.mu.Lock()
	edits := fs.updates
	fs.mu.Unlock()
	phase(fmt.Sprintf("checked: %d lines, incidents %v, %d slack posts (%d edits), %d syslog messages",
		logged, want, len(posts), edits, totalOf(sysCount)))

	for _, n := range []string{"collect", "detect-1", "detect-2", "alert", "store"} {
		procs[n].stop(t)
	}
	haystacks := map[string][]byte{}
	for n, p := range procs {
		haystacks[n+" output"] = []byte(p.stdout.String() + p.stderr.String())
	}
	fs.mu.Lock()
	haystacks["slack requests"] = []byte(strings.Join(fs.bodies, "\n"))
	fs.mu.Unlock()
	for _, topic := range []string{events, findings, windows, events + ".dead", events + ".state"} {
		var b []byte
		for _, m := range readTopicNowOrEmpty(broker, topic) {
			b = append(append(append(b, m.Key...), m.Value...), '\n')
		}
		haystacks["topic "+topic] = b
	}
	checkSecrets(t, secrets, haystacks, dir, accessLog, token)
	checkSecretsInClickHouse(t, ctx, conn, secrets)
	if t.Failed() {
		t.Log(dump())
	}
}

// sameIncidents: got (incident -> client) holds exactly the incidents of
// byInc, each with its client.
func sameIncidents(got map[string]string, byInc map[string][]detect.Finding) bool {
	if len(got) != len(byInc) {
		return false
	}
	for inc, fs := range byInc {
		if got[inc] != fs[0].Client {
			return false
		}
	}
	return true
}

func totalOf(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// checkSecrets fails the test for every secret found in a haystack (a
// process's output, a topic, what a sink received) or in a file under dir
// other than those that hold it by design: the monitored API's own log
// (which logged the client's query string) and the token file.
func checkSecrets(t *testing.T, secrets map[string]string, haystacks map[string][]byte, dir string, own ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || slices.Contains(own, path) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil // a socket, a file removed meanwhile
		}
		rel, _ := filepath.Rel(dir, path)
		haystacks["file "+rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range secrets {
		for where, b := range haystacks {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("the %s is in %s", name, where)
			}
		}
	}
	t.Logf("%d secrets checked in %d outputs, files, topics and sinks", len(secrets), len(haystacks))
}

// checkSecretsInClickHouse fails the test for every secret found in the
// text columns of the stored events, findings and contract reports.
func checkSecretsInClickHouse(t *testing.T, ctx context.Context, conn clickhouse.Conn, secrets map[string]string) {
	t.Helper()
	queries := []string{
		"SELECT count() FROM events WHERE position(concat(client, ' ', path, ' ', query, ' ', referer, ' ', request_id), ?) > 0",
		"SELECT count() FROM findings WHERE position(concat(client, ' ', summary, ' ', why, ' ', arrayStringConcat(samples, ' '), ' ', arrayStringConcat(routes, ' ')), ?) > 0",
	}
	for name, secret := range secrets {
		for _, q := range queries {
			var n uint64
			if err := conn.QueryRow(ctx, q, secret).Scan(&n); err != nil {
				t.Errorf("%s: %v", q, err)
				return
			}
			if n > 0 {
				t.Errorf("the %s is in %d rows of %s", name, n, strings.Fields(q)[3])
			}
		}
	}
}
