package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/dashboards/report"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/analyze"
	"github.com/gatewatch/gatewatch/detect/pipeline"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/atomicfile"
	"github.com/gatewatch/gatewatch/internal/human"
)

const analyzeHelp = `
Replay access logs through the detectors, in event time, and print one finding
per incident when it ends (with --stream, every open/update/resolve as it
happens). FILE may be - for standard input; names ending in .gz are
decompressed. Files are read in the order given: pass rotated logs oldest
first (access.log.2.gz access.log.1 access.log).

Input need not be in time order (logs merged from several servers, exports
sorted by client): when events arrive more than the allowed lateness behind
newer ones, analyze says so, sorts the events by time in bounded memory
(temporary files in --tmp-dir; standard input is kept there too while it is
read) and analyses them again, so the findings are those of the sorted log.

Output (--output json, the default) is one JSON object per line with the keys
client, client_kind, detector, status, incident_id, window_start, window_end,
windows, observed, expected, spread, unit, score, p_value, severity, baseline,
history and summary, and when they apply why, routes, samples, detectors, campaign,
clients, client_count and totals (docs/findings.md). Progress and a closing summary go to
standard error.

Lines that cannot be parsed are counted and, with --dead-letter FILE, kept
there as JSON lines with the reason (the input file keeps them anyway). When
more than 5% of an input's lines fail, analyze warns "wrong format?" and
names the format the failed lines look like.

Exit status: 0 when done; 3 when more lines failed to parse than
--max-parse-errors allows, or no line at all gave an event (the findings and
the summary are printed first); 1 on other errors; 2 on usage errors.

Examples:
  gatewatch analyze /var/log/nginx/access.log
  gatewatch analyze --output text access.log.1 access.log
  zcat old.log.gz | gatewatch analyze --format nginx_combined -
  gatewatch analyze --format nginx --log-format '$remote_addr [$time_local] "$request" $status $body_bytes_sent' api.log
  gatewatch analyze --format aws_alb --dead-letter rejects.jsonl alb/*.log.gz
  gatewatch analyze --max-parse-errors 0.2 mixed.log  # tolerate up to 20% bad lines
  gatewatch analyze --report report.html access.log   # and open report.html in a browser

--report FILE writes one self-contained HTML page (no network fetch: it opens
from disk or as an e-mail attachment) beside the findings: the incidents,
sortable and filterable, each with its evidence and the client's requests (or
errors, or auth failures) around it against the band its baseline expected;
traffic per minute with the incidents marked; top clients and routes; status
mix; parse errors and late lines, with a red banner when they are many.

The request audit (--requests) prints, instead of incidents, one JSON line per
request outside the API's contract: a route never served under a prefix that
is, a retired API version, a backup/config/source file, a parameter name the
route never takes, a value of another kind (SQL where an integer belongs), far
too long, or with characters the parameter never holds (quotes, markup,
control bytes, "..", double encoding). Keys: input, line, time, client,
method, route, path, status, reasons (reason, param, expected, got). The
contract is learnt from --learn FILEs of ordinary traffic, or from the first
--learn-lines lines, or else from the first quarter of the input
(--learn-share), which is not judged; --learn-share 1 learns from all of it
and judges all of it. A route, parameter, kind, character class or length
counts only once 2 clients showed it in requests answered below 400, so an
attacker in the learning period does not widen the contract. With --openapi
SPEC, every judged request is also checked against that OpenAPI 3
specification: shadow_endpoint (not documented), zombie_endpoint (deprecated,
or a retired version) and schema_violation (a parameter its schema refuses).
--by-client prints one JSON line per client incident instead (its requests
outside the contract until detect.contract.incident_gap of quiet: client,
first, last, requests, reasons by count, routes, samples with their lines,
summary), written as each incident ends.

  gatewatch analyze --requests --learn normal.log today.log
  gatewatch analyze --by-client --learn normal.log today.log | jq -r .summary
  gatewatch analyze --requests --learn-lines 100000 access.log
  gatewatch analyze --requests --openapi api.yaml access.log`

// exitParseErrors is analyze's exit status when too much of the input
// could not be parsed.
const exitParseErrors = 3

// analyzeCmd is one "gatewatch analyze": the library's options from the
// command line and the config, and what the command does with the
// summary.
type analyzeCmd struct {
	c              *cli
	opts           analyze.Options
	requests       *requestFlags // --requests: the contract audit instead
	quiet          bool
	maxParseErrors float64
	lateness       time.Duration // the detectors' allowed lateness, for messages
	incidentGap    time.Duration // detect.contract.incident_gap, for --requests --by-client
	closeDL        func()        // flushes and closes the dead-letter file
	reportPath     string        // --report: the HTML report's file
	rep            *report.Collector
}

// analyze replays the inputs through detect/analyze, then prints the
// summary and warnings and judges the outcome.
func (c *cli) analyze(ctx context.Context, args []string) error {
	a, err := c.newAnalyzeCmd(args)
	if err != nil {
		return err
	}
	defer a.closeDL()
	if a.requests.on || a.requests.byClient {
		return a.auditRequests(ctx)
	}
	an, err := analyze.New(a.opts)
	if err != nil {
		return err
	}
	sum, err := an.Run(ctx)
	if err != nil {
		return err
	}
	a.report(sum)
	if err := a.writeReport(sum); err != nil {
		return err
	}
	return a.verdict(sum)
}

// writeReport writes the --report page, when one was asked for, and says
// where it is.
func (a *analyzeCmd) writeReport(sum analyze.Summary) error {
	if a.rep == nil {
		return nil
	}
	a.rep.Input(reportInput(sum))
	size, err := writeReportFile(a.reportPath, a.rep.Data())
	if err != nil {
		return err
	}
	if !a.quiet {
		fmt.Fprintf(a.c.stderr, "analyze: report written to %s (%s)\n", a.reportPath, human.Bytes(float64(size)))
	}
	return nil
}

// writeReportFile renders d to path atomically (a reader never sees half
// a page) and returns the page's size.
func writeReportFile(path string, d report.Data) (int64, error) {
	var size int64
	err := atomicfile.Write(path, func(w io.Writer) error {
		cw := &countingWriter{w: w}
		err := report.Render(cw, d, report.RenderOptions{Generated: time.Now()})
		size = cw.n
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("report: %w", err)
	}
	return size, nil
}

// reportInput is what the report shows of the inputs: the counts of the
// reading and the late events of the engine that made the findings.
func reportInput(sum analyze.Summary) report.InputStats {
	in := report.InputStats{Lines: sum.Lines, Events: sum.Events, Rejects: sum.Rejects, Future: sum.Future, Late: sum.Detect.LateEvents + sum.Detect.Ahead}
	for _, i := range sum.Inputs {
		in.Inputs = append(in.Inputs, report.InputCount{Name: i.Name, Format: i.Format, Events: i.Events, Rejects: i.Rejects})
	}
	return in
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// newAnalyzeCmd parses the command line and the config into the
// library's options. Unless it fails, the dead-letter file it may open
// must be closed with closeDL.
func (c *cli) newAnalyzeCmd(args []string) (*analyzeCmd, error) {
	a := &analyzeCmd{c: c, closeDL: func() {}}
	fs := c.newFlags("analyze", "[flags] FILE...", analyzeHelp)
	fs.StringVar(&a.opts.Format, "format", "auto", "log format (see \"gatewatch formats\"); auto detects it per file")
	fs.StringVar(&a.opts.LogFormat, "log-format", "", "nginx log_format string, with --format nginx")
	output := fs.String("output", "", "findings as json or text (default from config: json)")
	fs.BoolVar(&a.opts.Stream, "stream", false, "print every finding update as it happens, not one line per incident")
	deadLetter := fs.String("dead-letter", "", "keep unparsable lines in this file (JSON lines with the reason)")
	configPath := fs.String("config", "", "config file (default $GATEWATCH_CONFIG; none is fine)")
	fs.BoolVar(&a.quiet, "quiet", false, "no progress or summary on standard error (warnings still)")
	fs.StringVar(&a.opts.TmpDir, "tmp-dir", os.TempDir(), "directory for temporary files: sorted runs, a copy of standard input")
	fs.Float64Var(&a.maxParseErrors, "max-parse-errors", pipeline.WarnParseShare, "largest share of lines (0 to 1) that may fail to parse before analyze exits with status 3")
	fs.DurationVar(&a.opts.CampaignGap, "campaign-gap", 0, "how long a campaign may go quiet and stay one incident (default: the whole input, one line per campaign)")
	fs.StringVar(&a.reportPath, "report", "", "also write a self-contained HTML report (incidents, each client's band, traffic) to this file")
	a.requests = registerRequestFlags(fs)
	files, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		fmt.Fprintln(c.stderr, "gatewatch analyze: no input: name log files, or - for standard input")
		fs.Usage()
		return nil, errUsage
	}
	if a.maxParseErrors < 0 || a.maxParseErrors > 1 {
		fmt.Fprintln(c.stderr, "gatewatch analyze: --max-parse-errors is a share of lines, from 0 to 1")
		return nil, errUsage
	}
	a.opts.Inputs = files
	if err := a.configure(*configPath, *output); err != nil {
		return nil, err
	}
	if a.reportPath != "" {
		a.rep = report.New(report.Options{Title: "gatewatch analyze " + strings.Join(files, " "), Window: a.opts.Detect.Window})
		a.opts.Recorder = a.rep
	}
	return a, a.openDeadLetter(*deadLetter)
}

// configure fills the options the config decides: output format,
// normaliser, detectors, workers, and the process's streams and bounds.
func (a *analyzeCmd) configure(configPath, output string) error {
	c := a.c
	cfg, err := c.loadConfig(configPath)
	if err != nil {
		return err
	}
	outFormat := cmp.Or(output, cfg.Output.Format)
	if _, err := alert.NewWriter(io.Discard, outFormat); err != nil {
		return err
	}
	a.opts.NewWriter = func(w io.Writer) analyze.FindingWriter {
		out, _ := alert.NewWriter(w, outFormat) // the format was checked
		return out
	}
	// One HMAC key for every input and both readings; without one
	// configured, the library makes it.
	key, err := c.hmacKey(cfg, false)
	if err != nil {
		return err
	}
	if a.opts.Normalizer, err = cfg.NormalizerOptions(key); err != nil {
		return err
	}
	a.opts.Detect = cfg.DetectOptions()
	a.incidentGap = cfg.Detect.Contract.IncidentGap
	a.lateness = pipeline.Lateness(a.opts.Detect)
	a.opts.Workers = cfg.Ingest.Workers
	a.opts.Stdin, a.opts.Output = c.stdin, c.stdout
	a.opts.SortRunBytes, a.opts.HoldBytes = c.sortRunBytes, c.holdBytes
	if !a.quiet {
		a.opts.Progress = a.progress
	}
	a.opts.OnUnsorted = a.warnLate
	return nil
}

// openDeadLetter opens the --dead-letter file, when one is named.
func (a *analyzeCmd) openDeadLetter(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	dl := ingest.NewDeadLetterWriter(f)
	dl.SetSensitiveParams(a.opts.Normalizer.SensitiveParams)
	a.opts.DeadLetter = dl
	a.closeDL = func() { dl.Flush(); f.Close() }
	return nil
}

// progress prints a status line on standard error.
func (a *analyzeCmd) progress(p analyze.Progress) {
	label := ""
	if p.Sorting {
		label = "sorting "
	}
	rate := float64(p.Lines) / p.Elapsed.Seconds()
	pct := ""
	if p.Size > 0 {
		pct = fmt.Sprintf(" %3.0f%%", 100*float64(p.Read)/float64(p.Size))
	}
	fmt.Fprintf(a.c.stderr, "analyze: %s%s%s, %s lines (%s lines/s), %s parse errors, %s incidents\n",
		label, p.File, pct, human.Count(float64(p.Lines)), human.Count(rate), human.Count(float64(p.Rejects)), human.Count(float64(p.Incidents)))
}

// report prints, unless quiet, whether the input was sorted and the
// closing counts, then the warnings about inputs that did not parse.
func (a *analyzeCmd) report(sum analyze.Summary) {
	if !a.quiet {
		if sum.Late > 0 {
			fmt.Fprintf(a.c.stderr, "analyze: input not in time order (%s events more than %v behind newer ones): sorted it by time in %s and analysed again\n",
				human.Count(float64(sum.Late)), a.lateness, human.Plural(sum.Runs, "run"))
		}
		a.summary(sum)
	}
	a.warnParse(sum)
}

// summary prints the closing counts: lines and events of the reading,
// late events and incidents of the engine that made the findings.
func (a *analyzeCmd) summary(sum analyze.Summary) {
	rate := float64(sum.Lines) / max(sum.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(a.c.stderr, "analyze: %s lines in %s (%s lines/s): %s events, %s parse errors, %s late, %s clients, %s incidents\n",
		human.Count(float64(sum.Lines)), sum.Elapsed.Round(time.Millisecond), human.Count(rate), human.Count(float64(sum.Events)),
		human.Count(float64(sum.Rejects)), human.Count(float64(sum.Detect.LateEvents)), human.Count(float64(sum.Detect.ActiveClients)), human.Count(float64(sum.Incidents)))
	if formats := formatList(sum.Inputs); formats != "" {
		fmt.Fprintf(a.c.stderr, "analyze: format %s\n", formats)
	}
	if sum.Future > 0 {
		fmt.Fprintf(a.c.stderr, "analyze: %s events skipped: their time is more than %v in the future\n", human.Count(float64(sum.Future)), ingest.DefaultMaxSkew)
	}
	if n := sum.Detect.Ahead; n > 0 {
		fmt.Fprintf(a.c.stderr, "analyze: %s events set aside (counted as late): dated far ahead of the rest of the input, which never caught up with them (a wrong clock or a garbled time)\n",
			human.Count(float64(n)))
	}
}

// formatList names the format each input was read as: one name when they
// all agree, else "file: format" pairs.
func formatList(inputs []analyze.InputSummary) string {
	var names, formats []string
	for _, in := range inputs {
		if in.Format != "" {
			names, formats = append(names, in.Name), append(formats, in.Format)
		}
	}
	if len(formats) == 0 {
		return ""
	}
	if len(slices.Compact(slices.Clone(formats))) == 1 {
		return formats[0]
	}
	parts := make([]string, len(formats))
	for i := range formats {
		parts[i] = names[i] + ": " + formats[i]
	}
	return strings.Join(parts, ", ")
}

// warnLate says, after the first reading, that many events came late.
func (a *analyzeCmd) warnLate(es detect.Stats) {
	if es.Events == 0 || float64(es.LateEvents) <= pipeline.WarnLateShare*float64(es.Events) {
		return
	}
	fmt.Fprintf(a.c.stderr, "analyze: warning: %s of %s events (%s) came more than %v behind newer ones: input not in time order\n",
		human.Count(float64(es.LateEvents)), human.Count(float64(es.Events)), human.Percent(float64(es.LateEvents)/float64(es.Events)), a.lateness)
}

// warnParse names each input of which many lines did not parse, the format
// it was read as and the one those lines look like.
func (a *analyzeCmd) warnParse(sum analyze.Summary) {
	for _, in := range sum.Inputs {
		total := in.Events + in.Rejects
		if total == 0 || float64(in.Rejects) <= pipeline.WarnParseShare*float64(total) {
			continue
		}
		name := in.Name
		if name == "-" {
			name = "standard input"
		}
		fmt.Fprintf(a.c.stderr, "analyze: warning: %s of %s lines of %s (%s) did not parse as %s: wrong format? %s\n",
			human.Count(float64(in.Rejects)), human.Count(float64(total)), name, human.Percent(float64(in.Rejects)/float64(total)), in.Format, formatHint(in.Format, in.Sample))
	}
}

// verdict is analyze's outcome once everything is printed: exit status 3
// when more lines failed to parse than --max-parse-errors allows, or when
// a non-empty input gave no event at all.
func (a *analyzeCmd) verdict(sum analyze.Summary) error {
	lines, events, rejects := sum.Lines, sum.Events, sum.Rejects
	switch {
	case events == 0 && lines > 0:
		return &exitError{code: exitParseErrors, err: fmt.Errorf("no events in %s lines of input: nothing was analysed", human.Count(float64(lines)))}
	case rejects > 0 && float64(rejects) > a.maxParseErrors*float64(events+rejects):
		return &exitError{code: exitParseErrors, err: fmt.Errorf("%s of %s lines (%s) failed to parse, more than --max-parse-errors %g allows: the findings miss them",
			human.Count(float64(rejects)), human.Count(float64(events+rejects)), human.Percent(float64(rejects)/float64(events+rejects)), a.maxParseErrors)}
	}
	return nil
}

// formatHint suggests what lines that failed to parse as format are.
func formatHint(format string, sample [][]byte) string {
	guess, ok := ingest.Detect(sample)
	switch {
	case ok && guess != format:
		return fmt.Sprintf("They look like %s: try --format %s", guess, guess)
	case format == "nginx":
		return "Check --log-format against the log_format in nginx.conf"
	}
	return `Name the format with --format (see "gatewatch formats")`
}
