package detect

import (
	"math"
	"time"
)

// Fleet-wide detectors.
//
// fleet_volume judges the fleet's total requests per window, and
// fleet_auth_failures the auth failures of failure-dominated client
// windows (at least failDominated of the client's requests failed), each
// against its own baseline. Clients whose own detector already flagged
// the window are left out, so a single flood or stuffing client is one
// finding, not two: what remains is many clients each below the
// per-client floors — a distributed brute force or DDoS. Failure-dominated
// windows are what tells a brute force from a token rotation: a client
// whose token expired fails a few calls and recovers within the minute,
// a guessing bot keeps failing. Their findings have client FleetClient and
// name the top contributing clients.
//
// Seasonality. The fleet total is where time of day shows: a daily peak
// moves it by tens of percent, a nightly batch hour by several times. Its
// baseline is kept on the deseasonalised total, with 24 hour-of-day
// factors (log-scale EWMAs, weight seasonWeight, of the total's departure
// from the level, each window clipped at seasonClip) that are used once
// their hour has been seen on seasonDays days; before that the recent
// history alone (the EWMA level, which follows slow daily drift) is the
// expectation. A factor learns from every window of its hour, flagged or
// not, since a daily peak is anomalous until learned; an attack of a few
// minutes is diluted among its hour's sixty windows. The fleet factor
// (fleet.go) raises every client's expectation by the fleet's common mode
// each window, which is where the fleet's daily peak shows; a client's
// own schedule is its own profile's (season.go).

// Fleet detector constants.
const (
	failDominated = 0.8  // share of failed requests that makes a client window failure-dominated
	seasonWeight  = 0.05 // EWMA weight of a window in its hour's seasonal factor
	seasonDays    = 2    // days an hour must have been seen before its factor is used
	topClients    = 5    // clients named by a fleet finding
)

// seasonClip bounds one window's log-scale departure from the level when
// it teaches its hour's factor: ln 8.
const seasonClip = 2.0794415416798357

// fleetState is the fleet detectors' state.
type fleetState struct {
	vol, auth volumeBaseline
	season    [24]float64 // log-scale hour-of-day factors of the total
	seasonN   [24]uint32  // windows behind each factor
}

// seasonal returns the seasonal factor for window w and whether it is
// trusted yet.
func (e *Engine) seasonal(w int64) (hour int, s float64, ok bool) {
	if e.opts.Window > time.Hour {
		return 0, 0, false
	}
	hour = e.clock.start(w).Hour()
	perHour := uint32(time.Hour / e.opts.Window)
	return hour, e.fleet.season[hour], e.fleet.seasonN[hour] >= seasonDays*perHour
}

// judgeFleet runs the fleet detectors on the window in e.work.
func (e *Engine) judgeFleet(w int64) {
	o := &e.opts
	var total, fails float64
	for i := range e.work {
		it := &e.work[i]
		if !it.volFlagged {
			total += it.req
		}
		if !it.authFlagged && it.auth >= failDominated*it.req {
			fails += it.auth
		}
	}
	e.curItem = -1
	if !o.FleetVolume.Disabled {
		hour, s, ok := e.seasonal(w)
		if !ok {
			s = 0
		}
		x := math.Expm1(math.Log1p(total) - s)
		b := &e.fleet.vol
		v := verdict{observed: total, requests: total, history: int(b.n)}
		if b.n >= uint32(o.MinHistory) {
			v = e.judgeOwn(b, x, total >= o.FleetVolume.Floor, o.FleetVolume.MinRatio, tailsBoth)
			v.observed, v.requests, v.seasonal = total, total, ok
			v.expected = math.Expm1(math.Log1p(v.expected) + s)
			v.spread *= math.Exp(s)
			e.tests++
			e.candidate(-1, detFleetVolume, &v)
		}
		lm := b.lm
		e.absorbOwn(b, x, &v)
		if e.opts.Window <= time.Hour && b.n > 1 {
			// Every window teaches its hour, anomalous or not: a daily
			// peak is anomalous until it has been learned. An attack is
			// diluted among the hour's other windows, and each window's
			// say is clipped at a factor of seasonClip.
			n := &e.fleet.seasonN[hour]
			r := math.Max(-seasonClip, math.Min(seasonClip, math.Log1p(total)-lm))
			e.fleet.season[hour] += weight(*n, seasonWeight) * (r - e.fleet.season[hour])
			if *n < maxWindows {
				*n++
			}
		}
	}
	if !o.FleetAuth.Disabled {
		b := &e.fleet.auth
		v := verdict{observed: fails, requests: total, history: int(b.n)}
		if b.n >= uint32(o.MinHistory) {
			v = e.judgeOwn(b, fails, fails >= o.FleetAuth.Floor, o.FleetAuth.MinRatio, tailsBoth)
			v.requests = total
			e.tests++
			e.candidate(-1, detFleetAuth, &v)
		}
		e.absorbOwn(b, fails, &v)
	}
}

// topClients names the clients contributing most to a fleet finding of
// this window: by requests above their expectation (fleet_volume) or by
// auth failures in failure-dominated windows (fleet_auth_failures).
func (e *Engine) topClients(d detector) []string {
	var idx [topClients]int32
	var val [topClients]float64
	n := 0
	for i := range e.work {
		it := &e.work[i]
		var x float64
		switch d {
		case detFleetVolume:
			if it.volFlagged {
				continue
			}
			x = it.req - it.volExpected
		default:
			if it.authFlagged || it.auth < failDominated*it.req {
				continue
			}
			x = it.auth
		}
		if !(x > 0) {
			continue
		}
		j := n
		if n < topClients {
			n++
		} else if x <= val[n-1] {
			continue
		} else {
			j = n - 1
		}
		for j > 0 && val[j-1] < x {
			val[j], idx[j] = val[j-1], idx[j-1]
			j--
		}
		val[j], idx[j] = x, it.idx
	}
	out := make([]string, n)
	for i := range n {
		out[i] = e.tab.key(idx[i])
	}
	return out
}
