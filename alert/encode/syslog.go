package encode

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/leodido/go-syslog/v4/rfc5424"
)

// SDID is the SD-ID of the structured data element RFC5424 writes, a
// private one ("name@<private enterprise number>", RFC 5424 section
// 7.2.2). 32473 is the enterprise number RFC 5612 reserves for
// documentation and examples: an organisation with a PEN of its own may
// set SDID to "gatewatch@<its number>" at start-up. It must be a valid
// SD-NAME (1 to 32 printable ASCII characters but '=', space, ']' and
// '"'); RFC5424 fails otherwise.
var SDID = "gatewatch@32473"

// Syslog header constants and limits (RFC 5424 section 6).
const (
	syslogFacility = 16 // local0
	syslogVersion  = 1
	syslogAppName  = "gatewatch"
	maxHostname    = 255
	maxMsgID       = 32
	// maxSDValue bounds a PARAM-VALUE, in bytes before escaping: syslog
	// receivers cut long messages anyway, and go-syslog's builder takes
	// time quadratic in the escapes of a value.
	maxSDValue = 1024
)

// syslogSeverity maps a finding's severity to a syslog severity: low 5
// (notice), medium 4 (warning), high 3 (err), critical 2 (crit).
func syslogSeverity(s detect.Severity) uint8 {
	return [...]uint8{5, 4, 3, 2}[s.Rank()]
}

// syslogHeader returns a message with the header of n: PRI local0 and
// the finding's severity, VERSION 1, TIMESTAMP the end of the last
// window (UTC, to the microsecond; NILVALUE beyond year 9999), HOSTNAME
// n.Host, APP-NAME gatewatch, PROCID NILVALUE and MSGID the detector.
// HOSTNAME and MSGID are cut to their limits (255 and 32), and each
// character outside printable ASCII is written as '_'.
func syslogHeader(n alert.Notification) *rfc5424.SyslogMessage {
	f := &n.Finding
	m := &rfc5424.SyslogMessage{}
	m.SetPriority(syslogFacility*8 + syslogSeverity(f.Severity))
	m.SetVersion(syslogVersion)
	m.SetTimestamp(f.WindowEnd.UTC().Format(rfc5424.RFC3339MICRO))
	m.SetHostname(string(appendPrintASCII(nil, n.Host, maxHostname)))
	m.SetAppname(syslogAppName)
	m.SetMsgID(string(appendPrintASCII(nil, f.Detector, maxMsgID)))
	return m
}

// appendSyslog appends the wire form of m.
func appendSyslog(dst []byte, m *rfc5424.SyslogMessage) ([]byte, error) {
	s, err := m.String()
	if err != nil {
		return dst, fmt.Errorf("encode syslog message: %w", err)
	}
	return append(dst, s...), nil
}

// sdParam is one PARAM-NAME and its value.
type sdParam struct{ name, value string }

// sdParams returns the structured data parameters of n. The names are
// valid PARAM-NAMEs: at most 32 printable ASCII characters, no '=',
// space, ']' or '"'.
func sdParams(n alert.Notification) []sdParam {
	f := &n.Finding
	num := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	ps := []sdParam{
		{"incident", f.IncidentID}, {"status", string(f.Status)}, {"detector", f.Detector},
		{"client", f.Client}, {"client_kind", f.ClientKind}, {"severity", string(f.Severity)},
		{"observed", num(f.Observed)}, {"expected", num(f.Expected)}, {"spread", num(f.Spread)},
		{"unit", f.Unit}, {"score", num(f.Score)}, {"p_value", num(f.PValue)},
		{"delivery_id", n.DeliveryID}, {"windows", strconv.Itoa(f.Windows)},
		{"window_start", isoTime(f.WindowStart)},
	}
	method, route := request(f)
	for _, p := range []sdParam{{"route", route}, {"method", method}, {"campaign", f.Campaign}} {
		if p.value != "" {
			ps = append(ps, p)
		}
	}
	if f.ClientCount > 0 {
		ps = append(ps, sdParam{"client_count", strconv.Itoa(f.ClientCount)})
	}
	return ps
}

// truncate returns s cut to at most max bytes, not inside a UTF-8
// sequence.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && i > max-utf8.UTFMax+1 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// sdEscaper writes a PARAM-VALUE as SetParameter takes it: with '"', '\'
// and ']' escaped by a backslash (go-syslog unescapes it, and escapes it
// again when it writes the message).
var sdEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`)

// RFC5424 appends n as an RFC 5424 syslog message (without transport
// framing: RFC 5425/6587 octet counting or a trailing LF are the
// sender's) whose structured data element SDID holds the finding's
// fields (incident, status, detector, client, client_kind, severity,
// observed, expected, spread, unit, score, p_value, delivery_id, windows,
// window_start, and route, method, campaign, client_count when present
// (route and method: the first route); each cut
// to 1024 bytes) and
// whose MSG is the summary, without a BOM. The header is syslogHeader's.
// Values and MSG never hold a control character or invalid UTF-8 (written
// as \xNN; see the package comment), so a newline cannot split the
// message.
func RFC5424(dst []byte, n alert.Notification) ([]byte, error) {
	m := syslogHeader(n)
	for _, p := range sdParams(n) {
		v := visible.escape(truncate(p.value, maxSDValue))
		m.SetParameter(SDID, p.name, sdEscaper.Replace(v))
		if m.StructuredData == nil || (*m.StructuredData)[SDID][p.name] != v {
			// go-syslog drops what its grammar refuses.
			return dst, fmt.Errorf("encode syslog message: structured data %s %s=%q refused", SDID, p.name, v)
		}
	}
	m.SetMessage(visible.escape(n.Finding.Summary))
	return appendSyslog(dst, m)
}

// SyslogCEF appends n as an RFC 5424 syslog message whose MSG is its CEF
// event: the header of RFC5424, NILVALUE structured data. This is how
// CEF travels to ArcSight and most SIEMs' syslog inputs.
func SyslogCEF(dst []byte, n alert.Notification) ([]byte, error) {
	return syslogWrapping(dst, n, CEF)
}

// SyslogLEEF appends n as an RFC 5424 syslog message whose MSG is its
// LEEF event, as SyslogCEF does for CEF: how QRadar receives LEEF.
func SyslogLEEF(dst []byte, n alert.Notification) ([]byte, error) {
	return syslogWrapping(dst, n, LEEF)
}

// syslogWrapping appends a syslog message whose MSG is n encoded by enc.
func syslogWrapping(dst []byte, n alert.Notification, enc alert.Encoder) ([]byte, error) {
	payload, err := enc(nil, n)
	if err != nil {
		return dst, err
	}
	m := syslogHeader(n)
	m.SetMessage(string(payload))
	return appendSyslog(dst, m)
}
