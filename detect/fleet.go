package detect

import "math"

// Fleet-wide common mode.
//
// Some events hit every client at once: a signing-key rotation makes most
// clients' next calls fail with 401, a backend outage returns 5xx to
// everybody, a marketing push doubles everyone's traffic. None of that is
// one client misbehaving, so at each window close the engine measures how
// the fleet as a whole departs from its expectations and raises every
// client's expectation by that much before judging it:
//
//   - volume: the median, over clients with an own baseline expecting at
//     least fleetMinExpected requests, of observed/expected. Multiplies
//     expected volumes.
//   - ratios: the median, over clients with at least popRatioMinRequests
//     requests, of observed ratio minus expected ratio. Added to expected
//     ratios: a burst of rejected tokens adds failures in proportion to
//     the calls made, whatever the client's usual ratio.
//
// Medians make a client deviating from the fleet stand out while everyone
// moving together does not, and ignore a minority of attackers. Factors
// only ever raise expectations; a fleet-wide drop does not make
// individual clients look worse.

// Fleet constants.
const (
	fleetMinClients  = 10 // fewer qualifying clients: no fleet adjustment
	fleetMinExpected = 5  // expected requests for a client to vote on volume
)

// fleet holds one window's common-mode adjustments.
type fleet struct {
	vol  float64 // >= 1, multiplies expected volume
	errs float64 // >= 0, added to expected 5xx ratios
	auth float64 // >= 0, added to expected auth-failure ratios
}

// measureFleet computes the fleet adjustments for the window in e.work.
func (e *Engine) measureFleet() fleet {
	o := &e.opts
	e.fleetVol, e.fleetErr, e.fleetAuth = e.fleetVol[:0], e.fleetErr[:0], e.fleetAuth[:0]
	minHist := uint32(o.MinHistory)
	for i := range e.work {
		it := &e.work[i]
		c := e.tab.list.at(it.idx)
		if !o.Volume.Disabled && c.vol.n >= minHist {
			if mean := c.vol.mean; mean >= fleetMinExpected {
				e.fleetVol = append(e.fleetVol, it.req/mean)
			}
			kappa, excess, _ := c.vol.dispersion(e.a)
			e.pop.addDispersion(kappa, excess)
		}
		if it.req < popRatioMinRequests {
			continue
		}
		if !o.ErrorRatio.Disabled {
			p := e.expectedRatio(&c.errs, e.pop.errs)
			e.fleetErr = append(e.fleetErr, it.errs/it.req-p)
		}
		if !o.AuthFailures.Disabled {
			p := e.expectedRatio(&c.auth, e.pop.auth)
			e.fleetAuth = append(e.fleetAuth, it.auth/it.req-p)
		}
	}
	e.pop.updateDispersion()
	f := fleet{vol: 1}
	if len(e.fleetVol) >= fleetMinClients {
		f.vol = math.Max(1, quantile(e.fleetVol, 0.5))
	}
	if len(e.fleetErr) >= fleetMinClients {
		f.errs = math.Max(0, quantile(e.fleetErr, 0.5))
	}
	if len(e.fleetAuth) >= fleetMinClients {
		f.auth = math.Max(0, quantile(e.fleetAuth, 0.5))
	}
	return f
}

// expectedRatio is the ratio a client is judged against before the fleet
// adjustment: its own once established, the population's before.
func (e *Engine) expectedRatio(b *ratioBaseline, model ratioModel) float64 {
	if b.n >= uint32(e.opts.MinHistory) {
		p, _, _ := b.expect(e.ra, model.p)
		return math.Max(p, minRatio)
	}
	return math.Max(model.p, minRatio)
}
