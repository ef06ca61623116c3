// Command nabeval scores the Numenta Anomaly Benchmark with detect/series
// and prints NAB's standard-profile score, windows found and false
// positives, for one threshold or a sweep of them. With -sweep it also
// prints, as NAB's own optimiser does, each profile's (standard, reward
// low FP, reward low FN) best score over thresholds 0.0025 to 1 in steps
// of 0.0025, and with -v each file's evaluation at the best standard
// threshold.
//
//	git clone https://github.com/numenta/NAB
//	go run ./detect/series/nabeval -nab NAB
//	go run ./detect/series/nabeval -nab NAB -kind counts -sweep
//
// It reads the checkout only; nothing is downloaded. A data file whose
// rows are out of time order is sorted, and noted on standard error with
// the lines that were out of order. With -subset, labelled series whose
// data file is missing are skipped (and counted on standard error), so a
// partial copy of the corpus can be scored; its score is the subset's,
// not comparable with a whole-corpus one.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/gatewatch/gatewatch/detect/series"
)

// main parses the flags into scorer options and a config, and runs.
func main() {
	dir := flag.String("nab", "NAB", "path to a NAB checkout (holds data/ and labels/)")
	kind := flag.String("kind", "continuous", "value kind: continuous or counts")
	season := flag.String("season", "auto", "seasonality: auto, on or off")
	halfLife := flag.Duration("halflife", 0, "recent-history half-life (0: 30 sampling intervals)")
	pvalue := flag.Float64("pvalue", 0, "p-value that scores 0.5 (0: the default, 1e-6)")
	threshold := flag.Float64("threshold", 0.5, "score at or above which an observation is a detection")
	sweep := flag.Bool("sweep", false, "evaluate thresholds 0.05 to 0.95 and print each, then each profile's best threshold")
	perFile := flag.Bool("v", false, "print each file's evaluation (with -sweep: at the best standard threshold)")
	subset := flag.Bool("subset", false, "skip labelled series whose data file is missing")
	flag.Parse()

	opt := series.Options{HalfLife: *halfLife, PValue: *pvalue}
	switch *kind {
	case "continuous":
	case "counts":
		opt.Kind = series.Counts
	default:
		fail(fmt.Errorf("unknown -kind %q", *kind))
	}
	switch *season {
	case "auto":
	case "on":
		opt.Seasonality = series.SeasonOn
	case "off":
		opt.Seasonality = series.SeasonOff
	default:
		fail(fmt.Errorf("unknown -season %q", *season))
	}
	c := config{threshold: *threshold, sweep: *sweep, perFile: *perFile, subset: *subset}
	if err := run(os.Stdout, os.Stderr, os.DirFS(*dir), opt, c); err != nil {
		fail(err)
	}
}

// fail reports err on standard error and exits with status 1.
func fail(err error) {
	fmt.Fprintln(os.Stderr, "nabeval:", err)
	os.Exit(1)
}

// scored is one series of the checkout with its scores and labelled
// windows.
type scored struct {
	name    string
	points  []series.Point
	scores  []series.Score
	windows []series.Window
}

// config is what to print.
type config struct {
	threshold              float64 // without sweep, the one threshold
	sweep, perFile, subset bool
}

// profiles are NAB's application profiles (config/profiles.json).
var profiles = []struct {
	name string
	opt  series.EvalOptions
}{
	{"standard", series.EvalOptions{TP: 1, FP: 0.11, FN: 1}},
	{"reward low FP", series.EvalOptions{TP: 1, FP: 0.22, FN: 1}},
	{"reward low FN", series.EvalOptions{TP: 1, FP: 0.11, FN: 2}},
}

// Thresholds the best-threshold search tries: optStep to 1 in optSteps
// steps.
const (
	optStep  = 0.0025
	optSteps = 400
)

// run evaluates the checkout fsys, writing the table to out and notes on
// the files read to notes.
func run(out, notes io.Writer, fsys fs.FS, opt series.Options, c config) error {
	names, windows, err := readLabels(fsys)
	if err != nil {
		return err
	}
	start := time.Now()
	all, observations, err := scoreFiles(notes, fsys, opt, names, windows, c.subset)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if err := writeThresholds(out, all, c); err != nil {
		return err
	}
	if c.sweep {
		fmt.Fprintln(out)
		if err := writeBest(out, all, c.perFile); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "%d files, %d observations scored in %v\n", len(all), observations, elapsed.Round(time.Millisecond))
	return nil
}

// readLabels reads the checkout's labelled windows and returns the names
// of the series they label, sorted, with the windows by name.
func readLabels(fsys fs.FS) ([]string, map[string][]series.Window, error) {
	lf, err := fsys.Open(series.NABLabels)
	if err != nil {
		return nil, nil, err
	}
	windows, err := series.ReadNABWindows(lf)
	lf.Close()
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(windows))
	for name := range windows {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, windows, nil
}

// scoreFiles reads and scores the data file of each of names, noting
// files sorted into time order and, with subset, skipped files on notes.
// It returns the scored series and how many observations they hold.
func scoreFiles(notes io.Writer, fsys fs.FS, opt series.Options, names []string, windows map[string][]series.Window,
	subset bool) ([]scored, int, error) {
	var all []scored
	observations, missing := 0, 0
	for _, name := range names {
		f, err := fsys.Open(path.Join("data", name))
		if subset && errors.Is(err, fs.ErrNotExist) {
			missing++
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		points, unordered, err := series.ReadNABSeries(f)
		f.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
		if len(unordered) > 0 {
			fmt.Fprintf(notes, "nabeval: %s: %v\n", name, unordered)
		}
		observations += len(points)
		all = append(all, scored{name, points, series.ScoreAll(opt, points), windows[name]})
	}
	if missing > 0 {
		fmt.Fprintf(notes, "nabeval: subset: %d of %d labelled series have no data file, skipped\n", missing, len(names))
	}
	return all, observations, nil
}

// columns heads the figures of every table's rows (see writeRow).
const columns = "NAB\twindows\tfound\tfalse pos.\trecall\tprecision\t"

// newTable returns a writer that aligns a table's columns on out.
func newTable(out io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
}

// writeRow writes an evaluation as a table row headed by label.
func writeRow(w io.Writer, label string, e series.Evaluation) {
	fmt.Fprintf(w, "%s\t%.1f\t%d\t%d\t%d\t%.2f\t%.2f\t\n", label, e.NAB(), e.Windows, e.Detected,
		e.FalsePositives, e.Recall(), e.Precision())
}

// evaluateAll sums the files' evaluations at threshold t under profile
// p, writing each file's row to w if w is not nil.
func evaluateAll(all []scored, t float64, p series.EvalOptions, w io.Writer) (series.Evaluation, error) {
	var total series.Evaluation
	p.Threshold = t
	for _, s := range all {
		e, err := series.Evaluate(s.points, s.scores, s.windows, p)
		if err != nil {
			return total, fmt.Errorf("%s: %w", s.name, err)
		}
		if w != nil {
			writeRow(w, s.name, e)
		}
		total = total.Add(e)
	}
	return total, nil
}

// writeThresholds writes the table of the standard profile's totals at
// c's threshold or, with c.sweep, at 0.05 to 0.95 in steps of 0.05;
// with c.perFile and without c.sweep, each file's row comes before the
// total's.
func writeThresholds(out io.Writer, all []scored, c config) error {
	thresholds := []float64{c.threshold}
	if c.sweep {
		thresholds = nil
		for t := 0.05; t < 0.951; t += 0.05 {
			thresholds = append(thresholds, t)
		}
	}
	w := newTable(out)
	fmt.Fprintln(w, "threshold\t"+columns)
	for _, t := range thresholds {
		var fw io.Writer
		if c.perFile && !c.sweep {
			fw = w
		}
		total, err := evaluateAll(all, t, profiles[0].opt, fw)
		if err != nil {
			return err
		}
		writeRow(w, fmt.Sprintf("%.2f", t), total)
	}
	return w.Flush()
}

// writeBest writes each profile's best threshold, as NAB's optimiser
// picks it, and with perFile each file's evaluation at the standard
// profile's best.
func writeBest(out io.Writer, all []scored, perFile bool) error {
	w := newTable(out)
	fmt.Fprintln(w, "best threshold\t"+columns)
	bestStandard := 1.0
	for i, p := range profiles {
		best, bestT, err := bestThreshold(all, p.opt)
		if err != nil {
			return err
		}
		if i == 0 {
			bestStandard = bestT
		}
		writeRow(w, fmt.Sprintf("%s %.4g", p.name, bestT), best)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if !perFile {
		return nil
	}
	fmt.Fprintln(out)
	w = newTable(out)
	fmt.Fprintf(w, "standard at %.4g\t"+columns+"\n", bestStandard)
	if _, err := evaluateAll(all, bestStandard, profiles[0].opt, w); err != nil {
		return err
	}
	return w.Flush()
}

// bestThreshold returns the evaluation under profile p at the threshold,
// of optStep to 1 in optSteps steps, with the highest NAB score (the
// lowest of equals), and that threshold.
func bestThreshold(all []scored, p series.EvalOptions) (series.Evaluation, float64, error) {
	best, bestT := series.Evaluation{}, 1.0
	for k := 1; k <= optSteps; k++ {
		t := float64(k) * optStep
		e, err := evaluateAll(all, t, p, nil)
		if err != nil {
			return series.Evaluation{}, 0, err
		}
		if k == 1 || e.NAB() > best.NAB() {
			best, bestT = e, t
		}
	}
	return best, bestT, nil
}
