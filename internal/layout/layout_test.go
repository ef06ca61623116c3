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

// stage is the position of a top-level directory in the flow; a package
// may import packages of its own or an earlier stage only. storage and
// alert are siblings: neither may import the other.
var stage = map[string]int{"internal": 0, "ingest": 1, "detect": 2, "storage": 3, "alert": 3, "dashboards": 4, "cmd": 5}

func top(pkg string) string {
	rest := strings.TrimPrefix(pkg, module)
	top, _, _ := strings.Cut(rest, "/")
	return top
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
		from := top(p.ImportPath)
		s, ok := stage[from]
		if !ok {
			t.Errorf("%s: top-level directory %q has no place in the flow", p.ImportPath, from)
			continue
		}
		for _, imp := range append(p.Imports, p.TestImports...) {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := top(imp)
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
