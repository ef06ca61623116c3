package encode

import (
	"testing"

	"github.com/gatewatch/gatewatch/alert"
)

// fuzzKinds are the client kinds the fuzz targets pick from.
var fuzzKinds = []string{"ip", "api_key", "host", "campaign", "fleet", "jwt_sub"}

// fuzzEncoder fuzzes enc with random client, route, summary and client
// kind: it must not fail or panic, and its consumer must parse back the
// values (check).
func fuzzEncoder(f *testing.F, enc alert.Encoder, check func(testing.TB, alert.Notification, []byte)) {
	f.Add("198.51.100.23", "/api/v1/orders/{id}", "client sent 58 req/min", uint8(0))
	f.Add("2001:db8::1", "POST /login", "x", uint8(0))
	f.Add(hostile, hostile, hostile, uint8(1))
	f.Add("a=b c=d", "\\", "=", uint8(2))
	f.Add("x\\", "|]\"", "\r\n\x1b", uint8(3))
	f.Add("", "", "", uint8(4))
	f.Fuzz(func(t *testing.T, client, route, summary string, kind uint8) {
		fd := hostileFinding(client, route, summary)
		fd.ClientKind = fuzzKinds[int(kind)%len(fuzzKinds)]
		n := alert.NewNotification(fd, "siem", client)
		out, err := enc(nil, n)
		if err != nil {
			t.Fatalf("%v", err)
		}
		check(t, n, out)
	})
}

func FuzzCEF(f *testing.F)        { fuzzEncoder(f, CEF, checkCEF) }
func FuzzLEEF(f *testing.F)       { fuzzEncoder(f, LEEF, checkLEEF) }
func FuzzRFC5424(f *testing.F)    { fuzzEncoder(f, RFC5424, checkRFC5424) }
func FuzzSyslogCEF(f *testing.F)  { fuzzEncoder(f, SyslogCEF, checkSyslogCEF) }
func FuzzSyslogLEEF(f *testing.F) { fuzzEncoder(f, SyslogLEEF, checkSyslogLEEF) }
func FuzzECS(f *testing.F)        { fuzzEncoder(f, ECS, checkECS) }
func FuzzOCSF(f *testing.F)       { fuzzEncoder(f, OCSF, checkOCSF) }
func FuzzText(f *testing.F)       { fuzzEncoder(f, Text, checkText) }
