package series

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestReadNAB(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/nab/example.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	points, unordered, err := ReadNABSeries(f)
	if err != nil {
		t.Fatal(err)
	}
	if unordered != nil {
		t.Fatalf("in-order file: %v", unordered)
	}
	if len(points) != 288 || !points[0].Time.Equal(time.Date(2014, 4, 10, 0, 0, 0, 0, time.UTC)) ||
		!points[287].Time.Equal(time.Date(2014, 4, 10, 23, 55, 0, 0, time.UTC)) {
		t.Fatalf("%d points from %v to %v", len(points), points[0].Time, points[len(points)-1].Time)
	}
	wf, err := os.Open("testdata/nab/combined_windows.json")
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	windows, err := ReadNABWindows(wf)
	if err != nil {
		t.Fatal(err)
	}
	ws := windows["artificialWithAnomaly/example.csv"]
	if len(ws) != 1 || !ws[0].Start.Equal(time.Date(2014, 4, 10, 16, 20, 0, 0, time.UTC)) {
		t.Fatalf("windows %v", windows)
	}
	if w, ok := windows["realKnownCause/empty.csv"]; !ok || len(w) != 0 {
		t.Fatalf("empty window list: %v, %v", w, ok)
	}
	// The injected +30 sd spike at 16:40 is found inside its window, and
	// nothing else is flagged.
	e, err := Evaluate(points, ScoreAll(Options{}, points), ws, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Detected != 1 || e.FalsePositives != 0 || e.NAB() < 50 {
		t.Fatalf("evaluation %+v (NAB %.1f)", e, e.NAB())
	}
}

func TestReadNABErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, csv string }{
		{"empty", ""},
		{"header", "time,value\n2014-04-10 00:00:00,1\n"},
		{"time", "timestamp,value\n10/04/2014,1\n"},
		{"value", "timestamp,value\n2014-04-10 00:00:00,abc\n"},
		{"fields", "timestamp,value\n2014-04-10 00:00:00\n"},
	} {
		if _, _, err := ReadNABSeries(strings.NewReader(tc.csv)); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	for _, tc := range []struct{ name, json string }{
		{"syntax", "{"},
		{"pair", `{"a.csv": [["2014-04-10 00:00:00.000000"]]}`},
		{"time", `{"a.csv": [["x", "2014-04-10 00:00:00.000000"]]}`},
		{"reversed", `{"a.csv": [["2014-04-10 01:00:00.000000", "2014-04-10 00:00:00.000000"]]}`},
	} {
		if _, err := ReadNABWindows(strings.NewReader(tc.json)); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// Rows out of time order are sorted, stably, and the fewest rows that
// break the order are reported by line.
func TestReadNABOutOfOrder(t *testing.T) {
	t.Parallel()
	// rows builds a file from "minute:value" pairs, minutes after t0.
	rows := func(rs ...string) string {
		var b strings.Builder
		b.WriteString("timestamp,value\n")
		for _, r := range rs {
			minute, value, _ := strings.Cut(r, ":")
			m, _ := strconv.Atoi(minute)
			fmt.Fprintf(&b, "%s,%s\n", t0.Add(time.Duration(m)*time.Minute).Format("2006-01-02 15:04:05"), value)
		}
		return b.String()
	}
	many := []string{"100:0"}
	for i := range 5 {
		many = append(many, strconv.Itoa(i)+":"+strconv.Itoa(i+1))
	}
	many = append(many, "101:6", "50:7", "40:8", "30:9", "102:10")
	for _, tc := range []struct {
		name   string
		csv    string
		values []float64 // in time order
		lines  OutOfOrder
		note   string
	}{
		{"in order", rows("0:1", "5:2", "10:3"), []float64{1, 2, 3}, nil, ""},
		{"equal times in order", rows("0:1", "0:2", "5:3"), []float64{1, 2, 3}, nil, ""},
		{"swapped pair", rows("0:1", "10:3", "5:2", "15:4"), []float64{1, 2, 3, 4},
			OutOfOrder{3}, "1 row out of time order, sorted (line 3)"},
		{"one row far ahead", rows("0:1", "900:5", "5:2", "10:3", "15:4"), []float64{1, 2, 3, 4, 5},
			OutOfOrder{3}, "1 row out of time order, sorted (line 3)"},
		{"one row far behind", rows("5:2", "10:3", "15:4", "0:1"), []float64{1, 2, 3, 4},
			OutOfOrder{5}, "1 row out of time order, sorted (line 5)"},
		{"block moved", rows("60:5", "65:6", "70:7", "0:1", "5:2", "10:3", "15:4"), []float64{1, 2, 3, 4, 5, 6, 7},
			OutOfOrder{2, 3, 4}, "3 rows out of time order, sorted (lines 2, 3, 4)"},
		{"equal times keep file order", rows("5:1", "0:2", "5:3"), []float64{2, 1, 3},
			OutOfOrder{2}, "1 row out of time order, sorted (line 2)"},
		{"many", rows(many...), []float64{1, 2, 3, 4, 5, 9, 8, 7, 0, 6, 10},
			OutOfOrder{2, 8, 9, 10}, "4 rows out of time order, sorted (first at line 2)"},
	} {
		points, lines, err := ReadNABSeries(strings.NewReader(tc.csv))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		values := make([]float64, len(points))
		for i, p := range points {
			values[i] = p.Value
			if i > 0 && p.Time.Before(points[i-1].Time) {
				t.Errorf("%s: point %d at %v is before point %d at %v", tc.name, i, p.Time, i-1, points[i-1].Time)
			}
		}
		if !slices.Equal(values, tc.values) {
			t.Errorf("%s: values %v, want %v", tc.name, values, tc.values)
		}
		if !slices.Equal(lines, tc.lines) || (lines == nil) != (tc.lines == nil) {
			t.Errorf("%s: out of order %#v, want %#v", tc.name, lines, tc.lines)
		}
		if got := lines.String(); got != tc.note {
			t.Errorf("%s: note %q, want %q", tc.name, got, tc.note)
		}
	}
}

// swapLines returns data with lines a and b (1-based) exchanged.
func swapLines(t *testing.T, data []byte, a, b int) []byte {
	t.Helper()
	ls := strings.SplitAfter(string(data), "\n")
	if a < 1 || b < 1 || a > len(ls) || b > len(ls) {
		t.Fatalf("swap lines %d, %d of %d", a, b, len(ls))
	}
	ls[a-1], ls[b-1] = ls[b-1], ls[a-1]
	return []byte(strings.Join(ls, ""))
}

// Evaluate against hand-computed NAB scores (NAB's sweeper.py: a true
// positive is normalised by σ(-1), a false positive after a window is
// placed by its distance over the window's length less one).
func TestEvaluate(t *testing.T) {
	t.Parallel()
	points := make([]Point, 100)
	for i := range points {
		points[i] = Point{Time: t0.Add(time.Duration(i) * time.Minute)}
	}
	// One window of 10 points, 40..49.
	ws := []Window{{Start: points[40].Time, End: points[49].Time}}
	at := func(idx ...int) []Score {
		s := make([]Score, len(points))
		for _, i := range idx {
			s[i].Score = 0.9
		}
		return s
	}
	sig := func(x float64) float64 { return 2/(1+math.Exp(5*x)) - 1 }
	for _, tc := range []struct {
		name     string
		scores   []Score
		raw      float64
		detected int
		fps      int
	}{
		{"none", at(), -1, 0, 0},
		{"perfect", at(40), 1, 1, 0},
		{"late in window, twice", at(45, 47), sig(-0.5) / sig(-1), 1, 0},
		{"false positive before", at(10, 40), 1 - 0.11, 1, 1},
		{"false positive just after", at(40, 52), 1 + 0.11*sig(3.0/9), 1, 1},
		{"in probation", at(5), -1, 0, 0},
	} {
		e, err := Evaluate(points, tc.scores, ws, EvalOptions{Probation: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(e.Raw-tc.raw) > 1e-12 || e.Detected != tc.detected || e.FalsePositives != tc.fps {
			t.Errorf("%s: %+v, want raw %v, %d detected, %d false positives", tc.name, e, tc.raw, tc.detected, tc.fps)
		}
		if e.Null != -1 || e.Perfect != 1 {
			t.Errorf("%s: null %v perfect %v", tc.name, e.Null, e.Perfect)
		}
	}
	if e, _ := Evaluate(points, at(40), ws, EvalOptions{}); math.Abs(e.NAB()-100) > 1e-9 {
		t.Errorf("perfect detector NAB %v, want 100", e.NAB())
	}
	if _, err := Evaluate(points, at()[:5], ws, EvalOptions{}); err == nil {
		t.Error("length mismatch not reported")
	}
	// A window over before probation ends counts neither way.
	if e, _ := Evaluate(points, at(), ws, EvalOptions{Probation: 0.5}); e.Windows != 0 || e.Raw != 0 || e.NAB() != 0 {
		t.Errorf("window within probation: %+v", e)
	}
	// NAB's probation is at most 750 observations: of 10,000, a
	// detection at 800 counts.
	long := make([]Point, 10000)
	for i := range long {
		long[i] = Point{Time: t0.Add(time.Duration(i) * time.Minute)}
	}
	ls := make([]Score, len(long))
	ls[749].Score, ls[800].Score = 0.9, 0.9
	if e, _ := Evaluate(long, ls, nil, EvalOptions{}); e.FalsePositives != 1 {
		t.Errorf("probation of 10,000 observations: %+v, want the detection at 800 only", e)
	}
}

// EvaluateNAB over a miniature checkout: the layout of the real one.
func TestEvaluateNAB(t *testing.T) {
	t.Parallel()
	csv, err := os.ReadFile("testdata/nab/example.csv")
	if err != nil {
		t.Fatal(err)
	}
	labels, err := os.ReadFile("testdata/nab/combined_windows.json")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		NABLabels:                                {Data: labels},
		"data/artificialWithAnomaly/example.csv": {Data: csv},
		// The same series, two rows swapped, and no windows.
		"data/realKnownCause/empty.csv": {Data: swapLines(t, csv, 50, 51)},
	}
	per, total, notes, err := EvaluateNAB(fsys, Options{}, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"realKnownCause/empty.csv: 1 row out of time order, sorted (line 50)"}; !slices.Equal(notes, want) {
		t.Fatalf("notes %q, want %q", notes, want)
	}
	if len(per) != 2 || total.Windows != 1 || total.Detected != 1 {
		t.Fatalf("per file %+v, total %+v", per, total)
	}
	// The spike is a false positive in the copy without windows, scored
	// in time order like the original.
	if e := per["realKnownCause/empty.csv"]; e.FalsePositives != 1 || e.Raw != -0.11 {
		t.Fatalf("windowless copy: %+v", e)
	}
	delete(fsys, "data/realKnownCause/empty.csv")
	if _, _, _, err := EvaluateNAB(fsys, Options{}, EvalOptions{}); err == nil {
		t.Fatal("missing series not reported")
	}
	// On a subset the missing file is skipped and counted; the rest is
	// scored as before.
	sub, subTotal, notes, err := EvaluateNAB(fsys, Options{}, EvalOptions{Subset: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"subset: 1 of 2 labelled series have no data file, skipped"}; !slices.Equal(notes, want) {
		t.Fatalf("subset notes %q, want %q", notes, want)
	}
	if len(sub) != 1 || sub["artificialWithAnomaly/example.csv"] != per["artificialWithAnomaly/example.csv"] || subTotal.Windows != 1 {
		t.Fatalf("subset: per file %+v, total %+v", sub, subTotal)
	}
	// Only a missing file is skipped: an unreadable one still fails.
	fsys["data/realKnownCause/empty.csv"] = &fstest.MapFile{Data: []byte("timestamp,value\nnot a row\n")}
	if _, _, _, err := EvaluateNAB(fsys, Options{}, EvalOptions{Subset: true}); err == nil {
		t.Fatal("malformed series in a subset not reported")
	}
}
