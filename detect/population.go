package detect

import "math"

// The population (peer) baseline.
//
// The population also supplies the prior for a client's overdispersion:
// the median over established clients of how much noisier than Poisson
// their volumes are (baseline.go shrinks young baselines towards it).
//
// A client without MinHistory windows of its own is compared with the
// other clients. At every window close the population model measures the
// active clients of that window, leaving out the windows a detector
// flagged (an attacker must not shape the baseline it is judged against),
// and is smoothed across windows:
//
//   - volume: the distribution of log(1+requests) over clients, summarised
//     by its median, a robust spread and its 99th percentile. Client
//     volumes are heavy-tailed (near log-normal), so a new client is only
//     anomalous when it is far beyond the fleet's upper tail, not merely
//     above the typical client.
//   - ratios (5xx, auth failures): a beta-binomial view of per-client
//     ratios, among clients with enough requests to have one: the mean
//     ratio with the top 2% trimmed off (attackers), and the intra-class
//     correlation rho, the share of the ratio variance that is between
//     clients rather than binomial noise. A window of n requests from an
//     unknown client then has 1+(n-1)·rho times the binomial variance:
//     clients genuinely differ, so a new client with 30% failures is not
//     alarming while one with 95% is.

// Population constants.
const (
	// popMinClients is the fewest clients a window needs to measure the
	// population; smaller windows leave the model as it was.
	popMinClients = 20
	// popRatioMinRequests is the fewest requests that give a client a
	// ratio worth including in the population.
	popRatioMinRequests = 10
	// popWeight is the EWMA weight of a new window in the model: about a
	// seven-window half-life, quick to learn yet not jumpy.
	popWeight = 0.1
	// popTrim is the share of highest ratios left out of the population
	// mean and variance.
	popTrim = 0.02
	// minRatio floors population and own expected ratios: a fleet that
	// never fails has not shown that one failure is a catastrophe.
	minRatio = 0.001
	// minRho floors rho, since the beta-binomial is only an approximation
	// of how clients differ.
	minRho = 0.01
	// minLogSpread floors the spread of log volumes.
	minLogSpread = 0.25
)

// priorRatio and priorRho are the ratio model before any window had
// enough clients to measure it (a single-client stream, or the first
// windows of a small one): a typical API's 1% with generous dispersion.
const (
	priorRatio = 0.01
	priorRho   = 0.1
)

// ratioModel is the population's view of one ratio.
type ratioModel struct {
	p   float64 // trimmed mean per-client ratio
	rho float64 // intra-class correlation of per-client ratios
}

// population is the fleet model plus the scratch space measuring it.
type population struct {
	volReady bool    // the volume model has been measured
	volMid   float64 // median log1p(requests) per client-window
	volSD    float64 // robust standard deviation of log1p(requests)
	volHigh  float64 // 99th percentile of log1p(requests)

	errs, auth   ratioModel
	ratioWindows int // windows that measured a ratio model

	disp      dispersionPrior // median overdispersion of established clients
	dispReady bool

	// Scratch, reused every window close.
	logVol            []float64
	errR, authR       []float64 // per-client ratios
	errInvN, authInvN []float64 // 1/requests of the same clients
	kappa, excess     []float64 // established clients' overdispersion
	tmp               []float64
}

func newPopulation() population {
	prior := ratioModel{p: priorRatio, rho: priorRho}
	return population{errs: prior, auth: prior}
}

// reset empties the dispersion scratch for a new window. The samples of
// the volume and ratio models are not reset: a window with fewer than
// popMinClients clients leaves its samples for the next, so a small site
// (one or two clients a minute) is measured over as many windows as it
// takes to see popMinClients client windows — the population over a
// longer horizon — instead of never. update consumes them.
func (p *population) reset() {
	p.kappa, p.excess = p.kappa[:0], p.excess[:0]
}

// addDispersion records an established client's overdispersion.
func (p *population) addDispersion(kappa, excess float64) {
	p.kappa = append(p.kappa, kappa)
	p.excess = append(p.excess, excess)
}

// updateDispersion folds the recorded overdispersions into the prior.
// Unlike the rest of the model it describes baselines, not this window's
// traffic, so the engine updates it before judging the window.
func (p *population) updateDispersion() {
	if len(p.kappa) < popMinClients {
		return
	}
	d := dispersionPrior{kappa: quantile(p.kappa, 0.5), excess: quantile(p.excess, 0.5)}
	if !p.dispReady {
		p.disp, p.dispReady = d, true
		return
	}
	p.disp.kappa += popWeight * (d.kappa - p.disp.kappa)
	p.disp.excess += popWeight * (d.excess - p.disp.excess)
}

// addVolume records one client's requests in the window. The engine
// leaves out windows a detector flagged, so an attacker does not shape
// the baseline it is judged against.
func (p *population) addVolume(req float64) {
	p.logVol = append(p.logVol, math.Log1p(req))
}

// addErrors records one client's 5xx count out of req requests.
func (p *population) addErrors(req, errs float64) {
	if req >= popRatioMinRequests {
		p.errR = append(p.errR, errs/req)
		p.errInvN = append(p.errInvN, 1/req)
	}
}

// addAuth records one client's auth failures out of req requests.
func (p *population) addAuth(req, auth float64) {
	if req >= popRatioMinRequests {
		p.authR = append(p.authR, auth/req)
		p.authInvN = append(p.authInvN, 1/req)
	}
}

// volumeHigh is the 99th percentile of requests per window.
func (p *population) volumeHigh() float64 { return math.Expm1(p.volHigh) }

// update folds the recorded window into the model. The first window that
// can be measured replaces the prior outright.
func (p *population) update() {
	if len(p.logVol) >= popMinClients {
		mid, sd, high := p.volumeStats()
		if !p.volReady {
			p.volMid, p.volSD, p.volHigh, p.volReady = mid, sd, high, true
		} else {
			p.volMid += popWeight * (mid - p.volMid)
			p.volSD += popWeight * (sd - p.volSD)
			p.volHigh += popWeight * (high - p.volHigh)
		}
		p.logVol = p.logVol[:0]
	}
	first := p.ratioWindows == 0
	measured := false
	if len(p.errR) >= popMinClients {
		p.errs = blend(p.errs, p.ratioStats(p.errR, p.errInvN), first)
		p.errR, p.errInvN = p.errR[:0], p.errInvN[:0]
		measured = true
	}
	if len(p.authR) >= popMinClients {
		p.auth = blend(p.auth, p.ratioStats(p.authR, p.authInvN), first)
		p.authR, p.authInvN = p.authR[:0], p.authInvN[:0]
		measured = true
	}
	if measured {
		p.ratioWindows++
	}
}

// blend folds a window's measurement into a ratio model, or replaces the
// prior with it.
func blend(m, w ratioModel, replace bool) ratioModel {
	if replace {
		return w
	}
	m.p += popWeight * (w.p - m.p)
	m.rho += popWeight * (w.rho - m.rho)
	return m
}

// volumeStats summarises logVol: median, robust spread and 99th
// percentile. The spread is the larger of the MAD-based one and the one
// the upper tail implies ((p99-median)/2.33 for a normal), because log1p
// squeezes the many low-volume clients together and the MAD alone would
// then call ordinary heavy clients outliers.
func (p *population) volumeStats() (mid, sd, high float64) {
	return logStats(p.logVol, &p.tmp)
}

// ratioStats measures a ratio model from per-client ratios rs and the
// matching 1/requests, trimming the highest popTrim of them.
func (p *population) ratioStats(rs, invN []float64) ratioModel {
	p.tmp = append(p.tmp[:0], rs...)
	cut := quantile(p.tmp, 1-popTrim)
	var n, sum, sumSq, sumInvN float64
	for i, r := range rs {
		if r > cut {
			continue
		}
		n++
		sum += r
		sumSq += r * r
		sumInvN += invN[i]
	}
	if n < 2 {
		return ratioModel{p: minRatio, rho: minRho}
	}
	mean := sum / n
	variance := (sumSq - sum*mean) / (n - 1)
	pq := math.Max(mean, minRatio) * (1 - math.Max(mean, minRatio))
	between := variance - pq*sumInvN/n // minus the binomial noise
	rho := math.Min(math.Max(between/pq, minRho), 1)
	return ratioModel{p: math.Max(mean, minRatio), rho: rho}
}
