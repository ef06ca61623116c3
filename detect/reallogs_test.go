package detect

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// realLogsDir holds the real access logs shared beside the repository
// (../shared/data/real-logs, see its SOURCES.md).
const realLogsDir = "../../shared/data/real-logs"

// expectation is one line of a testdata/reallogs/*.expect file: what a
// reader of the log expects to be reported (attack), may be reported
// (optional) or must not be (normal). See testdata/reallogs/README.md.
type expectation struct {
	verdict, name, kind string
	clients             []string
	min                 int
}

func readExpectations(t *testing.T, path string) []expectation {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []expectation
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) < 4 {
			t.Fatalf("%s: bad line %q", path, line)
		}
		x := expectation{verdict: fs[0], name: fs[1], kind: fs[2], clients: strings.Split(fs[3], ",")}
		for _, kv := range fs[4:] {
			if v, ok := strings.CutPrefix(kv, "min="); ok {
				x.min, _ = strconv.Atoi(v)
			}
		}
		out = append(out, x)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// analyseLog runs a log through parsing, normalisation and a default
// engine, returning the findings as analyze prints them (one per
// incident, when it resolves).
func analyseLog(t *testing.T, path string) []Finding {
	t.Helper()
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []Finding
	e := New(Options{CampaignGap: -1, Emit: func(f Finding) {
		if f.Status == StatusResolved {
			out = append(out, f)
		}
	}})
	_, err = ingest.ParseStream(context.Background(), r, ingest.StreamOptions{
		Normalizer: ingest.NormalizerOptions{HMACKey: []byte("reallogs-test-key")},
	}, func(b *ingest.Batch) error {
		e.ObserveBatch(b.Events)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Flush()
	return out
}

// named lists the clients a finding names.
func named(f *Finding) []string {
	return append([]string{f.Client}, f.Clients...)
}

// TestRealLogs runs every real log through the detectors and checks the
// findings against what a reader of the log expects
// (testdata/reallogs/*.expect): every attack reported, each in one
// incident (a campaign in one campaign incident naming its clients), no
// normal client named by any finding. Findings naming no listed client
// are logged as unreviewed.
func TestRealLogs(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "reallogs", "*.expect"))
	if len(files) == 0 {
		t.Fatal("no expectations in testdata/reallogs")
	}
	for _, exp := range files {
		name := strings.TrimSuffix(filepath.Base(exp), ".expect")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			log := filepath.Join(realLogsDir, name+".log")
			testenv.Stat(t, log, "../shared beside the repository")
			findings := analyseLog(t, log)
			found := checkExpectations(t, readExpectations(t, exp), findings)
			if want := realLogFloor[name]; found < want {
				t.Errorf("%d attacks reported, fewer than the %d reported when this test was written", found, want)
			}
		})
	}
}

// realLogFloor is how many of each file's attacks must be reported: all
// of them, since the Nikto run logged under a host name (ClientHost), the
// WebDAV SEARCH repeater and the sign-up bot that logs in once a visit
// (campaigns' Space-Saving ranking) are.
var realLogFloor = map[string]int{
	"honeynet-2004":            83,
	"plone-hackers-2015":       3,
	"secrepo-2018-12-15":       4,
	"secrepo-2021-10-22_to_27": 6,
}

func checkExpectations(t *testing.T, exps []expectation, findings []Finding) int {
	t.Helper()
	listed := map[string]string{}
	for _, x := range exps {
		for _, c := range x.clients {
			listed[c] = x.verdict
		}
	}
	byDet := map[string]int{}
	for i := range findings {
		f := &findings[i]
		byDet[f.Detector]++
		reviewed := false
		for _, c := range named(f) {
			switch listed[c] {
			case "normal":
				t.Errorf("normal client %s named by %s finding: %s", c, f.Detector, f.Summary)
			case "attack", "optional":
				reviewed = true
			}
		}
		if !reviewed {
			t.Logf("unreviewed finding: %s %s", f.Detector, f.Summary)
		}
	}
	found, attacks := 0, 0
	for _, x := range exps {
		if x.verdict != "attack" {
			continue
		}
		attacks++
		if ok, why := reported(x, findings); ok {
			found++
		} else {
			t.Logf("attack %s (%s, %d clients) not reported: %s", x.name, x.kind, len(x.clients), why)
		}
	}
	t.Logf("%d of %d attacks reported; %d incidents by detector: %v", found, attacks, len(findings), byDet)
	return found
}

// reported says whether expectation x is met by the findings.
func reported(x expectation, findings []Finding) (bool, string) {
	if x.kind == "client" {
		n := 0
		for i := range findings {
			for _, c := range x.clients {
				if slices.Contains(named(&findings[i]), c) {
					n++
					break
				}
			}
		}
		if n == 0 {
			return false, "no finding names it"
		}
		return true, ""
	}
	// A campaign: one incident naming some of its clients and counting
	// at least min (findings name the first 20 and count all).
	best := 0
	for i := range findings {
		f := &findings[i]
		hit := 0
		for _, c := range named(f) {
			if slices.Contains(x.clients, c) {
				hit++
			}
		}
		if hit > 0 {
			best = max(best, max(hit, min(f.ClientCount, len(x.clients))))
		}
	}
	want := max(x.min, 1)
	if best < want {
		return false, "largest incident covers " + strconv.Itoa(best) + ", want " + strconv.Itoa(want)
	}
	return true, ""
}
