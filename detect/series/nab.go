package series

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Evaluation on labelled benchmarks.
//
// The Numenta Anomaly Benchmark (NAB, github.com/numenta/NAB) is the
// common public yardstick for streaming anomaly detectors: 58 labelled
// series, each a CSV "timestamp,value" under data/, with anomaly windows
// in labels/combined_windows.json. ReadNABSeries and ReadNABWindows read
// those files (nothing here downloads them), ScoreAll runs a Scorer over a
// series, and Evaluate measures detections at a threshold against the
// windows both plainly (windows found, detections outside any window) and
// with NAB's standard-profile score, so the statistics of this package can
// be compared with published detectors.

// Point is one observation of a series.
type Point struct {
	Time  time.Time
	Value float64
}

// nabLayouts are the timestamp forms NAB's data and label files use.
var nabLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04:05.000000", time.RFC3339Nano}

// parseNABTime parses a timestamp in the first of nabLayouts that fits.
func parseNABTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	var err error
	for _, layout := range nabLayouts {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// ReadNABSeries reads a NAB data file: CSV with a header row whose first
// two columns are timestamp and value, timestamps as "2006-01-02
// 15:04:05" (taken as UTC, as NAB does). The points come back in time
// order, as a Scorer needs them: rows out of time order are sorted into
// place (stably, so rows with equal timestamps keep their file order),
// and reported in the returned OutOfOrder, empty when the file was in
// order.
func ReadNABSeries(r io.Reader) ([]Point, OutOfOrder, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("series: NAB csv header: %w", err)
	}
	if len(head) < 2 || !strings.EqualFold(strings.TrimSpace(head[0]), "timestamp") ||
		!strings.EqualFold(strings.TrimSpace(head[1]), "value") {
		return nil, nil, fmt.Errorf("series: NAB csv header %q, want timestamp,value", head)
	}
	var out []Point
	sorted := true
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("series: NAB csv: %w", err)
		}
		if len(rec) < 2 {
			return nil, nil, fmt.Errorf("series: NAB csv line %d: %d fields, want 2", line, len(rec))
		}
		t, err := parseNABTime(rec[0])
		if err != nil {
			return nil, nil, fmt.Errorf("series: NAB csv line %d: %w", line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil {
			return nil, nil, fmt.Errorf("series: NAB csv line %d: %w", line, err)
		}
		if n := len(out); n > 0 && t.Before(out[n-1].Time) {
			sorted = false
		}
		out = append(out, Point{Time: t, Value: v})
	}
	if sorted {
		return out, nil, nil
	}
	moved := outOfOrder(out)
	slices.SortStableFunc(out, func(a, b Point) int { return a.Time.Compare(b.Time) })
	return out, moved, nil
}

// OutOfOrder lists the rows of a NAB data file that were out of time
// order, by line number in the file (the header is line 1, the first row
// line 2), ascending. They are the fewest rows that, taken out, leave the
// rest in time order (the rows outside a longest run, not necessarily
// contiguous, of rows already in order; one such run, chosen the same way
// every time, when there are several), so a single row with a wrong
// timestamp is one row out of order, not every row after it. Rows with
// equal timestamps are in order.
type OutOfOrder []int

// String describes o for a note, such as "3 rows out of time order,
// sorted (lines 7, 9, 12)", or "" when o is empty.
func (o OutOfOrder) String() string {
	switch n := len(o); {
	case n == 0:
		return ""
	case n == 1:
		return fmt.Sprintf("1 row out of time order, sorted (line %d)", o[0])
	case n <= 3:
		lines := make([]string, n)
		for i, l := range o {
			lines[i] = strconv.Itoa(l)
		}
		return fmt.Sprintf("%d rows out of time order, sorted (lines %s)", n, strings.Join(lines, ", "))
	default:
		return fmt.Sprintf("%d rows out of time order, sorted (first at line %d)", n, o[0])
	}
}

// outOfOrder returns the lines (row i at line i+2) of the rows of points,
// in file order, outside a longest non-decreasing subsequence of their
// times.
func outOfOrder(points []Point) OutOfOrder {
	// Patience sorting: ends[k] is the row ending, at the earliest time,
	// a non-decreasing run of length k+1 among the rows so far; prev links each row to the row before it
	// in the longest run it ends.
	ends := make([]int, 0, 64)
	prev := make([]int, len(points))
	for i, p := range points {
		k, _ := slices.BinarySearchFunc(ends, p.Time, func(j int, t time.Time) int {
			if points[j].Time.After(t) {
				return 1
			}
			return -1 // at or before t: a run ending there extends with row i
		})
		prev[i] = -1
		if k > 0 {
			prev[i] = ends[k-1]
		}
		if k == len(ends) {
			ends = append(ends, i)
		} else {
			ends[k] = i
		}
	}
	keep := make([]bool, len(points))
	for i := ends[len(ends)-1]; i >= 0; i = prev[i] {
		keep[i] = true
	}
	out := make(OutOfOrder, 0, len(points)-len(ends))
	for i, k := range keep {
		if !k {
			out = append(out, i+2)
		}
	}
	return out
}

// Window is a labelled anomaly window; both ends are inclusive.
type Window struct {
	Start, End time.Time
}

// ReadNABWindows reads a NAB label file of windows
// (labels/combined_windows.json): an object from data file path (such as
// "realKnownCause/nyc_taxi.csv") to a list of [start, end] timestamp
// pairs.
func ReadNABWindows(r io.Reader) (map[string][]Window, error) {
	var raw map[string][][]string
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("series: NAB windows: %w", err)
	}
	out := make(map[string][]Window, len(raw))
	for name, pairs := range raw {
		ws := make([]Window, 0, len(pairs))
		for i, p := range pairs {
			if len(p) != 2 {
				return nil, fmt.Errorf("series: NAB windows %s[%d]: %d timestamps, want 2", name, i, len(p))
			}
			start, err := parseNABTime(p[0])
			if err != nil {
				return nil, fmt.Errorf("series: NAB windows %s[%d]: %w", name, i, err)
			}
			end, err := parseNABTime(p[1])
			if err != nil {
				return nil, fmt.Errorf("series: NAB windows %s[%d]: %w", name, i, err)
			}
			if end.Before(start) {
				return nil, fmt.Errorf("series: NAB windows %s[%d]: ends before it starts", name, i)
			}
			ws = append(ws, Window{Start: start, End: end})
		}
		out[name] = ws
	}
	return out, nil
}

// ScoreAll runs a fresh Scorer with opt over points, which must be in
// time order (as ReadNABSeries returns them), and returns the scores.
func ScoreAll(opt Options, points []Point) []Score {
	s := New(opt)
	out := make([]Score, len(points))
	for i, p := range points {
		out[i] = s.Observe(p.Time, p.Value)
	}
	return out
}

// EvalOptions configure Evaluate. The zero value is NAB's standard
// profile at threshold 0.5.
type EvalOptions struct {
	// Threshold: an observation scoring at least this is a detection.
	// Default 0.5 (Options.PValue).
	Threshold float64
	// Probation is the leading share of the series in which detections
	// are ignored, as NAB lets detectors learn: the first
	// floor(Probation·n) of n observations. Zero means NAB's rule: 15%,
	// but at most 750 observations (0.15·5000); negative means none. A
	// window that ends within it is not counted.
	Probation float64
	// Weights of a true positive, a false positive and a missed window.
	// All zero means NAB's standard profile: 1, 0.11, 1.
	TP, FP, FN float64
	// Subset lets EvaluateNAB run on part of a checkout: a labelled series
	// whose data file does not exist is skipped and counted in a note
	// instead of failing the run. Evaluate ignores it. The normalised
	// score of a subset is not comparable with a whole-corpus score.
	Subset bool
}

// Evaluation is how detections compare with labelled windows.
type Evaluation struct {
	Windows        int // labelled windows
	Detected       int // windows with a detection inside
	FalsePositives int // detections outside every window
	// Raw, Null and Perfect are NAB's score of the detections, of a
	// detector that never fires and of one that fires at the start of
	// every window. NAB normalises over a whole corpus, so sum these over
	// its series before calling NAB on the totals.
	Raw, Null, Perfect float64
}

// Recall is the share of windows detected.
func (e Evaluation) Recall() float64 { return ratio(e.Detected, e.Windows) }

// Precision is the share of detection events that were right, counting
// each detected window once.
func (e Evaluation) Precision() float64 {
	return ratio(e.Detected, e.Detected+e.FalsePositives)
}

// NAB is the normalised NAB score: 100 for a perfect detector, 0 for one
// that never fires, negative for one whose false positives cost more.
func (e Evaluation) NAB() float64 {
	if e.Perfect == e.Null {
		return 0
	}
	return 100 * (e.Raw - e.Null) / (e.Perfect - e.Null)
}

// Add sums two evaluations, for a corpus.
func (e Evaluation) Add(o Evaluation) Evaluation {
	return Evaluation{
		Windows: e.Windows + o.Windows, Detected: e.Detected + o.Detected,
		FalsePositives: e.FalsePositives + o.FalsePositives,
		Raw:            e.Raw + o.Raw, Null: e.Null + o.Null, Perfect: e.Perfect + o.Perfect,
	}
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Evaluate scores detections (scores[i] >= Threshold at points[i]) against
// windows the way NAB's sweeper does: the first detection in a window
// earns TP·σ(position)/σ(-1), position running from -1 at the window's
// start to 0 at its end, so earlier is better (TP at the first
// observation); a detection outside every window costs FP, less when it
// falls shortly after a window (it may be the same incident's tail:
// FP·σ(distance/(length-1)) past its end); a window without detection
// costs FN. σ is NAB's scaled sigmoid 2/(1+e^(5x)) - 1. Window lengths
// are measured in observations. points must be in time order and scores
// the same length.
func Evaluate(points []Point, scores []Score, windows []Window, opt EvalOptions) (Evaluation, error) {
	if len(points) != len(scores) {
		return Evaluation{}, fmt.Errorf("series: evaluate: %d points, %d scores", len(points), len(scores))
	}
	opt, probation := opt.withDefaults(len(points))
	spans := windowSpans(points, windows)
	var e Evaluation
	// Windows over before probation ends are neither found nor missed.
	counted := make([]bool, len(spans))
	for i, sp := range spans {
		if sp.hi >= probation {
			counted[i] = true
			e.Windows++
		}
	}
	e.Null = -opt.FN * float64(e.Windows)
	e.Perfect = opt.TP * float64(e.Windows)
	found := e.scoreDetections(scores, spans, probation, opt)
	for i, f := range found {
		switch {
		case f:
			e.Detected++
		case counted[i]:
			e.Raw -= opt.FN
		}
	}
	return e, nil
}

// withDefaults returns opt with the defaults Evaluate applies filled in
// (threshold 0.5, NAB's standard profile), and the number of leading
// observations of a series of n that are in probation.
func (opt EvalOptions) withDefaults(n int) (EvalOptions, int) {
	if opt.Threshold == 0 {
		opt.Threshold = 0.5
	}
	var probation int
	switch n := float64(n); {
	case opt.Probation == 0:
		probation = int(math.Min(math.Floor(nabProbation*n), nabProbation*5000))
	case opt.Probation > 0:
		probation = int(math.Floor(opt.Probation * n))
	}
	if opt.TP == 0 && opt.FP == 0 && opt.FN == 0 {
		opt.TP, opt.FP, opt.FN = 1, 0.11, 1
	}
	return opt, probation
}

// span is a labelled window as the indexes of its first and last
// observations.
type span struct{ lo, hi int }

// windowSpans returns the windows that hold at least one of points, as
// index ranges, in order of their first observation.
func windowSpans(points []Point, windows []Window) []span {
	spans := make([]span, 0, len(windows))
	for _, w := range windows {
		lo, hi := -1, -1
		for i, p := range points {
			if !p.Time.Before(w.Start) && !p.Time.After(w.End) {
				if lo < 0 {
					lo = i
				}
				hi = i
			}
		}
		if lo >= 0 {
			spans = append(spans, span{lo, hi})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.lo - b.lo })
	return spans
}

// scoreDetections adds the detections after probation (scores at or
// above opt.Threshold) to e's raw score and false positives, as Evaluate
// describes, and returns which of spans had one. The first detection in a
// window earns TP·σ(position)/σ(-1); one outside every window adds
// FP·σ(its distance past the last window before it over that window's
// length less one), a cost of at most FP, all of it when no window came
// before.
func (e *Evaluation) scoreDetections(scores []Score, spans []span, probation int, opt EvalOptions) []bool {
	found := make([]bool, len(spans))
	cur, prev := 0, -1 // next window not yet passed; last window passed
	for i := range scores {
		for cur < len(spans) && spans[cur].hi < i {
			prev = cur
			cur++
		}
		if i < probation || !(scores[i].Score >= opt.Threshold) {
			continue
		}
		if cur < len(spans) && i >= spans[cur].lo {
			if !found[cur] {
				found[cur] = true
				length := float64(spans[cur].hi - spans[cur].lo + 1)
				e.Raw += opt.TP * scaledSigmoid(-float64(spans[cur].hi-i+1)/length) / scaledSigmoid(-1)
			}
			continue
		}
		e.FalsePositives++
		pos := -1.0
		if prev >= 0 {
			// NAB divides by the length less one; a one-observation
			// window would divide by zero there.
			length := math.Max(float64(spans[prev].hi-spans[prev].lo), 1)
			pos = scaledSigmoid(float64(i-spans[prev].hi) / length)
		}
		e.Raw += opt.FP * pos
	}
	return found
}

// nabProbation is NAB's probationary share.
const nabProbation = 0.15

// scaledSigmoid is NAB's weighting of a detection's relative position.
func scaledSigmoid(x float64) float64 {
	if x > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*x)) - 1
}

// NABLabels is where a NAB checkout keeps its windows.
const NABLabels = "labels/combined_windows.json"

// EvaluateNAB scores every series that a NAB checkout's label file names
// (fsys rooted at the checkout, such as os.DirFS("NAB")), each with a
// fresh Scorer under opt, and returns each file's evaluation, keyed as in
// the label file, and their sum, on which to call NAB. A series without
// windows still counts: its detections are all false positives. A file
// whose rows are out of time order is sorted (see ReadNABSeries) and
// noted in notes, one line per file, such as
// "realKnownCause/x.csv: 3 rows out of time order, sorted (lines 7, 9, 12)".
// A missing data file is an error unless eopt.Subset is set; then it is
// skipped, and the skipped files counted in a last note such as
// "subset: 52 of 58 labelled series have no data file, skipped".
func EvaluateNAB(fsys fs.FS, opt Options, eopt EvalOptions) (per map[string]Evaluation, total Evaluation, notes []string, err error) {
	lf, err := fsys.Open(NABLabels)
	if err != nil {
		return nil, Evaluation{}, nil, fmt.Errorf("series: NAB labels: %w", err)
	}
	windows, err := ReadNABWindows(lf)
	lf.Close()
	if err != nil {
		return nil, Evaluation{}, nil, err
	}
	names := make([]string, 0, len(windows))
	for name := range windows {
		names = append(names, name)
	}
	slices.Sort(names)
	per = make(map[string]Evaluation, len(names))
	missing := 0
	for _, name := range names {
		f, err := fsys.Open(path.Join("data", name))
		if eopt.Subset && errors.Is(err, fs.ErrNotExist) {
			missing++
			continue
		}
		if err != nil {
			return nil, Evaluation{}, nil, fmt.Errorf("series: NAB series: %w", err)
		}
		points, unordered, err := ReadNABSeries(f)
		f.Close()
		if err != nil {
			return nil, Evaluation{}, nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(unordered) > 0 {
			notes = append(notes, name+": "+unordered.String())
		}
		e, err := Evaluate(points, ScoreAll(opt, points), windows[name], eopt)
		if err != nil {
			return nil, Evaluation{}, nil, fmt.Errorf("%s: %w", name, err)
		}
		per[name] = e
		total = total.Add(e)
	}
	if missing > 0 {
		notes = append(notes, fmt.Sprintf("subset: %d of %d labelled series have no data file, skipped", missing, len(names)))
	}
	return per, total, notes, nil
}
