package bandplot

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 22, 30, 0, 0, time.UTC)

// minutes returns n one-minute points from t0: observed around 100,
// 400 and more in [spike, spike+10), expected 100 ± 12.
func minutes(n, spike int) []Point {
	pts := make([]Point, n)
	for i := range pts {
		obs := 100 + 10*math.Sin(float64(i)/5)
		if i >= spike && i < spike+10 {
			obs = 400 + float64(i)
		}
		pts[i] = Point{Time: t0.Add(time.Duration(i) * time.Minute), Observed: obs, Expected: 100, Spread: 12}
	}
	return pts
}

// pixels decodes a PNG and counts the pixels of exactly colour c.
func pixels(t *testing.T, b []byte, c color.RGBA) (image.Rectangle, int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the output does not decode as PNG: %v", err)
	}
	n := 0
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == c {
				n++
			}
		}
	}
	return r, n
}

// pngCase is one PNG call and what its image must hold.
type pngCase struct {
	name              string
	s                 Series
	o                 Options
	wantW, wantH      int
	minObserved, band int // pixels of each colour at least
	wantErr           error
}

func pngCases() []pngCase {
	nanObs := minutes(60, 20)
	nanObs[5].Observed, nanObs[6].Observed, nanObs[30].Observed = math.NaN(), math.Inf(1), math.Inf(-1)
	nanObs[10].Expected, nanObs[11].Spread, nanObs[12].Spread = math.Inf(1), math.NaN(), -5
	unsorted := minutes(40, 10)
	unsorted[0], unsorted[39] = unsorted[39], unsorted[0]
	var month []Point // 30 days of hourly windows
	for i := range 30 * 24 {
		month = append(month, Point{Time: t0.Add(time.Duration(i) * time.Hour), Observed: float64(1000 + i%24*50), Expected: 1500, Spread: 300})
	}
	huge := minutes(20, 5)
	for i := range huge {
		huge[i].Observed *= 1e306
		huge[i].Spread = math.MaxFloat64
	}
	allNaN := []Point{{Time: t0, Observed: math.NaN(), Expected: math.Inf(1)}}
	return []pngCase{
		{"typical", Series{Title: "k:alice — volume", Unit: "req/min", Points: minutes(120, 60), From: t0.Add(time.Hour), To: t0.Add(70 * time.Minute)},
			Options{}, 900, 360, 500, 2000, nil},
		{"one point", Series{Title: "one", Unit: "req/min", Points: minutes(1, 5), From: t0, To: t0.Add(time.Minute)}, Options{}, 900, 360, 10, 500, nil},
		{"one point no span", Series{Points: minutes(1, 5)}, Options{}, 900, 360, 10, 200, nil},
		{"NaN and Inf", Series{Title: "nan", Points: nanObs, From: t0.Add(20 * time.Minute)}, Options{}, 900, 360, 200, 1000, nil},
		{"unsorted", Series{Points: unsorted}, Options{Width: 400, Height: 200}, 400, 200, 100, 500, nil},
		{"long span", Series{Title: "month", Unit: "req/h", Points: month, From: t0.Add(24 * time.Hour), To: t0.Add(48 * time.Hour)},
			Options{Width: 1200, Height: 400, Sigmas: 2}, 1200, 400, 1000, 3000, nil},
		{"huge values", Series{Points: huge}, Options{}, 900, 360, 100, 0, nil},
		{"zero spread", Series{Points: []Point{{Time: t0, Observed: 3, Expected: 1}, {Time: t0.Add(time.Minute), Observed: 5, Expected: 1}}},
			Options{}, 900, 360, 100, 0, nil},
		{"empty", Series{Title: "empty"}, Options{}, 0, 0, 0, 0, ErrNoData},
		{"all NaN", Series{Points: allNaN}, Options{}, 0, 0, 0, 0, ErrNoData},
		{"too small", Series{Points: minutes(5, 1)}, Options{Width: 50}, 0, 0, 0, 0, errBadOptions},
		{"too large", Series{Points: minutes(5, 1)}, Options{Height: MaxSize + 1}, 0, 0, 0, 0, errBadOptions},
		{"negative sigmas", Series{Points: minutes(5, 1)}, Options{Sigmas: -1}, 0, 0, 0, 0, errBadOptions},
		{"NaN sigmas", Series{Points: minutes(5, 1)}, Options{Sigmas: math.NaN()}, 0, 0, 0, 0, errBadOptions},
	}
}

func TestPNG(t *testing.T) {
	t.Parallel()
	for _, tt := range pngCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			err := PNG(&b, tt.s, tt.o)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || b.Len() != 0 {
					t.Fatalf("PNG = %v (%d bytes written), want %v", err, b.Len(), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r, obs := pixels(t, b.Bytes(), observedColor)
			_, band := pixels(t, b.Bytes(), bandColor)
			if r.Dx() != tt.wantW || r.Dy() != tt.wantH {
				t.Errorf("image is %dx%d, want %dx%d", r.Dx(), r.Dy(), tt.wantW, tt.wantH)
			}
			if obs < tt.minObserved || band < tt.band {
				t.Errorf("%d observed and %d band pixels, want at least %d and %d", obs, band, tt.minObserved, tt.band)
			}
		})
	}
}

// TestBandClippedAtZero: the band's lower edge never goes below 0, and a
// bad spread draws no band rather than a wrong one.
func TestBandClippedAtZero(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p      Point
		sigmas float64
		lo, hi float64
	}{
		{Point{Expected: 1, Spread: 10}, 1, 0, 11},
		{Point{Expected: 100, Spread: 10}, 2, 80, 120},
		{Point{Expected: 5, Spread: -3}, 1, 5, 5},
		{Point{Expected: 5, Spread: math.NaN()}, 1, 5, 5},
		{Point{Expected: 5, Spread: math.Inf(1)}, 1, 5, 5},
		{Point{Expected: -4, Spread: 1}, 1, 0, 0},
		{Point{Expected: 1e308, Spread: 1e308}, 3, 0, limit},
	}
	for _, tt := range tests {
		got := prepare([]Point{tt.p}, tt.sigmas)[0]
		if got.bandLo != tt.lo || got.bandHi != tt.hi {
			t.Errorf("band of %+v ×%v = [%v, %v], want [%v, %v]", tt.p, tt.sigmas, got.bandLo, got.bandHi, tt.lo, tt.hi)
		}
	}
}

func TestTimeTicks(t *testing.T) {
	t.Parallel()
	sec := func(t time.Time) float64 { return unixSeconds(t) }
	tests := []struct {
		name     string
		from, to time.Time
		want     []string // the labels, in order
	}{
		{"two hours", t0.Add(-30 * time.Minute), t0.Add(90 * time.Minute),
			[]string{"Mar 2 22:00", "22:15", "22:30", "22:45", "23:00", "23:15", "23:30", "23:45", "Mar 3 00:00"}},
		{"one hour, one day", t0.Add(-2 * time.Hour), t0.Add(-time.Hour),
			[]string{"20:30", "20:40", "20:50", "21:00", "21:10", "21:20", "21:30"}},
		{"seconds", t0, t0.Add(time.Minute), []string{"22:30:00", "22:30:10", "22:30:20", "22:30:30", "22:30:40", "22:30:50", "22:31:00"}},
		{"a week", t0, t0.Add(7 * 24 * time.Hour), []string{"Mar 3", "Mar 4", "Mar 5", "Mar 6", "Mar 7", "Mar 8", "Mar 9"}},
		{"months", t0, t0.AddDate(0, 6, 0), []string{"2026-04", "2026-05", "2026-06", "2026-07", "2026-08", "2026-09"}},
		{"years", t0, t0.AddDate(3, 0, 0), []string{"2027", "2028", "2029"}},
		{"centuries", t0, t0.AddDate(300, 0, 0), []string{"2050", "2100", "2150", "2200", "2250", "2300"}},
	}
	for _, tt := range tests {
		var got []string
		for _, tk := range (timeTicker{target: 9}).Ticks(sec(tt.from), sec(tt.to)) {
			got = append(got, tk.Label)
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: ticks %q, want %q", tt.name, got, tt.want)
		}
	}
	if ts := (timeTicker{target: 8}).Ticks(1e17, 1e17+1); len(ts) > 1 {
		t.Errorf("ticks beyond float64 precision: %v", ts)
	}
}

func TestValueTicks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		min, max float64
		want     string
	}{
		{0, 600, "0|200|400|600"},
		{0, 1500, "0|500|1k|1.5k"},
		{0, 0.05, "0|0.01|0.02|0.03|0.04|0.05"},
		{0, 12, "0|2.5|5|7.5|10"},
		{0, 250_000, "0|50k|100k|150k|200k|250k"},
		{0, 3e6, "0|1M|2M|3M"},
		{0, 1e300, "0|2e+299|4e+299|6e+299|8e+299|1e+300"},
		{-10, 10, "-10|-5|0|5|10"},
		{0, 1e-9, "0|2e-10|4e-10|6e-10|8e-10|1e-09"},
	}
	for _, tt := range tests {
		var got []string
		for _, tk := range valueTicks(tt.min, tt.max) {
			got = append(got, tk.Label)
		}
		if s := strings.Join(got, "|"); s != tt.want {
			t.Errorf("valueTicks(%v, %v) = %s, want %s", tt.min, tt.max, s, tt.want)
		}
	}
}

func TestClean(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"k:alice — volume", "k:alice — volume"},
		{"\x1b[31mred\x1b[0m", "[31mred[0m"},
		{"a\nb\r\nc\td", "a b c d"},
		{"  lead  and  trail  ", "lead and trail"},
		{"ab\u202ecd\u200b\ufeffe\u2028f", "abcdef"},
		{"bad\xff\xfeutf8\x00", "badutf8"},
		{"\u0085c1\u009b", "c1"},
		{strings.Repeat("x", 500), strings.Repeat("x", maxTitle-1) + "…"},
		{strings.Repeat("é", maxTitle), strings.Repeat("é", maxTitle)},
	}
	for _, tt := range tests {
		if got := clean(tt.in, maxTitle); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzPNG: no input panics; an error is ErrNoData or bad options, and a
// success is a PNG of the asked size.
func FuzzPNG(f *testing.F) {
	f.Add("k:alice", "req/min", uint8(30), 120.0, 100.0, 12.0, int64(1772490600), int64(60), int64(600), int64(1200), 1.0)
	f.Add("\x1b]0;evil\a\u202e", "\xff", uint8(1), math.NaN(), math.Inf(1), -1.0, int64(0), int64(0), int64(0), int64(0), 0.0)
	f.Add("", "", uint8(200), 1e308, -1e308, 1e308, int64(-62135596800), int64(1<<40), int64(-1), int64(1<<62), 1e300)
	f.Add("x", "y", uint8(3), 5e-324, 0.0, 5e-324, int64(1<<40), int64(1), int64(0), int64(0), 3.0)
	f.Fuzz(func(t *testing.T, title, unit string, n uint8, obs, exp, spread float64, start, step, from, to int64, sigmas float64) {
		s := Series{Title: title, Unit: unit}
		for i := range int(n % 64) {
			p := Point{Time: time.Unix(start+int64(i)*step, 0), Observed: obs * float64(i%5), Expected: exp + float64(i), Spread: spread}
			if i%7 == 3 {
				p.Observed = math.NaN()
			}
			s.Points = append(s.Points, p)
		}
		if from != 0 {
			s.From = time.Unix(start+from, 0)
		}
		if to != 0 {
			s.To = time.Unix(start+to, 0)
		}
		var b bytes.Buffer
		err := PNG(&b, s, Options{Width: MinSize, Height: MinSize, Sigmas: sigmas})
		if err != nil {
			if !errors.Is(err, ErrNoData) && !errors.Is(err, errBadOptions) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		cfg, err := png.DecodeConfig(&b)
		if err != nil || cfg.Width != MinSize || cfg.Height != MinSize {
			t.Fatalf("output: %+v, %v", cfg, err)
		}
	})
}

func BenchmarkPNG(b *testing.B) {
	s := Series{Title: "k:alice — volume (inc-0123456789abcdef)", Unit: "req/min", Points: minutes(360, 200),
		From: t0.Add(200 * time.Minute), To: t0.Add(210 * time.Minute)}
	b.ReportAllocs()
	for b.Loop() {
		if err := PNG(io.Discard, s, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
