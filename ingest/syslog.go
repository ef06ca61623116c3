package ingest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// SyslogMessage is one syslog message, RFC 5424 or RFC 3164 (BSD). The
// string fields and the byte slices alias the input and are valid only as
// long as it is: a SyslogServer reuses its buffers after the callback.
type SyslogMessage struct {
	Facility uint8
	Severity uint8
	// Version is 1 for RFC 5424 and 0 for RFC 3164.
	Version int
	// Timestamp is zero when the message has none ("-" in RFC 5424).
	// RFC 3164 stamps carry no year and no zone: the year is the receive
	// time's (last year's for a stamp well in the future), the zone is UTC. The access
	// log line in Message carries its own, complete timestamp.
	Timestamp time.Time
	Hostname  string
	AppName   string // RFC 3164: the TAG
	ProcID    string
	MsgID     string
	// StructuredData is the raw RFC 5424 SD (the "[...]" elements), or nil.
	StructuredData []byte
	// Message is the MSG part, without a UTF-8 BOM and trailing CR/LF.
	Message []byte
}

// Parse errors. They are fixed values so rejecting garbage allocates
// nothing; the text doubles as the reason given to OnMalformed.
var (
	errSyslogNoPRI       = errors.New("syslog: no <PRI>")
	errSyslogBadPRI      = errors.New("syslog: bad PRI")
	errSyslogBadVersion  = errors.New("syslog: unsupported version")
	errSyslogBadTime     = errors.New("syslog: bad timestamp")
	errSyslogShortHeader = errors.New("syslog: truncated header")
	errSyslogBadSD       = errors.New("syslog: bad structured data")
)

// ParseSyslog parses one syslog message in RFC 5424 or RFC 3164 form,
// including nginx's own syslog output ("<190>Nov 23 10:00:00 host nginx:
// ..."). It never panics and, for stamps in UTC, allocates nothing.
func ParseSyslog(msg []byte) (SyslogMessage, error) {
	var z zoneCache
	return parseSyslog(msg, time.Now(), &z)
}

// parseSyslog is ParseSyslog with the receive time (for the RFC 3164 year)
// and a zone cache the caller keeps across messages.
func parseSyslog(msg []byte, now time.Time, z *zoneCache) (SyslogMessage, error) {
	var m SyslogMessage
	for len(msg) > 0 {
		if c := msg[len(msg)-1]; c == '\n' || c == '\r' || c == 0 {
			msg = msg[:len(msg)-1]
			continue
		}
		break
	}
	if len(msg) < 3 || msg[0] != '<' {
		return m, errSyslogNoPRI
	}
	pri, i := 0, 1
	for ; i < len(msg) && i <= 4 && msg[i] >= '0' && msg[i] <= '9'; i++ {
		pri = pri*10 + int(msg[i]-'0')
	}
	if i == 1 || i > 4 || i >= len(msg) || msg[i] != '>' || pri > 191 || (msg[1] == '0' && i > 2) {
		return m, errSyslogBadPRI
	}
	m.Facility, m.Severity = uint8(pri>>3), uint8(pri&7)
	rest := msg[i+1:]
	if v := versionLen(rest); v > 0 {
		// A version, not a BSD month: RFC 5424.
		if v != 1 || rest[0] != '1' {
			return m, errSyslogBadVersion
		}
		return parse5424(m, rest[2:], z)
	}
	return parse3164(m, rest, now, z), nil
}

// versionLen returns the length of an RFC 5424 VERSION ("1".."999"
// followed by a space) at the start of b, or 0.
func versionLen(b []byte) int {
	for i := 0; i < len(b) && i < 4; i++ {
		switch c := b[i]; {
		case c == ' ' && i > 0:
			return i
		case c < '0' || c > '9' || i == 0 && c == '0':
			return 0
		}
	}
	return 0
}

// field cuts the next space-terminated header field off b.
func field(b []byte) (f, rest []byte, ok bool) {
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return b, nil, false
	}
	return b[:i], b[i+1:], true
}

// nilValue maps RFC 5424's "-" to "".
func nilValue(f []byte) string {
	if len(f) == 1 && f[0] == '-' {
		return ""
	}
	return bytesString(f)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func parse5424(m SyslogMessage, b []byte, z *zoneCache) (SyslogMessage, error) {
	m.Version = 1
	ts, b, ok := field(b)
	if !ok {
		return m, errSyslogShortHeader
	}
	if len(ts) != 1 || ts[0] != '-' {
		t, ok := parseISOTime(ts, z)
		if !ok {
			return m, errSyslogBadTime
		}
		m.Timestamp = t
	}
	var hdr [4][]byte
	for k := range hdr {
		if hdr[k], b, ok = field(b); !ok || len(hdr[k]) == 0 {
			return m, errSyslogShortHeader
		}
	}
	m.Hostname, m.AppName, m.ProcID, m.MsgID = nilValue(hdr[0]), nilValue(hdr[1]), nilValue(hdr[2]), nilValue(hdr[3])
	// The SD is "-" or one or more "[id param="value" ...]" elements, where
	// a value may hold escaped '"', '\' and ']'.
	switch {
	case len(b) > 0 && b[0] == '-':
		b = b[1:]
	case len(b) > 0 && b[0] == '[':
		end := 0
		for end < len(b) && b[end] == '[' {
			n := sdElementLen(b[end:])
			if n < 0 {
				return m, errSyslogBadSD
			}
			end += n
		}
		m.StructuredData, b = b[:end], b[end:]
	default:
		return m, errSyslogBadSD
	}
	if len(b) > 0 {
		if b[0] != ' ' {
			return m, errSyslogBadSD
		}
		b = b[1:]
	}
	m.Message = bytes.TrimPrefix(b, utf8BOM)
	return m, nil
}

// sdElementLen returns the length of the SD-ELEMENT at the start of b
// (which starts with '['), or -1 when it does not end.
func sdElementLen(b []byte) int {
	quoted := false
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ']':
			return i + 1
		}
	}
	return -1
}

// parse3164 parses what follows the PRI of a BSD message. RFC 3164 asks a
// receiver to take whatever it cannot parse as the message, so it never
// fails: a message without a stamp is all MSG.
func parse3164(m SyslogMessage, b []byte, now time.Time, z *zoneCache) SyslogMessage {
	switch {
	case len(b) >= 16 && b[15] == ' ':
		t, ok := parseBSDTime(b[:15], now)
		if !ok {
			m.Message = b
			return m
		}
		m.Timestamp, b = t, b[16:]
	case len(b) >= 20 && b[4] == '-' && b[10] == 'T':
		// rsyslog's RFC3339 "high precision" BSD variant.
		ts, rest, ok := field(b)
		t, tok := parseISOTime(ts, z)
		if !ok || !tok {
			m.Message = b
			return m
		}
		m.Timestamp, b = t, rest
	default:
		m.Message = b
		return m
	}
	// "HOST TAG[pid]: MSG" or, without a host, "TAG[pid]: MSG". A first word
	// that looks like a tag (ends in ':' or has "[pid]") means no host.
	first, afterFirst, _ := field(b)
	if tag, pid, msg, ok := bsdTag(first, b); ok {
		m.AppName, m.ProcID, m.Message = tag, pid, msg
		return m
	}
	m.Hostname = bytesString(first)
	second, _, _ := field(afterFirst)
	if tag, pid, msg, ok := bsdTag(second, afterFirst); ok {
		m.AppName, m.ProcID, m.Message = tag, pid, msg
		return m
	}
	m.Message = afterFirst
	return m
}

// bsdTag recognises word, the first word of b, as "TAG:" or "TAG[pid]:"
// (the colon optional after "[pid]") and returns the message after it.
func bsdTag(word, b []byte) (tag, pid string, msg []byte, ok bool) {
	if len(word) < 2 {
		return "", "", nil, false
	}
	if lb := bytes.IndexByte(word, '['); lb > 0 {
		rb := bytes.IndexByte(word[lb:], ']')
		if rb < 0 {
			return "", "", nil, false
		}
		rb += lb
		tail := word[rb+1:]
		if len(tail) > 1 || len(tail) == 1 && tail[0] != ':' {
			return "", "", nil, false
		}
		tag, pid = bytesString(word[:lb]), bytesString(word[lb+1:rb])
	} else {
		if word[len(word)-1] != ':' {
			return "", "", nil, false
		}
		tag = bytesString(word[:len(word)-1])
	}
	msg = b[len(word):]
	if len(msg) > 0 && msg[0] == ' ' {
		msg = msg[1:]
	}
	return tag, pid, msg, true
}

// parseBSDTime parses "Jan _2 15:04:05". The stamp has no year: take the
// receive year, so December messages read in January land in the old year.
func parseBSDTime(b []byte, now time.Time) (time.Time, bool) {
	if len(b) != 15 || b[3] != ' ' || b[6] != ' ' || b[9] != ':' || b[12] != ':' {
		return time.Time{}, false
	}
	mon, ok := month3(b[:3])
	if !ok {
		return time.Time{}, false
	}
	dd := b[4:6]
	if dd[0] == ' ' {
		dd = dd[1:]
	}
	day, ok1 := atoiN(dd)
	hh, ok2 := atoiN(b[7:9])
	mm, ok3 := atoiN(b[10:12])
	ss, ok4 := atoiN(b[13:15])
	if !(ok1 && ok2 && ok3 && ok4) || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	now = now.UTC()
	t := time.Date(now.Year(), mon, day, hh, mm, ss, 0, time.UTC)
	// Stamps are from the past but for clock skew: one more than a month
	// ahead is last year's, one nearly a year old is a sender a little
	// ahead across New Year.
	const days = 24 * time.Hour
	switch d := t.Sub(now); {
	case d > 31*days:
		t = t.AddDate(-1, 0, 0)
	case d < -335*days:
		t = t.AddDate(1, 0, 0)
	}
	return t, true
}

// SyslogSource says where a message came from.
type SyslogSource struct {
	Transport string         // "udp", "tcp" or "tls"
	Remote    netip.AddrPort // the sender's address
	// Identity is the subject of the verified TLS client certificate, or "".
	Identity string
}

// SyslogStats are a SyslogServer's counters since it started.
type SyslogStats struct {
	Messages      int64 // messages passed to fn
	Malformed     int64 // frames that were not syslog messages
	Oversized     int64 // messages longer than MaxMessage, skipped
	Connections   int64 // TCP and TLS connections open now
	ConnsAccepted int64 // TCP and TLS connections accepted in all
	// ConnsRejected counts connections closed as soon as accepted:
	// RejectedPerSource plus RejectedFull.
	ConnsRejected int64
	// RejectedPerSource: the sender's address (IPv6: its /64) already
	// held MaxConnsPerSource connections.
	RejectedPerSource int64
	// RejectedFull: MaxConns were open and no source held enough more
	// connections than the new one's to give one up.
	RejectedFull int64
	// Evicted: open connections closed to admit a connection of another
	// source while MaxConns were open (the longest-idle connection of the
	// source holding the most).
	Evicted int64
	// FirstFrameTimeouts: connections closed because they completed no
	// frame (nor TLS handshake) within FirstFrameTimeout, e.g. slowloris.
	FirstFrameTimeouts int64
	// IdleTimeouts: connections closed after sending nothing for
	// IdleTimeout.
	IdleTimeouts   int64
	HandshakeFails int64 // TLS handshakes that failed (bad or missing client cert...)
}

// SyslogServer receives syslog over UDP (one message per datagram), TCP
// and TLS (RFC 5425). On a stream each connection's framing is detected
// from its first byte: a digit means RFC 6587 octet counting ("LEN SP
// MSG"), anything else newline-terminated messages. Set the fields, then
// call Serve (or Listen, Addrs and Serve when the ports are chosen by the
// system). Leave an address empty to not listen on it.
type SyslogServer struct {
	UDPAddr string
	TCPAddr string
	TLSAddr string
	// TLSConfig is required with TLSAddr; versions before TLS 1.2 are
	// refused whatever its MinVersion. Set ClientAuth to
	// tls.RequireAndVerifyClientCert (and ClientCAs) to admit only senders
	// with a client certificate; its subject becomes SyslogSource.Identity.
	TLSConfig *tls.Config
	// MaxMessage is the longest message accepted (default 64 KiB). Longer
	// ones are counted, handed to OnMalformed with their first MaxMessage
	// bytes, and skipped; on a stream the framing is kept when possible and
	// the connection closed when not.
	MaxMessage int
	// MaxConns bounds open TCP+TLS connections (default 1024). When they
	// are all open, a new connection takes the place of the longest-idle
	// connection of the source holding the most, if that source holds at
	// least two more than the new one's; otherwise it is closed at once.
	// So a flood from a few addresses cannot lock other senders out.
	MaxConns int
	// MaxConnsPerSource bounds the connections open from one source: one
	// IPv4 address, or one IPv6 /64 (default 16). More are closed as soon
	// as they are accepted.
	MaxConnsPerSource int
	// FirstFrameTimeout closes a connection that has not completed its TLS
	// handshake and its first frame within this long of being accepted
	// (default 10s), so a slow or silent client (slowloris) holds a slot
	// only briefly. Afterwards IdleTimeout applies.
	FirstFrameTimeout time.Duration
	// IdleTimeout closes a stream connection that has sent a frame and
	// then nothing for this long (default 5 minutes).
	IdleTimeout time.Duration
	// OnMalformed, when set, receives each frame that is not a syslog
	// message, and the start of each message longer than MaxMessage
	// ("message too long"), with the reason, so it can be dead-lettered.
	// raw is valid only during the call; it may be called from several
	// goroutines at once.
	OnMalformed func(raw []byte, reason string)
	// Logger gets connection-level problems; default: discard.
	Logger *slog.Logger

	mu       sync.Mutex
	udp      *net.UDPConn
	tcp, tls net.Listener
	listened bool
	served   bool

	// The options with defaults applied, fixed for the whole of Serve.
	maxMsg     int
	idle       time.Duration
	firstFrame time.Duration
	tlsConfig  *tls.Config // TLSConfig with TLS 1.2 at least
	log        *slog.Logger

	messages, malformed, oversized        atomic.Int64
	conns, accepted, handshake            atomic.Int64
	rejectedSource, rejectedFull, evicted atomic.Int64
	firstFrameTimeouts, idleTimeouts      atomic.Int64
	lastFloodLog                          atomic.Int64 // Unix nanoseconds
}

// Stats returns the counters; it is safe to call at any time.
func (s *SyslogServer) Stats() SyslogStats {
	return SyslogStats{
		Messages:           s.messages.Load(),
		Malformed:          s.malformed.Load(),
		Oversized:          s.oversized.Load(),
		Connections:        s.conns.Load(),
		ConnsAccepted:      s.accepted.Load(),
		ConnsRejected:      s.rejectedSource.Load() + s.rejectedFull.Load(),
		RejectedPerSource:  s.rejectedSource.Load(),
		RejectedFull:       s.rejectedFull.Load(),
		Evicted:            s.evicted.Load(),
		FirstFrameTimeouts: s.firstFrameTimeouts.Load(),
		IdleTimeouts:       s.idleTimeouts.Load(),
		HandshakeFails:     s.handshake.Load(),
	}
}

// SyslogAddrs are the addresses a SyslogServer listens on (nil: not set).
type SyslogAddrs struct {
	UDP, TCP, TLS net.Addr
}

// Addrs reports the bound addresses, useful with port 0; it is empty
// before Listen.
func (s *SyslogServer) Addrs() SyslogAddrs {
	s.mu.Lock()
	defer s.mu.Unlock()
	var a SyslogAddrs
	if s.udp != nil {
		a.UDP = s.udp.LocalAddr()
	}
	if s.tcp != nil {
		a.TCP = s.tcp.Addr()
	}
	if s.tls != nil {
		a.TLS = s.tls.Addr()
	}
	return a
}

// Listen binds the configured addresses. Serve calls it when it has not
// been called; call it first to learn the ports from Addrs.
func (s *SyslogServer) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listened {
		return nil
	}
	if s.UDPAddr == "" && s.TCPAddr == "" && s.TLSAddr == "" {
		return errors.New("syslog: no address to listen on")
	}
	if s.TLSAddr != "" && s.TLSConfig == nil {
		return errors.New("syslog: TLSAddr needs a TLSConfig")
	}
	var err error
	if s.UDPAddr != "" {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", s.UDPAddr); err != nil {
			return s.closeLocked(fmt.Errorf("syslog: %w", err))
		}
		s.udp = pc.(*net.UDPConn)
	}
	if s.TCPAddr != "" {
		if s.tcp, err = net.Listen("tcp", s.TCPAddr); err != nil {
			return s.closeLocked(fmt.Errorf("syslog: %w", err))
		}
	}
	if s.TLSAddr != "" {
		if s.tls, err = net.Listen("tcp", s.TLSAddr); err != nil {
			return s.closeLocked(fmt.Errorf("syslog: %w", err))
		}
	}
	s.listened = true
	return nil
}

func (s *SyslogServer) closeLocked(err error) error {
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.tls != nil {
		s.tls.Close()
	}
	return err
}

// Serve receives messages until ctx ends or fn returns an error, and
// returns only after every goroutine it started has finished. fn is called
// concurrently (one goroutine per connection, one for UDP); the message
// aliases a buffer reused after fn returns. A Serve that ends closes the
// listeners: a SyslogServer serves once.
func (s *SyslogServer) Serve(ctx context.Context, fn func(src SyslogSource, m SyslogMessage) error) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	served := s.served
	s.served = true
	s.mu.Unlock()
	if served {
		return errors.New("syslog: Serve called twice")
	}
	table := s.applyDefaults()
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	s.mu.Lock()
	udp, tcpLn, tlsLn := s.udp, s.tcp, s.tls
	s.mu.Unlock()
	s.tlsConfig = atLeastTLS12(s.TLSConfig)
	if udp != nil {
		wg.Go(func() { s.serveUDP(ctx, cancel, udp, fn) })
	}
	if tcpLn != nil {
		wg.Go(func() { s.accept(ctx, cancel, &wg, tcpLn, "tcp", table, fn) })
	}
	if tlsLn != nil {
		wg.Go(func() { s.accept(ctx, cancel, &wg, tlsLn, "tls", table, fn) })
	}
	<-ctx.Done()
	s.mu.Lock()
	s.closeLocked(nil)
	s.mu.Unlock()
	wg.Wait()
	if parent.Err() != nil {
		return parent.Err()
	}
	return context.Cause(ctx) // fn's error, or a listener's
}

// Defaults of SyslogServer's connection limits.
const (
	DefaultSyslogMaxConns          = 1024
	DefaultSyslogMaxConnsPerSource = 16
	DefaultSyslogFirstFrameTimeout = 10 * time.Second
	DefaultSyslogIdleTimeout       = 5 * time.Minute
)

// applyDefaults fixes the options for Serve and returns the connection
// table they bound.
func (s *SyslogServer) applyDefaults() *connTable {
	s.maxMsg, s.idle, s.firstFrame, s.log = s.MaxMessage, s.IdleTimeout, s.FirstFrameTimeout, s.Logger
	if s.maxMsg <= 0 {
		s.maxMsg = 64 << 10
	}
	if s.idle <= 0 {
		s.idle = DefaultSyslogIdleTimeout
	}
	if s.firstFrame <= 0 {
		s.firstFrame = DefaultSyslogFirstFrameTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	maxConns, perSource := s.MaxConns, s.MaxConnsPerSource
	if maxConns <= 0 {
		maxConns = DefaultSyslogMaxConns
	}
	if perSource <= 0 {
		perSource = DefaultSyslogMaxConnsPerSource
	}
	return newConnTable(maxConns, min(perSource, maxConns))
}

func (s *SyslogServer) serveUDP(ctx context.Context, stop context.CancelCauseFunc, c *net.UDPConn, fn func(SyslogSource, SyslogMessage) error) {
	// One byte more than MaxMessage tells an oversized datagram (which the
	// kernel truncates to the buffer) from one that fits exactly.
	buf := make([]byte, s.maxMsg+1)
	var z zoneCache
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() == nil {
				stop(fmt.Errorf("syslog udp: %w", err))
			}
			return
		}
		if n > s.maxMsg {
			s.tooLong(buf[:s.maxMsg])
			continue
		}
		src := SyslogSource{Transport: "udp", Remote: unmap(from)}
		if err := s.deliver(src, buf[:n], &z, fn); err != nil {
			stop(err)
			return
		}
	}
}

// tooLong counts a message longer than MaxMessage and hands its start to
// OnMalformed.
func (s *SyslogServer) tooLong(head []byte) {
	s.oversized.Add(1)
	if s.OnMalformed != nil {
		s.OnMalformed(head, "message too long (over "+strconv.Itoa(s.maxMsg)+" bytes)")
	}
}

// deliver parses one frame and hands it to fn or OnMalformed. Only fn's
// error is returned.
func (s *SyslogServer) deliver(src SyslogSource, frame []byte, z *zoneCache, fn func(SyslogSource, SyslogMessage) error) error {
	m, err := parseSyslog(frame, time.Now(), z)
	if err != nil {
		s.malformed.Add(1)
		if s.OnMalformed != nil {
			s.OnMalformed(frame, err.Error())
		}
		return nil
	}
	s.messages.Add(1)
	return fn(src, m)
}

func (s *SyslogServer) accept(ctx context.Context, stop context.CancelCauseFunc, wg *sync.WaitGroup, ln net.Listener, transport string, table *connTable, fn func(SyslogSource, SyslogMessage) error) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			stop(fmt.Errorf("syslog %s: accept: %w", transport, err))
			return
		}
		tc := s.admit(c, transport, table)
		if tc == nil {
			continue
		}
		s.accepted.Add(1)
		s.conns.Add(1)
		wg.Go(func() {
			defer func() { table.release(tc); s.conns.Add(-1) }()
			// Closing the connection is what unblocks its reader at shutdown.
			unhook := context.AfterFunc(ctx, func() { c.Close() })
			defer unhook()
			defer c.Close()
			if err := s.serveConn(ctx, tc, transport, fn); err != nil {
				stop(err)
			}
		})
	}
}

// admit enters a new connection in the table, evicting another source's
// idle connection when the table is full, or closes it and returns nil.
func (s *SyslogServer) admit(c net.Conn, transport string, table *connTable) *trackedConn {
	var remote netip.AddrPort
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		remote = unmap(ta.AddrPort())
	}
	now := time.Now()
	tc := &trackedConn{Conn: c, source: sourceKey(remote.Addr()), idle: s.idle, firstBy: now.Add(s.firstFrame)}
	tc.last.Store(now.UnixNano())
	victim, reason := table.admit(tc)
	switch reason {
	case rejectPerSource:
		s.rejectedSource.Add(1)
	case rejectFull:
		s.rejectedFull.Add(1)
	}
	if reason != "" {
		if s.floodLog() {
			s.log.Warn("syslog: refusing connections (logged once a second at most)", "transport", transport,
				"remote", remote.String(), "reason", reason, "stats", s.Stats())
		}
		c.Close()
		return nil
	}
	if victim != nil {
		s.evicted.Add(1)
		if s.floodLog() {
			s.log.Warn("syslog: connections full, closing the longest-idle one of the busiest source (logged once a second at most)",
				"transport", transport, "evicted", victim.source.String(), "for", remote.String(), "stats", s.Stats())
		}
		victim.evict()
	}
	return tc
}

// floodLog reports whether a connection refusal may be logged: once a
// second at most, so a flood does not flood the logs too. The counters
// count them all.
func (s *SyslogServer) floodLog() bool {
	now := time.Now().UnixNano()
	last := s.lastFloodLog.Load()
	return now-last >= int64(time.Second) && s.lastFloodLog.CompareAndSwap(last, now)
}

// unmap turns an IPv4-mapped IPv6 sender (from a dual-stack socket) back
// into the IPv4 address it is.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// serveConn reads one stream connection; it returns only fn's error, and
// logs why a connection ended abnormally.
func (s *SyslogServer) serveConn(ctx context.Context, c *trackedConn, transport string, fn func(SyslogSource, SyslogMessage) error) error {
	src := SyslogSource{Transport: transport}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		src.Remote = unmap(ta.AddrPort())
	}
	log := s.log.With("transport", transport, "remote", src.Remote.String())
	rc := net.Conn(c)
	if transport == "tls" {
		tc := tls.Server(rc, s.tlsConfig)
		hctx, cancel := context.WithDeadline(ctx, c.firstBy)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			if !s.timedOut(c, err) {
				s.handshake.Add(1)
				log.Warn("syslog: TLS handshake failed", "err", err)
			}
			return nil
		}
		if cs := tc.ConnectionState(); len(cs.VerifiedChains) > 0 && len(cs.PeerCertificates) > 0 {
			src.Identity = cs.PeerCertificates[0].Subject.String()
		}
		rc = tc
	}
	// The buffer holds a whole message, so frames are handed to fn
	// straight from it.
	r := bufio.NewReaderSize(rc, s.maxMsg+16)
	var z zoneCache
	first, err := r.Peek(1)
	if err != nil {
		s.logEnd(ctx, c, log, err)
		return nil
	}
	octets := first[0] >= '0' && first[0] <= '9'
	for {
		var frame []byte
		var skip bool
		if octets {
			frame, skip, err = s.readOctetFrame(r)
		} else {
			frame, skip, err = s.readLineFrame(r)
		}
		if err == nil {
			// A whole frame, even one refused: the sender is no slowloris.
			c.established.Store(true)
		}
		if skip {
			s.tooLong(frame)
		} else if len(frame) > 0 {
			if ferr := s.deliver(src, frame, &z, fn); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			s.logEnd(ctx, c, log, err)
			return nil
		}
	}
}

// timedOut reports whether err is c's read deadline passing, and counts
// it as a first-frame or an idle timeout.
func (s *SyslogServer) timedOut(c *trackedConn, err error) bool {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || c.evicted.Load() {
		return false
	}
	if c.established.Load() {
		s.idleTimeouts.Add(1)
	} else {
		s.firstFrameTimeouts.Add(1)
	}
	return true
}

func (s *SyslogServer) logEnd(ctx context.Context, c *trackedConn, log *slog.Logger, err error) {
	switch {
	case errors.Is(err, io.EOF) || ctx.Err() != nil || c.evicted.Load():
	case s.timedOut(c, err):
		if c.established.Load() {
			log.Info("syslog: closing idle connection")
		} else if s.floodLog() {
			log.Warn("syslog: closing connection that sent no complete message in time (logged once a second at most)",
				"timeout", s.firstFrame, "stats", s.Stats())
		}
	default:
		log.Warn("syslog: closing connection", "err", err)
	}
}

var errFraming = errors.New("bad octet-counting frame length")

// readOctetFrame reads "LEN SP MSG". An oversized frame is discarded whole
// (skip; frame is a copy of its first MaxMessage bytes), keeping the
// framing; a length that is not a number loses it, and ends the
// connection.
func (s *SyslogServer) readOctetFrame(r *bufio.Reader) (frame []byte, skip bool, err error) {
	n := 0
	for digits := 0; ; digits++ {
		c, err := r.ReadByte()
		if err != nil {
			if digits > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
		if c == ' ' && digits > 0 {
			break
		}
		if c == '\n' && digits == 0 {
			// Some senders end octet-counted frames with LF, too.
			digits--
			continue
		}
		if c < '0' || c > '9' || digits >= 9 {
			return nil, false, errFraming
		}
		n = n*10 + int(c-'0')
	}
	if n > s.maxMsg {
		head, _ := r.Peek(s.maxMsg) // short only at the end of the stream
		head = bytes.Clone(head)
		if _, err := r.Discard(n); err != nil {
			return head, true, err
		}
		return head, true, nil
	}
	frame, err = r.Peek(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, false, err
	}
	// Discarding what Peek returned cannot fail; the slice stays valid
	// until the next read.
	r.Discard(n)
	return frame, false, nil
}

// readLineFrame reads one LF-terminated message; a message longer than
// MaxMessage is discarded up to its LF (skip; frame is a copy of its
// first MaxMessage bytes).
func (s *SyslogServer) readLineFrame(r *bufio.Reader) (frame []byte, skip bool, err error) {
	frame, err = r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		head := bytes.Clone(frame[:min(len(frame), s.maxMsg)])
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.ReadSlice('\n')
		}
		return head, true, err
	}
	if len(frame) > s.maxMsg+1 { // +1: the LF
		return frame[:s.maxMsg], true, err
	}
	frame = bytes.TrimRight(frame, "\r\n\x00")
	return frame, false, err
}

// atLeastTLS12 returns cfg, or a copy of it that refuses versions
// before TLS 1.2 when cfg allows them.
func atLeastTLS12(cfg *tls.Config) *tls.Config {
	if cfg == nil || cfg.MinVersion >= tls.VersionTLS12 {
		return cfg
	}
	cfg = cfg.Clone()
	cfg.MinVersion = tls.VersionTLS12
	return cfg
}

// Why connTable.admit refuses a connection; fixed values, usable as
// metric labels.
const (
	rejectPerSource = "per_source_limit"
	rejectFull      = "max_conns"
)

// sourceKey is what connections are counted by: an IPv4 address, or the
// /64 of an IPv6 one (a host is usually given a whole /64).
func sourceKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, a.BitLen())
}

// trackedConn is an admitted stream connection. Each Read pushes the read
// deadline forward by the idle timeout, or, until the first frame is in,
// no further than firstBy.
type trackedConn struct {
	net.Conn
	source  netip.Prefix
	idle    time.Duration
	firstBy time.Time
	// last is when the connection last read data (Unix nanoseconds).
	last        atomic.Int64
	established atomic.Bool // a whole frame was read
	evicted     atomic.Bool
	index       int // in its source's list; the table's lock guards it
}

// Read reads with the connection's deadline.
func (t *trackedConn) Read(p []byte) (int, error) {
	now := time.Now()
	dl := now.Add(t.idle)
	if !t.established.Load() && t.firstBy.Before(dl) {
		dl = t.firstBy
	}
	if err := t.Conn.SetReadDeadline(dl); err != nil {
		return 0, err
	}
	n, err := t.Conn.Read(p)
	if n > 0 {
		t.last.Store(now.UnixNano())
	}
	return n, err
}

// evict closes the connection to make room for another.
func (t *trackedConn) evict() {
	t.evicted.Store(true)
	t.Conn.Close()
}

// connTable counts open stream connections, in all and per source.
type connTable struct {
	mu          sync.Mutex
	max, perSrc int
	total       int
	bySource    map[netip.Prefix][]*trackedConn
}

func newConnTable(maxConns, perSource int) *connTable {
	return &connTable{max: maxConns, perSrc: perSource, bySource: map[netip.Prefix][]*trackedConn{}}
}

// admit enters c, or says why not. When the table is full it takes the
// place of the longest-idle connection of the source holding the most,
// provided that source holds at least two more than c's: the victim,
// already out of the table, is returned for the caller to close.
func (t *connTable) admit(c *trackedConn) (victim *trackedConn, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	mine := len(t.bySource[c.source])
	if mine >= t.perSrc {
		return nil, rejectPerSource
	}
	if t.total >= t.max {
		victim = t.victimLocked(mine)
		if victim == nil {
			return nil, rejectFull
		}
		t.removeLocked(victim)
	}
	list := t.bySource[c.source]
	c.index = len(list)
	t.bySource[c.source] = append(list, c)
	t.total++
	return victim, ""
}

// victimLocked returns the longest-idle connection of the source holding
// the most connections, when it holds at least mine+2.
func (t *connTable) victimLocked(mine int) *trackedConn {
	var busiest []*trackedConn
	for _, list := range t.bySource {
		if len(list) > len(busiest) {
			busiest = list
		}
	}
	if len(busiest) < mine+2 {
		return nil
	}
	victim := busiest[0]
	for _, c := range busiest[1:] {
		if c.last.Load() < victim.last.Load() {
			victim = c
		}
	}
	return victim
}

// release takes c out of the table, unless eviction already did.
func (t *connTable) release(c *trackedConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if list := t.bySource[c.source]; c.index >= 0 && c.index < len(list) && list[c.index] == c {
		t.removeLocked(c)
	}
}

func (t *connTable) removeLocked(c *trackedConn) {
	list := t.bySource[c.source]
	last := len(list) - 1
	list[c.index] = list[last]
	list[c.index].index = c.index
	list[last] = nil
	if last == 0 {
		delete(t.bySource, c.source)
	} else {
		t.bySource[c.source] = list[:last]
	}
	c.index = -1
	t.total--
}
