//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// needTool returns the path of a program the test needs; without it the
// test skips, unless CI=true where the test command installs it.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	return testenv.LookPath(t, name, pkg)
}

// startProcess runs a server in the foreground until the test ends.
func startProcess(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, filepath.Base(name)+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Killed with the test binary, should it die without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s output:\n%s", name, b)
		}
	})
}

// TestRsyslogShipsNginxToDetection is the third-party shipping path end to
// end with real parts: a real nginx serves requests and writes its access
// log, a real rsyslog tails it (imfile) and ships each line to the raw
// topic with omkafka (librdkafka), "gatewatch collect" turns the raw lines
// into events, and "gatewatch detect" finds the client that floods.
func TestRsyslogShipsNginxToDetection(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	nginx := needTool(t, "nginx", "nginx-light")
	rsyslogd := needTool(t, "rsyslogd", "rsyslog-kafka")
	testenv.Stat(t, "/usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so", "rsyslog-kafka")
	dir := t.TempDir()
	suffix := fmt.Sprint(time.Now().UnixNano())
	raw, events, findings := "test.raw."+suffix, "test.raw.events."+suffix, "test.raw.findings."+suffix
	accessLog := filepath.Join(dir, "access.log")

	// nginx behind a load balancer logs the forwarded client address in
	// the combined layout, which is what gatewatch's nginx_combined reads.
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
  server {
    listen %[3]s;
    location / { return 200 "ok\n"; }
  }
}
`, dir, accessLog, web)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(nginxConf), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, dir, nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))

	// rsyslog: imfile follows the access log, omkafka sends each line as
	// it is (template %msg%) to the raw topic.
	if err := os.MkdirAll(filepath.Join(dir, "rsyslog"), 0o755); err != nil {
		t.Fatal(err)
	}
	rsyslogConf := fmt.Sprintf(`global(workDirectory="%[1]s/rsyslog")
module(load="imfile")
module(load="omkafka")
template(name="rawline" type="string" string="%%msg%%")
input(type="imfile" File="%[2]s" Tag="nginx" ruleset="tokafka" freshStartTail="off")
ruleset(name="tokafka") {
  action(type="omkafka" broker=["%[3]s"] topic="%[4]s" template="rawline"
         confParam=["compression.codec=lz4", "socket.keepalive.enable=true"])
}
`, dir, accessLog, broker, raw)
	if err := os.WriteFile(filepath.Join(dir, "rsyslog.conf"), []byte(rsyslogConf), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, dir, rsyslogd, "-n", "-f", filepath.Join(dir, "rsyslog.conf"), "-i", filepath.Join(dir, "rsyslog.pid"))

	// gatewatch: collect reads the raw topic, detect runs with short
	// windows so the test takes seconds, not the default minutes.
	cfgPath := filepath.Join(dir, "gatewatch.yaml")
	cfg := fmt.Sprintf(`data_dir: %s
kafka:
  brokers: [%s]
  detect_group: test-raw-detect-%s
  topics: {events: %s, findings: %s, dead_letter: %s.dead, detect_state: %s.state, raw: %s}
collect:
  raw: {enabled: true, format: nginx_combined, group: test-raw-%s}
detect:
  window: 2s
  allowed_lateness: 1s
  min_history: 3
`, filepath.Join(dir, "data"), broker, suffix, events, findings, raw, raw, raw, suffix)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var collectErr, detectErr syncBuffer
	for _, run := range []struct {
		args []string
		log  *syncBuffer
	}{
		{[]string{"collect", "--config", cfgPath, "--listen", ""}, &collectErr},
		{[]string{"detect", "--config", cfgPath, "--listen", "", "--checkpoint", "1s"}, &detectErr},
	} {
		c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: run.log, getenv: func(string) string { return "" }}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code := c.main(ctx, run.args); code != 0 && ctx.Err() == nil {
				t.Errorf("%s exited %d: %s", run.args[0], code, run.log.String())
			}
		}()
	}

	// Traffic: 25 ordinary clients, one request each per second; after
	// the warm-up one of them floods. The detectors judge it against its own
	// baseline: with six partitions no detector sees the 20 clients a
	// window needs for a population model.
	var sent sync.Map // client -> requests nginx answered
	get := func(client string) {
		req, _ := http.NewRequest("GET", "http://"+web+"/api/v1/orders", nil)
		req.Header.Set("X-Forwarded-For", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("nginx: %v", err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		n, _ := sent.LoadOrStore(client, new(int))
		*n.(*int)++
	}
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + web + "/ready")
		if err == nil {
			resp.Body.Close() // this line is in the log too: an unkeyed client
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("nginx did not start: %v", err)
		}
	}
	attacker := "203.0.113.7" // one of the ordinary clients, until it floods
	total := 1                // the readiness probe
	var found *detect.Finding
	deadline := time.Now().Add(90 * time.Second)
	for tick := 0; found == nil; tick++ {
		if time.Now().After(deadline) {
			t.Fatalf("no finding for %s after %d s of traffic\ncollect: %s\ndetect: %s", attacker, tick, collectErr.String(), detectErr.String())
		}
		for i := range 25 {
			get(fmt.Sprintf("203.0.113.%d", i+1))
			total++
		}
		if tick >= 12 && tick < 15 { // the flood: ~300 requests in a second, three times
			for range 300 {
				get(attacker)
				total++
			}
		}
		time.Sleep(time.Second)
		if tick >= 12 && tick%3 == 0 {
			for _, m := range readTopicNowOrEmpty(broker, findings) {
				var f detect.Finding
				if err := json.Unmarshal(m.Value, &f); err != nil {
					t.Fatalf("finding %q: %v", m.Value, err)
				}
				if f.Client != attacker {
					t.Fatalf("an ordinary client was flagged: %s", m.Value)
				}
				found = &f
			}
		}
	}
	if found.Detector != "volume" || found.ClientKind != "ip" {
		t.Errorf("finding %+v, want a volume finding on the attacker's IP", found)
	}
	// Every line nginx wrote reached the events topic exactly once.
	msgs := readTopic(t, broker, events, total, 60*time.Second)
	perClient := map[string]int{}
	for _, m := range msgs {
		var ev ingest.Event
		if err := ingest.DecodeWire(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		perClient[ev.ClientKey]++
	}
	sent.Range(func(k, v any) bool {
		if got := perClient[k.(string)]; got != *v.(*int) {
			t.Errorf("client %s: %d events in Kafka, nginx served %d", k, got, *v.(*int))
		}
		return true
	})
	if len(msgs) != total {
		t.Errorf("%d events, want %d", len(msgs), total)
	}
}

// readTopicNowOrEmpty returns what topic holds now, nothing if it does
// not exist yet.
func readTopicNowOrEmpty(broker, topic string) []kafka.Message {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, _ := readTopicOnce(ctx, broker, topic)
	return msgs
}
