package report

import (
	"bufio"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"time"
)

var (
	//go:embed assets/page.html
	pageHTML string
	//go:embed assets/report.css
	pageCSS string
	//go:embed assets/report.js
	pageJS string

	page = template.Must(template.New("page").Parse(pageHTML))

	// csp allows the page's own inline style and script by hash, and
	// nothing else but fetching itself (the live page refetches).
	csp = "default-src 'none'; script-src '" + hash(pageJS) + "'; style-src '" + hash(pageCSS) +
		"'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'"
)

// hash is the CSP source of an inline element's content.
func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// ContentSecurityPolicy is the policy of a report page: its inline style
// and script by hash, nothing fetched but the page itself. Render puts
// it in a <meta> element; Handler sends it (with frame-ancestors) as a
// header too.
func ContentSecurityPolicy() string { return csp }

// Render writes the report page of d.
func Render(w io.Writer, d Data, o RenderOptions) error {
	o = o.withDefaults()
	v, err := newView(&d, o)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := page.Execute(bw, v); err != nil {
		return fmt.Errorf("report: rendering the page: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: writing the page: %w", err)
	}
	return nil
}

// view is what the page template shows; every string from a log in it
// has been through printable.
type view struct {
	Title, CSP, Span                            string
	Refresh                                     int
	Lines, Events, Rejects, Late, Future, Bytes string
	Banners                                     []string
	Severity                                    []sevCount
	Inputs                                      []inputView
	Detectors                                   []string
	Omitted                                     int
	Incidents                                   []incView
	Overview, Mix                               template.HTML
	Tops                                        []topTable
	Codes                                       []codeView
	Footer                                      string
	CSS                                         template.CSS
	JS, JSON                                    template.JS
}

type sevCount struct {
	Name string
	N    int
}

type inputView struct{ Name, Format, Events, Rejects string }

type codeView struct{ Code, Count, Share string }

// newView builds the page's view of d.
func newView(d *Data, o RenderOptions) (*view, error) {
	v := &view{
		Title: printable(d.Title), CSP: csp, Refresh: int(o.Refresh.Round(time.Second) / time.Second),
		CSS: template.CSS(pageCSS), JS: template.JS(pageJS), //nolint:gosec // constants
		Omitted: d.Omitted,
	}
	if v.Title == "" {
		v.Title = DefaultTitle
	}
	if o.Refresh > 0 {
		v.Refresh = max(v.Refresh, 1)
	}
	v.header(d)
	v.incidents(d, o)
	v.Overview = overviewChart(d, o.ChartPoints)
	v.tops(d)
	v.Footer = footer(d, o)
	js, err := pageData(d, v, o)
	if err != nil {
		return nil, err
	}
	v.JSON = js
	return v, nil
}

// footer says when and how the page was made.
func footer(d *Data, o RenderOptions) string {
	s := "gatewatch report"
	if !o.Generated.IsZero() {
		s += ", generated " + stamp(o.Generated)
	}
	s += "; self-contained, fetches nothing"
	if o.Refresh > 0 {
		s = "gatewatch live report, refreshed every " + o.Refresh.String()
	}
	if d.Clients.Dropped > 0 {
		s += "; " + count(d.Clients.Dropped) + " client windows were not tracked for series (MaxClients)"
	}
	return s + "."
}

// pageData is the JSON the script reads: per listed incident, the
// fields it sorts and filters by. json.Marshal escapes <, > and &, so
// no string can close the script element.
func pageData(d *Data, v *view, o RenderOptions) (template.JS, error) {
	type row struct {
		ID      string   `json:"id"`
		Sev     int      `json:"sev"`
		Det     string   `json:"det"`
		Dets    []string `json:"dets"`
		Client  string   `json:"client"`
		Clients string   `json:"clients"`
		Routes  string   `json:"routes"`
		Start   int64    `json:"start"`
		Windows int      `json:"windows"`
		Obs     float64  `json:"obs"`
		Score   float64  `json:"score"`
	}
	rows := make([]row, len(d.Incidents))
	for i := range d.Incidents {
		f := &d.Incidents[i].Finding
		rows[i] = row{ID: printable(f.IncidentID), Sev: f.Severity.Rank(), Det: printable(f.Detector), Dets: printables(f.Detectors),
			Client: printable(f.Client), Clients: joinPrintable(f.Clients, f.TopClients), Routes: joinPrintable(f.Routes),
			Start: f.WindowStart.Unix(), Windows: f.Windows, Obs: finite(f.Observed), Score: finite(f.Score)}
	}
	b, err := json.Marshal(struct {
		Refresh   int64 `json:"refresh"`
		Incidents []row `json:"incidents"`
	}{o.Refresh.Milliseconds(), rows})
	if err != nil {
		return "", fmt.Errorf("encoding the page's data: %w", err)
	}
	return template.JS(b), nil //nolint:gosec // JSON with <, > and & escaped
}
