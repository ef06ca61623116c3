package detect

import (
	"math"
	"time"
)

// Per-client seasonality.
//
// The fleet factor (fleet.go) and the fleet's hour-of-day profile
// (fleetdet.go) carry what every client shares: the daily peak of the
// whole API. What one client does on its own schedule is not in them: a
// partner's nightly sync at 02:00, a report job every Monday morning, an
// office integration that is five times busier in working hours than at
// night. Its volume baseline is an EWMA over its active windows with a
// half-life of HalfLife windows, which follows a slow daily curve but
// flags a sharp peak every day, and never learns it, since a flagged
// window is winsorised before it is absorbed.
//
// So each client keeps its own profile of its volume: 24 hour-of-day and
// 7 day-of-week factors (UTC), on the log scale, relative to its level.
// Every own-baseline window teaches the factors of its hour and weekday
// (EWMA weight clientSeasonWeight) its departure from the level after the
// fleet's common mode, clipped at a factor of eight (seasonClip) either
// way, so one window can move a factor only so far and a factor can
// never excuse more than eight times the level. A factor is trusted once
// its hour has been active on clientSeasonDays different days (its
// weekday on as many different weeks); until then the client is judged
// on its recent history alone, as before. Trusted, the factor scales
// what the volume detector expects and the window is absorbed into the
// level deseasonalised, so the level describes the client's traffic net
// of its schedule.
//
// The price of learning a schedule is that an attack repeated at the
// same hour on three days becomes that hour's habit. Each of those days
// is flagged until the hour is trusted, and even then the factor is
// bounded at eight times the level: a flood far beyond it is still
// found. Days are told apart by the parity of the day number, so an hour
// active every other day is counted only when its parity changes: slower
// to trust, never faster.

// Seasonality constants.
const (
	clientSeasonWeight = 0.1    // EWMA weight of a window in its hour's and weekday's factors
	clientSeasonDays   = 3      // days (weeks) an hour (weekday) must have been active on before its factor is used
	seasonScale        = 4096.0 // fixed-point scale of the stored factors: ±8 in ln units, steps of 2.4e-4
	seasonSlots        = 24 + 7 // hours of the day, then days of the week
)

// clientSeason is one client's own volume profile: 80 bytes, in a pool
// (seasonPool) linked from the client record, since only a client with
// MinHistory windows behind it learns one.
type clientSeason struct {
	factor [seasonSlots]int16 // log-scale factors × seasonScale: hours 0-23, then weekdays (Sunday first)
	// seen holds, for each slot i, in bits 2i and 2i+1, on how many
	// different days (weeks) the slot was active, saturating at 3;
	// parity's bit i is the parity of the day (week) it last was.
	seen   uint64
	parity uint32
}

// seasonPoint is where a window falls in the daily and weekly cycle.
type seasonPoint struct {
	ok          bool  // the window is at most an hour long, so hours mean something
	hour, dow   int   // UTC hour of day and day of week of the window's start (0 = Sunday)
	day, week   int64 // day and week numbers since the epoch, whose parity tells a new day or week
	hourSlot    int   // slot index of hour
	weekdaySlot int   // slot index of dow
}

// seasonPointOf returns where window w starts in the daily and weekly
// cycle.
func (e *Engine) seasonPointOf(w int64) seasonPoint {
	if e.opts.Window > time.Hour {
		return seasonPoint{}
	}
	sec := floorDiv(w*e.clock.width, 1e9)
	day := floorDiv(sec, 86400)
	// 1970-01-01 was a Thursday: day 0 is weekday 4, and weeks start on
	// Sunday.
	dow := int(floorMod(day+4, 7))
	p := seasonPoint{ok: true, hour: int(floorMod(sec, 86400) / 3600), dow: dow, day: day, week: floorDiv(day+4, 7)}
	p.hourSlot, p.weekdaySlot = p.hour, 24+p.dow
	return p
}

// days is how many different days (weeks) slot i has been active on.
func (s *clientSeason) days(i int) int { return int(s.seen>>(2*i)) & 3 }

// trusted reports whether slot i's factor is used.
func (s *clientSeason) trusted(i int) bool { return s.days(i) >= clientSeasonDays }

func (s *clientSeason) value(i int) float64 { return float64(s.factor[i]) / seasonScale }

// logFactor returns the trusted log-scale factor at p, and whether any
// part of it is trusted.
func (s *clientSeason) logFactor(p *seasonPoint) (f float64, ok bool) {
	if !p.ok || s.seen == 0 {
		return 0, false
	}
	if s.trusted(p.hourSlot) {
		f, ok = s.value(p.hourSlot), true
	}
	if s.trusted(p.weekdaySlot) {
		f, ok = f+s.value(p.weekdaySlot), true
	}
	return f, ok
}

// learn teaches the factors at p a window whose log-scale departure from
// the client's level is r, and counts the day and week as seen. Each
// factor learns what the other, where trusted, does not explain.
func (s *clientSeason) learn(p *seasonPoint, r float64) {
	if !p.ok || math.IsNaN(r) {
		return
	}
	r = max(-seasonClip, min(seasonClip, r))
	h, d := s.value(p.hourSlot), s.value(p.weekdaySlot)
	rh, rd := r, r
	if s.trusted(p.weekdaySlot) {
		rh -= d
	}
	if s.trusted(p.hourSlot) {
		rd -= h
	}
	s.set(p.hourSlot, h+clientSeasonWeight*(rh-h))
	s.set(p.weekdaySlot, d+clientSeasonWeight*(rd-d))
	s.count(p.hourSlot, p.day)
	s.count(p.weekdaySlot, p.week)
}

// set stores a factor, rounded and clipped to the fixed-point range.
func (s *clientSeason) set(i int, v float64) {
	v = max(-seasonClip, min(seasonClip, v))
	s.factor[i] = int16(math.Round(v * seasonScale))
}

// count records that slot i was active on day (or week) n.
func (s *clientSeason) count(i int, n int64) {
	bit, par := uint32(1)<<i, uint32(n&1)<<i
	k := s.days(i)
	if k > 0 && s.parity&bit == par {
		return // the same day as last time (or one of its parity)
	}
	s.parity = s.parity&^bit | par
	if k < 3 {
		s.seen += 1 << (2 * i)
	}
}

// seasonPool holds the profiles of the clients that learnt one, linked
// from client.season; a client without one has the empty profile, which
// trusts nothing. Clients with a history are few among many: the long
// tail sending a request or two never reaches MinHistory windows.
type seasonPool struct {
	list []clientSeason
	free []int32 // indexes + 1 of unused entries
}

// noSeason is the profile of a client without one. Never written.
var noSeason clientSeason

// seasonOf returns client idx's profile, for reading only.
func (e *Engine) seasonOf(idx int32) *clientSeason {
	if ref := e.tab.list.at(idx).season; ref != 0 {
		return &e.seasons.list[ref-1]
	}
	return &noSeason
}

// seasonFor returns client idx's profile, taking an empty one from the
// pool if it has none.
func (e *Engine) seasonFor(idx int32) *clientSeason {
	c := e.tab.list.at(idx)
	p := &e.seasons
	if c.season == 0 {
		if n := len(p.free); n > 0 {
			c.season = p.free[n-1]
			p.free = p.free[:n-1]
		} else {
			p.list = append(p.list, clientSeason{})
			c.season = int32(len(p.list))
		}
		p.list[c.season-1] = clientSeason{}
	}
	return &p.list[c.season-1]
}

// learnSeason teaches client idx's profile, at the window being closed, a
// departure r from its level (clientSeason.learn), giving the client a
// profile when the window can teach one.
func (e *Engine) learnSeason(idx int32, r float64) {
	if !e.season.ok || math.IsNaN(r) {
		return // learn would leave the profile as it is
	}
	e.seasonFor(idx).learn(&e.season, r)
}

// releaseSeason returns client idx's profile, if any, to the pool.
func (e *Engine) releaseSeason(idx int32) {
	c := e.tab.list.at(idx)
	if c.season != 0 {
		e.seasons.free = append(e.seasons.free, c.season)
		c.season = 0
	}
}
