package detect

import (
	"math"
	"strings"
)

// Slow sweeps.
//
// The scanning detector judges one window at a time: 20 distinct paths
// answered 404/403 in a minute (Options.Scanning.Floor), or more than the
// client's own past. A scanner that asks for eight paths a minute for
// half an hour, or fourteen in one minute and leaves, clears neither,
// while a rule engine's leaky bucket (ten misses in a minute or two)
// catches both. So each client also keeps its current run of windows
// with misses: the distinct missed paths of those windows and all its
// requests since the run began. A run ends after ResolveAfter windows
// without a miss.
//
// A run of at least half the scanning floor (10) distinct missed paths,
// making at least sweepShare of the client's requests since the run
// began, is a scanning finding in each of its windows with a miss. A
// client present from the stream's first windows, whose habits nobody
// saw, needs the whole floor and sweepFoundingShare. A client that
// already collected misses before the run (a scanning baseline of one
// distinct path a window or more: a monitor checking dead links, a
// crawler of a site that moved) is left to the ordinary test against
// that past.
//
// Not counted: misses of static assets (images, styles, scripts, fonts:
// what a browser fetches for a page), so a page whose dozen images are
// gone is no sweep even when it is all a visitor loads; and commodity and
// injection probes, which have campaigns and a detector of their own.

// sweepShare is the least share of a run's requests that must be
// distinct missed paths; sweepFoundingShare that of a client present
// from the first line, whose run must also reach the whole scanning floor.
const (
	sweepShare         = 0.75
	sweepFoundingShare = 0.95
)

// sweepRun is a client's current run of windows with misses.
type sweepRun struct {
	paths, reqs   float32 // distinct missed paths of the run's windows, summed; its requests
	firstW, lastW int64   // windows of the run's first and latest miss
	eligible      bool    // the client had no habit of misses when the run began
}

// judgeSweep extends client window it's sweep run and flags the window
// when the run is a sweep. Call it after judgeMore, with e.curItem set.
func (e *Engine) judgeSweep(w int64, it *windowItem) {
	if !e.on.scan {
		return
	}
	c := e.tab.list.at(it.idx)
	r := &c.sweep
	x := 0.0
	if it.n.cold != 0 {
		// The sketch overstates by up to a fifth at a few dozen paths:
		// never more paths than misses.
		x = math.Min(math.Round(it.n.scan.estimate()), float64(it.n.misses))
		// Commodity and injection probes are their campaigns' and
		// injection's: a worm's dozen cmd.exe probes per host is one
		// campaign, not a sweep per host.
		x = math.Max(0, x-float64(it.n.sigReq)-float64(it.n.probes)-float64(it.n.assets))
	}
	if r.paths > 0 && w-r.lastW > int64(e.opts.ResolveAfter) {
		*r = sweepRun{}
	}
	if x == 0 {
		if r.paths > 0 {
			r.reqs += float32(it.req)
		}
		return
	}
	if r.paths == 0 {
		r.firstW = w
		r.eligible = e.more.at(it.idx)[mScan].mean < 1 || c.moreN[mScan] < uint32(e.opts.MinHistory)
	}
	r.paths, r.reqs, r.lastW = r.paths+float32(x), r.reqs+float32(it.req), w
	floor, share := math.Max(1, e.opts.Scanning.Floor/2), float32(sweepShare)
	if c.founding {
		// Present from the first line, its habit unknown: a cache
		// warmer whose misses are most of its traffic is not a sweep.
		floor, share = math.Max(1, e.opts.Scanning.Floor), sweepFoundingShare
	}
	if !r.eligible || float64(r.paths) < floor || r.paths < share*r.reqs || e.hasCandidate(it.idx, detScan) {
		return
	}
	v := verdict{observed: float64(r.paths), requests: float64(r.reqs), history: int(c.moreN[mScan]),
		effect: float64(r.paths) / floor, rule: true, anomalous: true, span: int(w-r.firstW) + 1,
		logP: e.logPValue * math.Log2(1+float64(r.paths)/floor)}
	e.candidate(it.idx, detScan, &v)
}

// assetExts are the extensions of what browsers fetch for a page.
var assetExts = [...]string{".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".bmp",
	".css", ".js", ".map", ".woff", ".woff2", ".ttf", ".eot", ".otf", ".mp4", ".webm", ".mp3"}

// isAsset reports whether path names a static asset by its extension,
// ASCII case-insensitively.
func isAsset(path string) bool {
	dot := strings.LastIndexByte(path, '.')
	if dot < 0 || len(path)-dot > 6 || strings.IndexByte(path[dot:], '/') >= 0 {
		return false
	}
	for _, x := range assetExts {
		if strings.EqualFold(path[dot:], x) {
			return true
		}
	}
	return false
}

// sweepRun reads what appendClients wrote of a client's sweep run.
func (d *decoder) sweepRun(r *sweepRun) {
	paths, reqs := d.finite(), d.finite()
	r.firstW, r.lastW, r.eligible = d.Varint(), d.Varint(), d.flags(1) != 0
	if d.Err == nil && !(paths >= 0 && paths <= math.MaxFloat32 && reqs >= 0 && reqs <= math.MaxFloat32 && r.firstW <= r.lastW) {
		d.Fail("a sweep run")
	}
	r.paths, r.reqs = float32(paths), float32(reqs)
}
