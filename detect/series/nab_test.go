package series

import (
	"math"
	"os"
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
	points, err := ReadNABSeries(f)
	if err != nil {
		t.Fatal(err)
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
		{"order", "timestamp,value\n2014-04-10 00:05:00,1\n2014-04-10 00:00:00,2\n"},
	} {
		if _, err := ReadNABSeries(strings.NewReader(tc.csv)); err == nil {
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

// Evaluate against hand-computed NAB scores.
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
		{"perfect", at(40), sig(-1), 1, 0},
		{"late in window, twice", at(45, 47), sig(-0.5), 1, 0},
		{"false positive before", at(10, 40), sig(-1) - 0.11, 1, 1},
		{"false positive just after", at(40, 52), sig(-1) + 0.11*sig(0.3), 1, 1},
		{"in probation", at(5), -1, 0, 0},
	} {
		e, err := Evaluate(points, tc.scores, ws, EvalOptions{Probation: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(e.Raw-tc.raw) > 1e-12 || e.Detected != tc.detected || e.FalsePositives != tc.fps {
			t.Errorf("%s: %+v, want raw %v, %d detected, %d false positives", tc.name, e, tc.raw, tc.detected, tc.fps)
		}
		if e.Null != -1 || math.Abs(e.Perfect-sig(-1)) > 1e-12 {
			t.Errorf("%s: null %v perfect %v", tc.name, e.Null, e.Perfect)
		}
	}
	if e, _ := Evaluate(points, at(40), ws, EvalOptions{}); math.Abs(e.NAB()-100) > 1e-9 {
		t.Errorf("perfect detector NAB %v, want 100", e.NAB())
	}
	if _, err := Evaluate(points, at()[:5], ws, EvalOptions{}); err == nil {
		t.Error("length mismatch not reported")
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
		"data/realKnownCause/empty.csv":          {Data: csv}, // same series, no windows
	}
	per, total, err := EvaluateNAB(fsys, Options{}, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(per) != 2 || total.Windows != 1 || total.Detected != 1 {
		t.Fatalf("per file %+v, total %+v", per, total)
	}
	// The spike is a false positive in the copy without windows.
	if e := per["realKnownCause/empty.csv"]; e.FalsePositives != 1 || e.Raw != -0.11 {
		t.Fatalf("windowless copy: %+v", e)
	}
	delete(fsys, "data/realKnownCause/empty.csv")
	if _, _, err := EvaluateNAB(fsys, Options{}, EvalOptions{}); err == nil {
		t.Fatal("missing series not reported")
	}
}
