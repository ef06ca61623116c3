package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/gatewatch/gatewatch/detect/analyze"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/detect/contract/openapi"
	"github.com/gatewatch/gatewatch/internal/human"
)

// requestFlags are analyze's request-audit flags.
type requestFlags struct {
	on         bool
	learn      []string
	learnLines int64
	learnShare float64
	openapi    string // --openapi: a specification to check requests against too
	byClient   bool
}

func registerRequestFlags(fs *flag.FlagSet) *requestFlags {
	r := &requestFlags{}
	fs.BoolVar(&r.on, "requests", false, "audit every request against the API's learnt contract: one JSON line per request outside it, instead of incidents")
	fs.Func("learn", "with --requests: a log of ordinary traffic to learn the contract from (repeat, or separate with commas)", func(s string) error {
		r.learn = append(r.learn, strings.Split(s, ",")...)
		return nil
	})
	fs.Int64Var(&r.learnLines, "learn-lines", 0, "with --requests: learn from the input's first N lines and judge the rest")
	fs.Float64Var(&r.learnShare, "learn-share", analyze.DefaultLearnShare, "with --requests: learn from this share of the input (by bytes, from its start) and judge the rest; 1 learns from all of it, then judges all of it")
	fs.StringVar(&r.openapi, "openapi", "", "with --requests: also check every request against this OpenAPI 3 specification (YAML or JSON): shadow and zombie endpoints, parameters its schemas refuse")
	fs.BoolVar(&r.byClient, "by-client", false, "(implies --requests) one JSON line per client incident (its requests outside the contract until detect.contract.incident_gap of quiet: counts by reason, routes, samples with line numbers) instead of one per request")
	return r
}

// auditRequests runs the request audit with the analysis' inputs and
// configuration.
func (a *analyzeCmd) auditRequests(ctx context.Context) error {
	o := a.opts
	ro := analyze.RequestOptions{Inputs: o.Inputs, Stdin: o.Stdin, Format: o.Format, LogFormat: o.LogFormat,
		Normalizer: o.Normalizer, Learn: a.requests.learn, LearnLines: a.requests.learnLines, LearnShare: a.requests.learnShare, Output: o.Output,
		DeadLetter: o.DeadLetter, TmpDir: o.TmpDir, ByClient: a.requests.byClient, IncidentGap: a.incidentGap}
	if a.requests.openapi != "" {
		spec, err := openapi.Load(a.requests.openapi)
		if err != nil {
			return err
		}
		ro.Spec = spec
	}
	sum, err := analyze.Requests(ctx, ro)
	if err != nil {
		return err
	}
	if !a.quiet {
		fmt.Fprintf(a.c.stderr, "analyze: %s lines, %s parse errors; learnt from %s requests, judged %s: %s outside the contract (%s)\n",
			human.Count(float64(sum.Lines)), human.Count(float64(sum.Rejects)), human.Count(float64(sum.Learned)),
			human.Count(float64(sum.Judged)), human.Count(float64(sum.Flagged)), byReason(sum.ByReason))
		if a.requests.byClient {
			fmt.Fprintf(a.c.stderr, "analyze: %s client incidents\n", human.Count(float64(sum.Incidents)))
		}
	}
	return a.verdict(analyze.Summary{Lines: sum.Lines, Events: sum.Events, Rejects: sum.Rejects})
}

// byReason lists the reasons' counts, most frequent first.
func byReason(m map[contract.Reason]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]contract.Reason, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b contract.Reason) int {
		if m[a] != m[b] {
			return int(m[b] - m[a])
		}
		return strings.Compare(string(a), string(b))
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %s", human.Count(float64(m[k])), k)
	}
	return strings.Join(parts, ", ")
}
