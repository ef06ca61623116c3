package bandplot

import (
	"math"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
)

// maxTicks bounds any tick list, whatever the range.
const maxTicks = 40

// timeSteps are the tick spacings of the time axis, in seconds. Every
// one below a day divides a day, so epoch-aligned ticks fall on round
// clock times; from a day on they fall on UTC midnights.
var timeSteps = [...]float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
	3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 365 * 86400}

// timeTicker labels a time axis in Unix seconds, UTC: HH:MM (with
// seconds below a minute's step), the date added on the first tick and
// wherever the day changes; dates alone from a day's step on.
type timeTicker struct{ target int } // labelled ticks wanted at most

// Ticks implements plot.Ticker.
func (t timeTicker) Ticks(min, max float64) []plot.Tick {
	if !(max > min) || math.IsInf(min, 0) || math.IsInf(max, 0) {
		return nil
	}
	step := pickTimeStep(max-min, t.target)
	if step >= 30*86400 {
		return calendarTicks(min, max, monthsIn(step))
	}
	first := math.Ceil(min/step) * step
	if first+step == first { // beyond float64's precision at this magnitude
		return []plot.Tick{{Value: min, Label: timeLabel(min, step, true, false)}}
	}
	multiDay := day(min) != day(max)
	var ticks []plot.Tick
	prev := int64(math.MinInt64)
	for i := 0; i < maxTicks; i++ {
		v := first + float64(i)*step
		if v > max {
			break
		}
		d := day(v)
		ticks = append(ticks, plot.Tick{Value: v, Label: timeLabel(v, step, multiDay && d != prev, !sameYear(min, max))})
		prev = d
	}
	return ticks
}

// monthsIn is a step of 30 days or more in calendar months.
func monthsIn(step float64) int {
	switch {
	case step < 91*86400:
		return 1
	case step < 365*86400:
		return 3
	}
	return 12 * int(math.Min(math.Round(step/(365*86400)), 1e6))
}

// calendarTicks ticks every months calendar months (1, 3 or a whole
// number of years) at month starts at or after min, aligned to a
// multiple of months since year 0: "2006-01", or "2006" for years.
func calendarTicks(min, max float64, months int) []plot.Tick {
	start := toTime(min)
	idx := int64(start.Year())*12 + int64(start.Month()) - 1 // months since year 0
	if !monthStart(idx).Equal(start) {
		idx++
	}
	m := int64(months)
	idx = floorDiv(idx+m-1, m) * m
	var ticks []plot.Tick
	for i := int64(0); i < maxTicks; i++ {
		t := monthStart(idx + i*m)
		v := float64(t.Unix())
		if v > max {
			break
		}
		label := t.Format("2006-01")
		if months >= 12 {
			label = t.Format("2006")
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: label})
	}
	return ticks
}

// monthStart is the UTC start of month idx counted from January of year 0.
func monthStart(idx int64) time.Time {
	y := floorDiv(idx, 12)
	return time.Date(int(y), time.Month(idx-12*y+1), 1, 0, 0, 0, 0, time.UTC)
}

// floorDiv is a/b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// pickTimeStep returns the smallest step of timeSteps giving at most
// target ticks over span seconds, or a whole number of years.
func pickTimeStep(span float64, target int) float64 {
	for _, s := range timeSteps {
		if span/s <= float64(target) {
			return s
		}
	}
	year := timeSteps[len(timeSteps)-1]
	return roundYears(span/float64(target)/year) * year
}

// roundYears is the smallest of 1, 2 and 5 times a power of ten not
// below years (at least 1).
func roundYears(years float64) float64 {
	for mag := 1.0; ; mag *= 10 {
		for _, m := range [...]float64{1, 2, 5} {
			if m*mag >= years || math.IsInf(mag, 0) {
				return m * mag
			}
		}
	}
}

// toTime is Unix seconds v as a UTC time, to the second.
func toTime(v float64) time.Time { return time.Unix(int64(math.Floor(v)), 0).UTC() }

// day numbers v's UTC day.
func day(v float64) int64 { return int64(math.Floor(v / 86400)) }

func sameYear(a, b float64) bool { return toTime(a).Year() == toTime(b).Year() }

// timeLabel formats one tick: the clock time for steps under a day
// (with the date when withDate), the date otherwise (with the year when
// the axis spans several).
func timeLabel(v, step float64, withDate, withYear bool) string {
	t := toTime(v)
	switch {
	case step >= 86400 && withYear:
		return t.Format("2006-01-02")
	case step >= 86400:
		return t.Format("Jan 2")
	case step < 60 && withDate:
		return t.Format("Jan 2 15:04:05")
	case step < 60:
		return t.Format("15:04:05")
	case withDate:
		return t.Format("Jan 2 15:04")
	}
	return t.Format("15:04")
}

// timeAxisLabel names the time axis with the dates it covers.
func timeAxisLabel(min, max float64) string {
	a, b := toTime(min).Format("2006-01-02"), toTime(max).Format("2006-01-02")
	if a == b {
		return "time (UTC), " + a
	}
	return "time (UTC), " + a + " to " + b
}

// valueTicks labels the value axis at round numbers: 1, 2, 2.5 or 5
// times a power of ten, about five of them.
func valueTicks(min, max float64) []plot.Tick {
	if !(max > min) || math.IsInf(min, 0) || math.IsInf(max, 0) {
		return nil
	}
	step := niceStep((max - min) / 5)
	first := math.Ceil(min/step) * step
	if !(step > 0) || math.IsInf(step, 0) || first+step == first || math.IsInf(first, 0) {
		return []plot.Tick{{Value: min, Label: valueLabel(min, max-min)}, {Value: max, Label: valueLabel(max, max-min)}}
	}
	var ticks []plot.Tick
	for i := 0; i < maxTicks; i++ {
		v := first + float64(i)*step
		if v > max {
			break
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: valueLabel(v, step)})
	}
	return ticks
}

// niceStep is the smallest of 1, 2, 2.5, 5 and 10 times a power of ten
// not below raw; 0 when raw is too small to have one.
func niceStep(raw float64) float64 {
	mag := math.Pow10(int(math.Floor(math.Log10(raw))))
	for _, m := range [...]float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// valueLabel formats a tick value with the decimals its step needs, and
// large values with a k, M, G or T suffix (12k, 1.5M).
func valueLabel(v, step float64) string {
	if v == 0 {
		return "0"
	}
	unit, suffix := 1.0, ""
	for _, u := range [...]struct {
		f float64
		s string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(v) >= u.f && math.Abs(v) < 1e15 {
			unit, suffix = u.f, u.s
			break
		}
	}
	if math.Abs(v) >= 1e15 || step/unit < 1e-6 {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	f := strconv.FormatFloat(v/unit, 'f', decimals(step/unit), 64)
	if strings.IndexByte(f, '.') >= 0 {
		f = strings.TrimRight(strings.TrimRight(f, "0"), ".")
	}
	return f + suffix
}

// decimals is how many decimals show a multiple of step exactly (at
// most 6).
func decimals(step float64) int {
	s := strconv.FormatFloat(step, 'f', -1, 64)
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return 0
	}
	return min(6, len(s)-i-1)
}
