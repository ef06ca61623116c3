// Command nabeval scores the Numenta Anomaly Benchmark with detect/series
// and prints NAB's standard-profile score, windows found and false
// positives, for one threshold or a sweep of them.
//
//	git clone https://github.com/numenta/NAB
//	go run ./detect/series/nabeval -nab NAB
//	go run ./detect/series/nabeval -nab NAB -kind counts -sweep
//
// It reads the checkout only; nothing is downloaded. A data file whose
// rows are out of time order is sorted, and noted on standard error with
// the lines that were out of order.
package main

import (
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

func main() {
	dir := flag.String("nab", "NAB", "path to a NAB checkout (holds data/ and labels/)")
	kind := flag.String("kind", "continuous", "value kind: continuous or counts")
	season := flag.String("season", "auto", "seasonality: auto, on or off")
	halfLife := flag.Duration("halflife", 0, "recent-history half-life (0: 30 sampling intervals)")
	pvalue := flag.Float64("pvalue", 0, "p-value that scores 0.5 (0: the default, 1e-6)")
	threshold := flag.Float64("threshold", 0.5, "score at or above which an observation is a detection")
	sweep := flag.Bool("sweep", false, "evaluate thresholds 0.05 to 0.95 and print each")
	perFile := flag.Bool("v", false, "print each file's evaluation")
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
	if err := run(os.Stdout, os.Stderr, os.DirFS(*dir), opt, *threshold, *sweep, *perFile); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "nabeval:", err)
	os.Exit(1)
}

type scored struct {
	name    string
	points  []series.Point
	scores  []series.Score
	windows []series.Window
}

// run evaluates the checkout fsys, writing the table to out and notes on
// the files read to notes.
func run(out, notes io.Writer, fsys fs.FS, opt series.Options, threshold float64, sweep, perFile bool) error {
	lf, err := fsys.Open(series.NABLabels)
	if err != nil {
		return err
	}
	windows, err := series.ReadNABWindows(lf)
	lf.Close()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(windows))
	for name := range windows {
		names = append(names, name)
	}
	slices.Sort(names)

	start := time.Now()
	var all []scored
	observations := 0
	for _, name := range names {
		f, err := fsys.Open(path.Join("data", name))
		if err != nil {
			return err
		}
		points, unordered, err := series.ReadNABSeries(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if len(unordered) > 0 {
			fmt.Fprintf(notes, "nabeval: %s: %v\n", name, unordered)
		}
		observations += len(points)
		all = append(all, scored{name, points, series.ScoreAll(opt, points), windows[name]})
	}
	elapsed := time.Since(start)

	thresholds := []float64{threshold}
	if sweep {
		thresholds = nil
		for t := 0.05; t < 0.951; t += 0.05 {
			thresholds = append(thresholds, t)
		}
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "threshold\tNAB\twindows\tfound\tfalse pos.\trecall\tprecision\t")
	for _, t := range thresholds {
		var total series.Evaluation
		for _, s := range all {
			e, err := series.Evaluate(s.points, s.scores, s.windows, series.EvalOptions{Threshold: t})
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if perFile && !sweep {
				fmt.Fprintf(w, "%s\t%.1f\t%d\t%d\t%d\t%.2f\t%.2f\t\n", s.name, e.NAB(), e.Windows, e.Detected,
					e.FalsePositives, e.Recall(), e.Precision())
			}
			total = total.Add(e)
		}
		fmt.Fprintf(w, "%.2f\t%.1f\t%d\t%d\t%d\t%.2f\t%.2f\t\n", t, total.NAB(), total.Windows, total.Detected,
			total.FalsePositives, total.Recall(), total.Precision())
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d files, %d observations scored in %v\n", len(all), observations, elapsed.Round(time.Millisecond))
	return nil
}
