package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/internal/testenv"
	"gopkg.in/yaml.v3"
)

// composeBudget bounds TestEndToEndCompose from engine start to a clean
// "compose down", image builds included (CI runs it inside go test ./...).
const composeBudget = 4 * time.Minute

// composeServices are the services of compose.yaml the test brings up:
// all but Grafana and its dashboards job (Grafana cannot be installed here).
var composeServices = []string{"kafka", "clickhouse", "collect", "detect-1", "detect-2", "store", "alert"}

// TestEndToEndCompose brings deploy/compose.yaml up for real, with the
// test override deploy/compose.test.yaml, on a private Docker engine
// (dockerd with no bridge network: host networking on loopback, free
// ports), with images built here: gatewatch FROM scratch with the static
// binaries built from this tree, Kafka from the jars deploy/kafka/kafka.sh
// caches and the host's Java, ClickHouse from the host's Debian package. It
// appends a known nginx log to the log directory collect follows and checks
// every line is one row of events in ClickHouse, the two attacks in it are
// findings in ClickHouse and at the alert stage's webhook, both detect
// replicas took partitions, every container stayed healthy as its non-root
// user, and "compose down" is clean.
func TestEndToEndCompose(t *testing.T) {
	if testing.Short() {
		t.Skip("brings a whole stack up (-short)")
	}
	t0 := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(t0).Seconds(), what) }
	ctx, cancel := context.WithTimeout(context.Background(), composeBudget)
	defer cancel()

	// What the Kafka and ClickHouse images run from the host's /usr
	// (deploy/test.sh and the machine image install them).
	for _, f := range []string{"/usr/lib/jvm/java-17-openjdk-amd64/bin/java", "/usr/sbin/clickhouse-server"} {
		if _, err := os.Stat(f); err != nil {
			skipOrFail(t, "%s missing (openjdk-17-jre-headless, clickhouse-server): %v", f, err)
		}
	}
	tools := dockerTools(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "gatewatch-compose-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountUnder(dir); os.RemoveAll(dir) })
	eng := startEngine(t, tools, filepath.Join(dir, "engine"))
	phase("docker engine up")

	// Binaries and build contexts. The Kafka jars come from kafka.sh's
	// cache (fetched from Maven Central on first use).
	out, err := exec.CommandContext(ctx, "bash", "kafka/kafka.sh", "fetch").Output()
	if err != nil {
		skipOrFail(t, "deploy/kafka/kafka.sh fetch: %v", err)
	}
	kafkaLib := strings.TrimSpace(lastLine(string(out)))
	ctxDir := func(name string) string {
		d := filepath.Join(dir, "build", name)
		must(t, os.MkdirAll(filepath.Join(d, "empty"), 0o755))
		return d
	}
	gwCtx, kafkaCtx, chCtx := ctxDir("gatewatch"), ctxDir("kafka"), ctxDir("clickhouse")
	for _, b := range []struct{ pkg, out string }{
		{"./cmd/gatewatch", filepath.Join(gwCtx, "gatewatch")},
		{"./deploy/healthprobe", filepath.Join(gwCtx, "healthprobe")},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", b.out, b.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	copyFile(t, filepath.Join(gwCtx, "healthprobe"), filepath.Join(kafkaCtx, "healthprobe"), 0o755)
	copyFile(t, filepath.Join(gwCtx, "healthprobe"), filepath.Join(chCtx, "healthprobe"), 0o755)
	copyFile(t, "compose-test/kafka-entrypoint.sh", filepath.Join(kafkaCtx, "kafka-entrypoint.sh"), 0o644)
	copyFile(t, "compose-test/clickhouse-entrypoint.sh", filepath.Join(chCtx, "clickhouse-entrypoint.sh"), 0o644)
	jars, err := filepath.Glob(filepath.Join(kafkaLib, "*.jar"))
	if err != nil || len(jars) == 0 {
		t.Fatalf("no Kafka jars in %q (from kafka.sh fetch): %v", kafkaLib, err)
	}
	must(t, os.MkdirAll(filepath.Join(kafkaCtx, "lib"), 0o755))
	for _, j := range jars {
		copyFile(t, j, filepath.Join(kafkaCtx, "lib", filepath.Base(j)), 0o644)
	}
	phase("binaries built")

	image := envImage(t) // the user file's image name, built here FROM scratch
	for _, b := range []struct{ dockerfile, tag, ctx string }{
		{"compose-test/gatewatch.Dockerfile", image, gwCtx},
		{"compose-test/kafka.Dockerfile", "gatewatch-test/kafka:local", kafkaCtx},
		{"compose-test/clickhouse.Dockerfile", "gatewatch-test/clickhouse:local", chCtx},
	} {
		eng.run(ctx, t, tools.docker, "build", "-q", "--network", "host", "-f", b.dockerfile, "-t", b.tag, b.ctx)
	}
	phase("images built")

	// Ports, secrets, the log directory and the test's gatewatch config.
	ports := testenv.FreePorts(t, 11)
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	const (
		kafkaPort = iota
		kafkaCtl
		chPort
		chHTTP
		collectOps
		detect1Ops
		detect2Ops
		storeOps
		alertOps
		syslogPort
		ingestPort
	)
	must(t, os.MkdirAll(filepath.Join(dir, "secrets"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "logs"), 0o755))
	secrets := map[string]string{}
	for _, s := range []string{"hmac_key", "clickhouse_password", "ingest_token", "grafana_admin_password"} {
		secrets[s] = fmt.Sprintf("compose-%s-%d", s, time.Now().UnixNano())
		// 0644: compose bind-mounts the file and uid 65532 reads it; the
		// directory above is the test's own.
		must(t, os.WriteFile(filepath.Join(dir, "secrets", s), []byte(secrets[s]), 0o644))
	}
	accessLog := filepath.Join(dir, "logs", "access.log")
	must(t, os.WriteFile(accessLog, nil, 0o644))

	hook := newWebhook(t)
	cfg := fmt.Sprintf(`# written by TestEndToEndCompose; short windows so it takes seconds
data_dir: /var/lib/gatewatch
ingest:
  hmac_key_file: /run/secrets/hmac_key
kafka:
  brokers: [127.0.0.1:%[1]s]
detect:
  window: 2s
  allowed_lateness: 1s
  min_history: 3
collect:
  syslog_tcp: 127.0.0.1:%[2]s
  http:
    listen: 127.0.0.1:%[3]s
    tokens: [{name: edge, file: /run/secrets/ingest_token}]
clickhouse:
  addr: 127.0.0.1:%[4]s
  password_file: /run/secrets/clickhouse_password
  flush_interval: 200ms
alert:
  retry_initial: 100ms
  retry_max: 1s
  webhook:
    - url: %[5]s
      allow_http: true
      format: json
`, p(kafkaPort), p(syslogPort), p(ingestPort), p(chPort), hook.url)
	must(t, os.WriteFile(filepath.Join(dir, "gatewatch.yaml"), []byte(cfg), 0o644))

	// docker-compose 1.29 cannot drop the user file's published ports in an
	// override (host networking refuses them; compose v2 has !reset), so
	// the test merges the two files with "config" and leaves ports out.
	eng.env = append(eng.env,
		"GW_TEST_DIR="+dir, "GATEWATCH_LOG_DIR="+filepath.Join(dir, "logs"), "GATEWATCH_IMAGE="+image,
		"GW_KAFKA_PORT="+p(kafkaPort), "GW_KAFKA_CONTROLLER_PORT="+p(kafkaCtl),
		"GW_CLICKHOUSE_PORT="+p(chPort), "GW_CLICKHOUSE_HTTP_PORT="+p(chHTTP),
		"GW_COLLECT_PORT="+p(collectOps), "GW_DETECT1_PORT="+p(detect1Ops), "GW_DETECT2_PORT="+p(detect2Ops),
		"GW_STORE_PORT="+p(storeOps), "GW_ALERT_PORT="+p(alertOps))
	project := fmt.Sprintf("gwcompose%d", os.Getpid())
	merged := filepath.Join(dir, "compose.merged.yaml")
	conf := eng.run(ctx, t, tools.compose, "--compatibility", "-p", project, "-f", "compose.yaml", "-f", "compose.test.yaml", "config")
	must(t, os.WriteFile(merged, dropPorts(t, conf), 0o644))
	compose := func(ctx context.Context, args ...string) (string, error) {
		return eng.try(ctx, tools.compose, append([]string{"--compatibility", "-p", project, "-f", merged}, args...)...)
	}
	logs := func() string {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, _ := compose(c, "logs", "--no-color", "--tail", "40")
		return out
	}
	downDone := false
	t.Cleanup(func() {
		if !downDone {
			c, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			compose(c, "down", "-v", "-t", "10")
		}
	})
	if out, err := compose(ctx, append([]string{"up", "-d", "--no-build"}, composeServices...)...); err != nil {
		t.Fatalf("compose up: %v\n%s\n%s", err, out, logs())
	}
	phase("compose up returned")

	// Every container healthy.
	ids := map[string]string{}
	for _, s := range composeServices {
		out, err := compose(ctx, "ps", "-q", s)
		if err != nil || strings.TrimSpace(out) == "" {
			t.Fatalf("compose ps -q %s: %v %q", s, err, out)
		}
		ids[s] = strings.TrimSpace(out)
	}
	health := func() map[string]string {
		st := map[string]string{}
		for s, id := range ids {
			out, err := eng.try(ctx, tools.docker, "inspect", "-f", "{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}", id)
			if err != nil {
				st[s] = "inspect: " + err.Error()
				continue
			}
			st[s] = strings.TrimSpace(out)
		}
		return st
	}
	allHealthy := func(st map[string]string) bool {
		for _, v := range st {
			if v != "running/healthy" {
				return false
			}
		}
		return true
	}
	for st := health(); !allHealthy(st); st = health() {
		for s, v := range st {
			if strings.HasPrefix(v, "exited") || strings.HasSuffix(v, "/unhealthy") {
				t.Fatalf("%s is %s: %v\n%s", s, v, st, logs())
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("not every container healthy: %v\n%s", st, logs())
		}
		time.Sleep(500 * time.Millisecond)
	}
	phase("every container healthy")
	for _, s := range []string{"collect", "detect-1", "detect-2", "store", "alert"} {
		out := eng.run(ctx, t, tools.docker, "inspect", "-f", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}", ids[s])
		if got := strings.TrimSpace(out); got != "65532:65532 true" {
			t.Errorf("%s runs as %q (user, read-only root); want 65532:65532 true", s, got)
		}
	}

	// Both detect replicas hold partitions of the events topic before the
	// log comes: one consumer group, the work shared.
	for _, s := range []string{"detect-1", "detect-2"} {
		for {
			out, _ := eng.try(ctx, tools.docker, "logs", ids[s])
			if strings.Contains(out, "partition assigned") {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s was assigned no partition of the events topic:\n%s", s, tail(out, 20))
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	phase("both detect replicas hold partitions")

	// The known log: 50 clients, one request a second each for 30 s of
	// event time ending now, and at second 10 a brute force (40 POSTs
	// answered 401) and a scanner (60 paths answered 404).
	brute, scanner := "198.51.100.66", "198.51.100.77"
	var lines []string
	base := time.Now().UTC().Add(-32 * time.Second).Truncate(time.Second)
	ts := func(tick int) string {
		return base.Add(time.Duration(tick) * time.Second).Format("02/Jan/2006:15:04:05 -0700")
	}
	line := func(ip string, tick int, method, path string, status int) string {
		return fmt.Sprintf(`%s - - [%s] "%s %s HTTP/1.1" %d 512 "-" "compose-e2e/1.0"`, ip, ts(tick), method, path, status)
	}
	for tick := 0; tick < 30; tick++ {
		for i := 0; i < 50; i++ {
			path := "/api/v1/orders"
			if (i+tick)%3 == 0 {
				path = fmt.Sprintf("/api/v1/items/%d", (i*7+tick)%40)
			}
			lines = append(lines, line(fmt.Sprintf("192.0.2.%d", i+1), tick, "GET", path, 200))
		}
		if tick == 10 {
			for j := 0; j < 40; j++ {
				lines = append(lines, line(brute, tick, "POST", "/api/v1/login", 401))
			}
			for j := 0; j < 60; j++ {
				lines = append(lines, line(scanner, tick, "GET", fmt.Sprintf("/api/v1/internal/backup-%03d", j), 404))
			}
		}
	}
	f, err := os.OpenFile(accessLog, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	must(t, err)
	must(t, f.Close())
	phase(fmt.Sprintf("%d lines appended to the log collect follows", len(lines)))

	ch := func(ctx context.Context, q string) string {
		u := fmt.Sprintf("http://127.0.0.1:%s/?user=default&password=%s&query=%s", p(chHTTP), url.QueryEscape(secrets["clickhouse_password"]), url.QueryEscape(q))
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(c, "GET", u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "error: " + err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "error: " + resp.Status + " " + string(b)
		}
		return strings.TrimSpace(string(b))
	}
	want := strconv.Itoa(len(lines))
	var events, findings string
	// The pipeline gets two minutes (it needs about 10 s), well inside the
	// budget, so a failure still leaves time for the logs and a clean down.
	dataCtx, dataCancel := context.WithTimeout(ctx, 2*time.Minute)
	defer dataCancel()
	for {
		last := dataCtx.Err() != nil
		qctx := dataCtx
		if last {
			qctx = ctx
		}
		events = ch(qctx, "SELECT count() FROM gatewatch.events FINAL")
		findings = ch(qctx, "SELECT DISTINCT client FROM gatewatch.findings ORDER BY client")
		got := hook.clients(brute, scanner)
		if events == want && strings.Contains(findings, brute) && strings.Contains(findings, scanner) && got[brute] && got[scanner] {
			break
		}
		if last {
			t.Fatalf("after %v: events FINAL %q (want %s), findings' clients %q, webhook saw %v (%d requests)\n%v\n%s",
				time.Since(t0).Round(time.Second), events, want, findings, got, hook.count(), health(), logs())
		}
		time.Sleep(time.Second)
	}
	phase(fmt.Sprintf("ClickHouse: %s events, findings for %q; webhook: %d requests naming both attackers", events, strings.Fields(findings), hook.count()))
	for _, c := range strings.Fields(findings) {
		if c != brute && c != scanner {
			t.Errorf("a finding names %s, not an attacker", c)
		}
	}

	// Nothing fell over meanwhile.
	if st := health(); !allHealthy(st) {
		t.Errorf("not every container healthy at the end: %v\n%s", st, logs())
	}

	// A clean down: every container stops within its grace period and
	// exits as SIGTERM asks (0; 143 for the JVM), then nothing is left.
	start := time.Now()
	if out, err := compose(ctx, "stop", "-t", "30"); err != nil {
		t.Fatalf("compose stop: %v\n%s", err, out)
	}
	for s, id := range ids {
		out, _ := eng.try(ctx, tools.docker, "inspect", "-f", "{{.State.ExitCode}}", id)
		code := strings.TrimSpace(out)
		if code != "0" && !(s == "kafka" && code == "143") {
			t.Errorf("%s exited %s on SIGTERM", s, code)
		}
	}
	downOut, err := compose(ctx, "down", "-v", "-t", "30")
	downDone = true
	if err != nil {
		t.Fatalf("compose down: %v\n%s", err, downOut)
	}
	if left, _ := eng.try(ctx, tools.docker, "ps", "-aq"); strings.TrimSpace(left) != "" {
		t.Errorf("containers left after compose down: %s", left)
	}
	phase(fmt.Sprintf("compose down in %v", time.Since(start).Round(100*time.Millisecond)))
}

type tools struct{ dockerd, docker, compose string }

// dockerTools finds dockerd, docker and docker-compose (Debian's
// docker.io and docker-compose), installing them with apt-get when missing
// and the test runs as root or in CI; otherwise it skips.
func dockerTools(t *testing.T) tools {
	t.Helper()
	if os.Getuid() != 0 {
		skipOrFail(t, "a private dockerd needs root (uid %d)", os.Getuid())
	}
	find := func() (tools, bool) {
		var tl tools
		var err error
		if tl.dockerd, err = exec.LookPath("dockerd"); err != nil {
			return tl, false
		}
		// Debian's client, matched to its dockerd, before any other on PATH.
		tl.docker = "/usr/bin/docker"
		if _, err := os.Stat(tl.docker); err != nil {
			if tl.docker, err = exec.LookPath("docker"); err != nil {
				return tl, false
			}
		}
		if tl.compose, err = exec.LookPath("docker-compose"); err != nil {
			return tl, false
		}
		return tl, true
	}
	if tl, ok := find(); ok {
		return tl
	}
	t.Log("installing docker.io and docker-compose with apt-get")
	// The package scripts must not start a system dockerd here.
	if _, err := os.Stat("/usr/sbin/policy-rc.d"); os.IsNotExist(err) {
		if os.WriteFile("/usr/sbin/policy-rc.d", []byte("#!/bin/sh\nexit 101\n"), 0o755) == nil {
			defer os.Remove("/usr/sbin/policy-rc.d")
		}
	}
	cmd := exec.Command("sh", "-c", "apt-get update -qq && apt-get install -y -qq docker.io docker-compose")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		skipOrFail(t, "apt-get install docker.io docker-compose: %v\n%s", err, tail(string(out), 20))
	}
	tl, ok := find()
	if !ok {
		skipOrFail(t, "dockerd, docker or docker-compose still missing after apt-get install")
	}
	return tl
}

// engine is a private dockerd: its own data root, socket and no bridge
// network (containers use host networking), stopped at cleanup.
type engine struct {
	env []string
}

func startEngine(t *testing.T, tl tools, dir string) *engine {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o700))
	sock := filepath.Join(dir, "docker.sock")
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	must(t, err)
	cmd := exec.Command(tl.dockerd, "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--host", "unix://"+sock, "--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--bridge=none", "--iptables=false", "--ip-masq=false", "--ip6tables=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		skipOrFail(t, "start dockerd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	e := &engine{env: append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_BUILDKIT=0", "COMPOSE_DOCKER_CLI_BUILD=0")}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := e.try(context.Background(), tl.docker, "info"); err == nil {
			return e
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			skipOrFail(t, "dockerd exited:\n%s", tail(string(b), 20))
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			skipOrFail(t, "dockerd not answering after 30 s:\n%s", tail(string(b), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (e *engine) try(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = e.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.String(), err
}

func (e *engine) run(ctx context.Context, t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := e.try(ctx, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, tail(out, 40))
	}
	return out
}

// dropPorts removes every service's published ports from a merged compose
// file: with host networking there is nothing to publish.
func dropPorts(t *testing.T, conf string) []byte {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(conf), &doc); err != nil {
		t.Fatalf("compose config: %v\n%s", err, conf)
	}
	services, _ := doc["services"].(map[string]any)
	for _, s := range services {
		if m, ok := s.(map[string]any); ok {
			delete(m, "ports")
		}
	}
	b, err := yaml.Marshal(doc)
	must(t, err)
	return b
}

// webhook is the alert stage's receiver: it keeps every request's body.
type webhook struct {
	url    string
	mu     sync.Mutex
	bodies []string
}

func newWebhook(t *testing.T) *webhook {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	h := &webhook{url: "http://" + ln.Addr().String() + "/hook"}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if !json.Valid(b) {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return h
}

func (h *webhook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

// clients says which of the given clients some request named.
func (h *webhook) clients(cs ...string) map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	got := map[string]bool{}
	for _, b := range h.bodies {
		for _, c := range cs {
			if strings.Contains(b, `"`+c+`"`) {
				got[c] = true
			}
		}
	}
	return got
}

// unmountUnder detaches what a stopped dockerd left mounted below dir (its
// default network namespace), deepest first, so dir can be removed.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var points []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			points = append(points, f[1])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, b, mode))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestComposeFile checks what deploy/compose.yaml promises its users,
// without Docker: every long-running service has a healthcheck, a memory
// limit and its dependencies' health as a start condition; third-party
// images are pinned by version; gatewatch runs as uid 65532 on a read-only
// root filesystem from the image deploy/.env names; secrets are files.
func TestComposeFile(t *testing.T) {
	doc := readYAMLDocs(t, "compose.yaml")[0]
	services, _ := doc["services"].(map[string]any)
	if len(services) == 0 {
		t.Fatal("compose.yaml: no services")
	}
	for _, s := range append(composeServices, "grafana", "dashboards") {
		if services[s] == nil {
			t.Errorf("compose.yaml has no service %s", s)
		}
	}
	image := envImage(t)
	for name, v := range services {
		svc := v.(map[string]any)
		img := str(svc["image"])
		if strings.HasPrefix(img, "${GATEWATCH_IMAGE") {
			if u := str(svc["user"]); u != "65532:65532" {
				t.Errorf("%s: user %q, want 65532:65532", name, u)
			}
			if svc["read_only"] != true {
				t.Errorf("%s: root filesystem not read-only", name)
			}
		} else if i := strings.LastIndexByte(img, ':'); i < 0 || img[i+1:] == "latest" {
			t.Errorf("%s: image %q is not pinned by version", name, img)
		}
		if name == "dashboards" { // a one-shot job
			continue
		}
		if test, _ := dig(svc, "healthcheck", "test").([]any); len(test) == 0 {
			t.Errorf("%s: no healthcheck", name)
		}
		if dig(svc, "deploy", "resources", "limits", "memory") == nil {
			t.Errorf("%s: no memory limit", name)
		}
		deps, _ := svc["depends_on"].(map[string]any)
		for dep, c := range deps {
			if cond := str(dig(c, "condition")); cond != "service_healthy" && cond != "service_completed_successfully" {
				t.Errorf("%s: depends on %s with condition %q", name, dep, cond)
			}
		}
	}
	if !strings.Contains(image, ":") {
		t.Errorf("GATEWATCH_IMAGE %q has no tag", image)
	}
	secrets, _ := doc["secrets"].(map[string]any)
	for name, v := range secrets {
		if str(dig(v, "file")) == "" {
			t.Errorf("secret %s is not a file", name)
		}
	}
}
