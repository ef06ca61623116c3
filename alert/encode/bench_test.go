package encode

import (
	"testing"

	"github.com/gatewatch/gatewatch/alert"
)

// benchEncoder measures enc on the plain volume finding and on the
// hostile one, reusing its buffer as a sink would.
func benchEncoder(b *testing.B, enc alert.Encoder) {
	cases := testCases()
	for _, tc := range []testCase{cases[0], cases[len(cases)-1]} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				var err error
				if buf, err = enc(buf[:0], tc.n); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkCEF(b *testing.B)        { benchEncoder(b, CEF) }
func BenchmarkLEEF(b *testing.B)       { benchEncoder(b, LEEF) }
func BenchmarkRFC5424(b *testing.B)    { benchEncoder(b, RFC5424) }
func BenchmarkSyslogCEF(b *testing.B)  { benchEncoder(b, SyslogCEF) }
func BenchmarkSyslogLEEF(b *testing.B) { benchEncoder(b, SyslogLEEF) }
func BenchmarkECS(b *testing.B)        { benchEncoder(b, ECS) }
func BenchmarkOCSF(b *testing.B)       { benchEncoder(b, OCSF) }
func BenchmarkText(b *testing.B)       { benchEncoder(b, Text) }
