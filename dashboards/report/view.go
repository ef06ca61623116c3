package report

import (
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gatewatch/gatewatch/detect"
)

// Banner thresholds: a run with more unparsed or late lines than this
// is flagged, not shown as all clear.
const (
	maxRejectShare = 0.05
	maxLateShare   = 0.01
)

// header fills the page header: span, counters, banners, severities.
func (v *view) header(d *Data) {
	in := &d.Input
	v.Span = "–"
	if !d.First.IsZero() {
		v.Span = stamp(d.First) + " – " + stamp(d.Last)
	}
	v.Lines, v.Rejects, v.Future, v.Late = "–", icount(in.Rejects), icount(in.Future), count(in.Late)
	if in.Lines > 0 {
		v.Lines = icount(in.Lines)
	}
	v.Events, v.Bytes = count(d.Events), byteSize(float64(d.Bytes))
	v.Banners = banners(d)
	for _, s := range severities {
		v.Severity = append(v.Severity, sevCount{Name: string(s), N: d.Severity[s]})
	}
	for _, c := range in.Inputs {
		v.Inputs = append(v.Inputs, inputView{Name: printable(c.Name), Format: printable(c.Format),
			Events: icount(c.Events), Rejects: icount(c.Rejects)})
	}
}

// banners are the warnings a reader must not miss: a run that parsed
// almost nothing, or got much of its input late, is not all clear.
func banners(d *Data) []string {
	in := &d.Input
	var out []string
	if in.Lines <= 0 {
		if d.Events == 0 && in.Rejects > 0 {
			out = append(out, "No line of the input parsed: this report shows nothing of it.")
		}
		return out
	}
	failed := float64(in.Rejects+in.Future) / float64(in.Lines)
	if failed > maxRejectShare {
		out = append(out, percent(failed)+" of the lines ("+icount(in.Rejects+in.Future)+" of "+icount(in.Lines)+
			") failed to parse or were dated in the future: the findings cover only part of the input.")
	}
	if late := float64(in.Late) / float64(in.Lines); late > maxLateShare {
		out = append(out, percent(late)+" of the lines ("+count(in.Late)+") arrived later than the detectors allow.")
	}
	if in.Events == 0 && d.Events == 0 {
		out = append(out, "No event was read: this report shows nothing of the input.")
	}
	return out
}

// incView is one incident row and its evidence.
type incView struct {
	I                                         int
	ID, Sev, Det, Client, Start, End, Status  string
	Windows, Observed, Expected, Score, Unit  string
	Summary, Why, Baseline, Totals, Detectors string
	Campaign, ClientsTitle, Emissions         string
	Routes, Samples, RequestIDs, Clients      []string
	Chart                                     template.HTML
	ChartNote                                 string
}

// incidents fills the incident rows and the detector filter's options.
func (v *view) incidents(d *Data, o RenderOptions) {
	dets := map[string]bool{}
	v.Incidents = make([]incView, len(d.Incidents))
	for i := range d.Incidents {
		inc := &d.Incidents[i]
		v.Incidents[i] = newIncView(i, inc)
		v.Incidents[i].Chart, v.Incidents[i].ChartNote = incidentChart(inc, d, o)
		dets[printable(inc.Finding.Detector)] = true
		for _, x := range inc.Finding.Detectors {
			dets[printable(x)] = true
		}
	}
	for k := range dets {
		v.Detectors = append(v.Detectors, k)
	}
	slices.Sort(v.Detectors)
}

// newIncView shows incident i's finding.
func newIncView(i int, inc *Incident) incView {
	f := &inc.Finding
	iv := incView{
		I: i, ID: printable(f.IncidentID), Sev: printable(string(f.Severity)), Det: printable(f.Detector),
		Client: printable(f.Client), Start: stamp(f.WindowStart), End: stamp(f.WindowEnd), Status: printable(string(f.Status)),
		Windows: strconv.Itoa(f.Windows), Score: strconv.FormatFloat(finite(f.Score), 'f', 2, 64), Unit: printable(f.Unit),
		Summary: printable(f.Summary), Why: printable(f.Why), Detectors: strings.Join(printables(f.Detectors), ", "),
		Campaign:  printable(f.Campaign),
		Emissions: strconv.Itoa(inc.Emissions) + " emission(s)",
		Routes:    printables(f.Routes),
	}
	iv.Observed, iv.Expected = observed(f)
	iv.Baseline = printable(f.Baseline) + " baseline, " + strconv.Itoa(f.History) + " windows of history, p = " +
		strconv.FormatFloat(finite(f.PValue), 'g', 3, 64)
	if t := f.Totals; t != nil {
		iv.Totals = human(t.Requests) + " requests, " + human(t.Failures) + " failures (5xx, 401, 403), " +
			byteSize(finite(t.Bytes)) + ", " + human(t.DistinctPaths) + " distinct 404/403 paths"
	}
	for _, s := range f.Samples {
		if strings.HasPrefix(s, "request id ") {
			iv.RequestIDs = append(iv.RequestIDs, printable(strings.TrimPrefix(s, "request id ")))
		} else {
			iv.Samples = append(iv.Samples, printable(s))
		}
	}
	iv.ClientsTitle, iv.Clients = clientsOf(f)
	return iv
}

// clientsOf titles and lists the clients a campaign or fleet finding
// names.
func clientsOf(f *detect.Finding) (string, []string) {
	switch {
	case len(f.Clients) > 0:
		n := max(f.ClientCount, len(f.Clients))
		return "Clients (" + strconv.Itoa(len(f.Clients)) + " heaviest of " + strconv.Itoa(n) + ")", printables(f.Clients)
	case len(f.TopClients) > 0:
		return "Top clients", printables(f.TopClients)
	}
	return "", nil
}

// observed renders a finding's observed and expected values in its
// unit: ratios as percentages.
func observed(f *detect.Finding) (string, string) {
	val := human
	if strings.Contains(f.Unit, "ratio") {
		val = percent
	}
	exp := val(finite(f.Expected)) + " ± " + val(finite(f.Spread))
	if f.Baseline == detect.BaselineNone {
		exp = "–"
	}
	return val(finite(f.Observed)), exp
}

// finite is x, or 0 when x is NaN or infinite.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// printables is printable of each of ss.
func printables(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = printable(s)
	}
	return out
}

// joinPrintable joins the printable forms of lists, one a line.
func joinPrintable(lists ...[]string) string {
	var b strings.Builder
	for _, l := range lists {
		for _, s := range l {
			b.WriteString(printable(s))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// topTable is a ranking table.
type topTable struct {
	Title, Key string
	Rows       []topRow
}

type topRow struct {
	Key, Requests, S4, S5, Auth string
	Bar                         template.HTML
}

// tops fills the rankings and the status mix.
func (v *view) tops(d *Data) {
	v.Tops = []topTable{topTableOf("Top clients", "Client", d.TopClients), topTableOf("Top routes", "Route", d.TopRoutes)}
	v.Mix = statusChart(&d.Status)
	var total uint64
	for _, n := range d.Status.Classes {
		total += n
	}
	for _, c := range d.Status.Codes {
		v.Codes = append(v.Codes, codeView{Code: strconv.Itoa(c.Code), Count: count(c.Count),
			Share: percent(float64(c.Count) / float64(max(total, 1)))})
	}
}

func topTableOf(title, key string, tops []Top) topTable {
	t := topTable{Title: title, Key: key}
	var top uint64
	for _, x := range tops {
		top = max(top, x.Requests)
	}
	for _, x := range tops {
		req := count(x.Requests)
		if x.Error > 0 {
			req += " ±" + count(x.Error)
		}
		t.Rows = append(t.Rows, topRow{Key: printable(x.Key), Requests: req, Bar: bar(x.Requests, top),
			S4: count(x.Status4xx), S5: count(x.Status5xx), Auth: count(x.AuthFailures)})
	}
	return t
}
