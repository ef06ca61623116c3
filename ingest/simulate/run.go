package simulate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
	"gonum.org/v1/gonum/stat/distuv"
)

// Format is the log format Run's events claim to come from: the nginx
// "combined" lines WriteNginx renders.
const Format = "nginx_combined"

// record is one planned request of the current minute; the rest of the
// request is drawn when it is emitted, in time order.
type record struct {
	client int32
	sec    uint8
	tag    uint8
}

// Record tags: ordinary traffic, or a step of the token-refresh trap.
const (
	tagRegular uint8 = iota
	tagExpired       // a call with an expired token: 401
	tagRefresh       // the client fetches a new token: POST /oauth/token 200
)

// generator is the per-run state: one seeded stream, reusable buffers and
// one Event, so a run allocates nothing per event.
type generator struct {
	s      *Scenario
	src    *rand.PCG
	r      *rand.Rand
	ev     ingest.Event
	target []byte
	recs   []record
	sorted []record
	active []bool

	events  int64
	status  [6]int64
	auth    int64
	perKind []int64

	enumNext int64 // the next order id an Enumeration attack requests
}

func (s *Scenario) newGenerator() *generator {
	src := rand.NewPCG(s.trafficSeed[0], s.trafficSeed[1])
	return &generator{
		s: s, src: src, r: rand.New(src),
		target:  make([]byte, 0, 256),
		active:  make([]bool, len(s.clients)),
		perKind: make([]int64, len(s.kindIndex)),
	}
}

// Run emits every event in non-decreasing time order, each exactly as
// parsing its WriteNginx line with the nginx_combined parser and
// normalising it with a zero-option ingest.Normalizer would produce
// (except for the API key id of CredentialSharing and TrapRoamingKey
// clients, which the combined format cannot carry). ev is
// valid only during the call. Run stops at the first error emit returns,
// or when ctx is done.
func (s *Scenario) Run(ctx context.Context, emit func(ev *ingest.Event) error) error {
	norm, err := ingest.NewNormalizer(ingest.NormalizerOptions{})
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	g := s.newGenerator()
	err = g.run(ctx, func(ev *ingest.Event, _ *client) error {
		norm.Normalize(ev)
		return emit(ev)
	})
	if err != nil {
		return err
	}
	s.setStats(g)
	return nil
}

// WriteNginx renders the same traffic as Run as nginx "combined" log lines,
// one per event, in time order.
func (s *Scenario) WriteNginx(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	line := make([]byte, 0, 512)
	g := s.newGenerator()
	err := g.run(ctx, func(ev *ingest.Event, c *client) error {
		line = appendCombined(line[:0], ev, c.proto)
		_, err := bw.Write(line)
		return err
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("simulate: write nginx log: %w", err)
	}
	s.setStats(g)
	return nil
}

func (s *Scenario) setStats(g *generator) {
	st := Stats{
		Events: g.events, Minutes: s.minutes, Clients: len(s.clients),
		Status: g.status, AuthFailures: g.auth, ByKind: make(map[Kind]int64),
	}
	for i, n := range g.perKind {
		if n > 0 {
			st.ByKind[s.kindIndex[i]] += n
		}
	}
	s.mu.Lock()
	s.stats = st
	s.mu.Unlock()
}

// run generates minute by minute: plan who sends how much, order the
// minute's requests by second, then draw and hand over each request.
func (g *generator) run(ctx context.Context, each func(ev *ingest.Event, c *client) error) error {
	s := g.s
	for m := range s.minutes {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("simulate: minute %d: %w", m, err)
		}
		mt := s.minuteTime(m)
		g.plan(m, mt)
		g.sortBySecond()
		attack := m >= s.attackStart && m < s.attackEnd
		unix := mt.Unix()
		for _, rec := range g.sorted {
			c := &s.clients[rec.client]
			g.fill(c, rec, mt, unix, attack)
			g.count(c)
			if err := each(&g.ev, c); err != nil {
				return fmt.Errorf("simulate: emit at %v: %w", g.ev.Time, err)
			}
		}
	}
	return nil
}

// diurnal is a mild daily cycle: traffic peaks at 15:00 UTC, 20% above
// the mean, and bottoms out at 03:00.
func diurnal(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	return 1 + 0.2*math.Cos(2*math.Pi*(h-15)/24)
}

// plan fills g.recs with the minute's requests in client order.
func (g *generator) plan(m int, mt time.Time) {
	s, r := g.s, g.r
	g.recs = g.recs[:0]
	day := diurnal(mt)
	attack := m >= s.attackStart && m < s.attackEnd
	for i := range s.clients {
		c := &s.clients[i]
		if c.intermittent {
			switch {
			case m == 0:
				g.active[i] = r.Float64() < c.pActive
			case g.active[i]:
				g.active[i] = r.Float64() >= c.pStop
			default:
				g.active[i] = r.Float64() < c.pResume
			}
			if !g.active[i] {
				continue
			}
		}
		if c.monitor > 0 {
			for sec := c.account % c.monitor; sec < 60; sec += c.monitor {
				g.recs = append(g.recs, record{client: int32(i), sec: uint8(sec)})
			}
			continue
		}
		lam, shape := g.rate(c, m, day, attack)
		if lam <= 0 {
			continue
		}
		// A gamma-distributed rate behind a Poisson count: the negative
		// binomial overdispersion real per-minute counts show.
		lam *= distuv.Gamma{Alpha: shape, Beta: shape, Src: g.src}.Rand()
		n := int(distuv.Poisson{Lambda: lam, Src: g.src}.Rand())
		for range n {
			g.recs = append(g.recs, record{client: int32(i), sec: uint8(r.IntN(60))})
		}
		if m == s.refreshMin && c.tokens {
			// Every token issued before a signing-key rotation expires at
			// once: each client's next few calls fail, it fetches a new
			// token and carries on.
			at := uint8(r.IntN(50))
			for range 1 + r.IntN(3) {
				g.recs = append(g.recs, record{client: int32(i), sec: at, tag: tagExpired})
			}
			g.recs = append(g.recs, record{client: int32(i), sec: at + 1, tag: tagRefresh})
		}
	}
}

// rate returns the client's expected requests this minute and the gamma
// shape of its overdispersion.
func (g *generator) rate(c *client, m int, day float64, attack bool) (float64, float64) {
	if lam, shape, ok := g.extendedRate(c, m, day, attack); ok {
		return lam, shape
	}
	switch c.kind {
	case CredentialStuffing:
		if attack {
			return c.attackRate, c.attackShape
		}
		return 0, 0
	case QuietSpike, Flood:
		if attack {
			return c.attackRate, c.attackShape
		}
	case TrapOrganicGrowth:
		frac := float64(m) / float64(max(1, g.s.minutes-1))
		return c.rate * day * math.Pow(c.growth, frac), c.shape
	}
	return c.rate * day, c.shape
}

// sortBySecond orders g.recs into g.sorted by second with a stable
// counting sort, keeping each client's token-refresh steps in order.
func (g *generator) sortBySecond() {
	var start [61]int
	for _, rec := range g.recs {
		start[rec.sec+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	if cap(g.sorted) < len(g.recs) {
		g.sorted = make([]record, len(g.recs), cap(g.recs))
	}
	g.sorted = g.sorted[:len(g.recs)]
	for _, rec := range g.recs {
		g.sorted[start[rec.sec]] = rec
		start[rec.sec]++
	}
}

// fill draws the details of one request into g.ev as a parser would leave
// it: raw target and remote address, not yet normalised.
func (g *generator) fill(c *client, rec record, mt time.Time, unix int64, attack bool) {
	r, ev := g.r, &g.ev
	ev.Reset()
	ev.Format = Format
	ev.Time = mt.Add(time.Duration(rec.sec) * time.Second)
	g.setRemote(c, attack)
	ev.UserAgent = c.ua
	ev.Referer = c.referer
	var rt *route
	switch {
	case c.kind == CredentialStuffing || c.kind == DistributedBruteForce:
		ev.UserAgent = browserAgents[r.IntN(len(browserAgents))]
		ev.Method = "POST"
		g.target = append(g.target[:0], c.loginPath...)
		ev.Status = 401
		if r.Float64() < c.successRate {
			ev.Status = 200
		}
		ev.BytesOut = int64(40 + r.IntN(50))
		if ev.Status == 200 {
			ev.BytesOut = int64(900 + r.IntN(300))
		}
		ev.Raw.Target = ev.AppendString(g.target)
		return
	case g.fillExtended(c, attack):
		return
	case rec.tag == tagRefresh:
		rt = &catalogue[routeOAuthToken]
		ev.Status = rt.ok
	case rec.tag == tagExpired:
		rt = c.pickRoute(r)
		ev.Status = 401
	default:
		rt = c.pickRoute(r)
		if c.tokens && r.Float64() < tokenFetch {
			rt = &catalogue[routeOAuthToken]
		}
		pAuth, p5xx, pForbidden := c.pAuth, c.p5xx, 0.2
		if attack {
			switch c.kind {
			case AuthFailureJump:
				// Probing with stolen or stale credentials: mostly
				// rejected, some authenticated but refused.
				pAuth, pForbidden = c.attackAuth, 0.3
			case ErrorRatioJump:
				p5xx = c.attack5xx
			}
		}
		ev.Status = status(r, c, rt, pAuth, p5xx, pForbidden)
	}
	ev.Method = rt.method
	g.target = rt.build(g.target[:0], r, c, unix)
	ev.Raw.Target = ev.AppendString(g.target)
	ev.BytesOut = bodyBytes(r, rt, ev.Status)
}

func (g *generator) count(c *client) {
	g.events++
	st := g.ev.Status
	if st >= 100 && st < 600 {
		g.status[st/100]++
	}
	if st == 401 || st == 403 {
		g.auth++
	}
	g.perKind[c.kindIdx]++
}

// appendCombined renders ev (raw, before normalisation) as an nginx
// "combined" line with a trailing newline:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
func appendCombined(b []byte, ev *ingest.Event, proto string) []byte {
	b = append(b, ev.Raw.RemoteAddr...)
	b = append(b, " - - ["...)
	b = appendCLFTime(b, ev.Time)
	b = append(b, "] \""...)
	b = append(b, ev.Method...)
	b = append(b, ' ')
	b = append(b, ev.Raw.Target...)
	b = append(b, ' ')
	b = append(b, proto...)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(ev.Status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, ev.BytesOut, 10)
	b = append(b, " \""...)
	b = appendDash(b, ev.Referer)
	b = append(b, "\" \""...)
	b = appendDash(b, ev.UserAgent)
	return append(b, "\"\n"...)
}

func appendDash(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return append(b, s...)
}

const monthNames = "JanFebMarAprMayJunJulAugSepOctNovDec"

// appendCLFTime appends t (UTC) as "02/Jan/2006:15:04:05 +0000"; by hand
// because time.AppendFormat costs as much as the rest of the line.
func appendCLFTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	hh, mm, ss := t.Clock()
	b = append2(b, d)
	b = append(b, '/')
	b = append(b, monthNames[3*(mo-1):3*mo]...)
	b = append(b, '/')
	b = append2(b, y/100)
	b = append2(b, y%100)
	b = append(b, ':')
	b = append2(b, hh)
	b = append(b, ':')
	b = append2(b, mm)
	b = append(b, ':')
	b = append2(b, ss)
	return append(b, " +0000"...)
}

func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }
