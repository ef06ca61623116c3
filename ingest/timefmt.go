package ingest

import "time"

// Hand-written timestamp parsers: time.Parse costs more than the rest of an
// nginx line put together, and these formats are fixed-width.

var monthIndex = map[string]time.Month{
	"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
	"Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}

func month3(b []byte) (time.Month, bool) {
	if len(b) != 3 {
		return 0, false
	}
	m, ok := monthIndex[string(b)]
	return m, ok
}

func atoiN(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// zoneCache avoids allocating a *time.Location per line: logs carry one or
// two offsets, so a tiny cache keyed by offset seconds serves them all.
type zoneCache struct {
	off [4]int
	loc [4]*time.Location
	n   int
}

func (z *zoneCache) get(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	for i := 0; i < z.n; i++ {
		if z.off[i] == off {
			return z.loc[i]
		}
	}
	loc := time.FixedZone("", off)
	i := z.n
	if i == len(z.off) {
		i = 0 // overwrite; more than four offsets in one stream is odd
	} else {
		z.n++
	}
	z.off[i], z.loc[i] = off, loc
	return loc
}

// clfDateTime parses the date and time of the Common Log Format,
// "02/Jan/2006:15:04:05" (20 bytes), shared by CLF and HAProxy stamps.
func clfDateTime(b []byte) (year int, mon time.Month, day, hh, mm, ss int, ok bool) {
	if len(b) != 20 || b[2] != '/' || b[6] != '/' || b[11] != ':' || b[14] != ':' || b[17] != ':' {
		return 0, 0, 0, 0, 0, 0, false
	}
	day, ok1 := atoiN(b[0:2])
	mon, ok2 := month3(b[3:6])
	year, ok3 := atoiN(b[7:11])
	hh, ok4 := atoiN(b[12:14])
	mm, ok5 := atoiN(b[15:17])
	ss, ok6 := atoiN(b[18:20])
	ok = ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && day >= 1 && day <= 31 && hh <= 23 && mm <= 59 && ss <= 60
	return year, mon, day, hh, mm, ss, ok
}

// parseCLFTime parses the Common Log Format time "02/Jan/2006:15:04:05 -0700".
func parseCLFTime(b []byte, z *zoneCache) (time.Time, bool) {
	if len(b) != 26 || b[20] != ' ' || (b[21] != '+' && b[21] != '-') {
		return time.Time{}, false
	}
	year, mon, day, hh, mm, ss, ok := clfDateTime(b[:20])
	oh, ok7 := atoiN(b[22:24])
	om, ok8 := atoiN(b[24:26])
	if !ok || !ok7 || !ok8 || oh > 23 || om > 59 {
		return time.Time{}, false
	}
	off := oh*3600 + om*60
	if b[21] == '-' {
		off = -off
	}
	return time.Date(year, mon, day, hh, mm, ss, 0, z.get(off)), true
}

// parseISOTime parses RFC 3339 / ISO 8601 timestamps as gateways write them:
// "2006-01-02T15:04:05Z", with optional fractional seconds, a 'Z' or a
// ±hh:mm / ±hhmm offset, and a space instead of 'T'. A timestamp with no
// zone is taken as UTC.
func parseISOTime(b []byte, z *zoneCache) (time.Time, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := atoiN(b[0:4])
	mon, ok2 := atoiN(b[5:7])
	day, ok3 := atoiN(b[8:10])
	hh, ok4 := atoiN(b[11:13])
	mm, ok5 := atoiN(b[14:16])
	ss, ok6 := atoiN(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec := 0
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		i, scale := 1, 100000000
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			nsec += int(rest[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		rest = rest[i:]
	}
	off := 0
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case (rest[0] == '+' || rest[0] == '-') && (len(rest) == 6 && rest[3] == ':' || len(rest) == 5 || len(rest) == 3):
		oh, ok := atoiN(rest[1:3])
		om := 0
		okm := true
		switch len(rest) {
		case 6:
			om, okm = atoiN(rest[4:6])
		case 5:
			om, okm = atoiN(rest[3:5])
		}
		if !ok || !okm || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		off = oh*3600 + om*60
		if rest[0] == '-' {
			off = -off
		}
	default:
		return time.Time{}, false
	}
	return time.Date(year, time.Month(mon), day, hh, mm, ss, nsec, z.get(off)), true
}

// parseEpoch parses seconds since the epoch with an optional fraction
// ("1700000000.123"), as HAProxy, Kong and Traefik can log.
func parseEpoch(b []byte) (time.Time, bool) {
	sec, frac := b, []byte(nil)
	for i, c := range b {
		if c == '.' {
			sec, frac = b[:i], b[i+1:]
			break
		}
	}
	s, ok := atoiN(sec)
	if !ok || len(sec) > 12 {
		return time.Time{}, false
	}
	nsec, scale := 0, 100000000
	for _, c := range frac {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		if scale > 0 {
			nsec += int(c-'0') * scale
			scale /= 10
		}
	}
	return time.Unix(int64(s), int64(nsec)).UTC(), true
}

// epochMillis turns milliseconds since the epoch into a time.
func epochMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
