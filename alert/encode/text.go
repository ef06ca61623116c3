package encode

import (
	"bytes"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// textSeparator joins the evidence of alert.AppendText's lines into one.
const textSeparator = "; "

// Text appends n as one line for people (a chat message, a webhook's
// text): alert.AppendText's summary line, then its evidence (also,
// clients, top clients, routes, samples, totals) on the same line, each
// after "; ":
//
//	2026-11-02T01:00:00Z CRITICAL scanning      198.18.134.40       resolved client 198.18.134.40 got 404/403 on ~119 distinct paths/min, baseline 0±0; resolved after 10 anomalous windows (p=3.4e-78, 10 windows); also: volume; routes: /api/v1/orders/{id}; totals: requests 2,277, failures 217, bytes 407 kB, distinct paths 930
//
// No value can move a cursor or reorder text: every control character
// (ESC, CR, LF, the C1 controls), bidirectional control, line separator
// and byte that is not UTF-8 is written as a visible escape, such as
// \x1b or \u202e. There is no trailing newline.
func Text(dst []byte, n alert.Notification) ([]byte, error) {
	f := visibleFinding(&n.Finding)
	start := len(dst)
	dst = alert.AppendText(dst, f)
	// The values hold no newline now: the only ones start evidence lines.
	line := bytes.ReplaceAll(dst[start:], []byte("\n    "), []byte(textSeparator))
	return append(dst[:start], line...), nil
}

// visibleFinding returns a copy of f whose strings are escaped by
// visible.
func visibleFinding(f *detect.Finding) detect.Finding {
	v := *f
	for _, s := range []*string{&v.IncidentID, &v.Client, &v.ClientKind, &v.Detector, &v.Unit,
		&v.Baseline, &v.Summary, &v.Why, &v.Campaign} {
		*s = visible.escape(*s)
	}
	v.Status = detect.Status(visible.escape(string(v.Status)))
	v.Severity = detect.Severity(visible.escape(string(v.Severity)))
	for _, l := range []*[]string{&v.Routes, &v.Samples, &v.TopClients, &v.Detectors, &v.Clients} {
		*l = visibleList(*l)
	}
	return v
}

// visibleList returns ss escaped by visible, ss itself when it needs no
// escape.
func visibleList(ss []string) []string {
	var out []string
	for i, s := range ss {
		e := visible.escape(s)
		if out == nil && e != s {
			out = append(make([]string, 0, len(ss)), ss[:i]...)
		}
		if out != nil {
			out = append(out, e)
		}
	}
	if out == nil {
		return ss
	}
	return out
}
