package report

import (
	"math"
	"strconv"
	"time"
)

// count renders n with thousands separated: 1,240,000.
func count(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	b := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// icount is count for a signed number.
func icount(n int64) string {
	if n < 0 {
		return "-" + count(uint64(-n))
	}
	return count(uint64(n))
}

// human renders x for people: integers with separators, small
// fractions with one or two significant decimals ("2.5", "0.04").
func human(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "–"
	case x < 0:
		return "-" + human(-x)
	case x == math.Trunc(x) && x < 1e18:
		return count(uint64(x))
	case x < 1:
		return strconv.FormatFloat(x, 'g', 2, 64)
	case x < 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	case x < 1e18:
		return count(uint64(math.Round(x)))
	}
	return strconv.FormatFloat(x, 'g', 3, 64)
}

// percent renders a ratio as a percentage.
func percent(r float64) string {
	p := 100 * r
	switch {
	case math.IsNaN(p) || math.IsInf(p, 0):
		return "–"
	case p >= 10 || p == 0:
		return strconv.FormatFloat(p, 'f', 0, 64) + "%"
	case p >= 1:
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 2, 64) + "%"
}

// byteSize renders a byte count: 12 kB, 3.4 MB.
func byteSize(n float64) string {
	const units = "kMGTPE"
	if n < 1000 {
		return human(n) + " B"
	}
	i := -1
	for n >= 1000 && i < len(units)-1 {
		n /= 1000
		i++
	}
	return strconv.FormatFloat(n, 'f', 1, 64) + " " + units[i:i+1] + "B"
}

// clock renders t in UTC at a precision suiting a span: the time of day
// for spans within a day, with the date beyond, with seconds for windows
// under a minute.
func clock(t time.Time, span, step time.Duration) string {
	layout := "15:04"
	if step < time.Minute {
		layout = "15:04:05"
	}
	if span > 20*time.Hour {
		layout = "Jan 2 " + layout
	}
	return t.UTC().Format(layout)
}

// stamp renders t in full, UTC.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// duration renders a bucket length: "min", "5 min", "2 h", "30 s".
func duration(d time.Duration) string {
	switch {
	case d == time.Minute:
		return "min"
	case d == time.Hour:
		return "hour"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + " h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + " s"
	}
	return d.String()
}

// plural is n and noun, with an s unless n is 1: "1 request", "2 requests".
func plural(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return count(n) + " " + noun + "s"
}
