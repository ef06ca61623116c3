package detect

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// Campaigns.
//
// Many attacks are small per address and large together: a worm whose
// every infected host sends the same dozen cmd.exe probes, a wp-login.php
// probe from a new address every hour, credential stuffing that tries two
// passwords from each of three hundred addresses over five days. Judged
// per client, each address is either nothing or an incident of its own; a
// security engineer sees one campaign. So, at each window close, clients
// that no detector flagged on their own feed campaigns:
//
//   - a client window with commodity probes of exactly one signature
//     (signature.go) feeds that signature's campaign. It is reported once
//     it has two clients, or Options.Probes.Floor requests from one, or
//     at once for a request that is an attack by itself (sureProbe). (A
//     client probing two or more kinds in a window is a scanner and a
//     scanning finding of its own: judgeSweeps.)
//   - a client window with login attempts feeds the login route's
//     campaign with its failures and successes: 401/403 fail, a redirect
//     succeeds, and a 2xx succeeds when the client went on to make other
//     requests in the window (an API client using its token, a user
//     browsing after signing in) and fails when it did not (a form
//     redisplayed with an error, a bot moving to its next guess or
//     address). Failures, successes and failing clients
//     are summed with a half-life of loginHalfLife windows; the campaign
//     is reported when those sums reach loginMinFails failures from
//     loginMinClients clients with at least loginFailShare of the attempts
//     failing: a site where most logins succeed never gets there, while a
//     distributed brute force does within minutes at tens of addresses a
//     minute, and within hours at a few attempts an hour.
//
// A campaign is one incident (client "campaign:<name>", detector
// "campaign") naming its maxCampaignNames heaviest clients and counting
// all of them. It stays open while contributions keep coming, resolving after
// Options.CampaignGap without any (7 days by default: worms and mass
// scanners come back every few hours or days for months; analyze keeps
// them open to the end of its input). A client flagged on its own is its
// own incident, and feeds no campaign while that incident is open; its
// earlier probes stay counted in the campaign.

// Campaign constants.
const (
	maxCampaignNames = 20      // clients a campaign finding names
	campaignTracked  = 64      // clients tracked to find them (rank): more counters than names keep the named ones' tallies close
	maxCampaignSeen  = 1 << 16 // participants remembered exactly; beyond, every contribution counts as new
	maxSeenTotal     = 1 << 20 // the same over all campaigns: about 40 MB at most
	maxCampaigns     = 4096    // campaigns held; beyond, new login routes are not tracked
	loginHalfLife    = 360     // windows (6 hours of one-minute windows)
	loginMinFails    = 20
	loginMinClients  = 8
	loginFailShare   = 0.8
)

// campaign is one probe signature's or login route's campaign.
type campaign struct {
	key   string    // "probe:<signature>", "login:<route>" or "route:<route>"
	sig   signature // probe campaigns
	route bool      // a write route's campaign (routesurge.go)
	inc   int32     // open incident + 1
	lastW int64     // window of the latest contribution

	names   []string            // the heaviest participants, owned copies
	nameReq []float64           // their probe requests or login attempts
	seen    map[uint64]struct{} // participants' key hashes
	clients int                 // distinct participants
	reqs    float64             // probe requests or login attempts
	tot     Totals

	fails, succ, failClients float64 // login: decayed sums
}

// name is what findings call the campaign: its signature and key
// ("windows-shell root.exe", "open-proxy www.yahoo.com:80"), or "login"
// and the route.
func (c *campaign) name() string {
	if c.sig != sigNone {
		return strings.Replace(strings.TrimPrefix(c.key, "probe:"), ":", " ", 1)
	}
	if c.route {
		return "route " + strings.TrimPrefix(c.key, "route:")
	}
	return "login " + strings.TrimPrefix(c.key, "login:")
}

// judgeSweeps flags the clients that probed two or more kinds of
// commodity probe in window w, or got toolMisses refusals under an attack
// tool's user agent, unless scanning already flagged them: nobody asks for
// a .git directory and a phpMyAdmin in the same minute by accident, and a
// tool's name with a handful of 404s is two signals, whatever the
// client's history.
func (e *Engine) judgeSweeps(w int64) {
	if !e.on.sigs || e.opts.Scanning.Disabled {
		return
	}
	for i := range e.work {
		it := &e.work[i]
		kinds := bits.OnesCount32(it.n.sigs)
		tool := it.n.tools >= toolMisses
		if (kinds < 2 && !tool) || e.hasCandidate(it.idx, detScan) {
			continue
		}
		v := verdict{observed: max(it.n.scan.estimate(), float64(it.n.sigReq)), requests: it.req,
			history: int(e.tab.list.at(it.idx).moreN[mScan]), effect: float64(max(kinds, 1)), rule: true, anomalous: true,
			logP: e.logPValue * float64(max(kinds, 1)), tool: tool}
		e.curItem = int32(i)
		e.candidate(it.idx, detScan, &v)
	}
	e.curItem = -1
}

// toolMisses is how many refused requests under an attack tool's user
// agent make a window a scan.
const toolMisses = 3

// hasCandidate reports whether client idx has a candidate of detector d
// in the window being closed.
func (e *Engine) hasCandidate(idx int32, d detector) bool {
	for i := len(e.cands) - 1; i >= 0; i-- {
		if c := &e.cands[i]; c.idx == idx && c.det == d {
			return true
		}
	}
	return false
}

// feedCampaigns adds the window's unflagged probing and login clients to
// their campaigns, and reports campaigns that crossed their floors.
func (e *Engine) feedCampaigns(w int64) {
	if e.inMaintenance(w) {
		return
	}
	for i := range e.work {
		it := &e.work[i]
		if it.flagged || it.n.cold == 0 || *e.incs.at(it.idx) != 0 || e.clientAllowed(it.idx) {
			continue // a client with an incident of its own: its probes are part of it
		}
		// A probe campaign's clients are probing: at least a third of
		// their window's requests are probes or refused. A visitor whose
		// page links to a file the site lost (/wp-content/... after a
		// migration, a missing /config.json) is not one.
		probing := 3*(float64(it.n.sigReq)+math.Round(it.n.scan.estimate())) >= float64(it.n.req)
		// A probe that was an attack by itself (sureProbe) reports its
		// campaign at once.
		x := e.samplesOf(it.idx, w)
		sure := x != nil && x.sure
		if e.on.sigs && it.n.sigs != 0 && bits.OnesCount32(it.n.sigs) == 1 && probing {
			s := signature(bits.TrailingZeros32(it.n.sigs))
			e.feedProbe(it, s, e.nameOf(it.n.sigKey), float64(it.n.sigReq), w, sure)
		} else if e.on.sigs && it.n.probes > 0 {
			// A few injection probes, under the injection floor: the
			// campaign of their kind ("sqli", "xss", ...).
			e.feedProbe(it, sigInjection, e.probeKind(it.idx, w), float64(it.n.probes), w, sure)
		}
		if r := it.n.loginRoute; e.on.brute && it.n.logins.n > 0 && r > 0 {
			e.feedLogin(it, e.nameOf(r), w)
		}
	}
}

// feedProbe adds a client window's probes of signature s and key to
// their campaign; sure reports it however small it is.
func (e *Engine) feedProbe(it *windowItem, s signature, key string, reqs float64, w int64, sure bool) {
	k := "probe:" + s.String()
	if key != "" && keyedSignature(s) {
		k += ":" + key
	}
	if c := e.campaignFor(k, s); c >= 0 {
		e.contribute(c, it, reqs, w, sure)
	}
}

// keyedSignature reports whether probes of s are told apart by their
// key: worms and exploit kits differ by the file they ask for (Nimda's
// root.exe, Code Red's default.ida), proxy checks by the host they try to
// reach, WebDAV probes by method. Requests for .env or wp-login.php are
// one campaign whatever the variant.
func keyedSignature(s signature) bool {
	switch s {
	case sigWinShell, sigProxy, sigWebDAV, sigOverflow, sigShell:
		return true
	}
	return false
}

// probeKind is the kind of client idx's first injection probe sample in
// window w ("sqli", "xss", "traversal", "cmdi"), "" when none was kept.
func (e *Engine) probeKind(idx int32, w int64) string {
	x := e.samplesOf(idx, w)
	if x == nil || x.nProbe == 0 {
		return ""
	}
	s := x.probe[0].String()
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i]
	}
	return s
}

// feedLogin adds a client's login attempts to its route's campaign.
func (e *Engine) feedLogin(it *windowItem, route string, w int64) {
	ci := e.campaignFor("login:"+route, sigNone)
	if ci < 0 {
		return
	}
	c := &e.camps[ci]
	l := &it.n.logins
	fails, succ := float64(l.denied), float64(l.redirect)
	if l.follow > 0 {
		succ += float64(l.ok)
	} else {
		fails += float64(l.ok)
	}
	decay := math.Exp2(-float64(w-c.lastW) / loginHalfLife)
	c.fails, c.succ, c.failClients = c.fails*decay+fails, c.succ*decay+succ, c.failClients*decay
	if fails > 0 {
		c.failClients++
		e.contribute(ci, it, float64(l.n), w, false)
		return
	}
	c.lastW = w
}

// campaignFor returns the slot of the campaign of key, created when new;
// -1 when maxCampaigns are held.
func (e *Engine) campaignFor(key string, s signature) int32 {
	if i, ok := e.campIdx[key]; ok {
		return i
	}
	if len(e.camps) >= maxCampaigns {
		return -1
	}
	if e.campIdx == nil {
		e.campIdx = make(map[string]int32)
	}
	e.campIdx[key] = int32(len(e.camps))
	e.camps = append(e.camps, campaign{key: key, sig: s, lastW: math.MinInt64 / 2, route: strings.HasPrefix(key, "route:")})
	return int32(len(e.camps) - 1)
}

// contribute adds a client window to campaign c and opens or updates its
// incident, opening it whatever the campaign's size when sure.
func (e *Engine) contribute(ci int32, it *windowItem, reqs float64, w int64, sure bool) {
	c := &e.camps[ci]
	key := e.tab.key(it.idx)
	if c.seen == nil {
		c.seen = make(map[uint64]struct{})
	}
	h := hashString(key)
	_, old := c.seen[h]
	if !old {
		c.clients++
		if len(c.seen) < maxCampaignSeen && e.seenTotal < maxSeenTotal {
			c.seen[h] = struct{}{}
			e.seenTotal++
		}
	}
	c.rank(key, reqs)
	c.reqs += reqs
	c.tot.Requests += float64(it.n.req)
	c.tot.Failures += float64(it.n.err + it.n.auth)
	c.tot.Bytes += float64(it.n.bytes)
	c.tot.DistinctPaths += math.Round(it.n.scan.estimate())
	c.lastW = w
	e.campaignIncident(ci, w, !old, sure)
}

// rank tracks the campaign's campaignTracked heaviest clients by the
// Space-Saving algorithm (Metwally et al., 2005): a tracked client's
// requests are added to its tally; a client not tracked replaces the
// lightest, inheriting its tally plus its own requests. Any client with
// more than a campaignTracked-th of the campaign's requests is tracked,
// however its requests are spread (a bot trying once a minute for hours),
// and a tally overstates a client's requests by at most that much.
func (c *campaign) rank(key string, reqs float64) {
	for i, n := range c.names {
		if n == key {
			c.nameReq[i] += reqs
			return
		}
	}
	if len(c.names) < campaignTracked {
		c.names = append(c.names, strings.Clone(key))
		c.nameReq = append(c.nameReq, reqs)
		return
	}
	lo := 0
	for i := range c.nameReq {
		if c.nameReq[i] < c.nameReq[lo] {
			lo = i
		}
	}
	c.names[lo], c.nameReq[lo] = strings.Clone(key), c.nameReq[lo]+reqs
}

// ranked returns the maxCampaignNames heaviest tracked clients, heaviest
// first, equal tallies by name.
func (c *campaign) ranked() []string {
	idx := make([]int, len(c.names))
	for i := range idx {
		idx[i] = i
	}
	// Ties by name: lines of one second come in any order in an unsorted
	// file, and the names must not depend on it.
	slices.SortFunc(idx, func(a, b int) int {
		return cmp.Or(cmp.Compare(c.nameReq[b], c.nameReq[a]), strings.Compare(c.names[a], c.names[b]))
	})
	out := make([]string, min(len(idx), maxCampaignNames))
	for i, j := range idx[:len(out)] {
		out[i] = c.names[j]
	}
	return out
}

// campaignIncident opens c's incident once it crosses its floor, or at
// once when sure, and extends it (an update when it has doubled its
// clients) after that.
func (e *Engine) campaignIncident(idx int32, w int64, newClient, sure bool) {
	c := &e.camps[idx]
	v := verdict{anomalous: true, rule: true, observed: float64(c.clients), requests: c.reqs,
		effect: float64(c.clients), logP: e.logPValue * math.Max(1, math.Log2(1+c.reqs))}
	if c.inc == 0 {
		if !sure && !e.campaignReady(c) {
			return
		}
		in := incident{id: incidentID(c.key, detCampaign, e.clock.start(w)), client: -1, det: detCampaign,
			first: w, last: w, windows: 1, emitted: 1, worst: v, sev: campaignSeverity(c), dets: 1 << detCampaign,
			camp: idx + 1, emitW: w}
		i := e.inc.add(in)
		c.inc = i + 1
		e.stats.Findings++
		e.emit(&e.inc.list[i], StatusOpen)
		return
	}
	in := &e.inc.list[c.inc-1]
	if w != in.last {
		in.last = w
		in.windows++
	}
	in.worst = v
	sev := campaignSeverity(c)
	worse := sev.rank() > in.sev.rank() || newClient && bits.OnesCount(uint(c.clients)) == 1
	if sev.rank() > in.sev.rank() {
		in.sev = sev
	}
	if worse && in.emitW != w {
		in.emitted, in.emitW = in.windows, w
		e.stats.Updates++
		e.emit(in, StatusUpdate)
	}
}

// campaignReady reports whether c is large enough to report.
func (e *Engine) campaignReady(c *campaign) bool {
	if c.route {
		return true // judgeRoutes found the window anomalous
	}
	if c.sig != sigNone {
		return c.clients >= 2 || c.reqs >= e.opts.Probes.Floor
	}
	attempts := c.fails + c.succ
	return c.fails >= loginMinFails && c.failClients >= loginMinClients && c.fails >= loginFailShare*attempts
}

// campaignSeverity grades a campaign by its clients: low for a handful,
// medium from 10, high from 50, critical from 250.
func campaignSeverity(c *campaign) Severity {
	switch n := c.clients; {
	case n >= 250:
		return SeverityCritical
	case n >= 50:
		return SeverityHigh
	case n >= 10 || c.sig == sigNone:
		return SeverityMedium
	}
	return SeverityLow
}

// campaignFinding fills in what a campaign's finding says.
func (e *Engine) campaignFinding(f *Finding, in *incident, status Status) {
	c := &e.camps[in.camp-1]
	f.Client, f.ClientKind = "campaign:"+c.name(), "campaign"
	f.Campaign = c.name()
	f.Clients = c.ranked()
	f.ClientCount = c.clients
	f.Expected, f.Spread, f.PValue, f.Baseline = 0, 0, 0, BaselineNone
	f.Observed, f.Requests = float64(c.clients), c.reqs
	t := c.tot
	f.Totals = &t
	var b strings.Builder
	if c.route {
		e.routeFinding(f, c, &b)
	} else if c.sig != sigNone {
		b.WriteString(plural(c.clients, "client") + " sent " + plural(int(c.reqs), "request") + ": " + sigDescriptions[c.sig])
		f.Why = "commodity probes of one kind from clients not flagged on their own; reported from 2 clients or " +
			formatCount(e.opts.Probes.Floor) + " requests"
	} else {
		b.WriteString(plural(c.clients, "client") + " failed logins on " + strings.TrimPrefix(c.key, "login:") +
			" (" + plural(int(c.reqs), "attempt") + ")")
		style := "401/403 and 2xx answers the client did not follow with other requests count as failures"
		f.Why = "login attempts from clients not flagged on their own, " + style + "; decayed over " +
			strconv.Itoa(loginHalfLife) + " windows: " + formatCount(math.Round(c.fails)) + " failures, " +
			formatCount(math.Round(c.succ)) + " successes"
	}
	if len(f.Clients) > 0 {
		b.WriteString(", most active " + strings.Join(f.Clients[:min(3, len(f.Clients))], ", "))
	}
	switch status {
	case StatusUpdate:
		b.WriteString("; ongoing")
	case StatusResolved:
		b.WriteString("; resolved")
	}
	f.Summary = "campaign " + c.name() + ": " + b.String()
}

// resetCampaign starts c's next episode: the participants of a resolved
// campaign are not the next one's.
func (e *Engine) resetCampaign(c *campaign) {
	e.seenTotal -= len(c.seen)
	c.names, c.nameReq, c.seen, c.clients, c.reqs, c.tot = nil, nil, nil, 0, 0, Totals{}
	c.fails, c.succ, c.failClients = 0, 0, 0
}

// internName returns the index + 1 of s among the names held (login
// routes, probe keys), adding it when new; 0 once maxCampaigns are held.
// Window tallies hold these small numbers instead of strings.
func (e *Engine) internName(s string) uint16 {
	if i, ok := e.nameIdx[s]; ok {
		return i
	}
	if len(e.names) >= maxCampaigns {
		return 0
	}
	if e.nameIdx == nil {
		e.nameIdx = make(map[string]uint16)
	}
	r := strings.Clone(s)
	e.names = append(e.names, r)
	e.nameIdx[r] = uint16(len(e.names))
	return uint16(len(e.names))
}

// nameOf returns the name of index + 1 i, "" for none.
func (e *Engine) nameOf(i uint16) string {
	if i == 0 || int(i) > len(e.names) {
		return ""
	}
	return e.names[i-1]
}

// absorbFloors is how many times its floor a client's auth-failure or
// brute-force verdict may be and still be one address of a distributed
// attack rather than an attack of its own.
const absorbFloors = 3

// absorbLogins folds the window's small auth-failure and brute-force
// verdicts of clients that were mostly trying to log in into their login
// route's campaign, when that campaign is open or this window has
// loginMinClients such clients on the route: a distributed brute force
// is one incident, not one per address. Such a client counts as not
// flagged, so feedCampaigns adds it to the campaign. (While a login
// campaign is active the fleet_auth_failures verdict, which the same
// addresses make, is dropped too: decideFleetAuth.)
func (e *Engine) absorbLogins() {
	if !e.on.brute {
		return
	}
	clear(e.routeCount)
	for i := range e.cands {
		c := &e.cands[i]
		if c.route = e.absorbRoute(c); c.route != 0 {
			if e.routeCount == nil {
				e.routeCount = make(map[uint16]int)
			}
			e.routeCount[c.route]++
		}
	}
	for i := range e.cands {
		c := &e.cands[i]
		if c.route == 0 {
			continue
		}
		open := false
		if ci, ok := e.campIdx["login:"+e.nameOf(c.route)]; ok {
			open = e.camps[ci].inc != 0
		}
		if open || e.routeCount[c.route] >= loginMinClients {
			c.absorbed = true
		}
	}
	for i := range e.cands {
		c := &e.cands[i]
		if c.idx >= 0 && c.absorbed {
			e.work[c.item].flagged = e.flaggedBeyond(c.idx)
		}
	}
}

// absorbRoute returns the login route of candidate c when it may be
// absorbed into that route's campaign, else 0.
func (e *Engine) absorbRoute(c *candidate) uint16 {
	if c.idx < 0 || c.item < 0 || (c.det != detAuth && c.det != detBrute) {
		return 0
	}
	n := &e.work[c.item].n
	floor := float64(e.opts.MinAuthFailures)
	if c.det == detBrute {
		floor = e.opts.BruteForce.Floor
	}
	if n.loginRoute == 0 || 2*uint32(n.logins.n) < n.req || c.v.observed >= absorbFloors*floor {
		return 0
	}
	return n.loginRoute
}

// flaggedBeyond reports whether client idx has a candidate in the window
// that was not absorbed.
func (e *Engine) flaggedBeyond(idx int32) bool {
	for i := range e.cands {
		if c := &e.cands[i]; c.idx == idx && !c.absorbed {
			return true
		}
	}
	return false
}

// loginCampaignActive reports whether a login campaign is open and had
// contributions in the last ResolveAfter windows before w.
func (e *Engine) loginCampaignActive(w int64) bool {
	for i := range e.camps {
		c := &e.camps[i]
		if c.sig == sigNone && !c.route && c.inc != 0 && w-c.lastW <= int64(e.opts.ResolveAfter) {
			return true
		}
	}
	return false
}

// plural renders n and a noun, with an "s" unless n is 1: "1 client",
// "2,300 clients".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return formatCount(float64(n)) + " " + noun + "s"
}
