package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gatewatch/gatewatch/detect/series"
)

func TestRun(t *testing.T) {
	csv, err := os.ReadFile("../testdata/nab/example.csv")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		series.NABLabels:                         {Data: []byte(`{"artificialWithAnomaly/example.csv": [["2014-04-10 16:20:00.000000", "2014-04-10 17:00:00.000000"]]}`)},
		"data/artificialWithAnomaly/example.csv": {Data: csv},
	}
	var out, notes bytes.Buffer
	if err := run(&out, &notes, fsys, series.Options{}, config{threshold: 0.5, sweep: true, perFile: true}); err != nil {
		t.Fatal(err)
	}
	if notes.Len() != 0 || !strings.Contains(out.String(), "1 files, 288 observations") {
		t.Fatalf("in-order file: notes %q, output %q", notes.String(), out.String())
	}
	for _, want := range []string{"standard 0.", "reward low FP 0.", "reward low FN 0.", "standard at 0."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("sweep output lacks %q:\n%s", want, out.String())
		}
	}
	// One labelled series without data: an error, or with subset skipped
	// and counted.
	fsys[series.NABLabels] = &fstest.MapFile{Data: []byte(`{"artificialWithAnomaly/example.csv": [["2014-04-10 16:20:00.000000", "2014-04-10 17:00:00.000000"]], "realKnownCause/absent.csv": []}`)}
	if err := run(&out, &notes, fsys, series.Options{}, config{threshold: 0.5, perFile: true}); err == nil {
		t.Fatal("missing data file not reported")
	}
	out.Reset()
	if err := run(&out, &notes, fsys, series.Options{}, config{threshold: 0.5, perFile: true, subset: true}); err != nil {
		t.Fatal(err)
	}
	if want := "nabeval: subset: 1 of 2 labelled series have no data file, skipped\n"; notes.String() != want {
		t.Errorf("subset notes %q, want %q", notes.String(), want)
	}
	if !strings.Contains(out.String(), "1 files, 288 observations") {
		t.Errorf("subset output %q", out.String())
	}
}

// A data file whose rows are out of time order is sorted and noted, not
// fatal, and scored as the sorted file is.
func TestRunOutOfOrder(t *testing.T) {
	csv, err := os.ReadFile("../testdata/nab/example.csv")
	if err != nil {
		t.Fatal(err)
	}
	// Rows 00:00 and 00:05 (lines 2, 3) after 01:00 (line 14).
	lines := strings.SplitAfter(string(csv), "\n")
	shuffled := append(append(append([]string{lines[0]}, lines[3:14]...), lines[1:3]...), lines[14:]...)
	labels := `{"artificialWithAnomaly/example.csv": [["2014-04-10 16:20:00.000000", "2014-04-10 17:00:00.000000"]]}`
	table := func(data string) (string, string) {
		t.Helper()
		fsys := fstest.MapFS{
			series.NABLabels:                         {Data: []byte(labels)},
			"data/artificialWithAnomaly/example.csv": {Data: []byte(data)},
		}
		var out, notes bytes.Buffer
		if err := run(&out, &notes, fsys, series.Options{}, config{threshold: 0.5, perFile: true}); err != nil {
			t.Fatal(err)
		}
		// Drop the timing line.
		s := out.String()
		return s[:strings.LastIndex(strings.TrimSuffix(s, "\n"), "\n")+1], notes.String()
	}
	want, _ := table(string(csv))
	got, notes := table(strings.Join(shuffled, ""))
	if wantNote := "nabeval: artificialWithAnomaly/example.csv: 2 rows out of time order, sorted (lines 13, 14)\n"; notes != wantNote {
		t.Errorf("notes %q, want %q", notes, wantNote)
	}
	if got != want {
		t.Errorf("out-of-order file scored\n%s\nsorted file\n%s", got, want)
	}
}
