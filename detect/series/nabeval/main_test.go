package main

import (
	"os"
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
	if err := run(fsys, series.Options{}, 0.5, true, false); err != nil {
		t.Fatal(err)
	}
	delete(fsys, "data/artificialWithAnomaly/example.csv")
	if err := run(fsys, series.Options{}, 0.5, false, true); err == nil {
		t.Fatal("missing data file not reported")
	}
}
