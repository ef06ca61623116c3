package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/detect/inventory"
	"github.com/gatewatch/gatewatch/internal/human"
)

// Question is one of the common audit questions, by name, as
// "gatewatch query" asks it: "timeline" (Args: the client), "top" (ranked
// By), "findings" (incidents not yet resolved, since From), "contract"
// (requests outside the API's contract, newest first; Args: optionally
// the client) or "endpoints" (the stored endpoint inventory, as of To
// when set; Args: optionally the host).
type Question struct {
	Name     string
	Args     []string // operands after the name
	From, To time.Time
	By       RankBy // top's ranking; "" is ByRequests
	Limit    int    // 0: each query's default
}

// ParseRankBy reads a ranking's name: requests, errors or auth_failures.
func ParseRankBy(s string) (RankBy, error) {
	switch r := RankBy(s); r {
	case ByRequests, ByErrors, ByAuthFailures:
		return r, nil
	}
	return "", fmt.Errorf("%q: want requests, errors or auth_failures", s)
}

// Answer is a Question's rows: []StoredEvent for timeline, []ClientStat
// for top, []detect.Finding for findings, []contract.Report for contract,
// []inventory.Endpoint for endpoints. WriteTable prints them for people,
// WriteJSON for programs.
type Answer struct {
	Rows  any
	table func(w io.Writer)
}

// Ask answers q with ClientTimeline, TopClients, OpenFindings,
// ContractViolations or Endpoints.
func (db *DB) Ask(ctx context.Context, q Question) (*Answer, error) {
	switch q.Name {
	case "timeline":
		if len(q.Args) != 1 {
			return nil, fmt.Errorf("query timeline: name one client")
		}
		evs, err := db.ClientTimeline(ctx, TimelineQuery{Client: q.Args[0], From: q.From, To: q.To, Limit: q.Limit})
		return timelineAnswer(evs), err
	case "top":
		by := q.By
		if by != "" {
			var err error
			if by, err = ParseRankBy(string(by)); err != nil {
				return nil, fmt.Errorf("query top: rank by %w", err)
			}
		}
		stats, err := db.TopClients(ctx, TopQuery{From: q.From, To: q.To, By: by, Limit: q.Limit})
		return topAnswer(stats), err
	case "findings":
		fds, err := db.OpenFindings(ctx, FindingsQuery{Since: q.From, Limit: q.Limit})
		return findingsAnswer(fds), err
	case "contract":
		if len(q.Args) > 1 {
			return nil, fmt.Errorf("query contract: name at most one client")
		}
		vq := ViolationsQuery{From: q.From, To: q.To, Limit: q.Limit}
		if len(q.Args) == 1 {
			vq.Client = q.Args[0]
		}
		rs, err := db.ContractViolations(ctx, vq)
		return contractAnswer(rs), err
	case "endpoints":
		return db.askEndpoints(ctx, q)
	}
	return nil, fmt.Errorf("query %q: want timeline, top, findings, contract or endpoints", q.Name)
}

// askEndpoints answers "endpoints": the inventory as of q.To (the newest
// when zero), of the host named in q.Args if any.
func (db *DB) askEndpoints(ctx context.Context, q Question) (*Answer, error) {
	if len(q.Args) > 1 {
		return nil, fmt.Errorf("query endpoints: name at most one host")
	}
	eq := EndpointsQuery{AsOf: q.To, Limit: q.Limit}
	if len(q.Args) == 1 {
		eq.Host = q.Args[0]
	}
	eps, err := db.Endpoints(ctx, eq)
	return endpointsAnswer(eps), err
}

func timelineAnswer(evs []StoredEvent) *Answer {
	return &Answer{Rows: evs, table: func(w io.Writer) {
		fmt.Fprintln(w, "TIME\tMETHOD\tPATH\tSTATUS\tBYTES_OUT\tAUTH\tIP")
		for _, e := range evs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), human.Printable(e.Method), human.Printable(e.Path), e.Status, e.BytesOut, e.Auth, e.IP)
		}
	}}
}

func topAnswer(stats []ClientStat) *Answer {
	return &Answer{Rows: stats, table: func(w io.Writer) {
		fmt.Fprintln(w, "CLIENT\tKIND\tREQUESTS\tERRORS\tAUTH_FAILURES\tBYTES_OUT\tROUTES\tLAST")
		for _, s := range stats {
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", human.Printable(s.Client), s.ClientKind, s.Requests, s.Errors, s.AuthFailures, s.BytesOut, s.Routes, s.Last.UTC().Format(time.RFC3339))
		}
	}}
}

func findingsAnswer(fds []detect.Finding) *Answer {
	return &Answer{Rows: fds, table: func(w io.Writer) {
		fmt.Fprintln(w, "SEVERITY\tCLIENT\tDETECTOR\tSINCE\tSUMMARY")
		for _, f := range fds {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", f.Severity, human.Printable(f.Client), f.Detector, f.WindowStart.UTC().Format(time.RFC3339), human.Printable(f.Summary))
		}
	}}
}

func contractAnswer(rs []contract.Report) *Answer {
	return &Answer{Rows: rs, table: func(w io.Writer) {
		fmt.Fprintln(w, "TIME\tCLIENT\tMETHOD\tPATH\tSTATUS\tREASONS")
		for _, r := range rs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", r.Time.UTC().Format(time.RFC3339), human.Printable(r.Client), human.Printable(r.Method), human.Printable(r.Path), r.Status, human.Printable(reasonList(r.Violations)))
		}
	}}
}

// endpointsAnswer prints as "gatewatch endpoints" does
// (inventory.WriteTable), grouped by host when there are several.
func endpointsAnswer(eps []inventory.Endpoint) *Answer {
	if eps == nil {
		eps = []inventory.Endpoint{}
	}
	return &Answer{Rows: eps, table: func(w io.Writer) { _ = inventory.WriteTable(w, eps) }}
}

// reasonList is a report's violations for a table cell: each reason, with
// the parameter it concerns in parentheses.
func reasonList(vs []contract.Violation) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(v.Reason))
		if v.Param != "" {
			b.WriteString("(" + v.Param + ")")
		}
	}
	return b.String()
}

// WriteTable prints the rows as aligned columns under a header line.
func (a *Answer) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	a.table(tw)
	return tw.Flush()
}

// WriteJSON prints the rows as one indented JSON array, in one write.
func (a *Answer) WriteJSON(w io.Writer) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(a.Rows); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
