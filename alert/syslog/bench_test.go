//go:build linux

package syslog_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert/alerttest"
	"github.com/gatewatch/gatewatch/alert/encode"
	"github.com/gatewatch/gatewatch/alert/syslog"
	"github.com/gatewatch/gatewatch/detect"
)

// BenchmarkSustainedSyslog measures sustained delivery to a real
// rsyslogd (startRsyslog: imudp/imtcp, mmpstrucdata, omfile) over TCP,
// TLS and UDP, as RFC 5424 and as CEF over syslog: a backlog of b.N
// findings in an Outbox drained by an alert.Dispatcher into the syslog
// sink, as in the embedded pipeline, until rsyslog has written every
// message out. A successful Notify only means the kernel took the
// frames, so the clock stops when rsyslog's output file holds the b.N
// messages, not when the sink returned. Over UDP, which may drop, it
// stops once nothing more arrived for half a second, and the share
// received is reported (received-%) instead of failing. Reported:
// alerts/s written out by rsyslog, and sent/s, the rate at which the
// sink handed them to the kernel (the dispatcher's view).
func BenchmarkSustainedSyslog(b *testing.B) {
	rs := startRsyslog(b)
	for _, transport := range []string{"tcp", "tls", "udp"} {
		for _, format := range []string{"rfc5424", "syslog-cef"} {
			b.Run(transport+"/"+format, func(b *testing.B) { benchSyslog(b, rs, transport, format) })
		}
	}
}

// benchSyslog is one transport and format of BenchmarkSustainedSyslog.
func benchSyslog(b *testing.B, rs *rsyslog, transport, format string) {
	enc, err := encode.ByName(format)
	if err != nil {
		b.Fatal(err)
	}
	run := fmt.Sprintf("bench%d", time.Now().UnixNano()) // marks this round's messages
	name := "siem-" + transport
	o, feed := alerttest.Backlog(b, name, b.N, func(i int) detect.Finding {
		return finding(fmt.Sprintf("%s-%d", run, i), fmt.Sprintf("key-%d", i%500))
	})
	defer o.Close()
	opts := syslog.Options{Name: name, Transport: transport, Encoder: enc,
		Address: map[string]string{"udp": rs.udp, "tcp": rs.tcp, "tls": rs.tls}[transport]}
	if transport == "tls" {
		opts.CAFile = rs.ca
	}
	s, err := syslog.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	out := rs.follow(b, run+"-")
	b.ResetTimer()
	start := time.Now()
	stop := alerttest.Deliver(b, s, feed, b.N)
	sent := time.Since(start)
	got, last := out.wait(b, b.N, transport == "udp")
	b.StopTimer()
	stop()
	b.ReportMetric(float64(got)/last.Sub(start).Seconds(), "alerts/s")
	b.ReportMetric(float64(b.N)/sent.Seconds(), "sent/s")
	if transport == "udp" {
		b.ReportMetric(100*float64(got)/float64(b.N), "received-%")
	}
}

// received counts the lines rsyslog writes out, from where its output
// file ended when follow was called, that hold marker: one per message
// of a benchmark round (the marker is in the incident id, which every
// format carries).
type received struct {
	f      *os.File
	r      *bufio.Reader
	part   []byte // a line not yet complete
	marker []byte
	n      int
}

// follow starts counting what rsyslog writes out from now on.
func (r *rsyslog) follow(b *testing.B, marker string) *received {
	f, err := os.Open(r.out)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		b.Fatal(err)
	}
	return &received{f: f, r: bufio.NewReaderSize(f, 1<<20), marker: []byte(marker)}
}

// poll reads what was written since the last poll and returns the
// count so far.
func (c *received) poll() int {
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil { // io.EOF or bufio.ErrBufferFull: keep the part
			c.part = append(c.part, line...)
			if err == bufio.ErrBufferFull {
				continue
			}
			return c.n
		}
		if len(c.part) > 0 {
			line = append(c.part, line...)
			c.part = c.part[:0]
		}
		if bytes.Contains(line, c.marker) {
			c.n++
		}
	}
}

// wait polls every 5 ms until want messages were written out, and
// returns their count and when the last was seen. Over a stream every
// one must arrive within 30 s; when lossy (UDP) it settles for what
// arrived once nothing more came for half a second.
func (c *received) wait(b *testing.B, want int, lossy bool) (int, time.Time) {
	last, lastAt := -1, time.Now()
	for {
		n := c.poll()
		now := time.Now()
		if n != last {
			last, lastAt = n, now
		}
		switch {
		case n >= want:
			return n, lastAt
		case lossy && now.Sub(lastAt) > 500*time.Millisecond:
			return n, lastAt
		case now.Sub(lastAt) > 30*time.Second:
			b.Fatalf("rsyslog wrote out %d of %d messages the sink took; no more for 30 s", n, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
