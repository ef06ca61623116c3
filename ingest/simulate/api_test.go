package simulate

import (
	"bufio"
	"bytes"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatewatch/gatewatch/ingest"
)

// apiLine is one line of an APIRequests log, parsed and normalised.
type apiLine struct {
	label  RequestLabel
	target string       // the request target as logged
	ev     ingest.Event // normalised, owning its strings
}

// defaultAPI is the default configuration's run, parsed once for the
// tests that only read it.
var defaultAPI = sync.OnceValues(func() ([]byte, []RequestLabel) {
	log, labels, err := APIRequests(APIConfig{})
	if err != nil {
		panic(err)
	}
	return log, labels
})

func defaultAPILines(t *testing.T) []apiLine {
	t.Helper()
	log, labels := defaultAPI()
	return parseAPILog(t, log, labels)
}

// parseAPILog parses every line with the nginx_combined parser and
// normalises it, checking it parses and is labelled.
func parseAPILog(t testing.TB, log []byte, labels []RequestLabel) []apiLine {
	t.Helper()
	p, err := ingest.NewParser("nginx_combined", ingest.ParserOptions{})
	if err != nil {
		t.Fatal(err)
	}
	norm, err := ingest.NewNormalizer(ingest.NormalizerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var lines []apiLine
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(nil, 64<<10)
	var ev ingest.Event
	for sc.Scan() {
		n := len(lines)
		if n >= len(labels) {
			t.Fatalf("the log has more lines than the %d labels", len(labels))
		}
		ev.Reset()
		if err := p.Parse(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d %q: %v", n+1, sc.Text(), err)
		}
		target := strings.Clone(ev.Raw.Target)
		norm.Normalize(&ev)
		lines = append(lines, apiLine{label: labels[n], target: target, ev: ev.Clone()})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) != len(labels) {
		t.Fatalf("%d lines, %d labels", len(lines), len(labels))
	}
	return lines
}

// query splits a target's query into parameters, values as on the wire.
func query(target string) []apiParam {
	_, q, ok := strings.Cut(target, "?")
	if !ok {
		return nil
	}
	var ps []apiParam
	for kv := range strings.SplitSeq(q, "&") {
		name, v, _ := strings.Cut(kv, "=")
		ps = append(ps, apiParam{name, v})
	}
	return ps
}

func paramValue(ps []apiParam, name string) (string, bool) {
	for _, p := range ps {
		if p.name == name {
			return p.value, true
		}
	}
	return "", false
}

// apiRouteOf finds the route serving method and path, and the path's id;
// nil when none does.
func apiRouteOf(method, path string) (*apiRoute, string) {
	if method == "GET" && path == apiHealth.prefix {
		return &apiHealth, ""
	}
	for i := range apiRoutes {
		rt := &apiRoutes[i]
		if rt.method != method {
			continue
		}
		if rt.id == vNone && path == rt.prefix {
			return rt, ""
		}
		if id, ok := strings.CutPrefix(path, rt.prefix); ok && rt.id != vNone && id != "" && !strings.Contains(id, "/") {
			return rt, id
		}
	}
	return nil, ""
}

// cacheBuster is the _=<ms> some browser pages add to every GET.
var cacheBuster = paramSpec{name: "_", typ: vInt, maxLen: 13}

func specOf(rt *apiRoute, name string) *paramSpec {
	if name == "_" && rt.method == "GET" {
		return &cacheBuster
	}
	for i := range rt.params {
		if rt.params[i].name == name {
			return &rt.params[i]
		}
	}
	return nil
}

// shapes are the decoded values each type allows.
var shapes = map[valueType]*regexp.Regexp{
	vInt:     regexp.MustCompile(`^[0-9]{1,6}$|^1[0-9]{12}$`), // or a time in ms
	vDecimal: regexp.MustCompile(`^-?[0-9]{1,3}\.[0-9]{2,6}$`),
	vUUID:    regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`),
	vHex:     regexp.MustCompile(`^[0-9a-f]{8}$`),
	vDate:    regexp.MustCompile(`^20[0-9]{2}-[01][0-9]-[0-3][0-9]$`),
	vEnum:    regexp.MustCompile(`^[A-Za-z0-9_-]{1,11}$`),
	vText:    regexp.MustCompile(`^(\S+( \S+){0,5} ?)?$`),
	vCode:    regexp.MustCompile(`^([A-Z0-9]{6,10})?$`),
	vList:    regexp.MustCompile(`^[a-z_]+(,[a-z_]+){0,4}$`),
	vEmail:   regexp.MustCompile(`^[^@\s]+@[a-z0-9.-]+\.[a-z]+$`),
	vToken:   regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`),
	vPath:    regexp.MustCompile(`^/[a-z0-9/-]*(\?q=[a-z]+)?$`),
}

// inShape reports whether the wire value v decodes to a value of shape t.
func inShape(t valueType, v string) bool {
	d, err := url.QueryUnescape(v)
	return err == nil && shapes[t].MatchString(d)
}

func TestAPIRequestsDeterministic(t *testing.T) {
	t.Parallel()
	for _, one := range []bool{false, true} {
		cfg := APIConfig{Seed: 7, Learn: 3000, Normal: 3000, Attacks: 300, OnePerClient: one}
		a, la, err := APIRequests(cfg)
		if err != nil {
			t.Fatal(err)
		}
		b, lb, err := APIRequests(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) || !slices.Equal(la, lb) {
			t.Fatalf("OnePerClient %v: two runs of one configuration differ", one)
		}
		cfg.Seed++
		c, _, err := APIRequests(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a, c) {
			t.Fatalf("OnePerClient %v: seeds 7 and 8 give the same log", one)
		}
	}
}

func TestAPIRequestsLabels(t *testing.T) {
	t.Parallel()
	log, labels := defaultAPI()
	if n := bytes.Count(log, []byte{'\n'}); n != 42_000 || len(labels) != n {
		t.Fatalf("%d lines, %d labels; want 42000 of each", n, len(labels))
	}
	perKind := map[string]int{}
	attackers := map[string]bool{}
	normal := map[string]bool{}
	for i, l := range labels {
		if l.Line != i+1 {
			t.Fatalf("label %d has Line %d", i, l.Line)
		}
		if l.Attack == "" {
			normal[l.Client] = true
			if l.Param != "" {
				t.Errorf("line %d: a normal request with Param %q", l.Line, l.Param)
			}
			continue
		}
		if i < defaultAPILearn {
			t.Fatalf("line %d: a %s attack in the learning period", l.Line, l.Attack)
		}
		perKind[l.Attack]++
		attackers[l.Client] = true
		noParam := l.Attack == AttackUnknownRoute || l.Attack == AttackProbeFile || l.Attack == AttackDeprecatedVersion
		if noParam != (l.Param == "") {
			t.Errorf("line %d: %s with Param %q", l.Line, l.Attack, l.Param)
		}
	}
	total := 0
	for _, k := range APIAttackKinds() {
		if perKind[k] == 0 {
			t.Errorf("no %s attack", k)
		}
		total += perKind[k]
	}
	if total != defaultAPIAttacks || len(perKind) != len(APIAttackKinds()) {
		t.Errorf("attacks by kind: %v; want %d of the known kinds", perKind, defaultAPIAttacks)
	}
	if len(normal) < 200 || len(normal) > 500 {
		t.Errorf("%d normal clients; want a few hundred", len(normal))
	}
	if len(attackers) > 11 {
		t.Errorf("%d attacker addresses; want a small set", len(attackers))
	}
	for a := range attackers {
		if normal[a] {
			t.Errorf("attacker %s also sends normal requests", a)
		}
	}
	deprecated := map[string]int{}
	for _, l := range labels {
		if l.Attack == AttackDeprecatedVersion {
			deprecated[l.Client]++
		}
	}
	if len(deprecated) != 1 {
		t.Errorf("deprecated_version from %d clients; want one: %v", len(deprecated), deprecated)
	}
	t.Logf("attacks by kind: %v; %d normal clients, %d attackers", perKind, len(normal), len(attackers))
}

// sameQueryButRedacted reports whether got is want but for values
// redacted for their shape (random-looking, as some overlong attack
// values are), which keep their length: Redacted padded with 'x'.
func sameQueryButRedacted(got, want string) bool {
	g, w := strings.Split(got, "&"), strings.Split(want, "&")
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		gk, gv, _ := strings.Cut(g[i], "=")
		wk, wv, _ := strings.Cut(w[i], "=")
		if gk != wk || gv != wv && (len(gv) != len(wv) || strings.TrimRight(gv, "x") != ingest.Redacted) {
			return false
		}
	}
	return true
}

// TestAPIRequestsParse parses every line with the nginx_combined parser:
// the query survives normalisation (the cart token redacted, random-looking
// values redacted keeping their length), the client is the label's, and
// time never goes back.
func TestAPIRequestsParse(t *testing.T) {
	t.Parallel()
	lines := defaultAPILines(t)
	for i, l := range lines {
		ev := &l.ev
		path, q, _ := strings.Cut(l.target, "?")
		if ev.Path != path || ev.Method == "" || ev.Status == 0 {
			t.Fatalf("line %d %q: method %q, path %q, status %d", i+1, l.target, ev.Method, ev.Path, ev.Status)
		}
		want := q
		if tok, ok := paramValue(query(l.target), "token"); ok {
			want = strings.Replace(q, "token="+tok, "token="+ingest.Redacted, 1)
		}
		if !sameQueryButRedacted(ev.Query, want) {
			t.Fatalf("line %d: query %q, logged %q", i+1, ev.Query, q)
		}
		if ev.ClientKey != l.label.Client || ev.ClientKind != ingest.ClientIP || ev.RemoteIP.String() != l.label.Client {
			t.Fatalf("line %d: client %q (%v), labelled %q", i+1, ev.ClientKey, ev.ClientKind, l.label.Client)
		}
		if i > 0 && ev.Time.Before(lines[i-1].ev.Time) {
			t.Fatalf("line %d: time goes back", i+1)
		}
		version := "v2"
		switch {
		case l.label.Attack == AttackDeprecatedVersion:
			version = "v1"
		case path == "/health":
			version = ""
		case l.label.Attack != "":
			continue
		}
		if ev.APIVersion != version {
			t.Fatalf("line %d %q: API version %q; want %q", i+1, l.target, ev.APIVersion, version)
		}
	}
	if first, last := lines[0].ev.Time, lines[len(lines)-1].ev.Time; !first.Equal(APIDefaultStart()) || last.Sub(first).Hours() > 4 {
		t.Errorf("from %v to %v", first, last)
	}
}

// TestAPIRequestsNormalShape checks that normal requests keep the contract:
// a known route, its parameters once each, every value of its type and
// within its length.
func TestAPIRequestsNormalShape(t *testing.T) {
	t.Parallel()
	for i, l := range defaultAPILines(t) {
		if l.label.Attack != "" {
			continue
		}
		if err := checkContract(l, ""); err != "" {
			t.Fatalf("line %d %s %q: %s", i+1, l.ev.Method, l.target, err)
		}
	}
}

// checkContract reports how l breaks the API's contract, ignoring the
// parameter skip; "" when it keeps it.
func checkContract(l apiLine, skip string) string {
	rt, id := apiRouteOf(l.ev.Method, l.ev.Path)
	switch {
	case rt == nil:
		return "no such route"
	case rt.id != vNone && skip != "{id}" && !inShape(rt.id, id):
		return "bad id " + id
	}
	seen := map[string]bool{}
	for _, p := range query(l.target) {
		if p.name == skip {
			continue
		}
		ps := specOf(rt, p.name)
		switch {
		case ps == nil:
			return "unknown parameter " + p.name
		case seen[p.name] && !ps.multi:
			return "repeated parameter " + p.name
		case !inShape(ps.typ, p.value):
			return p.name + " out of shape"
		case len(p.value) > ps.maxLen:
			return p.name + " longer than its maxLen"
		}
		seen[p.name] = true
	}
	return ""
}

// TestAPIRequestsAttackShape checks that each attack is what its label
// says, and that the rest of the request looks normal.
func TestAPIRequestsAttackShape(t *testing.T) {
	t.Parallel()
	lines := defaultAPILines(t)
	longest := map[string]int{}           // parameter name: its longest normal value
	enums := map[string]map[string]bool{} // "route param": the enum values normal traffic uses
	served := map[string]bool{}           // "method route template" of normal requests
	for _, l := range lines {
		if l.label.Attack != "" {
			continue
		}
		served[l.ev.Method+" "+l.ev.Route] = true
		rt, _ := apiRouteOf(l.ev.Method, l.ev.Path)
		for _, p := range query(l.target) {
			longest[p.name] = max(longest[p.name], len(p.value))
			if specOf(rt, p.name).typ == vEnum {
				key := rt.prefix + " " + p.name
				if enums[key] == nil {
					enums[key] = map[string]bool{}
				}
				enums[key][p.value] = true
			}
		}
	}
	for i, l := range lines {
		if l.label.Attack == "" {
			continue
		}
		if err := checkAttack(l, served, longest, enums); err != "" {
			t.Errorf("line %d %s %q (%s %s): %s", i+1, l.ev.Method, l.target, l.label.Attack, l.label.Param, err)
		}
	}
}

// checkAttack reports how l is not the attack its label names. served
// holds the method and route template of every normal request.
func checkAttack(l apiLine, served map[string]bool, longest map[string]int, enums map[string]map[string]bool) string {
	a, param := l.label.Attack, l.label.Param
	rt, id := apiRouteOf(l.ev.Method, l.ev.Path)
	switch a {
	case AttackUnknownRoute:
		if served[l.ev.Method+" "+l.ev.Route] || !strings.HasPrefix(l.ev.Path, "/api/v2/") {
			return "a served route, or not under /api/v2/"
		}
		return ""
	case AttackProbeFile:
		if rt != nil || !strings.ContainsAny(l.ev.Path, ".~") {
			return "not a file"
		}
		return ""
	case AttackDeprecatedVersion:
		if !strings.HasPrefix(l.ev.Path, "/api/v1/") {
			return "not /api/v1"
		}
		return ""
	}
	if rt == nil {
		return "no such route"
	}
	if err := checkContract(l, param); err != "" {
		return "besides " + param + ": " + err
	}
	if param == "{id}" {
		return checkPayload(a, id, rt, param, longest, enums)
	}
	err := "no " + param
	for _, p := range query(l.target) {
		// A repeated parameter (category) keeps its normal value too.
		if p.name == param {
			if err = checkPayload(a, p.value, rt, param, longest, enums); err == "" {
				break
			}
		}
	}
	return err
}

// checkPayload reports how the wire value v of param is not an attack of
// kind a.
func checkPayload(a, v string, rt *apiRoute, param string, longest map[string]int, enums map[string]map[string]bool) string {
	d, _ := url.QueryUnescape(v)
	lower := strings.ToLower(v)
	bad := false
	switch a {
	case AttackTypeTamper:
		t := rt.id
		if param != "{id}" {
			t = specOf(rt, param).typ
		}
		bad = inShape(t, v) && (t != vEnum || enums[rt.prefix+" "+param][v])
	case AttackSQLi:
		bad = !strings.ContainsAny(d, `'"#`) && !strings.Contains(d, "--") && !strings.Contains(d, "/*")
	case AttackXSS:
		bad = !strings.Contains(d, "<")
	case AttackOverlong:
		bad = len(v) < 10*longest[param]
	case AttackUnknownParam:
		bad = specOf(rt, param) != nil || slices.ContainsFunc(apiRoutes, func(r apiRoute) bool { return specOf(&r, param) != nil })
	case AttackTraversal:
		bad = !strings.Contains(lower, "..") && !strings.Contains(lower, "%2e%2e") && !strings.Contains(lower, "%252e") && !strings.Contains(lower, "%00")
	case AttackCRLF:
		bad = !strings.Contains(lower, "%0d%0a")
	default:
		return "unknown kind"
	}
	if bad {
		return "the value is no " + a
	}
	return ""
}

// TestAPIRequestsLearnCovers checks the test is fair: every route,
// parameter and enum value of normal traffic after the learning period
// appears during it, and no later value is far longer than the longest
// seen while learning.
func TestAPIRequestsLearnCovers(t *testing.T) {
	t.Parallel()
	lines := defaultAPILines(t)
	learned := map[string]bool{}
	longest := map[string]int{}
	nonASCII, apostrophe := 0, 0
	for i, l := range lines {
		if l.label.Attack != "" {
			continue
		}
		rt, _ := apiRouteOf(l.ev.Method, l.ev.Path)
		keys := []string{l.ev.Method + " " + rt.prefix}
		for _, p := range query(l.target) {
			keys = append(keys, keys[0]+" "+p.name)
			if specOf(rt, p.name).typ == vEnum {
				keys = append(keys, keys[0]+" "+p.name+"="+p.value)
			}
			if i < defaultAPILearn {
				longest[p.name] = max(longest[p.name], len(p.value))
				if p.name == "q" && strings.Contains(p.value, "%C3") {
					nonASCII++
				}
				if p.name == "q" && (strings.Contains(p.value, "'") || strings.Contains(p.value, "%27")) {
					apostrophe++
				}
			} else if len(p.value) > longest[p.name]*3/2 {
				t.Errorf("line %d: %s is %d long, %d at most while learning", i+1, p.name, len(p.value), longest[p.name])
			}
		}
		for _, k := range keys {
			if i < defaultAPILearn {
				learned[k] = true
			} else if !learned[k] {
				t.Errorf("line %d: %q never seen while learning", i+1, k)
			}
		}
	}
	if nonASCII < 100 || apostrophe < 50 {
		t.Errorf("while learning, %d searches with non-ASCII letters, %d with apostrophes", nonASCII, apostrophe)
	}
}

func TestAPIRequestsOnePerClient(t *testing.T) {
	t.Parallel()
	log, labels, err := APIRequests(APIConfig{Seed: 3, Learn: 4000, Normal: 4000, Attacks: 400, OnePerClient: true})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	kinds := map[string]bool{}
	for _, l := range parseAPILog(t, log, labels) {
		if prev, dup := seen[l.label.Client]; dup {
			t.Fatalf("lines %d and %d both from %s", prev, l.label.Line, l.label.Client)
		}
		seen[l.label.Client] = l.label.Line
		kinds[l.label.Attack] = true
	}
	if len(seen) != 8400 || len(kinds) != len(APIAttackKinds())+1 {
		t.Fatalf("%d addresses, %d kinds (normal included)", len(seen), len(kinds))
	}
}

func TestAPIRequestsCounts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg                   APIConfig
		lines, attacks, kinds int
	}{
		{APIConfig{Learn: -1, Normal: -1, Attacks: -1}, 0, 0, 0},
		{APIConfig{Learn: 50, Normal: -1, Attacks: -1}, 50, 0, 0},
		{APIConfig{Learn: -1, Normal: -1, Attacks: 10}, 10, 10, 10},
		{APIConfig{Learn: 10, Normal: 5, Attacks: 3}, 18, 3, 3},
	} {
		log, labels, err := APIRequests(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]bool{}
		attacks := 0
		for _, l := range labels {
			if l.Attack != "" {
				attacks++
				kinds[l.Attack] = true
			}
		}
		if n := bytes.Count(log, []byte{'\n'}); n != tc.lines || len(labels) != n || attacks != tc.attacks || len(kinds) != tc.kinds {
			t.Errorf("%+v: %d lines, %d labels, %d attacks of %d kinds", tc.cfg, n, len(labels), attacks, len(kinds))
		}
	}
	if _, _, err := APIRequests(APIConfig{Normal: maxAPIRequests}); err == nil {
		t.Error("no error for more than maxAPIRequests")
	}
}

var updateAPISample = flag.Bool("update-api-sample", false, "rewrite testdata/api_sample.log")

// TestAPIRequestsSample pins a small run to a golden file, so a change of
// the generated traffic is a deliberate one. Each line is the label's
// attack and parameter ("-" when empty), a tab, and the log line.
func TestAPIRequestsSample(t *testing.T) {
	t.Parallel()
	log, labels, err := APIRequests(APIConfig{Seed: 1, Learn: 20, Normal: 20, Attacks: 10})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for i, line := range bytes.SplitAfter(log, []byte{'\n'})[:len(labels)] {
		attack, param := labels[i].Attack, labels[i].Param
		if attack == "" {
			attack = "-"
		}
		if param == "" {
			param = "-"
		}
		b.WriteString(attack + " " + param + "\t")
		b.Write(line)
	}
	path := filepath.Join("testdata", "api_sample.log")
	if *updateAPISample {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-api-sample to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("the generated traffic differs from %s; if that is intended, run with -update-api-sample", path)
	}
}

func BenchmarkAPIRequests(b *testing.B) {
	b.ReportAllocs()
	var lines int
	for b.Loop() {
		_, labels, err := APIRequests(APIConfig{Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		lines += len(labels)
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}
