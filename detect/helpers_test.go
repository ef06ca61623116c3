package detect

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
	"gonum.org/v1/gonum/stat/distuv"
)

// t0 is the start of synthetic test traffic, on a minute boundary.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// traffic is one client's tallies for one synthetic window.
type traffic struct {
	client     string
	req        int
	errs, auth int // how many of req are 5xx, and 401
}

// synth drives an Engine with synthetic windows and collects findings.
type synth struct {
	t        testing.TB
	eng      *Engine
	findings []Finding
	recs     []rec
	ev       ingest.Event
	rng      *rand.Rand
}

type rec struct {
	at     time.Duration
	client string
	status int
}

// newSynth returns a synth whose engine has opts (Emit is set by synth).
func newSynth(t testing.TB, opts Options) *synth {
	s := &synth{t: t, rng: rand.New(rand.NewPCG(1, 2))}
	opts.Emit = func(f Finding) { s.findings = append(s.findings, f) }
	s.eng = New(opts)
	return s
}

// window sends window w's traffic (w minutes after t0), every client's
// requests spread over the minute and interleaved in time order.
func (s *synth) window(w int, ts []traffic) {
	s.windowSpread(t0.Add(time.Duration(w)*time.Minute), time.Minute, ts)
}

// send observes one event.
func (s *synth) send(at time.Time, client string, status int) {
	s.ev.Reset()
	s.ev.Time = at
	s.ev.ClientKey = client
	s.ev.ClientKind = ingest.ClientIP
	s.ev.Status = status
	switch status {
	case 401:
		s.ev.Auth = ingest.AuthFailed
	case 403:
		s.ev.Auth = ingest.AuthForbidden
	default:
		s.ev.Auth = ingest.AuthOK
	}
	s.eng.Observe(&s.ev)
}

// poisson draws a Poisson count.
func (s *synth) poisson(lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	return int(distuv.Poisson{Lambda: lambda, Src: s.rng}.Rand())
}

// normal draws a rounded normal count, at least 0.
func (s *synth) normal(mean, sd float64) int {
	return max(0, int(math.Round(mean+sd*s.rng.NormFloat64())))
}

// binomial draws how many of n requests hit with probability p.
func (s *synth) binomial(n int, p float64) int {
	k := 0
	for range n {
		if s.rng.Float64() < p {
			k++
		}
	}
	return k
}

// background is a fleet of ordinary clients: Poisson volumes from 5 to
// ~100 a minute, ~0.5% 5xx and ~1% auth failures.
func (s *synth) background(n int) []traffic {
	ts := make([]traffic, n)
	for i := range ts {
		lam := 5 * math.Pow(20, float64(i)/float64(max(1, n-1)))
		req := s.poisson(lam)
		ts[i] = traffic{client: clientName(i), req: req, errs: s.binomial(req, 0.005), auth: s.binomial(req, 0.01)}
	}
	return ts
}

func clientName(i int) string {
	return "10.0." + itoa(i/250) + "." + itoa(1+i%250)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// of returns the findings about client (all detectors when det is "").
func (s *synth) of(client, det string) []Finding {
	var out []Finding
	for _, f := range s.findings {
		if f.Client == client && (det == "" || f.Detector == det) {
			out = append(out, f)
		}
	}
	return out
}
