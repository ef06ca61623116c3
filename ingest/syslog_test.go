package ingest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/internal/testpki"
)

func TestParseSyslog(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		in      string
		want    SyslogMessage
		wantErr error
	}{
		{
			name: "5424 no SD",
			in:   "<34>1 2026-11-23T10:00:00Z mymachine.example.com su - ID47 - 'su root' failed\n",
			want: SyslogMessage{Facility: 4, Severity: 2, Version: 1, Timestamp: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
				Hostname: "mymachine.example.com", AppName: "su", MsgID: "ID47", Message: []byte("'su root' failed")},
		},
		{
			name: "5424 SD with escapes and BOM",
			in:   "<165>1 2026-11-23T10:00:00.123Z edge-1 kong 1234 ACCESS [meta@32473 sequenceId=\"7\" note=\"a \\\"q\\\" \\] b\"][x@1 k=\"v\"] \xef\xbb\xbf{\"a\":1}",
			want: SyslogMessage{Facility: 20, Severity: 5, Version: 1, Timestamp: time.Date(2026, 11, 23, 10, 0, 0, 123e6, time.UTC),
				Hostname: "edge-1", AppName: "kong", ProcID: "1234", MsgID: "ACCESS",
				StructuredData: []byte(`[meta@32473 sequenceId="7" note="a \"q\" \] b"][x@1 k="v"]`), Message: []byte(`{"a":1}`)},
		},
		{
			name: "5424 SD and no MSG, nil timestamp",
			in:   `<14>1 - - - - - [a b="c"]`,
			want: SyslogMessage{Facility: 1, Severity: 6, Version: 1, StructuredData: []byte(`[a b="c"]`)},
		},
		{
			name: "5424 offset timestamp",
			in:   "<13>1 2026-11-23T11:00:00+01:00 h a p m - msg",
			want: SyslogMessage{Facility: 1, Severity: 5, Version: 1, Timestamp: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
				Hostname: "h", AppName: "a", ProcID: "p", MsgID: "m", Message: []byte("msg")},
		},
		{
			name: "nginx syslog output",
			in:   `<190>Nov 23 10:00:00 edge-1 nginx: 203.0.113.7 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5`,
			want: SyslogMessage{Facility: 23, Severity: 6, Timestamp: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
				Hostname: "edge-1", AppName: "nginx", Message: []byte(`203.0.113.7 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5`)},
		},
		{
			name: "3164 with pid",
			in:   "<13>Feb  5 17:32:18 10.0.0.99 myproc[8710]: Use the BFG!\r\n",
			want: SyslogMessage{Facility: 1, Severity: 5, Timestamp: time.Date(2026, 2, 5, 17, 32, 18, 0, time.UTC),
				Hostname: "10.0.0.99", AppName: "myproc", ProcID: "8710", Message: []byte("Use the BFG!")},
		},
		{
			name: "3164 without host (nginx nohostname)",
			in:   "<190>Nov 23 10:00:00 nginx: 198.51.100.1 - - x",
			want: SyslogMessage{Facility: 23, Severity: 6, Timestamp: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
				AppName: "nginx", Message: []byte("198.51.100.1 - - x")},
		},
		{
			name: "3164 December read in January is last year",
			in:   "<13>Dec 31 23:59:59 h t: m",
			want: SyslogMessage{Facility: 1, Severity: 5, Timestamp: time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC),
				Hostname: "h", AppName: "t", Message: []byte("m")},
		},
		{
			name: "3164 no tag",
			in:   "<13>Nov 23 10:00:00 host just words",
			want: SyslogMessage{Facility: 1, Severity: 5, Timestamp: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
				Hostname: "host", Message: []byte("just words")},
		},
		{
			name: "3164 no timestamp is all message",
			in:   "<13>203.0.113.7 - - hello",
			want: SyslogMessage{Facility: 1, Severity: 5, Message: []byte("203.0.113.7 - - hello")},
		},
		{name: "garbage", in: "hello world", wantErr: errSyslogNoPRI},
		{name: "empty", in: "", wantErr: errSyslogNoPRI},
		{name: "PRI too big", in: "<192>1 - - - - - -", wantErr: errSyslogBadPRI},
		{name: "PRI unterminated", in: "<13", wantErr: errSyslogBadPRI},
		{name: "PRI leading zero", in: "<013>x", wantErr: errSyslogBadPRI},
		{name: "version 2", in: "<13>2 - - - - - -", wantErr: errSyslogBadVersion},
		{name: "5424 bad time", in: "<13>1 yesterday h a p m - x", wantErr: errSyslogBadTime},
		{name: "5424 truncated", in: "<13>1 - host app", wantErr: errSyslogShortHeader},
		{name: "5424 unterminated SD", in: `<13>1 - h a p m [x a="]"`, wantErr: errSyslogBadSD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var z zoneCache
			n := now
			if strings.Contains(tt.name, "January") {
				n = time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC)
			}
			got, err := parseSyslog([]byte(tt.in), n, &z)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !got.Timestamp.Equal(tt.want.Timestamp) {
				t.Errorf("Timestamp = %v, want %v", got.Timestamp, tt.want.Timestamp)
			}
			got.Timestamp, tt.want.Timestamp = time.Time{}, time.Time{}
			if g, w := showSyslog(got), showSyslog(tt.want); g != w {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
}

// showSyslog prints m for comparison, nil and empty slices alike.
func showSyslog(m SyslogMessage) string {
	return fmt.Sprintf("pri=%d.%d v=%d host=%q app=%q proc=%q msgid=%q sd=%q msg=%q",
		m.Facility, m.Severity, m.Version, m.Hostname, m.AppName, m.ProcID, m.MsgID, m.StructuredData, m.Message)
}

func TestParseSyslogTestdata(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"nginx_bsd.txt", "rfc5424_sd.txt"} {
		data, err := os.ReadFile("testdata/syslog/" + name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseSyslog(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.AppName == "" || len(m.Message) == 0 || m.Timestamp.IsZero() {
			t.Errorf("%s: incomplete %+v", name, m)
		}
		if bytes.HasSuffix(m.Message, []byte("\n")) || bytes.HasPrefix(m.Message, utf8BOM) {
			t.Errorf("%s: message not trimmed: %q", name, m.Message)
		}
	}
}

func TestParseSyslogAllocs(t *testing.T) {
	for _, in := range []string{
		`<190>Nov 23 10:00:00 edge-1 nginx: 203.0.113.7 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5`,
		`<165>1 2026-11-23T10:00:00.123Z edge-1 kong 1234 ACCESS [m@1 a="b"] {"a":1}`,
		`garbage`,
	} {
		b := []byte(in)
		if n := testing.AllocsPerRun(100, func() { ParseSyslog(b) }); n != 0 {
			t.Errorf("%.30s...: %v allocs per parse, want 0", in, n)
		}
	}
}

func FuzzParseSyslog(f *testing.F) {
	for _, s := range []string{
		"<34>1 2026-11-23T10:00:00Z host su - ID47 - msg",
		`<165>1 2026-11-23T10:00:00.123+02:00 h a p m [x@1 k="v\]"][y] ` + "\xef\xbb\xbfmsg",
		"<190>Nov 23 10:00:00 edge-1 nginx: 203.0.113.7 - - x",
		"<13>Feb  5 17:32:18 myproc[8710]: m",
		"<13>2026-11-23T10:00:00Z host tag: m",
		"<0>", "<191>1 ", "<", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParseSyslog(in)
		if err != nil {
			return
		}
		if m.Facility > 23 || m.Severity > 7 {
			t.Fatalf("PRI out of range: %d.%d", m.Facility, m.Severity)
		}
		if len(m.Message) > 0 && !aliases(in, m.Message) {
			t.Fatalf("Message does not alias the input")
		}
		if len(m.StructuredData) > 0 && (!aliases(in, m.StructuredData) || m.StructuredData[0] != '[' || m.StructuredData[len(m.StructuredData)-1] != ']') {
			t.Fatalf("bad StructuredData %q", m.StructuredData)
		}
	})
}

// aliases reports whether sub lies within b's memory.
func aliases(b, sub []byte) bool {
	if len(sub) == 0 || len(b) == 0 {
		return false
	}
	for i := range b {
		if &b[i] == &sub[0] {
			return i+len(sub) <= len(b)
		}
	}
	return false
}

func BenchmarkParseSyslog(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"nginx-bsd", `<190>Nov 23 10:00:00 edge-1 nginx: 203.0.113.7 - - [23/Nov/2026:10:00:00 +0000] "GET /v1/users/42 HTTP/1.1" 200 512 "-" "curl/8.0"`},
		{"rfc5424", `<165>1 2026-11-23T10:00:00.123Z edge-1 kong 1234 ACCESS [meta@32473 sequenceId="7"] {"request":{"method":"GET","uri":"/v1/users/42"}}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := []byte(bc.in)
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := ParseSyslog(in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// received is one message as fn saw it, copied.
type received struct {
	src SyslogSource
	app string
	msg string
}

// startSyslog runs srv until the test ends and returns the channel fn
// delivers to and a function that stops Serve and returns its error.
func startSyslog(t *testing.T, srv *SyslogServer) (<-chan received, func() error) {
	t.Helper()
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan received, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- srv.Serve(ctx, func(src SyslogSource, m SyslogMessage) error {
			ch <- received{src: src, app: m.AppName, msg: string(m.Message)}
			return nil
		})
	}()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Serve did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return ch, stop
}

func recv(t *testing.T, ch <-chan received) received {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no message received")
		return received{}
	}
}

// waitFor polls cond, a guard against counters updated just after the
// event a test can observe.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSyslogServerUDP(t *testing.T) {
	t.Parallel()
	srv := &SyslogServer{UDPAddr: "127.0.0.1:0", MaxMessage: 256}
	var mu sync.Mutex
	var bad []string
	srv.OnMalformed = func(raw []byte, reason string) {
		mu.Lock()
		bad = append(bad, string(raw)+"|"+reason)
		mu.Unlock()
	}
	ch, _ := startSyslog(t, srv)
	c, err := net.Dial("udp", srv.Addrs().UDP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range []string{
		"not syslog",
		"<13>Nov 23 10:00:00 h nginx: " + strings.Repeat("x", 300), // oversized
		"<190>Nov 23 10:00:00 h nginx: line one\n",
	} {
		if _, err := c.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	r := recv(t, ch)
	if r.msg != "line one" || r.app != "nginx" || r.src.Transport != "udp" || r.src.Remote.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("got %+v", r)
	}
	st := srv.Stats()
	if st.Messages != 1 || st.Malformed != 1 || st.Oversized != 1 {
		t.Errorf("stats %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	// The oversized datagram is kept too, cut to MaxMessage, with why.
	oversized := ("<13>Nov 23 10:00:00 h nginx: " + strings.Repeat("x", 300))[:256] + "|message too long (over 256 bytes)"
	if len(bad) != 2 || bad[0] != "not syslog|"+errSyslogNoPRI.Error() || bad[1] != oversized {
		t.Errorf("OnMalformed got %q", bad)
	}
}

func TestSyslogServerTCPFraming(t *testing.T) {
	t.Parallel()
	long := "<13>Nov 23 10:00:00 h app: " + strings.Repeat("y", 200)
	tests := []struct {
		name  string
		input string
		want  []string
		over  int64
	}{
		{
			name: "octet counting",
			input: octet("<190>Nov 23 10:00:00 h nginx: a b\nc") + octet(long) +
				octet("<165>1 - h app - - - second") + "\n" + octet("<13>Nov 23 10:00:00 h t: third"),
			want: []string{"a b\nc", "second", "third"},
			over: 1,
		},
		{
			name:  "LF framing",
			input: "<190>Nov 23 10:00:00 h nginx: one\r\n" + long + "\n<13>Nov 23 10:00:00 h t: two\n<13>Nov 23 10:00:00 h t: unterminated",
			want:  []string{"one", "two", "unterminated"},
			over:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := &SyslogServer{TCPAddr: "127.0.0.1:0", MaxMessage: 128}
			var mu sync.Mutex
			var over []string
			srv.OnMalformed = func(raw []byte, reason string) {
				mu.Lock()
				defer mu.Unlock()
				over = append(over, string(raw)+"|"+reason)
			}
			ch, _ := startSyslog(t, srv)
			c, err := net.Dial("tcp", srv.Addrs().TCP.String())
			if err != nil {
				t.Fatal(err)
			}
			// Written in small pieces so frames straddle reads.
			for in := tt.input; len(in) > 0; {
				n := min(7, len(in))
				if _, err := io.WriteString(c, in[:n]); err != nil {
					t.Fatal(err)
				}
				in = in[n:]
			}
			c.Close()
			for _, want := range tt.want {
				if r := recv(t, ch); r.msg != want || r.src.Transport != "tcp" {
					t.Errorf("got %+v, want message %q", r, want)
				}
			}
			waitFor(t, "connection to close", func() bool { return srv.Stats().Connections == 0 })
			if st := srv.Stats(); st.Oversized != tt.over || st.Messages != int64(len(tt.want)) || st.ConnsAccepted != 1 {
				t.Errorf("stats %+v", st)
			}
			mu.Lock()
			defer mu.Unlock()
			// The oversized message is kept, cut to MaxMessage, with why.
			if want := long[:128] + "|message too long (over 128 bytes)"; len(over) != 1 || over[0] != want {
				t.Errorf("OnMalformed got %q, want %q", over, want)
			}
		})
	}
}

func octet(s string) string { return fmt.Sprintf("%d %s", len(s), s) }

func TestSyslogServerBadFramingClosesConn(t *testing.T) {
	t.Parallel()
	srv := &SyslogServer{TCPAddr: "127.0.0.1:0"}
	ch, _ := startSyslog(t, srv)
	c, err := net.Dial("tcp", srv.Addrs().TCP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, octet("<13>Nov 23 10:00:00 h t: ok")+"12x <13>...")
	if r := recv(t, ch); r.msg != "ok" {
		t.Errorf("got %+v", r)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("read after bad frame: %v, want the server to close", err)
	}
}

func TestSyslogServerTLS(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	srv := &SyslogServer{TLSAddr: "127.0.0.1:0", TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{pki.Server},
		ClientCAs:    pki.Pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}}
	ch, _ := startSyslog(t, srv)
	addr := srv.Addrs().TLS.String()

	t.Run("client cert", func(t *testing.T) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{pki.Client}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, octet("<190>Nov 23 10:00:00 h nginx: over tls"))
		r := recv(t, ch)
		if r.msg != "over tls" || r.src.Transport != "tls" || r.src.Identity != "CN=edge-1,O=gatewatch" {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("no client cert", func(t *testing.T) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.Pool})
		if err == nil {
			// With TLS 1.3 the client finishes first; the server's
			// rejection arrives on the next read.
			defer c.Close()
			io.WriteString(c, "<13>Nov 23 10:00:00 h t: must not arrive\n")
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err = c.Read(make([]byte, 1))
		}
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection without client cert: err = %v, want rejected", err)
		}
		waitFor(t, "handshake failure counted", func() bool { return srv.Stats().HandshakeFails == 1 })
		select {
		case r := <-ch:
			t.Errorf("message from unauthenticated client delivered: %+v", r)
		default:
		}
	})
}

func TestSyslogServerLimits(t *testing.T) {
	t.Parallel()
	srv := &SyslogServer{TCPAddr: "127.0.0.1:0", MaxConns: 1, IdleTimeout: 200 * time.Millisecond}
	ch, _ := startSyslog(t, srv)
	addr := srv.Addrs().TCP.String()
	c1, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	io.WriteString(c1, "<13>Nov 23 10:00:00 h t: first\n")
	recv(t, ch) // c1 holds the only slot now

	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Error("second connection was served beyond MaxConns")
	}
	waitFor(t, "rejection counted", func() bool { return srv.Stats().ConnsRejected == 1 })

	// c1 sends nothing more: the idle timeout closes it.
	c1.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); err == nil {
		t.Error("idle connection not closed")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Error("idle connection still open after the guard timeout")
	}
	waitFor(t, "idle connection closed", func() bool { return srv.Stats().Connections == 0 })
}

func TestSyslogServerShutdown(t *testing.T) {
	t.Parallel()
	srv := &SyslogServer{UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0"}
	ch, stop := startSyslog(t, srv)
	c, err := net.Dial("tcp", srv.Addrs().TCP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "<13>Nov 23 10:00:00 h t: hi\n")
	recv(t, ch)
	// An open, silent connection must not hold Serve up.
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Serve = %v, want context.Canceled", err)
	}
	if st := srv.Stats(); st.Connections != 0 {
		t.Errorf("connections open after Serve returned: %+v", st)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := bufio.NewReader(c).ReadByte(); err == nil {
		t.Error("connection still open after shutdown")
	}
}

func TestSyslogServerCallbackError(t *testing.T) {
	t.Parallel()
	srv := &SyslogServer{TCPAddr: "127.0.0.1:0"}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("downstream full")
	done := make(chan error, 1)
	go func() {
		done <- srv.Serve(context.Background(), func(SyslogSource, SyslogMessage) error { return boom })
	}()
	c, err := net.Dial("tcp", srv.Addrs().TCP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "<13>Nov 23 10:00:00 h t: hi\n")
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Errorf("Serve = %v, want %v", err, boom)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not stop on the callback's error")
	}
	if err := srv.Serve(context.Background(), func(SyslogSource, SyslogMessage) error { return nil }); err == nil {
		t.Error("second Serve succeeded")
	}
}

func TestSyslogServerConfigErrors(t *testing.T) {
	t.Parallel()
	for _, srv := range []*SyslogServer{
		{},
		{TLSAddr: "127.0.0.1:0"},
		{TCPAddr: "256.0.0.1:0"},
	} {
		if err := srv.Serve(context.Background(), func(SyslogSource, SyslogMessage) error { return nil }); err == nil {
			t.Errorf("Serve(%+v) succeeded", srv)
		}
	}
}

func BenchmarkSyslogServerTCP(b *testing.B) {
	for _, framing := range []string{"lf", "octet"} {
		b.Run(framing, func(b *testing.B) {
			srv := &SyslogServer{TCPAddr: "127.0.0.1:0"}
			if err := srv.Listen(); err != nil {
				b.Fatal(err)
			}
			const batch = 1000
			msg := `<190>Nov 23 10:00:00 edge-1 nginx: 203.0.113.7 - - [23/Nov/2026:10:00:00 +0000] "GET /v1/users/42 HTTP/1.1" 200 512 "-" "curl/8.0"`
			frame := msg + "\n"
			if framing == "octet" {
				frame = octet(msg)
			}
			payload := []byte(strings.Repeat(frame, batch))
			got := make(chan struct{}, 1)
			n := 0
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- srv.Serve(ctx, func(SyslogSource, SyslogMessage) error {
					if n++; n%batch == 0 {
						got <- struct{}{}
					}
					return nil
				})
			}()
			c, err := net.Dial("tcp", srv.Addrs().TCP.String())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, err := c.Write(payload); err != nil {
					b.Fatal(err)
				}
				<-got
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msgs/s")
			c.Close()
			cancel()
			<-done
		})
	}
}

// dialFrom opens a TCP connection to addr from the local address ip
// (any of 127/8 is local on Linux).
func dialFrom(ip, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return d.Dial("tcp", addr)
}

// TestSecuritySyslogConnectionFlood: 1,100 idle connections from one
// address take at most MaxConnsPerSource slots; idle connections from 70
// more addresses fill MaxConns; a sender from yet another address is still
// admitted (the busiest source's longest-idle connection makes room) and
// every one of its messages arrives.
func TestSecuritySyslogConnectionFlood(t *testing.T) {
	t.Parallel()
	// FirstFrameTimeout long: eviction, not the slowloris timeout, must
	// make room here.
	srv := &SyslogServer{TCPAddr: "127.0.0.1:0", FirstFrameTimeout: time.Minute}
	ch, _ := startSyslog(t, srv)
	addr := srv.Addrs().TCP.String()
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	open := func(ip string, n int) {
		for range n {
			c, err := dialFrom(ip, addr)
			if err != nil {
				t.Fatalf("dial from %s: %v", ip, err)
			}
			conns = append(conns, c)
		}
	}
	open("127.0.0.1", 1100)
	waitFor(t, "per-source rejections", func() bool {
		return srv.Stats().RejectedPerSource == 1100-DefaultSyslogMaxConnsPerSource
	})
	if st := srv.Stats(); st.Connections != DefaultSyslogMaxConnsPerSource {
		t.Fatalf("one source holds %d connections, want %d", st.Connections, DefaultSyslogMaxConnsPerSource)
	}
	for i := 2; i < 72; i++ {
		open(fmt.Sprintf("127.0.0.%d", i), DefaultSyslogMaxConnsPerSource)
	}
	waitFor(t, "the flood accepted or refused", func() bool {
		st := srv.Stats()
		return st.ConnsAccepted+st.ConnsRejected == 1100+70*DefaultSyslogMaxConnsPerSource
	})
	if st := srv.Stats(); st.Evicted == 0 || st.Connections > DefaultSyslogMaxConns+st.Evicted {
		t.Fatalf("after the flood: %+v", st)
	}

	legit, err := dialFrom("127.0.0.200", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer legit.Close()
	const n = 100
	for i := range n {
		if _, err := fmt.Fprintf(legit, "<13>Nov 23 10:00:00 h app: legit %d\n", i); err != nil {
			t.Fatalf("legitimate sender, message %d: %v", i, err)
		}
	}
	for i := range n {
		r := recv(t, ch)
		if want := fmt.Sprintf("legit %d", i); r.msg != want || r.src.Remote.Addr().String() != "127.0.0.200" {
			t.Fatalf("got %q from %v, want %q from 127.0.0.200", r.msg, r.src.Remote, want)
		}
	}
	t.Logf("stats: %+v", srv.Stats())
}

// TestSecuritySyslogSlowloris: a connection that trickles a frame it never
// completes is closed after FirstFrameTimeout, while one that sent a whole
// message keeps the longer IdleTimeout.
func TestSecuritySyslogSlowloris(t *testing.T) {
	t.Parallel()
	srv := &SyslogServer{TCPAddr: "127.0.0.1:0", FirstFrameTimeout: 300 * time.Millisecond, IdleTimeout: time.Minute}
	ch, _ := startSyslog(t, srv)
	addr := srv.Addrs().TCP.String()
	good, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	io.WriteString(good, "<13>Nov 23 10:00:00 h t: hello\n")
	recv(t, ch)

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	var werr error
	for _, b := range []byte("<13>Nov 23 10:00:00 h t: never ends") {
		if _, werr = slow.Write([]byte{b}); werr != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if werr == nil {
		slow.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, werr = slow.Read(make([]byte, 1))
	}
	var ne net.Error
	if werr == nil || errors.As(werr, &ne) && ne.Timeout() {
		t.Fatalf("trickling connection still open after %v: %v", time.Since(start), werr)
	}
	waitFor(t, "first-frame timeout counted", func() bool { return srv.Stats().FirstFrameTimeouts == 1 })
	// The established sender, silent meanwhile, is still served.
	io.WriteString(good, "<13>Nov 23 10:00:00 h t: still here\n")
	// (What the slow one sent before it was cut off comes first.)
	for r := recv(t, ch); r.msg != "still here"; r = recv(t, ch) {
		if r.src.Remote.String() != slow.LocalAddr().String() {
			t.Fatalf("got %q from %v", r.msg, r.src.Remote)
		}
	}
	if st := srv.Stats(); st.IdleTimeouts != 0 {
		t.Errorf("idle timeouts: %+v", st)
	}
}

// TestSecuritySyslogTLSMinVersion: the TLS listener refuses a TLS 1.1
// client even when its tls.Config sets no MinVersion.
func TestSecuritySyslogTLSMinVersion(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	srv := &SyslogServer{TLSAddr: "127.0.0.1:0", TLSConfig: &tls.Config{Certificates: []tls.Certificate{pki.Server}, MinVersion: tls.VersionTLS10}}
	ch, _ := startSyslog(t, srv)
	addr := srv.Addrs().TLS.String()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.Pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 client completed the handshake")
	}
	c, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.Pool, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2 client: %v", err)
	}
	defer c.Close()
	io.WriteString(c, octet("<13>Nov 23 10:00:00 h t: tls12"))
	if r := recv(t, ch); r.msg != "tls12" {
		t.Errorf("got %q", r.msg)
	}
}

func TestSyslogConnTable(t *testing.T) {
	t.Parallel()
	mk := func(ip string, last int64) *trackedConn {
		c := &trackedConn{source: sourceKey(netip.MustParseAddr(ip))}
		c.last.Store(last)
		return c
	}
	tab := newConnTable(4, 3)
	a1, a2, a3 := mk("10.0.0.1", 3), mk("10.0.0.1", 1), mk("10.0.0.1", 2)
	for _, c := range []*trackedConn{a1, a2, a3} {
		if v, why := tab.admit(c); v != nil || why != "" {
			t.Fatalf("admit: %v %q", v, why)
		}
	}
	if _, why := tab.admit(mk("10.0.0.1", 4)); why != rejectPerSource {
		t.Errorf("fourth from one source: %q", why)
	}
	// IPv6 counts by /64.
	b1 := mk("2001:db8::1", 5)
	if _, why := tab.admit(b1); why != "" {
		t.Fatal(why)
	}
	if got := sourceKey(netip.MustParseAddr("2001:db8::ffff:1")); got != b1.source {
		t.Errorf("source of another address of the /64 = %v, want %v", got, b1.source)
	}
	// Full: a new source evicts the busiest source's longest-idle one (a2).
	v, why := tab.admit(mk("10.0.0.9", 6))
	if why != "" || v != a2 {
		t.Fatalf("full table: victim %p %q, want a2 %p", v, why, a2)
	}
	tab.release(a2) // its goroutine ends later: a no-op
	if tab.total != 4 {
		t.Errorf("total %d after eviction and release", tab.total)
	}
	// Now 2+1+1: no source holds two more than a new one's 1 -> refused.
	if _, why := tab.admit(mk("2001:db8::2", 7)); why != rejectFull {
		t.Errorf("balanced full table: %q, want %q", why, rejectFull)
	}
	for _, c := range []*trackedConn{a1, a3, b1} {
		tab.release(c)
	}
	if tab.total != 1 || len(tab.bySource) != 1 {
		t.Errorf("after releases: total %d, sources %d", tab.total, len(tab.bySource))
	}
}
