package detect

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// From verdicts to findings.
//
// Every detector's anomalous verdicts of a window are candidates. Before
// any is recorded, the window's candidates are filtered as a whole:
//
//  1. Benjamini–Hochberg at Options.FDR over all the window's tests (every
//     client and detector judged, the fleet detectors included): with
//     the candidates' tail probabilities sorted, p(1) <= ... <= p(k), the
//     largest k with p(k) <= k·FDR/tests sets the cut, and candidates
//     above it are dropped. PValue still applies to each test, so BH only
//     ever removes findings: with 2,000 clients it rarely binds, with
//     100,000 it keeps the expected share of chance findings at FDR.
//     Injection findings are counts, not tests, and are exempt.
//  2. Maintenance windows drop every candidate, allowlisted clients their
//     own.
//
// What survives is recorded into incidents (incident.go) with its
// explanation. Filtering never changes what baselines absorb: a window
// that was anomalous is clipped whether or not it was reported.

// candidate is an anomalous verdict waiting for the window's filters.
type candidate struct {
	idx  int32 // client slot; -1 for the fleet
	item int32 // index in Engine.work; -1 for the fleet
	det  detector
	v    verdict
	// absorbed: the verdict is not recorded by decide: part of a login
	// campaign and reported there (absorbLogins), or filtered out.
	absorbed bool
	route    uint16 // absorbLogins: the login route it may be absorbed into
}

// candidate queues v when it is anomalous, unless people marked the
// client's anomaly as a false positive: then v becomes an ordinary window
// (neither anomalous nor suspect) for the baselines that absorb it next.
func (e *Engine) candidate(idx int32, d detector, v *verdict) {
	if v.anomalous && e.forgiven(idx, d) {
		v.anomalous, v.suspect = false, false
		return
	}
	if v.anomalous {
		e.cands = append(e.cands, candidate{idx: idx, item: e.curItem, det: d, v: *v})
		if idx >= 0 && e.curItem >= 0 {
			e.work[e.curItem].flagged = true
		}
	}
}

// bhCut returns the log tail probability at or below which candidates
// pass Benjamini–Hochberg, or +Inf when the filter is off.
func (e *Engine) bhCut() float64 {
	q := e.opts.FDR
	if !(q > 0) || q >= 1 {
		return math.Inf(1)
	}
	e.logPs = e.logPs[:0]
	for i := range e.cands {
		if e.cands[i].det != detProbe && !e.cands[i].v.rule {
			e.logPs = append(e.logPs, e.cands[i].v.logP)
		}
	}
	slices.Sort(e.logPs)
	m := float64(max(e.tests, len(e.logPs), 1))
	for k := len(e.logPs); k >= 1; k-- {
		if e.logPs[k-1] <= math.Log(float64(k)*q/m) {
			return e.logPs[k-1]
		}
	}
	return math.Inf(-1)
}

// decide filters the window's candidates and records the survivors.
func (e *Engine) decide(w int64) {
	if len(e.cands) == 0 || e.inMaintenance(w) {
		return
	}
	cut := e.bhCut()
	// The most specific detector of a client comes first, so it names
	// the client's incident (detectorPreference).
	slices.SortStableFunc(e.cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.idx, b.idx), cmp.Compare(detectorPreference[a.det], detectorPreference[b.det]))
	})
	e.absorbLogins()
	for i := range e.cands {
		c := &e.cands[i]
		if c.absorbed || c.det != detProbe && !c.v.rule && !(c.v.logP <= cut) {
			c.absorbed = true // not recorded now, nor by decideFleetAuth
			continue
		}
		if c.det == detFleetAuth {
			continue // decideFleetAuth, once the window's campaigns are known
		}
		if c.idx >= 0 && e.clientAllowed(c.idx) {
			continue
		}
		c.v.ex = e.explainFor(c, w)
		e.record(c.idx, c.det, w, &c.v, c.item)
	}
}

// decideFleetAuth records the window's fleet_auth_failures verdict that
// passed decide's filters, unless a login campaign is active: the same
// addresses are that campaign's, one incident for one attack.
func (e *Engine) decideFleetAuth(w int64) {
	for i := range e.cands {
		c := &e.cands[i]
		if c.det != detFleetAuth || c.absorbed || e.inMaintenance(w) || e.loginCampaignActive(w) {
			continue
		}
		c.v.ex = e.explainFor(c, w)
		e.record(c.idx, c.det, w, &c.v, c.item)
	}
}

// inMaintenance reports whether window w overlaps a maintenance window.
func (e *Engine) inMaintenance(w int64) bool {
	if len(e.opts.Maintenance) == 0 {
		return false
	}
	start, end := e.clock.start(w), e.clock.start(w+1)
	for _, r := range e.opts.Maintenance {
		if r.Start.Before(end) && start.Before(r.End) {
			return true
		}
	}
	return false
}

// clientAllowed reports whether client idx is on the AllowClients list.
func (e *Engine) clientAllowed(idx int32) bool {
	if len(e.opts.AllowClients) == 0 {
		return false
	}
	key := e.tab.key(idx)
	if _, ok := e.allowClient[key]; ok {
		return true
	}
	if len(e.allowNets) == 0 {
		return false
	}
	a, err := netip.ParseAddr(key)
	if err != nil {
		return false
	}
	for _, p := range e.allowNets {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// compileAllowLists splits the allowlists into exact entries and prefixes.
func (e *Engine) compileAllowLists() {
	for _, s := range e.opts.AllowClients {
		if p, err := netip.ParsePrefix(s); err == nil {
			e.allowNets = append(e.allowNets, p.Masked())
			continue
		}
		if e.allowClient == nil {
			e.allowClient = make(map[string]struct{})
		}
		e.allowClient[s] = struct{}{}
	}
	for _, r := range e.opts.AllowRoutes {
		if p, ok := strings.CutSuffix(r, "*"); ok {
			e.allowPrefix = append(e.allowPrefix, p)
			continue
		}
		if e.allowRoute == nil {
			e.allowRoute = make(map[string]struct{})
		}
		e.allowRoute[r] = struct{}{}
	}
	for _, r := range e.opts.LoginRoutes {
		if e.loginRoutes == nil {
			e.loginRoutes = make(map[string]struct{})
		}
		e.loginRoutes[r] = struct{}{}
	}
}

// explainFor gathers the routes, samples and top clients of a candidate.
func (e *Engine) explainFor(c *candidate, w int64) *explain {
	ex := &explain{}
	if c.idx < 0 {
		ex.top = e.topClients(c.det)
		return ex
	}
	x := e.samplesOf(c.idx, w)
	if x == nil {
		x = &winExtra{} // no samples were kept for the window
	}
	addRoute := func(s *sample) {
		if r := s.String(); r != "" && !slices.Contains(ex.routes, r) {
			ex.routes = append(ex.routes, r)
		}
	}
	switch c.det {
	case detScan:
		for i := range x.nScan {
			addRoute(&x.scan[i])
			ex.samples = append(ex.samples, "404/403 "+x.scan[i].String())
		}
		if c.item >= 0 && e.work[c.item].n.sigs != 0 {
			ex.samples = append(ex.samples, "probed "+sigList(e.work[c.item].n.sigs))
		}
	case detProbe:
		for i := range x.nProbe {
			ex.samples = append(ex.samples, x.probe[i].String())
		}
	case detEnum:
		addRoute(&x.idRoute)
	case detExfil:
		addRoute(&x.big)
		if x.bigBytes > 0 {
			ex.samples = append(ex.samples, "largest response "+formatCount(float64(x.bigBytes))+" bytes on "+x.big.String())
		}
	case detShare:
		if c.item >= 0 {
			n := &e.work[c.item].n
			ex.samples = append(ex.samples, "~"+formatCount(math.Round(n.ips.estimate()))+" addresses in ~"+
				formatCount(math.Round(n.nets.estimate()))+" networks")
		}
	default:
		addRoute(&x.idRoute)
		addRoute(&x.big)
	}
	ex.samples = e.requestIDSamples(ex.samples, clientRef{idx: c.idx, gen: e.tab.hot.at(c.idx).gen}, w, c.det)
	return ex
}

// noBaselineYet writes "no own baseline yet (n of MinHistory windows)".
func (e *Engine) noBaselineYet(b *strings.Builder, history int) {
	b.WriteString("no own baseline yet (")
	b.WriteString(strconv.Itoa(history))
	b.WriteString(" of ")
	b.WriteString(strconv.Itoa(e.opts.MinHistory))
	b.WriteString(" windows)")
}

// why explains how a finding's expectation was formed and why the window
// is anomalous.
func (e *Engine) why(d detector, v *verdict) string {
	var b strings.Builder
	switch {
	case d == detProbe:
		b.WriteString(formatCount(v.observed))
		b.WriteString(" injection probe requests in the window, floor ")
		b.WriteString(formatCount(e.opts.Injection.Floor))
		b.WriteString("; not relative to a baseline")
		return b.String()
	case v.rule && d == detScan && v.span > 0:
		b.WriteString("a sweep: distinct paths answered 404/403 over a run of windows (gaps of at most ")
		b.WriteString(strconv.Itoa(e.opts.ResolveAfter))
		b.WriteString(" quiet windows), at least ")
		b.WriteString(formatCount(math.Max(1, e.opts.Scanning.Floor/2)))
		b.WriteString(" and 75% of the client's requests since the run began, from a client with no habit of misses; a rule, not relative to a baseline")
		return b.String()
	case v.rule && d == detScan && v.tool:
		b.WriteString("refused requests under an attack tool's user agent (nikto, sqlmap, nuclei, ...): the name and the refusals together; a rule, not relative to a baseline")
		return b.String()
	case v.rule && d == detScan:
		b.WriteString("probed ")
		b.WriteString(strconv.Itoa(int(v.effect)))
		b.WriteString(" kinds of commodity probe in one window (files no site serves to anybody: shells, .env, .git, consoles, backups); a rule, not relative to a baseline")
		return b.String()
	case v.prior:
		e.noBaselineYet(&b, v.history)
		b.WriteString(" and no population measured yet: compared with the built-in bound of what any client does")
	case v.population:
		e.noBaselineYet(&b, v.history)
		b.WriteString(": compared with all clients")
		if v.refHigh > 0 {
			b.WriteString(", whose 99th percentile is ")
			b.WriteString(formatCount(v.refHigh))
		}
	default:
		b.WriteString("own baseline over ")
		b.WriteString(strconv.Itoa(v.history))
		b.WriteString(" active windows (EWMA, half-life ")
		hl := e.opts.HalfLife
		if d == detErrors || d == detAuth {
			hl *= ratioHalfLives
		}
		b.WriteString(strconv.Itoa(hl))
		b.WriteString(" windows")
		if v.seasonal {
			if d == detVolume {
				b.WriteString(", with its own hour-of-day and day-of-week factors")
			} else {
				b.WriteString(", with the fleet's hour-of-day factor")
			}
		}
		b.WriteString(")")
	}
	b.WriteString("; observed/expected ")
	b.WriteString(strconv.FormatFloat(finite(v.effect), 'g', 3, 64))
	b.WriteString(", p=")
	b.WriteString(strconv.FormatFloat(pValue(v.logP), 'g', 2, 64))
	b.WriteString(" below ")
	b.WriteString(strconv.FormatFloat(e.opts.PValue, 'g', 2, 64))
	if e.opts.FDR > 0 && e.opts.FDR < 1 {
		b.WriteString(" and within FDR ")
		b.WriteString(strconv.FormatFloat(e.opts.FDR, 'g', 2, 64))
		b.WriteString(" across the window's tests")
	}
	return b.String()
}
