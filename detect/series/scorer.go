package series

import (
	"math"
	"time"

	"github.com/gatewatch/gatewatch/detect/internal/poisson"
	"github.com/gatewatch/gatewatch/detect/internal/tail"
)

// Score is the verdict on one observation.
type Score struct {
	// Score is in [0,1]: 0 while warming up, 0.5 at Options.PValue,
	// approaching 1 as the evidence grows. It is monotone in the p-value,
	// so thresholds and rankings can be set on either.
	Score float64
	// LogP is the natural log of the tail probability of the value under
	// the prediction (two-sided for Both); 0 when not scored.
	LogP float64
	// Expected is the predicted value on the series' own scale (for
	// Counts, the back-transformed typical count).
	Expected float64
	// Spread is the predictive standard deviation on the series' scale.
	Spread float64
	// Seasonal reports that the hour-of-day/day-of-week profile, rather
	// than recent history, made the prediction.
	Seasonal bool
	// Scored is false during warm-up and for skipped observations.
	Scored bool
	// Skipped means the value was not absorbed: NaN, ±Inf, beyond ±1e100,
	// or a negative count.
	Skipped bool
}

// PValue returns the tail probability, exp(LogP).
func (s Score) PValue() float64 { return math.Exp(s.LogP) }

// Scorer scores one series' observations against its own past. The zero
// value is a Scorer with default Options; New sets others. A Scorer is not
// safe for concurrent use; it allocates nothing per observation.
type Scorer struct {
	opt   Options
	ready bool // opt normalised

	n     uint64  // observations absorbed
	last  float64 // newest observation time, Unix seconds
	lgap  float64 // running mean of ln(gap seconds): the typical interval
	ngaps uint32

	flat  recent  // recent history, working scale
	resid moments // seasonal model: recent departure from the profile

	hour [24]bucket
	day  [7]bucket

	// One-step squared errors of the flat and seasonal predictions on the
	// observations where both exist, and the (decayed) count behind them:
	// the test of whether seasonality is present at all.
	cmpFlat, cmpSeas, cmpW float64
	cmpLast                float64

	run int32 // consecutive flagged observations, signed by direction

	// Time-decayed count of scored observations that were suspect (p
	// below the square root of PValue), and of all scored ones: the
	// check that suspect values are rare, as the winsorising assumes.
	odd, oddW float64

	// Time-decayed mean absolute one-step error of recent history and its
	// weight, with a long memory: the floor of its spread (see maeFloor).
	mae, maeW float64

	// Time-decayed counts of past scored observations by how surprising
	// the model found them (bins of log p, upward and downward apart),
	// and the weight of all of them: the model's record against which a
	// p-value is checked (see calibrate); the last observation's log
	// p-value and direction wait one step to be recorded (see noteTail).
	// The bins hold counts times tailG, which grows as they age, so that
	// ageing them is one division rather than one per bin.
	tail   [2][calBins]float64
	tailG  float64
	tailW  float64
	pend   float64
	pendUp bool

	shift shiftChart // with Options.Shifts
}

// moments is a time-decayed weighted mean and variance. Every
// observation enters with weight 1 and all weights decay by
// 2^(-dt/halflife), so a young summary is a plain mean and an old one an
// EWMA whose memory is measured in time, not in observations.
type moments struct {
	w, w2      float64 // sum of weights and of squared weights
	mean, vari float64
}

// add absorbs y after decaying the old weights by d; keepSpread leaves
// the variance alone.
func (m *moments) add(y, d float64, keepSpread bool) {
	m.w = d*m.w + 1
	m.w2 = d*d*m.w2 + 1
	a := 1 / m.w
	delta := y - m.mean
	m.mean += a * delta
	if !keepSpread {
		m.vari = (1 - a) * (m.vari + a*delta*delta)
	}
}

// predict returns the predictive mean and variance of the next value,
// d being the decay since the last observation, and the effective number
// of observations behind them. That number is Kish's (sum w)²/sum w²,
// limited to twice the decayed weight: after a gap of many half-lives the
// old history no longer vouches for the present, and the Student-t tails
// widen accordingly; below one observation's worth nothing is predicted
// and the value is not scored.
func (m *moments) predict(d float64) (mean, variance, neff float64) {
	neff = math.Min(m.w*m.w/m.w2, 2*d*m.w)
	if !(neff >= 1) {
		return m.mean, 0, 0 // less than one observation's worth: no prediction
	}
	kish := m.w * m.w / m.w2
	v := m.vari
	if kish > 1 {
		v *= kish / (kish - 1)
	}
	return m.mean, v * (1 + 1/neff), neff
}

// bucket is one hour-of-day or day-of-week slot of the seasonal profile:
// a time-decayed mean of the partial residual that falls in it, the
// time-decayed mean squared one-step error of the seasonal prediction in
// it (from its second day on, when the mean was estimated from another
// day), and how many distinct days (weeks) it has seen.
type bucket struct {
	w, mean float64
	ew, err float64
	last    float64
	visits  uint32
}

const (
	day           = 24 * 3600.0
	hourHalfLife  = 3 * day           // memory of an hour-of-day bucket
	dayHalfLife   = 28 * day          // memory of a day-of-week bucket
	seasonPrior   = 10                // weight, in observations, of the pooled seasonal error in each bucket's
	cmpHalfLife   = 7 * day           // memory of the flat-vs-seasonal comparison
	seasonBetter  = 0.8               // seasonal MSE must be below this share of flat's
	cmpClip       = 10                // spreads at which errors are clipped for that comparison
	flaggedClip   = 1                 // spreads a flagged value may move a baseline
	suspectClip   = 2                 // and a suspect one
	maxValue      = 1e100             // larger magnitudes are skipped: their squares overflow
	maxGapClipLog = 2.302585092994046 // ln 10: a gap counts as at most 10x the typical one
)

// New returns a Scorer with the given options.
func New(opt Options) *Scorer {
	return &Scorer{opt: opt.normalized(), ready: true}
}

// Options returns the options in effect, defaults filled in.
func (s *Scorer) Options() Options {
	s.setup()
	return s.opt
}

// Len returns how many observations have been absorbed.
func (s *Scorer) Len() uint64 { return s.n }

// setup normalises the options of a zero-value Scorer on first use.
func (s *Scorer) setup() {
	if !s.ready {
		s.opt = s.opt.normalized()
		s.ready = true
	}
}

// Observe scores v observed at t against the series so far and then
// absorbs it. Observations should come in time order; one older than the
// newest is scored and absorbed without ageing anything.
func (s *Scorer) Observe(t time.Time, v float64) Score {
	s.setup()
	y, ok := s.transform(v)
	if !ok {
		return Score{Skipped: true}
	}
	o := step{v: v, y: y, now: unixSeconds(t)}
	if s.n > 0 && o.now > s.last {
		o.dt = o.now - s.last
		s.learnGap(o.dt)
	}
	o.hl = s.halfLife()
	o.d = decay(o.dt, o.hl)
	lt := t.In(s.opt.Location)
	o.hb, o.db = &s.hour[lt.Hour()], &s.day[lt.Weekday()]

	s.predict(&o)
	out, zt := s.score(&o)
	s.absorb(&o, out, zt)
	if o.now > s.last || s.n == 0 {
		s.last = o.now
	}
	if s.n < math.MaxUint64 {
		s.n++
	}
	return out
}

// step is one observation on its way through Observe: its value, when it
// came, and what the models predicted for it.
type step struct {
	v, y   float64 // the value, on the series' scale and the working scale
	now    float64 // its time, Unix seconds
	dt     float64 // seconds since the newest earlier observation (0 for the first, or one out of order)
	hl, d  float64 // recent-history half-life, and the decay over dt
	hb, db *bucket // the hour-of-day and day-of-week buckets it falls in

	// Recent history's prediction: mean, variance, effective number of
	// observations, spread (floored by maeFloor) and degrees of freedom.
	fm, fv, fn, fsd, fdof float64
	// The seasonal profile's, where seasonExists: mean, spread, degrees
	// of freedom and effective number of observations.
	sm, ssd, sdof, sn float64
	// seasonExists: the profile predicts (its hour bucket has been
	// visited); haveSeason: it has the days to be used; useSeason: it is.
	seasonExists, haveSeason, useSeason bool
	// The prediction in use, recent history's or the profile's.
	m, sd, dof, neff float64
}

// predict fills in o's predictions: recent history, and the seasonal
// profile once its bucket has been visited, and which of them is used.
// The profile's spread pools the bucket's own errors with those of all
// buckets (with the flat spread before any exist), so that a bucket can
// be judged, and learn its errors, from its second day.
func (s *Scorer) predict(o *step) {
	o.fm, o.fv, o.fn = s.flat.predict(o.dt, o.d, o.hl)
	o.fsd, o.fdof = s.spread(o.fm, o.fv, o.fn)
	o.fsd = math.Max(o.fsd, s.maeFloor())
	if hb := o.hb; s.opt.Seasonality != SeasonOff && s.n > 0 && hb.visits > 0 {
		o.seasonExists = true
		o.sm = hb.mean + s.weekday(o.db) + s.resid.mean
		pool := o.fv
		if s.cmpW > 0 {
			pool = s.cmpSeas
		}
		o.sn = hb.ew + seasonPrior
		sv := (hb.ew*hb.err + seasonPrior*pool) / o.sn
		o.ssd, o.sdof = s.spread(o.sm, sv, o.sn)
		o.haveSeason = hb.ew > 0 && hb.visits >= uint32(s.opt.SeasonDays)
	}
	o.useSeason = o.haveSeason && (s.opt.Seasonality == SeasonOn ||
		s.cmpW >= float64(s.opt.MinHistory) && s.cmpSeas < seasonBetter*s.cmpFlat)
	o.m, o.sd, o.dof, o.neff = o.fm, o.fsd, o.fdof, o.fn
	if o.useSeason {
		o.m, o.sd, o.dof, o.neff = o.sm, o.ssd, o.sdof, o.sn
	}
}

// score judges o against the prediction in use, once MinHistory
// observations are behind it, and notes its model p-value in the
// calibration record. It also returns the observation's standardised
// residual for the shift chart (0 without Options.Shifts).
func (s *Scorer) score(o *step) (out Score, zt float64) {
	out = Score{Seasonal: o.useSeason}
	out.Expected, out.Spread = s.backTransform(o.m, o.sd)
	if s.n < uint64(s.opt.MinHistory) || !(o.neff >= 1) {
		return out, 0
	}
	out.Scored = true
	out.LogP = s.logP(o.v, o.y, o.m, o.sd, o.dof, o.neff)
	if s.opt.Shifts {
		// Two tests of one observation: Bonferroni.
		sa := 1 - decay(o.dt, o.hl/shiftHalfLives)
		if o.hl == 0 {
			sa = 1
		}
		var lp float64
		zt, lp = s.shift.test(clip((o.y-o.m)/o.sd, 0, s.opt.Clip), sa, float64(3*s.opt.MinHistory), s.opt.Direction)
		if lp < 0 {
			out.LogP = math.Min(0, math.Ln2+math.Min(out.LogP, lp))
		}
	}
	raw := out.LogP
	out.LogP = s.calibrate(raw, o.y >= o.m)
	s.noteTail(raw, o.y >= o.m, o.dt, o.hl)
	out.Score = tail.Score(out.LogP, s.opt.PValue)
	return out, zt
}

// absorb teaches the models o, judged as out (zt: its shift-chart
// residual), winsorised.
//
// An ordinary value is clipped at Clip spreads from each model's
// prediction before that model absorbs it. A flagged one moves the
// baselines by at most a spread, unless the deviation has persisted for
// MinHistory observations in a row, when it is a new regime, not an
// incident. A suspect one (p below the square root of PValue) is clipped
// at two spreads and teaches no variance: otherwise each near miss would
// widen the spread, or drag the baseline, so that the next, larger
// anomaly is missed too.
//
// That protection assumes suspect values are rare. Where they are not,
// the model is wrong, not the data: a spread learnt only from the values
// it already expects shrinks, which makes more values suspect, which
// shrinks it further, until nearly everything is flagged (a sparse
// series, mostly zeros with occasional events, goes this way). So once
// suspect values are clearly more common than the model's own tails allow
// (odd), they are winsorised at up to Clip like ordinary ones and teach
// the spread again.
func (s *Scorer) absorb(o *step, out Score, zt float64) {
	flagged := out.Scored && out.LogP < math.Log(s.opt.PValue)
	s.track(flagged, o.y > o.m)
	g := s.noteOdd(out.Scored, out.LogP, o.dt, o.hl)
	fHold, fKeep := s.verdict(out.Scored, out.LogP)
	fw := spreadWeight(fKeep, g)
	yf := o.y
	if out.Scored {
		yf = clip(o.y, o.fm, s.clipAt(fHold, fKeep, g)*o.fsd)
	}
	s.flat.add(yf, yf-o.fm, o.dt, o.d, fw)
	if out.Scored {
		s.learnMAE(o.y-o.fm, o.dt, o.hl)
	}
	if s.opt.Shifts && out.Scored {
		s.shift.update(zt, decay(o.dt, shiftVarMemory*o.hl), fw == 0)
	}
	if s.opt.Seasonality != SeasonOff {
		s.absorbSeason(o, out.Scored, fHold, fKeep, g)
	}
}

// absorbSeason teaches the seasonal model o, winsorised by its own
// verdict while recent history is in use: were it bound by the flat
// model's (fHold, fKeep), a daily peak that the flat model flags would
// never enter the profile that is to explain it. g is oddWeight.
func (s *Scorer) absorbSeason(o *step, scored, fHold, fKeep bool, g float64) {
	ys, sKeep := o.y, fKeep
	if o.seasonExists && scored {
		sHold := fHold
		if !o.useSeason {
			// |z| < 1 has p > 0.3 under any Student-t: not worth a
			// tail computation when that is above sqrt(PValue).
			lp := -0.3
			if math.Abs(o.y-o.sm) >= o.ssd || s.opt.PValue > 0.09 {
				lp = s.logP(o.v, o.y, o.sm, o.ssd, o.sdof, o.sn)
			}
			sHold, sKeep = s.verdict(true, lp)
		}
		ys = clip(o.y, o.sm, s.clipAt(sHold, sKeep, g)*o.ssd)
	}
	var ef, es float64
	if o.haveSeason {
		ef = clip(o.y, o.fm, cmpClip*o.fsd) - o.fm
		es = clip(o.y, o.sm, cmpClip*o.ssd) - o.sm
	}
	s.learnSeason(o.now, o.d, ys, ef, es, o.sm, o.hb, o.db, o.haveSeason, spreadWeight(sKeep, g))
}

// learnSeason updates the seasonal model with the (winsorised) value ys.
//
// The model predicts an hour's value as what that hour of the day has
// been (a time-decayed mean per hour bucket, memory hourHalfLife), plus
// the weekday's effect once established, plus the recent departure of the
// series from that profile (a time-decayed mean of residuals with the
// recent-history half-life). The profile therefore holds the shape and
// the residual term follows level shifts and trends within hours, while
// the profile catches up over days. Unlike a level-plus-offsets
// (Holt-Winters) decomposition, a strictly periodic series is predicted
// right from its second day: nothing has to converge first.
//
// ef and es are the flat and seasonal one-step errors, each winsorised
// around its own prediction, for the test of whether seasonality is
// present: a comparison that clipped both around the model in use would
// always favour it. They are clipped far out (cmpClip spreads): the
// flat model of a finely sampled series fails only at a few abrupt daily
// steps, and a tight clip would hide exactly those failures.
func (s *Scorer) learnSeason(now, d, ys, ef, es, sm float64, hb, db *bucket, haveSeason bool, vw float64) {
	// Once the bucket's mean came from other days, ys-sm is an honest
	// one-step error, and what the hour profile leaves is the weekday's.
	// It enters the bucket's spread with weight vw (see spreadWeight).
	honest := hb.visits >= 2 || hb.visits == 1 && now-hb.last > day/2
	if s.n > 0 && vw > 0 {
		if honest {
			e := ys - sm
			bd := bucketDecay(hb, now, hourHalfLife)
			hb.ew = bd*hb.ew + vw
			hb.err += vw * (e*e - hb.err) / hb.ew
		}
	}
	if haveSeason {
		cd := decay(math.Max(0, now-s.cmpLast), cmpHalfLife)
		s.cmpW = cd*s.cmpW + 1
		s.cmpFlat += (ef*ef - s.cmpFlat) / s.cmpW
		s.cmpSeas += (es*es - s.cmpSeas) / s.cmpW
		s.cmpLast = math.Max(s.cmpLast, now)
	}
	q := s.weekday(db)
	if hb.visits > 0 {
		s.resid.add(ys-hb.mean-q, d, true)
	}
	hb.add(ys-q, now, hourHalfLife, day/2)
	if honest {
		db.add(ys-hb.mean, now, dayHalfLife, 7*day/2)
	}
}

// weekday returns the day-of-week effect once its bucket holds a whole
// earlier day (from the second visit on), else 0. A day's offset rests on
// many observations, so one earlier week is enough to know that Saturday
// is quieter; before that the daily profile is fitted without it. Weekday
// buckets learn from an hour bucket's second day on: on its first, the
// hour profile is that very day.
func (s *Scorer) weekday(db *bucket) float64 {
	if db.visits < 2 {
		return 0
	}
	return db.mean
}

// bucketDecay is the weight left in bucket b at time now with half-life
// hl: 1 for an empty bucket or a time not after its last.
func bucketDecay(b *bucket, now, hl float64) float64 {
	if b.visits == 0 || !(now > b.last) {
		return 1
	}
	return decay(now-b.last, hl)
}

// add absorbs a partial residual r with half-life hl; a value more than
// newVisit seconds after the bucket's last starts a new visit (a day for
// an hour bucket, a week for a weekday bucket).
func (b *bucket) add(r, now, hl, newVisit float64) {
	d := bucketDecay(b, now, hl)
	if b.visits == 0 || now-b.last > newVisit {
		if b.visits < math.MaxUint32 {
			b.visits++
		}
	}
	b.w = d*b.w + 1
	b.mean += (r - b.mean) / b.w
	if now > b.last || b.w == 1 {
		b.last = now
	}
}

// verdict says how a model absorbs a value it found to have log tail
// probability logP: hold (move the mean by at most a spread) when it
// is flagged and the run of flagged values is still short, keep (learn no
// variance) when it is held or merely suspect.
func (s *Scorer) verdict(scored bool, logP float64) (hold, keep bool) {
	if !scored {
		return false, false
	}
	lnP := math.Log(s.opt.PValue)
	hold = logP < lnP && int(abs32(s.run)) < s.opt.MinHistory
	return hold, hold || logP < lnP/2
}

// clipAt is how many spreads a value may lie from a prediction when it
// is absorbed; g (see oddWeight) moves a held or suspect value's limit
// towards an ordinary one's.
func (s *Scorer) clipAt(hold, keep bool, g float64) float64 {
	var c float64
	switch {
	case hold:
		c = flaggedClip
	case keep:
		c = math.Min(suspectClip, s.opt.Clip)
	default:
		return s.opt.Clip
	}
	return c + g*(s.opt.Clip-c)
}

// spreadWeight is the weight with which a value's error enters the
// spread: 1 for an ordinary value, g for a held or suspect one.
func spreadWeight(keep bool, g float64) float64 {
	if keep {
		return g
	}
	return 1
}

// Suspect values should be rare: p < sqrt(PValue) has probability
// sqrt(PValue) under a calibrated model (1e-3 by default), and true
// anomalies add a few more. They are counted with a memory of oddMemory
// recent half-lives; the first MinHistory in that memory are taken for
// an incident (a burst that short is one, however dense), the rest as a
// rate. Between oddLo and oddHi times sqrt(PValue) (1% and 5% by
// default, at most a quarter and a half) suspect values go from teaching
// nothing to being treated as ordinary.
const (
	oddMemory = 10
	oddLo     = 10
	oddHi     = 50
)

// Calibration. The model's p-value assumes its predictive distribution is
// right, tails included. Where a series' errors are heavier-tailed than
// any Student-t with its spread, values the model finds one-in-a-million
// recur every day or two (a count that is usually zero and now and then
// jumps, a spike that comes back every few hours): every one of them
// scores high, and the real incidents are lost among them. So each
// p-value is also checked against the model's own record: how often
// have past observations been at least as surprising (in the same
// direction, and to within a bin: bins are spaced geometrically in
// log p, so that among values all far beyond the spread a spike ten
// times the usual one is still told from the usual one)? If such values have been common,
// their share of recent observations is the p-value; the first
// calDiscount of them are disregarded, so that an incident or two in
// the memory do not dull the next one. Only isolated surprises are
// recorded: a value enters the record one observation late, and not if
// the next value is also suspect in the same direction. A spike that
// comes and goes at once is what recurs; a shift, burst or outage that
// persists is an incident, and must not teach the model that the next
// one is ordinary. The record is kept on the model's own p-values,
// before this correction, with a memory of calMemory recent half-lives.
// The correction only ever raises a p-value: a calibrated model, whose
// tails hold, is left as it is.
const (
	calBins     = 32  // bins per direction; the last holds everything beyond
	calRes      = 4   // bins per doubling of -log10 p: p, p^1.19, p^1.41, ...
	calMin      = 2   // p below 10^-calMin is recorded (10^-2 to 10^-512 in bins)
	calMemory   = 100 // recent half-lives
	calDiscount = 3   // past exceedances disregarded
	calRescale  = 1e100
)

// calibrate returns logP, raised to the share of past observations that
// were as surprising (see Calibration) when that is larger.
func (s *Scorer) calibrate(logP float64, up bool) float64 {
	k, ok := calBin(logP)
	if !ok || !(s.tailW > 0) || !(s.tailG > 0) {
		return logP
	}
	h := &s.tail[calSide(up)]
	c := 0.0
	for _, w := range h[k:] {
		c += w
	}
	c /= s.tailG
	if c <= calDiscount {
		return logP
	}
	return math.Max(logP, math.Log((c-calDiscount)/s.tailW))
}

// noteTail notes a scored observation's model log p-value, observed dt
// seconds after the last, and records the previous one's unless this one
// continues it (suspect in the same direction).
func (s *Scorer) noteTail(logP float64, up bool, dt, hl float64) {
	if s.tailG == 0 {
		s.tailG = 1
	}
	d := decay(dt, calMemory*hl)
	if d < 1 {
		s.tailW *= d
		if g := s.tailG / d; g < calRescale {
			s.tailG = g
		} else {
			f := d / s.tailG
			for i := range s.tail {
				for k := range s.tail[i] {
					s.tail[i][k] *= f
				}
			}
			s.tailG = 1
		}
	}
	s.tailW++
	if s.pend < 0 {
		if !(logP < math.Log(s.opt.PValue)/2 && up == s.pendUp) {
			if k, ok := calBin(s.pend); ok {
				// Recorded as of its own time, one step of ageing ago.
				s.tail[calSide(s.pendUp)][k] += d * s.tailG
			}
		}
	}
	s.pend, s.pendUp = logP, up
}

// calBin is the record's bin for log p-value logP, false when p is above
// 10^-calMin.
func calBin(logP float64) (int, bool) {
	e := -logP / math.Ln10
	if !(e >= calMin) {
		return 0, false
	}
	return int(math.Min(calRes*math.Log2(e/calMin), calBins-1)), true
}

// calSide indexes the calibration record by direction: 0 down, 1 up.
func calSide(up bool) int {
	if up {
		return 1
	}
	return 0
}

// noteOdd adds a scored observation with log tail probability logP,
// dt seconds after the last, to the rate of suspect values and returns
// oddWeight.
func (s *Scorer) noteOdd(scored bool, logP, dt, hl float64) float64 {
	if scored {
		x := 0.0
		if logP < math.Log(s.opt.PValue)/2 {
			x = 1
		}
		d := decay(dt, oddMemory*hl)
		s.odd = d*s.odd + x
		s.oddW = d*s.oddW + 1
	}
	return s.oddWeight()
}

// oddWeight is how far the rate of suspect values exceeds what the
// model's tails allow, from 0 (not at all) to 1 (they are common).
func (s *Scorer) oddWeight() float64 {
	q := math.Sqrt(s.opt.PValue)
	lo, hi := math.Min(oddLo*q, 0.25), math.Min(oddHi*q, 0.5)
	r := math.Max(0, s.odd-float64(s.opt.MinHistory)) / s.oddW
	return math.Min(math.Max((r-lo)/(hi-lo), 0), 1)
}

// track counts consecutive flagged observations in one direction in
// s.run (negative downwards, saturating); an unflagged observation ends
// the run, and one in the other direction starts a new one.
func (s *Scorer) track(flagged, up bool) {
	switch {
	case !flagged:
		s.run = 0
	case up && s.run >= 0:
		if s.run < math.MaxInt32 {
			s.run++
		}
	case !up && s.run <= 0:
		if s.run > math.MinInt32+1 {
			s.run--
		}
	case up:
		s.run = 1
	default:
		s.run = -1
	}
}

// abs32 is the absolute value of x.
func abs32(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// transform maps a value to the working scale: log(1+x) for counts.
func (s *Scorer) transform(v float64) (float64, bool) {
	if math.IsNaN(v) || math.Abs(v) > maxValue {
		return 0, false
	}
	if s.opt.Kind == Counts {
		if v < 0 {
			return 0, false
		}
		return math.Log1p(v), true
	}
	return v, true
}

// spread returns the predictive standard deviation on the working scale
// and its degrees of freedom. For counts the variance is never below
// what Poisson noise alone gives at the expected count: that part is
// known rather than estimated, so, by Welch–Satterthwaite, the degrees of
// freedom grow without bound as it dominates.
func (s *Scorer) spread(m, v, neff float64) (sd, dof float64) {
	dof = neff - 1
	if s.opt.Kind == Counts {
		mc := math.Max(math.Expm1(m), 0)
		floor := poisson.LogVar(mc)
		if v <= floor {
			return math.Max(math.Sqrt(floor), poisson.MinLogSD), math.Inf(1)
		}
		excess := v - floor
		dof *= (v / excess) * (v / excess)
		return math.Max(math.Sqrt(v), poisson.MinLogSD), dof
	}
	min := s.opt.MinSpread
	if min == 0 {
		min = math.Max(1e-9*math.Abs(m), 1e-12)
	}
	return math.Max(math.Sqrt(v), min), dof
}

// backTransform returns the expectation and spread on the series' scale.
func (s *Scorer) backTransform(m, sd float64) (float64, float64) {
	if s.opt.Kind != Counts {
		return m, sd
	}
	mc := math.Max(math.Expm1(m), 0)
	return mc, (1 + mc) * sd
}

// logP is the log tail probability of the value in the configured
// direction.
//
// For counts two models speak. A negative binomial with the
// back-transformed mean and variance respects the discreteness of small
// counts and the Poisson core of any count, but its tail is too light for
// traffic whose variance is mostly the series' own burstiness; a
// Student-t on the log scale is robust to that and to young baselines,
// but far too lenient for Poisson-like series, whose upper tail the log
// compresses. The evidence is interpolated between them (geometrically, in
// log p) by the share of the predictive variance that is overdispersion,
// exc: Poisson-like series are judged by the negative binomial, bursty
// ones by the log-t. The negative binomial's mean is floored at half an
// event per effective observation, so a series of zeros is not infinitely
// surprised by its first event.
func (s *Scorer) logP(v, y, m, sd, dof, neff float64) float64 {
	z := (y - m) / sd
	// Only one tail is needed: the one the value lies in for Both (the
	// other is at least a half), the configured one otherwise.
	up := z >= 0
	switch s.opt.Direction {
	case Up:
		up = true
	case Down:
		up = false
	}
	var lp float64
	if up {
		lp = tail.StudentUpper(z, dof)
	} else {
		lp = tail.StudentUpper(-z, dof)
	}
	if s.opt.Kind == Counts {
		mc := math.Max(math.Expm1(m), 0)
		exc := 0.0
		if f := poisson.LogVar(mc); sd*sd > f {
			exc = 1 - f/(sd*sd)
		}
		if neff > 0 {
			mc = math.Max(mc, 0.5/neff)
		} else {
			mc = math.Max(mc, 0.5)
		}
		vc := math.Max(mc, (1+mc)*(1+mc)*sd*sd)
		if up {
			lp = blend(lp, tail.NegBinUpper(v, mc, vc), exc)
		} else {
			lp = blend(lp, tail.NegBinLower(v, mc, vc), exc)
		}
	}
	if s.opt.Direction == Both {
		return math.Min(0, math.Ln2+lp)
	}
	return lp
}

// blend interpolates log p-values; an infinite one only wins outright.
func blend(logT, logNB, exc float64) float64 {
	switch {
	case exc <= 0:
		return logNB
	case exc >= 1:
		return logT
	case math.IsInf(logT, -1) || math.IsInf(logNB, -1):
		return math.Max(logT, logNB)
	}
	return exc*logT + (1-exc)*logNB
}

// halfLife returns the recent-history half-life in seconds.
func (s *Scorer) halfLife() float64 {
	if s.opt.HalfLife > 0 {
		return s.opt.HalfLife.Seconds()
	}
	if s.ngaps == 0 {
		return 0
	}
	return defaultHalfLifeIntervals * math.Exp(s.lgap)
}

// learnGap updates the typical sampling interval: a running mean of log
// gaps, each clipped to a factor of ten around the current estimate so an
// outage does not stretch the memory of the baseline.
func (s *Scorer) learnGap(dt float64) {
	l := math.Log(dt)
	if s.ngaps > 0 {
		l = math.Min(math.Max(l, s.lgap-maxGapClipLog), s.lgap+maxGapClipLog)
	}
	w := math.Max(1/float64(s.ngaps+1), 0.02)
	s.lgap += w * (l - s.lgap)
	if s.ngaps < math.MaxUint32 {
		s.ngaps++
	}
}

// decay is the weight left after dt seconds with half-life hl.
func decay(dt, hl float64) float64 {
	if !(dt > 0) || !(hl > 0) {
		return 1
	}
	return math.Exp(-math.Ln2 * dt / hl)
}

// unixSeconds is t as seconds since the Unix epoch, with its fraction.
func unixSeconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())*1e-9
}

// clip limits y to m±r.
func clip(y, m, r float64) float64 { return math.Min(math.Max(y, m-r), m+r) }

// The floor of recent history's spread. Its spread is the mean square of
// its recent one-step errors, and where those are mostly exactly zero (a
// count that is usually 0, a series held at a constant between events)
// it shrinks towards nothing between events, so that the next ordinary
// event is scored as impossible. Over a longer memory (maeMemory recent
// half-lives) such a series does have a typical error size; the spread
// is not believed below maeFloorShare of it, as a standard deviation
// (the mean absolute error times sqrt(pi/2), which is a Gaussian's
// standard deviation: a floor that a steady Gaussian series never
// touches). Errors enter it at most maeClip times the current mean, so
// that one wild value does not widen the floor for long.
const (
	maeMemory     = 10
	maeFloorShare = 0.5
	maeClip       = 100
)

// learnMAE absorbs a one-step error e of recent history, dt seconds
// after the last observation.
func (s *Scorer) learnMAE(e, dt, hl float64) {
	a := math.Abs(e)
	if s.mae > 0 {
		a = math.Min(a, maeClip*s.mae)
	}
	s.maeW = decay(dt, maeMemory*hl)*s.maeW + 1
	s.mae += (a - s.mae) / s.maeW
}

// maeFloor is the least spread believed for recent history's prediction
// (0 until MinHistory errors have been seen).
func (s *Scorer) maeFloor() float64 {
	if s.maeW < float64(s.opt.MinHistory) {
		return 0
	}
	return maeFloorShare * math.Sqrt(math.Pi/2) * s.mae
}
