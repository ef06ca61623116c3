package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatewatch/gatewatch/dashboards/bandplot"
	"github.com/gatewatch/gatewatch/dashboards/report"
	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/internal/human"
	"github.com/gatewatch/gatewatch/storage"
)

const explainHelp = `
Explain one incident from the stored audit trail (ClickHouse, as "store" or
"run" wrote it): what was flagged and why, then the client's detection
windows around it, observed against what its baseline expected, one line per
window. Windows inside the incident are marked with *; SIGMA is how many
spreads (standard deviations) the observation sits from the expectation.

The metric follows the incident's detector: volume compares requests with
the expected requests; error_ratio the 5xx ratio (errors/requests) with the
expected ratio; auth_failures and brute_force the auth failures (401, 403)
with the expected ones; every other detector (scanning, injection, ...) is
shown against the volume baseline, its requests per window.

--png FILE also draws the picture: the expected line, the band expected ±
one spread, the observed line with its points, and the incident's span
shaded; the same image the Slack message carries. A campaign or a fleet-wide
incident has no single client, so explain lists its clients, and --png
refuses: the band is per client (explain one client's incident instead).

The finding is the incident's latest stored emission; the windows come from
the client_windows table (spreads need schema 7: "gatewatch migrate";
windows stored before it draw no band). Text from the logs (client keys,
routes, samples) is printed with control characters escaped (\x1b, \u202e).

Examples:
  gatewatch query findings                       # the open incidents and their ids
  gatewatch query findings --output json | jq -r '.[].incident_id'
  gatewatch explain inc-5f0c8a3d29e1b7a4
  gatewatch explain inc-5f0c8a3d29e1b7a4 --context 2h --png incident.png`

func (c *cli) explain(ctx context.Context, args []string) error {
	fs := c.newFlags("explain", "INCIDENT_ID [flags]", explainHelp)
	configPath := fs.String("config", "", "config file (default $GATEWATCH_CONFIG)")
	pngPath := fs.String("png", "", "also write the incident's band as a PNG image to `FILE`")
	around := fs.Duration("context", 30*time.Minute, "windows to show before and after the incident")
	rows := fs.Int("rows", 60, "most windows to list in the table, the middle ones left out beyond it (0: all)")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		fmt.Fprintln(c.stderr, "gatewatch explain: name one incident id (gatewatch query findings lists them)")
		fs.Usage()
		return errUsage
	}
	if *around < 0 || *rows < 0 {
		return fmt.Errorf("--context and --rows must not be negative")
	}
	db, err := c.openConfiguredStorage(ctx, *configPath)
	if err != nil {
		return err
	}
	defer db.Close()
	ex, err := loadExplanation(ctx, db, rest[0], *around)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	ex.writeText(&out, *rows)
	if _, err := c.stdout.Write(out.Bytes()); err != nil {
		return err
	}
	if *pngPath == "" {
		return nil
	}
	b, err := ex.png()
	if err == nil {
		err = os.WriteFile(*pngPath, b, 0o644)
	}
	if err != nil {
		return fmt.Errorf("--png %s: %w", *pngPath, err)
	}
	fmt.Fprintf(c.stderr, "wrote %s\n", *pngPath)
	return nil
}

// explanation is what explain prints: a finding and, for a per-client
// incident, the client's windows from around before to around after it.
type explanation struct {
	f        detect.Finding
	perCl    bool
	from, to time.Time
	windows  []detect.WindowStats
	m        metric
}

// loadExplanation reads the incident's latest emission and its client's
// windows.
func loadExplanation(ctx context.Context, db *storage.DB, id string, around time.Duration) (*explanation, error) {
	f, err := db.Finding(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("incident %s is not stored in database %s (gatewatch query findings --since 720h lists the open ones)",
			visible(id), db.Database())
	}
	if err != nil {
		return nil, err
	}
	return explainFinding(ctx, db, f, around)
}

// windowSource reads a client's stored windows: a *storage.DB.
type windowSource interface {
	ClientWindows(ctx context.Context, q storage.ClientWindowsQuery) ([]detect.WindowStats, error)
}

// explainFinding explains f with, for a per-client incident, its
// client's windows from around before to around after it.
func explainFinding(ctx context.Context, src windowSource, f detect.Finding, around time.Duration) (*explanation, error) {
	ex := &explanation{f: f, perCl: perClient(f), m: metricFor(f.Detector)}
	if !ex.perCl {
		return ex, nil
	}
	var err error
	ex.from, ex.to = f.WindowStart.Add(-around), f.WindowEnd.Add(around)
	ex.windows, err = src.ClientWindows(ctx, storage.ClientWindowsQuery{Client: f.Client, From: ex.from, To: ex.to})
	if err != nil {
		return nil, err
	}
	return ex, nil
}

// perClient reports whether f is one client's incident: not a campaign
// (many clients, one attack) nor a fleet-wide one.
func perClient(f detect.Finding) bool {
	return f.Client != "" && f.Client != detect.FleetClient && f.Detector != detect.DetectorCampaign &&
		f.Detector != detect.DetectorFleetVolume && f.Detector != detect.DetectorFleetAuth && f.ClientKind != "campaign"
}

// metric is the per-window series an incident is judged on.
type metric struct {
	name string // "requests", "5xx ratio", "auth failures"
	// rate: a count per window (its unit names the window); else a ratio.
	rate bool
	// value returns a window's observed value, expected value and spread;
	// observed is NaN when undefined (a ratio without requests).
	value func(w detect.WindowStats) (obs, exp, spread float64)
	// point is value for a point of the live report's series (the
	// average of its windows).
	point func(p report.SeriesPoint) (obs, exp, spread float64)
}

// metricFor picks the series of a detector (see explainHelp).
func metricFor(detector string) metric {
	switch detector {
	case detect.DetectorErrorRatio:
		return metric{name: "5xx ratio", value: func(w detect.WindowStats) (float64, float64, float64) {
			return ratio(float64(w.Errors), float64(w.Requests)), w.ExpectedErrorRatio, w.SpreadErrorRatio
		}, point: func(p report.SeriesPoint) (float64, float64, float64) {
			return ratio(p.Errors, p.Requests), p.ExpectedErrorRatio, p.SpreadErrorRatio
		}}
	case detect.DetectorAuthFailures, detect.DetectorBruteForce:
		return metric{name: "auth failures", rate: true, value: func(w detect.WindowStats) (float64, float64, float64) {
			return float64(w.AuthFailures), w.ExpectedAuthFailures, w.SpreadAuthFailures
		}, point: func(p report.SeriesPoint) (float64, float64, float64) {
			return p.AuthFailures, p.ExpectedAuthFailures, p.SpreadAuthFailures
		}}
	}
	return metric{name: "requests", rate: true, value: func(w detect.WindowStats) (float64, float64, float64) {
		return float64(w.Requests), w.ExpectedRequests, w.SpreadRequests
	}, point: func(p report.SeriesPoint) (float64, float64, float64) {
		return p.Requests, p.ExpectedRequests, p.SpreadRequests
	}}
}

// ratio is errs/req, NaN without requests.
func ratio(errs, req float64) float64 {
	if req > 0 {
		return errs / req
	}
	return math.NaN()
}

// unit names the metric's unit for windows of length d: "requests/min",
// "auth failures/5m", "5xx ratio".
func (m metric) unit(d time.Duration) string {
	if !m.rate {
		return m.name
	}
	var per string
	switch {
	case d == time.Minute:
		per = "min"
	case d == time.Hour:
		per = "h"
	case d <= 0:
		per = "window"
	case d%time.Hour == 0:
		per = strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		per = strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		per = strconv.FormatInt(int64(d/time.Second), 10) + "s"
	default:
		per = d.String()
	}
	return m.name + "/" + per
}

// windowLength is the windows' length, 0 when none is stored.
func (ex *explanation) windowLength() time.Duration {
	if len(ex.windows) == 0 {
		return 0
	}
	return ex.windows[0].End.Sub(ex.windows[0].Start)
}

// png draws the incident's band as a PNG image. A campaign or fleet
// incident has no per-client band.
func (ex *explanation) png() ([]byte, error) {
	if !ex.perCl {
		return nil, fmt.Errorf("incident %s is a %s incident across clients: the band is drawn per client only; "+
			"explain the incident of one of its clients", visible(ex.f.IncidentID), visible(ex.f.Detector))
	}
	if len(ex.windows) == 0 {
		return nil, fmt.Errorf("no windows of client %s stored from %s to %s: nothing to draw (does the store read the windows topic?)",
			visible(ex.f.Client), ex.from.Format(time.RFC3339), ex.to.Format(time.RFC3339))
	}
	s := bandSeries(ex.f, ex.m.unit(ex.windowLength()))
	for _, w := range ex.windows {
		obs, exp, spread := ex.m.value(w)
		s.Points = append(s.Points, bandplot.Point{Time: w.Start, Observed: obs, Expected: exp, Spread: spread})
	}
	return drawBand(s)
}

// bandSeries is the band of f's client, without its points, the
// incident's span shaded.
func bandSeries(f detect.Finding, unit string) bandplot.Series {
	return bandplot.Series{Title: f.Client + " — " + f.Detector + " (" + f.IncidentID + ")", Unit: unit,
		From: f.WindowStart, To: f.WindowEnd}
}

// drawBand encodes s as a PNG image.
func drawBand(s bandplot.Series) ([]byte, error) {
	var b bytes.Buffer
	if err := bandplot.PNG(&b, s, bandplot.Options{}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeText prints the finding, then the windows (at most rows of them;
// 0 for all) or, for a campaign or fleet incident, a pointer to its
// clients.
func (ex *explanation) writeText(w io.Writer, rows int) {
	ex.writeFinding(w)
	fmt.Fprintln(w)
	switch {
	case !ex.perCl:
		fmt.Fprintf(w, "No per-client windows: a %s incident spans many clients. Explain one of their incidents,\n"+
			"or see one client's requests with: gatewatch query timeline CLIENT\n", visible(ex.f.Detector))
	case len(ex.windows) == 0:
		fmt.Fprintf(w, "No windows of %s stored from %s to %s.\n", visible(ex.f.Client), ex.from.Format(time.RFC3339), ex.to.Format(time.RFC3339))
	default:
		ex.writeWindows(w, rows)
	}
}

// writeFinding prints the finding's fields, one labelled line each, the
// empty ones left out.
func (ex *explanation) writeFinding(w io.Writer) {
	f := &ex.f
	fmt.Fprintf(w, "Incident %s: %s, %s, %s\n", visible(f.IncidentID), visible(f.Detector),
		visible(strings.ToUpper(string(f.Severity))), visible(string(f.Status)))
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(w, "  %-9s %s\n", label+":", value)
		}
	}
	line("client", visible(f.Client)+" ("+visible(f.ClientKind)+")")
	line("span", fmt.Sprintf("%s to %s, %s", f.WindowStart.UTC().Format(time.RFC3339), f.WindowEnd.UTC().Format(time.RFC3339),
		human.Plural(f.Windows, "anomalous window")))
	line("summary", visible(f.Summary))
	line("why", visible(f.Why))
	worst := fmt.Sprintf("observed %s %s, expected %s ± %s", num(f.Observed), visible(f.Unit), num(f.Expected), num(f.Spread))
	if f.Baseline != detect.BaselineNone {
		worst += fmt.Sprintf(" (%s baseline, %s; p=%s, score %.2f)", visible(f.Baseline),
			human.Plural(f.History, "window")+" of history", strconv.FormatFloat(f.PValue, 'g', 2, 64), f.Score)
	}
	line("worst", worst)
	line("also", visibleJoin(otherDetectors(f.Detectors, f.Detector)))
	line("campaign", visible(f.Campaign))
	if n := max(f.ClientCount, len(f.Clients)); n > 0 {
		line("clients", fmt.Sprintf("%d, heaviest first: %s", n, visibleJoin(f.Clients)))
	}
	line("top", visibleJoin(f.TopClients))
	line("routes", visibleJoin(f.Routes))
	for i, s := range f.Samples {
		label := ""
		if i == 0 {
			label = "samples:"
		}
		fmt.Fprintf(w, "  %-9s %s\n", label, visible(s))
	}
	if t := f.Totals; t != nil {
		line("totals", fmt.Sprintf("requests %s, failures %s, %s out, distinct paths %s",
			human.Count(t.Requests), human.Count(t.Failures), human.Bytes(t.Bytes), human.Count(t.DistinctPaths)))
	}
}

// otherDetectors are the incident's detectors but its main one.
func otherDetectors(all []string, main string) []string {
	var out []string
	for _, d := range all {
		if d != main {
			out = append(out, d)
		}
	}
	return out
}

// writeWindows prints the windows as a table: the metric observed,
// expected, its spread and the distance in spreads, with the window's
// requests; windows of the incident marked *. At most rows windows are
// listed (0: all), chosen by listed.
func (ex *explanation) writeWindows(w io.Writer, rows int) {
	unit := ex.m.unit(ex.windowLength())
	fmt.Fprintf(w, "Windows of %s from %s to %s (%s; * = in the incident):\n", visible(ex.f.Client),
		ex.from.UTC().Format(time.RFC3339), ex.to.UTC().Format(time.RFC3339), unit)
	a, b := len(ex.windows), len(ex.windows) // the incident's windows: [a, b)
	for i, win := range ex.windows {
		if ex.inIncident(win) {
			a, b = min(a, i), i+1
		}
	}
	segs := listed(len(ex.windows), a, b, rows)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, " \tWINDOW (UTC)\tOBSERVED\tEXPECTED\tSPREAD\tSIGMA\tREQUESTS")
	shown := 0
	for k, seg := range segs {
		if k > 0 {
			fmt.Fprintln(tw, " \t…\t…\t…\t…\t…\t…")
		}
		for _, win := range ex.windows[seg[0]:seg[1]] {
			obs, exp, spread := ex.m.value(win)
			mark := " "
			if ex.inIncident(win) {
				mark = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", mark, win.Start.UTC().Format(time.RFC3339),
				num(obs), num(exp), num(spread), sigma(obs, exp, spread), win.Requests)
		}
		shown += seg[1] - seg[0]
	}
	tw.Flush()
	if left := len(ex.windows) - shown; left > 0 {
		fmt.Fprintf(w, "(%d of %d windows not listed; --rows 0 lists all)\n", left, len(ex.windows))
	}
}

// inIncident reports whether window w overlaps the incident's span.
func (ex *explanation) inIncident(w detect.WindowStats) bool {
	return w.Start.Before(ex.f.WindowEnd) && w.End.After(ex.f.WindowStart)
}

// listed picks which of n windows to list, at most rows of them (0: all),
// as index ranges [from, to): the incident's windows [a, b) first, with
// as much context as fits on each side; an incident longer than rows
// keeps its first and last windows, its middle left out.
func listed(n, a, b, rows int) [][2]int {
	if rows <= 0 || n <= rows {
		return [][2]int{{0, n}}
	}
	if a >= b { // no window in the incident: the middle of the range
		a, b = n/2, n/2
	}
	if b-a >= rows {
		return [][2]int{{a, a + rows/2}, {b - (rows - rows/2), b}}
	}
	extra := rows - (b - a)
	after := min(n-b, extra-min(a, extra/2))
	before := min(a, extra-after)
	return [][2]int{{a - before, b + after}}
}

// sigma is how many spreads obs is from exp, "-" without a spread.
func sigma(obs, exp, spread float64) string {
	if !(spread > 0) || math.IsNaN(obs) || math.IsInf(spread, 0) {
		return "-"
	}
	d := (obs - exp) / spread
	if math.Abs(d) < 0.05 {
		return "0.0" // not -0.0
	}
	return strconv.FormatFloat(d, 'f', 1, 64)
}

// num formats a value for the table: whole numbers as they are, others
// to 4 significant digits; "-" for NaN (a ratio without requests).
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// visibleJoin escapes each of ss with visible and joins them with ", ".
func visibleJoin(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = visible(s)
	}
	return strings.Join(out, ", ")
}

// visible escapes text from the logs for a terminal: C0 and C1 controls,
// DEL, bidirectional controls, line and paragraph separators, the byte
// order mark and bytes that are not UTF-8 become \xNN or \uNNNN, so no
// value can move the cursor, recolour the terminal or reorder a line.
func visible(s string) string {
	clean := true
	for _, r := range s {
		if hiddenRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && hiddenRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case hiddenRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// hiddenRune reports the runes visible escapes (utf8.RuneError stands
// for an invalid byte, and for itself: both are escaped).
func hiddenRune(r rune) bool {
	return r < 0x20 || r >= 0x7f && r <= 0x9f || r == utf8.RuneError || r == 0xfeff ||
		unicode.Is(unicode.Bidi_Control, r) || unicode.In(r, unicode.Zl, unicode.Zp)
}
