// Package layout holds a test of the architecture the top-level
// directories promise: data flows ingest -> detect -> storage and alert,
// dashboards read storage, and no package imports one downstream of it.
package layout

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/gatewatch/gatewatch/"

// stage is the position of a package in the flow, by path: a package has
// the place of the longest path below that names it. A package may import
// packages of its own place or an earlier stage only; places of one stage
// are siblings, neither of which may import the other.
//
// Beyond the top-level directories: each stage's leaf helpers come before
// it and its runners after it, so no library reaches up into what
// assembles it; the runners of a stage (analyze, group, pipeline, demo) are
// siblings. storage and alert are siblings. internal/config, the config
// file's schema, names the options of every library and is read by cmd
// only.
var stage = map[string]float64{
	"internal":                0,
	"ingest":                  1,
	"ingest/collect":          1.5,
	"detect/internal":         1.9,
	"detect/internal/poisson": 1.9,
	"detect":                  2,
	"detect/analyze":          2.5,
	"detect/demo":             2.5,
	"detect/group":            2.5,
	"detect/pipeline":         2.5,
	"storage":                 3,
	"alert":                   3,
	"internal/config":         4,
	"dashboards":              4,
	"cmd":                     5,
	"deploy":                  6, // its tests and the container health probe
}

// place is the key of stage that names pkg: the longest path that is pkg
// or a directory above it.
func place(pkg string) string {
	rest := strings.TrimPrefix(pkg, module)
	best := ""
	for p := range stage {
		if (rest == p || strings.HasPrefix(rest, p+"/")) && len(p) > len(best) {
			best = p
		}
	}
	if best == "" {
		best, _, _ = strings.Cut(rest, "/")
	}
	return best
}

func TestImportsFlowOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for dec.More() {
		var p struct {
			ImportPath           string
			Imports, TestImports []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		n++
		from := place(p.ImportPath)
		s, ok := stage[from]
		if !ok {
			t.Errorf("%s: top-level directory %q has no place in the flow", p.ImportPath, from)
			continue
		}
		for _, imp := range append(p.Imports, p.TestImports...) {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := place(imp)
			if to == from {
				continue
			}
			switch {
			case stage[to] > s:
				t.Errorf("%s imports %s: %s is downstream of %s", p.ImportPath, imp, to, from)
			case stage[to] == s:
				t.Errorf("%s imports %s: %s and %s are siblings, both fed by what comes before them", p.ImportPath, imp, from, to)
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list found only %d packages", n)
	}
}
