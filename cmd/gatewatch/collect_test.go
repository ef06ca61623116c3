package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/collect"
	"github.com/gatewatch/gatewatch/internal/testenv"
	"github.com/gatewatch/gatewatch/internal/testpki"
)

// testKafka returns the real test broker started by deploy/test.sh, or
// skips — except in CI, where a broker that is not there is a failure.
func testKafka(t testing.TB) string {
	t.Helper()
	return testenv.Getenv(t, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
}

// readTopic reads every message of topic until want have arrived or the
// deadline passes.
func readTopic(t *testing.T, broker, topic string, want int, deadline time.Duration) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	var msgs []kafka.Message
	for len(msgs) < want && ctx.Err() == nil {
		var ok bool
		if msgs, ok = readTopicOnce(ctx, broker, topic); !ok {
			time.Sleep(100 * time.Millisecond) // the topic is created by the first write
		}
	}
	if len(msgs) < want {
		t.Fatalf("topic %s: %d messages, want %d", topic, len(msgs), want)
	}
	return msgs
}

// readTopicOnce reads what every partition of topic holds now; ok is false
// when the topic does not exist (yet).
func readTopicOnce(ctx context.Context, broker, topic string) (msgs []kafka.Message, ok bool) {
	conn, err := kafka.DialContext(ctx, "tcp", broker)
	if err != nil {
		return nil, false
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil || len(parts) == 0 {
		return nil, false
	}
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		for {
			rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
			m, err := r.ReadMessage(rctx)
			rcancel()
			if err != nil {
				break
			}
			msgs = append(msgs, m)
		}
		r.Close()
	}
	return msgs, true
}

// TestCollectShipsToRealKafka runs "gatewatch collect" on a file and a
// syslog listener against the real broker: every line arrives once as a
// decodable event keyed by its client, and a bad line reaches the
// dead-letter topic.
func TestCollectShipsToRealKafka(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	var lines []string
	for i := 0; i < 3000; i++ {
		lines = append(lines, fmt.Sprintf(`198.51.100.%d - - [02/Nov/2026:00:%02d:%02d +0000] "GET /api/v1/orders/%d HTTP/1.1" 200 %d "-" "curl/8"`, i%40, (i/60)%60, i%60, i, 100+i))
	}
	lines = append(lines, "not an access log line")
	if err := os.WriteFile(logPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprint(time.Now().UnixNano())
	events, dead := "test.collect.events."+suffix, "test.collect.dead."+suffix
	udp := testenv.FreeAddr(t)
	httpAddr := testenv.FreeAddr(t)
	tokenFile := filepath.Join(dir, "edge.token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "gatewatch.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nkafka:\n  brokers: [%s]\n  topics: {events: %s, dead_letter: %s}\n"+
		"collect:\n  syslog_udp: %s\n  syslog_format: nginx_combined\n  http:\n    listen: %s\n    tokens: [{name: edge, file: %s}]\n",
		filepath.Join(dir, "data"), broker, events, dead, udp, httpAddr, tokenFile)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- c.main(ctx, []string{"collect", "--config", cfgPath, "--listen", "", "--from-start", "--format", "nginx_combined", logPath})
	}()

	// Syslog: nginx's own syslog output, over UDP (retried: the listener
	// may not be up yet, and UDP says nothing).
	msg := `<190>Nov  2 00:59:59 edge nginx: 203.0.113.99 - - [02/Nov/2026:00:59:59 +0000] "POST /login HTTP/1.1" 401 12 "-" "bot"`
	got := map[string]int{}
	deadline := time.Now().Add(60 * time.Second)
	for got["203.0.113.99"] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("syslog event never arrived; stderr: %s", errOut.String())
		}
		conn, err := net.Dial("udp", udp)
		if err == nil {
			conn.Write([]byte(msg))
			conn.Close()
		}
		msgs := readTopic(t, broker, events, len(lines)-1, 60*time.Second)
		got = map[string]int{}
		for _, m := range msgs {
			var ev ingest.Event
			if err := ingest.DecodeWire(m.Value, &ev); err != nil {
				t.Fatalf("undecodable event %q: %v", m.Value, err)
			}
			if string(m.Key) != ev.ClientKey {
				t.Fatalf("message key %q, client %q", m.Key, ev.ClientKey)
			}
			got[ev.ClientKey]++
		}
	}
	// HTTP ingest: a wrong token is refused tersely, the right one accepted.
	post := func(token string) *http.Response {
		req, _ := http.NewRequest("POST", "http://"+httpAddr+"/v1/lines",
			strings.NewReader(`203.0.113.98 - - [02/Nov/2026:00:59:59 +0000] "GET /x HTTP/1.1" 200 1 "-" "y"`+"\n"))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("X-Gatewatch-Format", "nginx_combined")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := post("wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	if resp := post("s3cret-token"); resp.StatusCode != http.StatusOK {
		t.Fatalf("right token: %d", resp.StatusCode)
	}
	for got["203.0.113.98"] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("http event never arrived; stderr: %s", errOut.String())
		}
		got = map[string]int{}
		for _, m := range readTopic(t, broker, events, len(lines), 60*time.Second) {
			var ev ingest.Event
			if err := ingest.DecodeWire(m.Value, &ev); err != nil {
				t.Fatal(err)
			}
			got[ev.ClientKey]++
		}
	}
	total := 0
	for k, n := range got {
		if k != "203.0.113.99" && k != "203.0.113.98" {
			total += n
		}
	}
	if total != len(lines)-1 {
		t.Fatalf("%d file events in Kafka, want %d (exactly once)", total, len(lines)-1)
	}
	dl := readTopic(t, broker, dead, 1, 30*time.Second)
	if !strings.Contains(string(dl[0].Value), "not an access log line") {
		t.Fatalf("dead letter %q", dl[0].Value)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("collect exited %d: %s", code, errOut.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("collect did not stop")
	}
	sc := bufio.NewScanner(strings.NewReader(errOut.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "password") || strings.Contains(sc.Text(), "s3cret-token") {
			t.Fatalf("a log line mentions a password: %s", sc.Text())
		}
	}
}

// TestCollectResumesAfterRestart stops a collector, rotates its log while
// it is down and starts it again: every line reaches Kafka exactly once —
// the rest of the old file (now access.log.1) and all of the new one.
func TestCollectResumesAfterRestart(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	next := 0
	write := func(path string, n int) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			fmt.Fprintf(f, "198.51.100.%d - - [02/Nov/2026:00:%02d:%02d +0000] \"GET /api/v1/orders/%d HTTP/1.1\" 200 10 \"-\" \"curl/8\"\n",
				next%50, (next/60)%60, next%60, next)
			next++
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	events := fmt.Sprintf("test.collect.resume.%d", time.Now().UnixNano())
	cfgPath := filepath.Join(dir, "gatewatch.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nkafka:\n  brokers: [%s]\n  topics: {events: %s, dead_letter: %s.dead}\n",
		filepath.Join(dir, "data"), broker, events, events)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// collect runs until want lines are in Kafka, then is stopped.
	collect := func(want int) {
		t.Helper()
		b := startBackground(t, nil, "collect", "--config", cfgPath, "--listen", "", "--from-start", "--format", "nginx_combined", logPath)
		readTopic(t, broker, events, want, 60*time.Second)
		b.stop(t)
	}

	write(logPath, 500)
	collect(500)
	write(logPath, 200) // written while collect is down...
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	write(logPath+".1", 100) // ...still going to the rotated file...
	write(logPath, 50)       // ...and a new file under the old name
	collect(next)

	seen := map[string]int{}
	for _, m := range readTopic(t, broker, events, next, 30*time.Second) {
		var ev ingest.Event
		if err := ingest.DecodeWire(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		seen[ev.Path]++
	}
	for i := range next {
		if n := seen[fmt.Sprintf("/api/v1/orders/%d", i)]; n != 1 {
			t.Errorf("line %d arrived %d times, want once", i, n)
		}
	}
	if len(seen) != next {
		t.Errorf("%d distinct lines in Kafka, want %d", len(seen), next)
	}
}

// TestCollectLongLineRealKafka: a line whose path is 600 KB (its event
// would once have been 1.2 MB, over the broker's 1 MiB limit, and stopped
// collect for good) and a 2 MiB line sit in the middle of a file. collect
// keeps running: the long path arrives as one truncated event, the 2 MiB
// line on the dead-letter topic with its reason, every other line exactly
// once — also those written afterwards.
func TestCollectLongLineRealKafka(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	next := 0
	write := func(n int, extra ...string) {
		t.Helper()
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			fmt.Fprintf(f, "198.51.100.%d - - [02/Nov/2026:00:%02d:%02d +0000] \"GET /api/v1/orders/%d HTTP/1.1\" 200 10 \"-\" \"curl/8\"\n",
				next%50, (next/60)%60, next%60, next)
			next++
			if i == n/2 {
				for _, l := range extra {
					fmt.Fprintln(f, l)
				}
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	longPath := `203.0.113.5 - - [02/Nov/2026:00:30:00 +0000] "GET /search/` + strings.Repeat("p", 600<<10) + ` HTTP/1.1" 404 10 "-" "scanner"`
	overLimit := `203.0.113.6 - - [02/Nov/2026:00:30:00 +0000] "GET /` + strings.Repeat("q", 2<<20) + ` HTTP/1.1" 404 10 "-" "scanner"`
	write(200, longPath, overLimit)
	events := fmt.Sprintf("test.collect.long.%d", time.Now().UnixNano())
	cfgPath := filepath.Join(dir, "gatewatch.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nkafka:\n  brokers: [%s]\n  topics: {events: %s, dead_letter: %s.dead}\n",
		filepath.Join(dir, "data"), broker, events, events)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	b := startBackground(t, nil, "collect", "--config", cfgPath, "--listen", "", "--from-start", "--format", "nginx_combined", logPath)
	readTopic(t, broker, events, next+1, 60*time.Second)
	if code, done := b.exited(); done {
		t.Fatalf("collect exited %d after the long lines: %s", code, b.stderr.String())
	}
	write(50) // still collecting
	msgs := readTopic(t, broker, events, next+1, 60*time.Second)
	dead := readTopic(t, broker, events+".dead", 1, 30*time.Second)
	b.stop(t)

	seen := map[string]int{}
	for _, m := range msgs {
		var ev ingest.Event
		if err := ingest.DecodeWire(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if len(m.Value) > ingest.MaxWireEventBytes || ev.Truncated != strings.HasPrefix(ev.Path, "/search/") {
			t.Errorf("event %.30q: %d bytes, truncated %v", ev.Path, len(m.Value), ev.Truncated)
		}
		seen[ev.Path[:min(len(ev.Path), 30)]]++
	}
	for i := range next {
		if n := seen[fmt.Sprintf("/api/v1/orders/%d", i)]; n != 1 {
			t.Errorf("line %d arrived %d times, want once", i, n)
		}
	}
	if n := seen["/search/"+strings.Repeat("p", 22)]; n != 1 || len(seen) != next+1 {
		t.Errorf("the long path arrived %d times, %d distinct events; want once and %d", n, len(seen), next+1)
	}
	if len(dead) != 1 || !strings.Contains(string(dead[0].Value), `"reason":"line too long (over 1048576 bytes)"`) ||
		!strings.Contains(string(dead[0].Value), `"line_truncated":true`) {
		t.Errorf("dead letters: %d, first %.200s", len(dead), dead[0].Value)
	}
}

// TestCollectSyslogTLS: syslog over TLS with client certificates. A sender
// with a certificate the configured CA signed gets its lines to Kafka; one
// without is refused at the handshake.
func TestCollectSyslogTLS(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	dir := t.TempDir()
	pki := testpki.New(t)
	files := pki.WriteFiles(t, dir)
	addr := testenv.FreeAddr(t)
	events := fmt.Sprintf("test.collect.tls.%d", time.Now().UnixNano())
	cfgPath := filepath.Join(dir, "gatewatch.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nkafka:\n  brokers: [%s]\n  topics: {events: %s, dead_letter: %s.dead}\n"+
		"collect:\n  syslog_format: nginx_combined\n  syslog_tls: {listen: %q, cert_file: %s, key_file: %s, client_ca_file: %s}\n",
		filepath.Join(dir, "data"), broker, events, events, addr, files.ServerCert, files.ServerKey, files.CA)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	b := startBackground(t, nil, "collect", "--config", cfgPath, "--listen", "")

	send := func(certs []tls.Certificate) error {
		var conn *tls.Conn
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.Pool, Certificates: certs})
			if err == nil || !strings.Contains(err.Error(), "connection refused") {
				break
			}
		}
		if err != nil {
			return err
		}
		defer conn.Close()
		msg := `<190>1 2026-11-02T00:59:59Z edge nginx - - - 203.0.113.7 - - [02/Nov/2026:00:59:59 +0000] "GET /tls HTTP/1.1" 200 5 "-" "x"`
		if _, err := fmt.Fprintf(conn, "%d %s", len(msg), msg); err != nil {
			return err
		}
		// TLS 1.3 reports a refused client certificate on the first read.
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err = conn.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil
		}
		return err
	}
	if err := send(nil); err == nil {
		t.Error("a sender without a client certificate was accepted")
	}
	if err := send([]tls.Certificate{pki.Client}); err != nil {
		t.Fatalf("sender with a certificate: %v", err)
	}
	msgs := readTopic(t, broker, events, 1, 60*time.Second)
	var ev ingest.Event
	if err := ingest.DecodeWire(msgs[0].Value, &ev); err != nil || ev.Path != "/tls" {
		t.Fatalf("event %q: %v", msgs[0].Value, err)
	}
	if len(msgs) != 1 {
		t.Errorf("%d events, want 1 (the certificate-less sender's line must not arrive)", len(msgs))
	}
	b.stop(t)
}

// TestCollectBrokerRefusalDeadLettered: an event the broker refuses for
// good (here larger than its topic's max.message.bytes, 4 KiB) is not
// only counted: it goes to the dead-letter topic with the broker's reason
// and the event as its line, and collect carries on with the lines after
// it.
func TestCollectBrokerRefusalDeadLettered(t *testing.T) {
	t.Parallel()
	broker := testKafka(t)
	dir := t.TempDir()
	events := fmt.Sprintf("test.collect.refused.%d", time.Now().UnixNano())
	client := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second}
	res, err := client.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: events, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "4096"}}}}})
	if err != nil || res.Errors[events] != nil {
		t.Fatalf("create topic: %v %v", err, res.Errors[events])
	}
	logPath := filepath.Join(dir, "access.log")
	next := 0
	write := func(lines ...string) {
		t.Helper()
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			fmt.Fprintln(f, l)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	normal := func(n int) []string {
		var out []string
		for range n {
			out = append(out, fmt.Sprintf(`198.51.100.%d - - [02/Nov/2026:00:%02d:%02d +0000] "GET /api/v1/orders/%d HTTP/1.1" 200 10 "-" "curl/8"`,
				next%50, (next/60)%60, next%60, next))
			next++
		}
		return out
	}
	random := func(n int) string {
		b := make([]byte, n/2)
		rand.Read(b)
		return hex.EncodeToString(b)
	}
	big := `203.0.113.5 - - [02/Nov/2026:00:30:00 +0000] "GET /x/` + random(8<<10) + ` HTTP/1.1" 404 10 "-" "` + random(1<<10) + `"`
	write(normal(20)...)
	cfgPath := filepath.Join(dir, "gatewatch.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nkafka:\n  brokers: [%s]\n  topics: {events: %s, dead_letter: %s.dead}\n",
		filepath.Join(dir, "data"), broker, events, events)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	b := startBackground(t, nil, "collect", "--config", cfgPath, "--listen", "", "--from-start", "--format", "nginx_combined", logPath)
	readTopic(t, broker, events, 20, 60*time.Second)
	write(big)
	dead := readTopic(t, broker, events+".dead", 1, 60*time.Second)
	write(normal(20)...)
	msgs := readTopic(t, broker, events, 40, 60*time.Second)
	if code, done := b.exited(); done {
		t.Fatalf("collect exited %d: %s", code, b.stderr.String())
	}
	b.stop(t)
	if len(msgs) != 40 {
		t.Errorf("%d events, want the 40 ordinary lines", len(msgs))
	}
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	var rec struct {
		Source string `json:"source"`
		Reason string `json:"reason"`
		Line   string `json:"line"`
	}
	if err := json.Unmarshal(dead[0].Value, &rec); err != nil {
		t.Fatalf("dead letter %.300s: %v", dead[0].Value, err)
	}
	if !strings.Contains(rec.Reason, "kafka refused the event") || !strings.Contains(rec.Reason, "Message Size Too Large") ||
		!strings.Contains(rec.Line, `"path":"/x/`) || string(dead[0].Key) != collect.RefusedLabel {
		t.Errorf("dead letter: key %q, %.300s", dead[0].Key, dead[0].Value)
	}
}
