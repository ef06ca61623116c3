//go:build linux

package syslog_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/alert/encode"
	"github.com/gatewatch/gatewatch/alert/syslog"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/internal/testenv"
	"github.com/gatewatch/gatewatch/internal/testpki"
)

// rsyslog is a private rsyslogd receiving on three loopback ports and
// writing every message it parsed, as JSON, to out.
type rsyslog struct {
	udp, tcp, tls string // addresses
	ca            string // the CA file that signed its certificate
	out           string

	bin, conf, dir string
	pool           *x509.CertPool
	stop           func()
}

// rsyslogConf: imudp, imtcp (octet counting, which imtcp detects), imtcp
// with the gtls driver (anonymous clients, a certificate the test's CA
// signed), mmpstrucdata to parse the structured data into $!rfc5424-sd,
// and omfile writing jsonmesg: every parsed property, as JSON, one line
// each. The input's name tells the transport apart.
const rsyslogConf = `global(workDirectory="{{dir}}/work" maxMessageSize="64k"
       defaultNetstreamDriverCAFile="{{ca}}"
       defaultNetstreamDriverCertFile="{{cert}}"
       defaultNetstreamDriverKeyFile="{{key}}")
module(load="imudp")
module(load="imtcp" maxSessions="50")
module(load="mmpstrucdata")
input(type="imudp" address="127.0.0.1" port="{{udp}}" name="udp" ruleset="siem")
input(type="imtcp" address="127.0.0.1" port="{{tcp}}" name="tcp" ruleset="siem")
input(type="imtcp" address="127.0.0.1" port="{{tls}}" name="tls" ruleset="siem"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="json" type="string" string="%jsonmesg%\n")
ruleset(name="siem") {
  action(type="mmpstrucdata" sd_name.lowercase="off")
  action(type="omfile" file="{{dir}}/out/messages.json" template="json")
}
`

// startRsyslog starts rsyslogd until the test ends; without rsyslogd or
// its TLS driver the test skips (fails under CI=true).
func startRsyslog(t testing.TB) *rsyslog {
	t.Helper()
	bin := testenv.LookPath(t, "rsyslogd", "rsyslog")
	testenv.Stat(t, "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so", "rsyslog-gnutls")
	dir := t.TempDir()
	for _, d := range []string{"work", "out"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ca := testpki.New(t)
	pki := ca.WriteFiles(t, dir)
	p := testenv.FreePorts(t, 3) // UDP, TCP and TLS
	ports := []string{strconv.Itoa(p[0]), strconv.Itoa(p[1]), strconv.Itoa(p[2])}
	conf := strings.NewReplacer("{{dir}}", dir, "{{ca}}", pki.CA, "{{cert}}", pki.ServerCert, "{{key}}", pki.ServerKey,
		"{{udp}}", ports[0], "{{tcp}}", ports[1], "{{tls}}", ports[2]).Replace(rsyslogConf)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-N1", "-f", confPath).CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd -N1 (configuration check): %v\n%s", err, out)
	}
	r := &rsyslog{ca: pki.CA, out: filepath.Join(dir, "out", "messages.json"), bin: bin, conf: confPath, dir: dir, pool: ca.Pool}
	r.udp, r.tcp, r.tls = "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1], "127.0.0.1:"+ports[2]
	r.start(t)
	return r
}

// start runs rsyslogd and waits until it receives on all three ports.
func (r *rsyslog) start(t testing.TB) {
	t.Helper()
	r.stop = run(t, r.dir, r.bin, "-n", "-f", r.conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	waitListening(t, r.tcp, nil)
	waitListening(t, r.tls, &tls.Config{RootCAs: r.pool, MinVersion: tls.VersionTLS12})
	r.waitUDP(t)
}

// waitUDP sends probes over UDP until one is written out.
func (r *rsyslog) waitUDP(t testing.TB) {
	t.Helper()
	c, err := net.Dial("udp", r.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for start := time.Now(); time.Since(start) < 15*time.Second; time.Sleep(100 * time.Millisecond) {
		c.Write([]byte("<134>1 - - probe - PROBE - ready?"))
		if b, _ := os.ReadFile(r.out); bytes.Contains(b, []byte("PROBE")) {
			return
		}
	}
	t.Fatal("rsyslogd writes out nothing received over UDP")
}

// messages returns the messages written out once there are n of them
// (probes aside), failing the test after 15 s.
func (r *rsyslog) messages(t *testing.T, n int) []map[string]any {
	t.Helper()
	var msgs []map[string]any
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		msgs = msgs[:0]
		b, _ := os.ReadFile(r.out)
		b = b[:bytes.LastIndexByte(b, '\n')+1] // a line rsyslog is still writing is read next time
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("rsyslog output %q: %v", sc.Text(), err)
			}
			if m["msgid"] != "PROBE" {
				msgs = append(msgs, m)
			}
		}
		if len(msgs) >= n {
			return msgs
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("%d messages written out after 15 s, want %d:\n%s", len(msgs), n, b)
		}
	}
}

// run starts a server in the foreground and returns the function that
// stops it, at the latest when the test ends. Its output is logged should
// the test fail.
func run(t testing.TB, dir, name string, args ...string) (stop func()) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(dir, filepath.Base(name)+".out"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop = sync.OnceFunc(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	t.Cleanup(func() {
		stop()
		if b, _ := os.ReadFile(logf.Name()); t.Failed() || testing.Verbose() {
			t.Logf("%s output:\n%s", name, b)
		}
	})
	return stop
}

// waitListening waits until something accepts connections on addr: TCP,
// or TLS with cfg.
func waitListening(t testing.TB, addr string, cfg *tls.Config) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		d := &net.Dialer{Timeout: time.Second}
		var c net.Conn
		var err error
		if cfg != nil {
			c, err = tls.DialWithDialer(d, "tcp", addr, cfg)
		} else {
			c, err = d.Dial("tcp", addr)
		}
		if err == nil {
			c.Close()
			return
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("rsyslogd does not listen on %s: %v", addr, err)
		}
	}
}

// hostile are values with the characters RFC 5424 structured data must
// escape, and more.
var hostile = []string{`k"ey]`, `back\slash\`, `all three "]\ and ü`}

// TestRsyslog sends findings through a real rsyslogd over UDP, TCP and
// TLS, as RFC 5424 with gatewatch's structured data and as CEF and LEEF
// over syslog, and checks what rsyslog parsed out of each message: the
// header's fields and the structured data, value by value. A message
// rsyslog could not parse as RFC 5424 would arrive all the same, parsed
// as RFC 3164, with none of these fields right.
func TestRsyslog(t *testing.T) {
	t.Parallel()
	rs := startRsyslog(t)
	type sent struct {
		n                   alert.Notification
		transport, encoding string
	}
	want := map[string]sent{} // by delivery id
	for _, transport := range []string{"udp", "tcp", "tls"} {
		for _, encoding := range []string{"rfc5424", "syslog-cef", "syslog-leef"} {
			enc, err := encode.ByName(encoding)
			if err != nil {
				t.Fatal(err)
			}
			name := "siem-" + transport + "-" + encoding
			addr := map[string]string{"udp": rs.udp, "tcp": rs.tcp, "tls": rs.tls}[transport]
			o := syslog.Options{Name: name, Address: addr, Transport: transport, Encoder: enc}
			if transport == "tls" {
				o.CAFile = rs.ca
			}
			s, err := syslog.New(o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var batch []alert.Notification
			for i, v := range hostile {
				f := finding(fmt.Sprintf("inc-%s-%d-%s", transport, i, v), "key-"+v)
				n := alert.NewNotification(f, name, "gw-1.example.com")
				batch = append(batch, n)
				want[n.DeliveryID] = sent{n, transport, encoding}
			}
			if retry, err := s.Notify(context.Background(), batch...); err != nil {
				t.Fatalf("%s: retry=%v %v", name, retry, err)
			}
		}
	}
	for _, m := range rs.messages(t, len(want)) {
		id := deliveryID(m)
		w, ok := want[id]
		if !ok {
			t.Errorf("unexpected message (delivery id %q): %v", id, m)
			continue
		}
		delete(want, id)
		checkParsed(t, m, w.n, w.transport, w.encoding)
	}
	for id, w := range want {
		t.Errorf("%s over %s, delivery id %s: never written out", w.encoding, w.transport, id)
	}
}

// finding returns an open finding of incident id for client.
func finding(id, client string) detect.Finding {
	end := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	return detect.Finding{IncidentID: id, Status: detect.StatusOpen, Client: client, ClientKind: "api_key",
		Detector: "auth_failures", WindowStart: end.Add(-time.Minute), WindowEnd: end, Windows: 1,
		Observed: 120, Expected: 3, Spread: 1.5, Unit: "auth failures/min", Score: 0.9, PValue: 1e-12,
		Severity: detect.SeverityHigh, Baseline: "own", Summary: "client " + client + " failed auth 120 times"}
}

// deliveryID returns the delivery id of a message rsyslog wrote out:
// its SD parameter delivery_id (RFC 5424) or CEF's externalId.
func deliveryID(m map[string]any) string {
	if id, ok := sd(m)["delivery_id"].(string); ok {
		return id
	}
	if msg := str(m, "msg"); strings.HasPrefix(msg, "LEEF:") {
		return leefAttrs(msg)["externalId"]
	}
	return cefExtension(str(m, "msg"), "externalId", "cnt")
}

// sd returns the parameters of gatewatch's SD element as mmpstrucdata
// parsed them ($!rfc5424-sd), nil when it found none.
func sd(m map[string]any) map[string]any {
	vars, _ := m["$!"].(map[string]any)
	elems, _ := vars["rfc5424-sd"].(map[string]any)
	params, _ := elems[encode.SDID].(map[string]any)
	return params
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// cefExtension returns the unescaped value of key in the CEF event cef,
// where next is the key after it.
func cefExtension(cef, key, next string) string {
	_, v, ok := strings.Cut(cef, " "+key+"=")
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, " "+next+"=")
	return strings.NewReplacer(`\\`, `\`, `\=`, `=`).Replace(v)
}

// leefAttrs splits a LEEF 2.0 event with the declared delimiter "^"
// into its attributes (the value after a key's first "=").
func leefAttrs(leef string) map[string]string {
	attrs := map[string]string{}
	_, ext, ok := strings.Cut(leef, "|^|")
	if !ok {
		return attrs
	}
	for _, kv := range strings.Split(ext, "^") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			attrs[k] = v
		}
	}
	return attrs
}

// checkParsed checks the fields rsyslog parsed out of m, the message of
// n sent over transport as encoding.
func checkParsed(t *testing.T, m map[string]any, n alert.Notification, transport, encoding string) {
	t.Helper()
	f := n.Finding
	want := map[string]string{
		"inputname": transport, "protocol-version": "1", "pri": "131", // local0.err: severity high
		"hostname": "gw-1.example.com", "app-name": "gatewatch", "procid": "-", "msgid": "auth_failures",
		"timereported": "2026-03-04T05:06:07.123456Z",
	}
	if encoding == "rfc5424" {
		want["msg"] = f.Summary
	} else {
		want["structured-data"] = "-"
	}
	for k, v := range want {
		if got := str(m, k); got != v {
			t.Errorf("%s over %s, incident %q: %s %q, want %q", encoding, transport, f.IncidentID, k, got, v)
		}
	}
	var got map[string]string
	if encoding == "rfc5424" {
		p := sd(m)
		got = map[string]string{"incident": fmt.Sprint(p["incident"]), "client": fmt.Sprint(p["client"]),
			"delivery_id": fmt.Sprint(p["delivery_id"]), "status": fmt.Sprint(p["status"])}
	} else if encoding == "syslog-leef" {
		msg := str(m, "msg")
		a := leefAttrs(msg)
		if !strings.HasPrefix(msg, "LEEF:2.0|gatewatch|gatewatch|") || sd(m) != nil {
			t.Errorf("leef over %s: msg %q, structured data %v", transport, msg, sd(m))
		}
		got = map[string]string{"incident": a["incidentId"], "client": a["usrName"], "delivery_id": a["externalId"], "status": a["status"]}
	} else {
		msg := str(m, "msg")
		if !strings.HasPrefix(msg, "CEF:0|gatewatch|gatewatch|") || sd(m) != nil {
			t.Errorf("cef over %s: msg %q, structured data %v", transport, msg, sd(m))
		}
		got = map[string]string{"incident": cefExtension(msg, "cs1", "cs1Label"), "client": cefExtension(msg, "suser", "act"),
			"delivery_id": cefExtension(msg, "externalId", "cnt"), "status": cefExtension(msg, "act", "cat")}
	}
	for k, v := range map[string]string{"incident": f.IncidentID, "client": f.Client, "delivery_id": n.DeliveryID, "status": "open"} {
		if got[k] != v {
			t.Errorf("%s over %s: %s %q, want %q", encoding, transport, k, got[k], v)
		}
	}
}

// TestRsyslogRestart: rsyslogd restarts between two batches; the sinks
// notice the closed connections and dial again, and both batches arrive
// (the second maybe after a retry the dispatcher would make).
func TestRsyslogRestart(t *testing.T) {
	t.Parallel()
	rs := startRsyslog(t)
	sinks := map[string]*syslog.Sink{}
	for transport, addr := range map[string]string{"tcp": rs.tcp, "tls": rs.tls} {
		o := syslog.Options{Name: "siem-" + transport, Address: addr, Transport: transport, Encoder: encode.RFC5424}
		if transport == "tls" {
			o.CAFile = rs.ca
		}
		s, err := syslog.New(o)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		sinks[transport] = s
	}
	want := map[string]bool{}
	send := func(round int) {
		for transport, s := range sinks {
			n := alert.NewNotification(finding(fmt.Sprint("inc-", transport, round), "k"), s.Name(), "gw-1.example.com")
			want[n.DeliveryID] = true
			retry, err := s.Notify(context.Background(), n)
			if err != nil && retry {
				t.Logf("%s round %d: %v; retrying", transport, round, err)
				retry, err = s.Notify(context.Background(), n)
			}
			if err != nil {
				t.Fatalf("%s round %d: retry=%v %v", transport, round, retry, err)
			}
		}
	}
	send(1)
	rs.messages(t, 2)
	rs.stop()
	rs.start(t)
	send(2)
	for _, m := range rs.messages(t, len(want)) {
		delete(want, deliveryID(m))
	}
	if len(want) > 0 {
		t.Errorf("never written out: %v", want)
	}
}
