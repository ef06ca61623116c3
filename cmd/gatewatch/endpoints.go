package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/gatewatch/gatewatch/detect/contract/openapi"
	"github.com/gatewatch/gatewatch/detect/inventory"
	"github.com/gatewatch/gatewatch/internal/human"
)

const endpointsHelp = `
List the API's endpoints as its traffic shows them: per host, every route
template (/orders/123 -> /orders/{id}) and method, with its requests, distinct
clients (approximate), status mix, whether it requires authentication, the
95th percentile response size, when it was first and last seen, and the API
versions calling it. FILE may be - for standard input; names ending in .gz
are decompressed.

The table (--output table, the default) has the columns METHOD ROUTE
REQUESTS CLIENTS 2xx 4xx 5xx AUTH P95 FIRST LAST VERSIONS, where 2xx, 4xx and
5xx are shares of the endpoint's requests, and groups the endpoints by host
when there is more than one. --output json prints one JSON object per
endpoint with the keys host, method, route, requests, clients, status (2xx,
3xx, 4xx, 5xx, 401_403, 404), auth_required, bytes_p50, bytes_p95,
first_seen, last_seen, versions and memory_bytes (what the inventory holds
for it). Both are sorted by host, route and method.

AUTH is "yes" when at least 5 requests came without credentials (the client
is an address, not an API key, token, JWT or certificate subject) and at
least 80% of them were answered 401 or 403, while requests with
credentials, when there are 5 or more, mostly were not. A log that records
no credentials shows every request as anonymous.

--state FILE adds the logs' traffic to an inventory saved earlier, and
--save writes the result back to it (atomically; the file is created when
it does not exist yet), so the inventory grows run after run. Client
counts stay right across runs only when API keys hash the same way every
time: set $GATEWATCH_HMAC_KEY or ingest.hmac_key_file in the config.

--openapi SPEC compares the traffic with an OpenAPI 3 specification (YAML
or JSON) and prints the drift instead of the endpoints: "Undocumented (in
traffic, not in the spec)", the endpoints no operation documents (METHOD
ROUTE HOST REQUESTS CLIENTS), then "Unused (in the spec, not in traffic)",
the operations no endpoint calls (METHOD PATH, "deprecated" when the spec
says so). Paths match under the spec's server base paths (/api/v2), a
template such as {id} matching any parameter ({orderId}). Only endpoints
at least 2 clients called, mostly answered below 400, count: a scanner's
404s neither use an operation nor are undocumented. With --output json it
prints one object per line, {"drift":"undocumented", host, method, route,
requests, clients} or {"drift":"unused", method, path, deprecated}.

Memory is bounded: beyond --max-endpoints endpoints the ones with the
fewest requests, least recently seen first, are evicted (counted in the
summary on standard error).

Examples:
  gatewatch endpoints /var/log/nginx/access.log
  gatewatch endpoints --output json access.log.1 access.log.gz | jq 'select(.auth_required | not)'
  zcat old.log.gz | gatewatch endpoints --format nginx_combined -
  gatewatch endpoints --state endpoints.json --save access.log   # learn, keep learning tomorrow
  gatewatch endpoints --state endpoints.json                     # list what was learnt
  gatewatch endpoints --openapi api.yaml access.log              # undocumented and unused operations
  gatewatch endpoints --openapi api.yaml --output json --state endpoints.json | jq 'select(.drift == "undocumented")'`

// endpointsCmd is one "gatewatch endpoints": the reading's options and
// what to do with the inventory.
type endpointsCmd struct {
	c        *cli
	read     inventory.ReadOptions
	max      int
	maxSet   bool
	state    string
	save     bool
	output   string
	quiet    bool
	specPath string        // --openapi: the specification to compare the traffic with
	spec     *openapi.Spec // loaded from it
	inv      *inventory.Inventory
	readSum  inventory.ReadSummary
	newState bool       // --state named a file that does not exist yet
	drift    driftCount // what the drift view showed, with --openapi
}

// endpoints builds (or extends) the endpoint inventory from logs and
// prints it.
func (c *cli) endpoints(ctx context.Context, args []string) error {
	e, err := c.newEndpointsCmd(args)
	if err != nil {
		return err
	}
	if err := e.loadSpec(); err != nil {
		return err
	}
	if err := e.load(); err != nil {
		return err
	}
	if len(e.read.Inputs) > 0 {
		if e.readSum, err = e.inv.ReadLogs(ctx, e.read); err != nil {
			return err
		}
	}
	if e.save {
		if err := e.inv.Save(e.state); err != nil {
			return err
		}
	}
	eps := e.inv.Endpoints()
	switch {
	case e.spec != nil:
		err = e.writeDrift(eps)
	case e.output == "json":
		err = inventory.WriteJSON(c.stdout, eps)
	default:
		err = inventory.WriteTable(c.stdout, eps)
	}
	if err != nil {
		return err
	}
	e.report()
	return e.verdict()
}

// newEndpointsCmd parses the command line and the config.
func (c *cli) newEndpointsCmd(args []string) (*endpointsCmd, error) {
	e := &endpointsCmd{c: c}
	fs := c.newFlags("endpoints", "[flags] [FILE...]", endpointsHelp)
	fs.StringVar(&e.read.Format, "format", "auto", "log format (see \"gatewatch formats\"); auto detects it per file")
	fs.StringVar(&e.read.LogFormat, "log-format", "", "nginx log_format string, with --format nginx")
	fs.StringVar(&e.output, "output", "table", "table, or json (one object per endpoint, or per drift line with --openapi)")
	fs.StringVar(&e.state, "state", "", "an inventory saved earlier (with --save) to add the logs' traffic to")
	fs.BoolVar(&e.save, "save", false, "write the inventory back to the --state file")
	fs.StringVar(&e.specPath, "openapi", "", "an OpenAPI 3 specification (YAML or JSON): print the drift between it and the traffic (undocumented and unused operations) instead of the endpoints")
	fs.IntVar(&e.max, "max-endpoints", inventory.DefaultMaxEndpoints, "most endpoints kept; beyond, the least used are evicted (with --state, unless given: the saved inventory's bound)")
	configPath := fs.String("config", "", "config file, for the normaliser and HMAC key (default $GATEWATCH_CONFIG; none is fine)")
	fs.BoolVar(&e.quiet, "quiet", false, "no summary on standard error (warnings still)")
	files, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	e.maxSet = flagSet(fs, "max-endpoints")
	switch {
	case len(files) == 0 && e.state == "":
		fmt.Fprintln(c.stderr, "gatewatch endpoints: no input: name log files, - for standard input, or a --state file")
		fs.Usage()
		return nil, errUsage
	case e.save && e.state == "":
		fmt.Fprintln(c.stderr, "gatewatch endpoints: --save writes to the --state file: name one")
		return nil, errUsage
	case e.output != "table" && e.output != "json":
		fmt.Fprintf(c.stderr, "gatewatch endpoints: --output %q: table or json\n", e.output)
		return nil, errUsage
	case e.max <= 0:
		fmt.Fprintln(c.stderr, "gatewatch endpoints: --max-endpoints must be positive")
		return nil, errUsage
	}
	e.read.Inputs, e.read.Stdin = files, c.stdin
	return e, e.configure(*configPath)
}

// configure reads the normaliser's options and HMAC key from the config.
func (e *endpointsCmd) configure(configPath string) error {
	cfg, err := e.c.loadConfig(configPath)
	if err != nil {
		return err
	}
	key, err := e.c.hmacKey(cfg, false)
	if err != nil {
		return err
	}
	e.read.Normalizer, err = cfg.NormalizerOptions(key)
	return err
}

// load restores the --state inventory, or starts an empty one; an
// explicit --max-endpoints rebounds a restored one.
func (e *endpointsCmd) load() error {
	e.inv = inventory.New(inventory.Options{MaxEndpoints: e.max})
	if e.state == "" {
		return nil
	}
	saved, err := inventory.Load(e.state)
	switch {
	case errors.Is(err, fs.ErrNotExist) && e.save:
		e.newState = true
		return nil
	case err != nil:
		return err
	case e.maxSet:
		e.inv.Merge(saved)
	default:
		e.inv = saved
	}
	return nil
}

// loadSpec loads the --openapi specification, if one is named.
func (e *endpointsCmd) loadSpec() error {
	if e.specPath == "" {
		return nil
	}
	spec, err := openapi.Load(e.specPath)
	if err != nil {
		return fmt.Errorf("--openapi: %w", err)
	}
	e.spec = spec
	return nil
}

// report prints, unless quiet, what was read and learnt, then warns of
// inputs that did not parse.
func (e *endpointsCmd) report() {
	w := e.c.stderr
	st := e.inv.Stats()
	sum := e.readSum
	if !e.quiet {
		if len(e.read.Inputs) > 0 {
			fmt.Fprintf(w, "endpoints: %s lines: %s events, %s parse errors, %s without a route\n",
				human.Count(float64(sum.Lines)), human.Count(float64(sum.Events)), human.Count(float64(sum.Rejects)), human.Count(float64(st.Skipped)))
		}
		fmt.Fprintf(w, "endpoints: %s endpoints, %s evicted (at most %s kept), %s of memory\n",
			human.Count(float64(st.Endpoints)), human.Count(float64(st.Evicted)), human.Count(float64(e.inv.MaxEndpoints())), inventory.Size(int64(st.Bytes)))
		if e.save {
			verb := "saved to"
			if e.newState {
				verb = "new inventory saved to"
			}
			fmt.Fprintf(w, "endpoints: %s %s\n", verb, e.state)
		}
		if e.spec != nil {
			d := e.drift
			fmt.Fprintf(w, "endpoints: drift from %s: %s undocumented, %s of %s operations unused; %s not counted (fewer than %d clients, or mostly answered 400 or above)\n",
				e.specPath, human.Plural(d.undocumented, "endpoint"), human.Count(float64(d.unused)), human.Count(float64(d.operations)),
				human.Plural(d.unknown, "endpoint"), inventory.MinKnownClients)
		}
	}
	for _, in := range sum.Inputs {
		total := in.Events + in.Rejects
		if total == 0 || in.Rejects*20 <= total {
			continue
		}
		name := in.Name
		if name == "-" {
			name = "standard input"
		}
		fmt.Fprintf(w, "endpoints: warning: %s of %s lines of %s (%s) did not parse as %s: wrong format? %s\n",
			human.Count(float64(in.Rejects)), human.Count(float64(total)), name, human.Percent(float64(in.Rejects)/float64(total)),
			cmp.Or(in.Format, e.read.Format), formatHint(in.Format, in.Sample))
	}
}

// verdict fails with the parse-error status when the logs gave lines but
// no event.
func (e *endpointsCmd) verdict() error {
	if sum := e.readSum; sum.Lines > 0 && sum.Events == 0 {
		return &exitError{code: exitParseErrors, err: fmt.Errorf("no events in %s lines of input: wrong --format?", human.Count(float64(sum.Lines)))}
	}
	return nil
}

// driftCount is what the drift view showed.
type driftCount struct {
	undocumented, unused, operations int
	unknown                          int // endpoints Drift does not count (not inventory.Endpoint.Known)
}

// writeDrift compares the traffic's endpoints with the --openapi
// specification and prints the drift both ways: the known endpoints no
// operation documents, and the operations no known endpoint uses.
func (e *endpointsCmd) writeDrift(eps []inventory.Endpoint) error {
	type routeKey struct{ host, method, route string }
	byKey := make(map[routeKey]*inventory.Endpoint, len(eps))
	for i := range eps {
		ep := &eps[i]
		byKey[routeKey{ep.Host, ep.Method, ep.Route}] = ep
		if !ep.Known() {
			e.drift.unknown++
		}
	}
	rep := openapi.Drift(e.spec, inventory.Routes(eps))
	undocumented := make([]*inventory.Endpoint, len(rep.Undocumented))
	for i, r := range rep.Undocumented {
		undocumented[i] = byKey[routeKey{r.Host, r.Method, r.Template}]
	}
	e.drift.undocumented, e.drift.unused = len(undocumented), len(rep.Unused)
	e.drift.operations = len(e.spec.Operations())
	bw := bufio.NewWriter(e.c.stdout)
	if e.output == "json" {
		writeDriftJSON(bw, undocumented, rep.Unused)
	} else {
		writeDriftTable(bw, undocumented, rep.Unused)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("drift: %w", err)
	}
	return nil
}

// undocumentedJSON and unusedJSON are the drift view's JSON lines.
type (
	undocumentedJSON struct {
		Drift    string `json:"drift"` // "undocumented"
		Host     string `json:"host"`
		Method   string `json:"method"`
		Route    string `json:"route"`
		Requests int64  `json:"requests"`
		Clients  int64  `json:"clients"`
	}
	unusedJSON struct {
		Drift      string `json:"drift"` // "unused"
		Method     string `json:"method"`
		Path       string `json:"path"`
		Deprecated bool   `json:"deprecated"`
	}
)

// writeDriftJSON prints the drift as JSON, one object per line: the
// undocumented endpoints, then the unused operations.
func writeDriftJSON(w *bufio.Writer, undocumented []*inventory.Endpoint, unused []openapi.Operation) {
	enc := json.NewEncoder(w)
	for _, ep := range undocumented {
		enc.Encode(undocumentedJSON{"undocumented", ep.Host, ep.Method, ep.Route, ep.Requests, ep.Clients})
	}
	for _, op := range unused {
		enc.Encode(unusedJSON{"unused", op.Method, op.Path, op.Deprecated})
	}
}

// writeDriftTable prints the drift as two aligned tables under their
// headings, "(none)" for an empty one.
func writeDriftTable(w *bufio.Writer, undocumented []*inventory.Endpoint, unused []openapi.Operation) {
	w.WriteString("Undocumented (in traffic, not in the spec)\n")
	rows := [][]string{{"METHOD", "ROUTE", "HOST", "REQUESTS", "CLIENTS"}}
	for _, ep := range undocumented {
		rows = append(rows, []string{ep.Method, ep.Route, cmp.Or(ep.Host, "-"),
			human.Count(float64(ep.Requests)), human.Count(float64(ep.Clients))})
	}
	writeColumns(w, rows, 3, 4)
	w.WriteString("\nUnused (in the spec, not in traffic)\n")
	rows = [][]string{{"METHOD", "PATH", ""}}
	for _, op := range unused {
		note := ""
		if op.Deprecated {
			note = "deprecated"
		}
		rows = append(rows, []string{op.Method, op.Path, note})
	}
	writeColumns(w, rows)
}

// writeColumns writes rows, the first the header, as columns two spaces
// apart, those numbered in right aligned right, without trailing
// spaces; only "(none)" under the header when there is no other row.
func writeColumns(w *bufio.Writer, rows [][]string, right ...int) {
	if len(rows) == 1 {
		w.WriteString("(none)\n")
		return
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for i, cell := range r {
			pad := strings.Repeat(" ", widths[i]-len([]rune(cell)))
			if i > 0 {
				line.WriteString("  ")
			}
			if slices.Contains(right, i) {
				line.WriteString(pad + cell)
			} else {
				line.WriteString(cell + pad)
			}
		}
		w.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}
