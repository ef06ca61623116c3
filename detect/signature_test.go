package detect

import (
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/ingest"
)

// sigCase is one request sigOf classifies. path is the path as an event
// carries it: without the query string, which ingest splits off (Nimda's
// "/scripts/root.exe?/c+dir" arrives as path "/scripts/root.exe").
type sigCase struct {
	name   string
	method string
	path   string
	status int
	sig    signature
	key    string
}

// overflowPath is a WebDAV/IIS overflow: 2 KB of path, mostly NOP bytes.
var overflowPath = "/" + strings.Repeat("\x90", 2047)

var sigCases = []sigCase{
	// Worms: probes whatever the answer.
	{"nimda root.exe", "GET", "/scripts/root.exe", 404, sigWinShell, "root.exe"},
	{"nimda root.exe served", "GET", "/scripts/root.exe", 200, sigWinShell, "root.exe"},
	{"nimda traversal", "GET", "/scripts/..%255c../winnt/system32/cmd.exe", 404, sigWinShell, "winnt"},
	{"nimda traversal 400", "GET", "/scripts/..%c1%1c../winnt/system32/cmd.exe", 400, sigWinShell, "winnt"},
	{"code red", "GET", "/default.ida", 404, sigWinShell, "default.ida"},
	{"code red upper case", "GET", "/DEFAULT.IDA", 404, sigWinShell, "default.ida"},
	{"lower-case method", "get", "/scripts/..%255c../winnt/system32/cmd.exe", 404, sigWinShell, "get"},
	{"lower-case method cmd.exe", "get", "/c/cmd.exe", 404, sigWinShell, "get"},
	// Files nobody has a reason to ask for, whatever the answer.
	// Mass-exploited products' paths, probes when the site refused them.
	{"exchange ecp", "GET", "/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application", 404, sigConsole, "ecp"},
	{"fortinet", "GET", "/remote/fgt_lang", 404, sigConsole, "fgt_lang"},
	{"weblogic async", "POST", "/_async/AsyncResponseService", 404, sigConsole, "_async"},
	{"docker registry", "GET", "/v2/_catalog", 404, sigConsole, "_catalog"},
	{"elfinder", "GET", "/sites/all/libraries/elfinder/elfinder.php.html", 404, sigConsole, "elfinder"},
	{"geoserver served", "GET", "/geoserver/web/", 200, sigNone, ""},
	{"env 404", "GET", "/.env", 404, sigEnvFile, ".env"},
	{"env 200", "GET", "/.env", 200, sigEnvFile, ".env"},
	{"env variant", "GET", "/app/.env.production", 404, sigEnvFile, ".env"},
	{"git config", "GET", "/.git/config", 404, sigVCS, ".git"},
	{"git config 200", "GET", "/.git/config", 200, sigVCS, ".git"},
	{"passwd", "GET", "/etc/passwd", 404, sigSecrets, "passwd"},
	// Probes only where the site does not serve them.
	{"wp-login 404", "GET", "/wp-login.php", 404, sigWPLogin, "wp-login.php"},
	{"wp-login served", "GET", "/wp-login.php", 200, sigNone, ""},
	{"wp-login redirect", "GET", "/wp-login.php", 302, sigNone, ""},
	{"phpmyadmin", "GET", "/phpMyAdmin/index.php", 404, sigPHPMyAdmin, "phpmyadmin"},
	{"phpmyadmin served", "GET", "/phpMyAdmin/index.php", 200, sigNone, ""},
	{"backup zip", "GET", "/backup.zip", 404, sigBackup, "backup"},
	{"backup zip served", "GET", "/backup.zip", 200, sigNone, ""},
	{"site tarball", "GET", "/site.tar.gz", 404, sigBackup, "backup"},
	{"bak file", "GET", "/report.bak", 404, sigBackup, "backup"},
	{"cgi-bin", "GET", "/cgi-bin/test.cgi", 404, sigCGI, "cgi-bin"},
	{"cgi-bin served", "GET", "/cgi-bin/test.cgi", 200, sigNone, ""},
	// Exploit POSTs to scripts the server does not have.
	{"post php 404", "POST", "/index.php", 404, sigShell, "POST .php"},
	{"put jsp 405", "PUT", "/upload.jsp", 405, sigShell, "PUT .jsp"},
	{"post php 400", "POST", "/index.php", 400, sigNone, ""}, // a form's validation error
	{"post php served", "POST", "/index.php", 200, sigNone, ""},
	{"post dll 400", "POST", "/_vti_bin/shtml.dll", 400, sigWinShell, "_vti_bin"},
	{"post fp30reg.dll 400", "POST", "/fp30reg.dll", 400, sigWinShell, "fp30reg.dll"},
	{"post unknown dll 400", "POST", "/scripts/ctss.dll", 400, sigShell, "POST .dll"},
	{"post api 404", "POST", "/api/orders", 404, sigNone, ""},
	{"get php 404", "GET", "/index.php", 404, sigNone, ""},
	// Methods and shapes.
	{"webdav", "PROPFIND", "/", 405, sigWebDAV, "PROPFIND"},
	{"webdav served", "PROPFIND", "/", 207, sigNone, ""},
	{"overflow", "SEARCH", overflowPath, 414, sigOverflow, "SEARCH"},
	{"overflow get", "GET", overflowPath, 400, sigOverflow, "GET"},
	{"long printable path", "GET", "/api/" + strings.Repeat("a", 2000), 404, sigNone, ""},
	{"connect", "CONNECT", "www.example.com:443", 405, sigProxy, "www.example.com:443"},
	{"absolute uri", "GET", "http://www.yahoo.com/", 404, sigProxy, "www.yahoo.com"},
	// Ordinary requests: none, served or not.
	{"api", "GET", "/api/v1/orders/123", 200, sigNone, ""},
	{"api 404", "GET", "/api/v1/orders/123", 404, sigNone, ""},
	{"static", "GET", "/static/app.js", 200, sigNone, ""},
	{"static 404", "GET", "/static/app.js", 404, sigNone, ""},
	{"robots", "GET", "/robots.txt", 404, sigNone, ""},
	{"favicon", "GET", "/favicon.ico", 404, sigNone, ""},
	{"dataset page", "GET", "/Datasets%20Description/Network/ftp.html", 200, sigNone, ""},
	{"dataset page 404", "GET", "/Datasets%20Description/Network/ftp.html", 404, sigNone, ""},
	{"root", "GET", "/", 200, sigNone, ""},
	{"empty", "", "", 0, sigNone, ""},
	{"post login", "POST", "/login", 401, sigNone, ""},
}

func TestSigOf(t *testing.T) {
	t.Parallel()
	for _, tt := range sigCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sig, key := sigOf(tt.method, tt.path, tt.status)
			if sig != tt.sig || key != tt.key {
				t.Errorf("sigOf(%q, %.60q, %d) = %v %q, want %v %q", tt.method, tt.path, tt.status, sig, key, tt.sig, tt.key)
			}
		})
	}
}

func TestLoginRoutes(t *testing.T) {
	t.Parallel()
	e := New(Options{LoginRoutes: []string{"/api/v2/credentials/{id}"}})
	plain := New(Options{})
	tests := []struct {
		method, route string
		want          bool // with LoginRoutes
		plain         bool // without
	}{
		{"POST", "/login_form", true, true},
		{"POST", "/wp-login.php", true, true},
		{"POST", "/oauth/token", true, true},
		{"PUT", "/api/session", true, true},
		{"POST", "/api/v1/auth/LOGIN", true, true},
		{"GET", "/login", false, false},
		{"GET", "/oauth/token", false, false},
		{"POST", "/api/orders", false, false},
		{"POST", "", false, false},
		{"POST", "/api/v2/credentials/{id}", true, false},
		{"PUT", "/api/v2/credentials/{id}", true, false},
		{"GET", "/api/v2/credentials/{id}", false, false},
		{"POST", "/api/v2/credentials", false, false}, // listed routes match exactly
	}
	for _, tt := range tests {
		ev := &ingest.Event{Method: tt.method, Route: tt.route, Status: 200, ClientKey: "192.0.2.1"}
		if got := e.loginAttempt(ev, 0); got != tt.want {
			t.Errorf("loginAttempt(%s %s) with LoginRoutes = %v, want %v", tt.method, tt.route, got, tt.want)
		}
		if got := plain.loginAttempt(ev, 0); got != tt.plain {
			t.Errorf("loginAttempt(%s %s) = %v, want %v", tt.method, tt.route, got, tt.plain)
		}
	}
}

// maxSigKey bounds the keys sigOf returns: they name campaigns and are
// interned for the engine's life.
const maxSigKey = maxSegment + 8

func FuzzSigOf(f *testing.F) {
	for _, tt := range sigCases {
		f.Add(tt.method, tt.path, tt.status)
	}
	f.Fuzz(checkSigOf)
}

// checkSigOf checks what sigOf makes of any request: a known signature,
// a bounded key, a key exactly when there is a signature, the same answer
// twice.
func checkSigOf(t *testing.T, method, path string, status int) {
	sig, key := sigOf(method, path, status)
	if sig >= numSignatures {
		t.Fatalf("sigOf(%q, %q, %d) = signature %d, beyond %d", method, path, status, sig, numSignatures)
	}
	if len(key) > maxSigKey {
		t.Fatalf("sigOf(%.60q, %.60q, %d) = %v with a %d-byte key, more than %d", method, path, status, sig, len(key), maxSigKey)
	}
	switch {
	case sig == sigNone && key != "":
		t.Fatalf("sigOf(%q, %.80q, %d) = none with key %q", method, path, status, key)
	case sig != sigNone && key == "" && method != "" && sig != sigProxy:
		// Only an empty method or proxied host makes an empty key.
		t.Fatalf("sigOf(%q, %.80q, %d) = %v with no key", method, path, status, sig)
	}
	if sig2, key2 := sigOf(method, path, status); sig2 != sig || key2 != key {
		t.Fatalf("sigOf is not deterministic: %v %q then %v %q", sig, key, sig2, key2)
	}
}

// TestSigOfKeyBound: a method-keyed probe (a lower-case method, an
// overflow) takes the method as its key, and a JSON log's method is any
// string (ingest bounds it to 32 bytes only in request lines).
func TestSigOfKeyBound(t *testing.T) {
	checkSigOf(t, strings.Repeat("x", 100), "/.env", 404)
	checkSigOf(t, strings.Repeat("X", 100), overflowPath, 400)
}

// probeKinds are the kinds findProbe reports.
var probeKinds = map[string]bool{probeSQLi: true, probeXSS: true, probeTraversal: true, probeCommand: true, probeJNDI: true}

func FuzzFindProbe(f *testing.F) {
	for _, s := range [][2]string{
		{"/api/v1/orders/123", ""},
		{"/api/v2/search", "q=running+shoes&page=2"},
		{"/api/v2/search", "q=1%27%20OR%20%271%27%3D%271"},
		{"/api/v1/products/1", "include=%3Cscript%3Ealert(1)%3C%2Fscript%3E"},
		{"/static/..%2f..%2fetc/passwd", ""},
		{"/api/v1/ping", "host=%24(id)"},
		{"/api/v1/ping", "host=127.0.0.1%7Cwhoami"},
		{"/a/%zz/b", "%zz=%"},
		{"/", "0'union/**/select+1,2"},
		{"/", "&&=&"},
		{"/", "=%2$(0"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(checkFindProbe)
}

// checkFindProbe checks findProbe on any request: no probe past the
// prefilter, a known kind, and a sample that is bounded and printable.
func checkFindProbe(t *testing.T, path, query string) {
	m, ok := findProbe(path, query)
	if !ok {
		if m != (probeMatch{}) {
			t.Fatalf("findProbe(%q, %q): no probe but match %+v", path, query, m)
		}
		return
	}
	if !mayProbe(path) && !mayProbe(query) {
		t.Fatalf("findProbe(%q, %q) = %+v past a prefilter that rejects both", path, query, m)
	}
	if !probeKinds[m.kind] {
		t.Fatalf("findProbe(%q, %q) = %+v: unknown kind", path, query, m)
	}
	if m.where == "path" && !mayProbe(path) {
		t.Fatalf("findProbe(%q, %q) = %+v: found in a path the prefilter rejects", path, query, m)
	}
	// The sample a finding shows: bounded, and nothing the client sent
	// may put a control or non-ASCII byte in it (the route is the
	// engine's).
	var s sample
	probeSample(&s, "/r", m)
	got := s.String()
	if len(got) > sampleLen || !strings.HasPrefix(got, m.kind+" /r ") {
		t.Fatalf("probe sample %q: more than %d bytes or not starting with its kind and route", got, sampleLen)
	}
	for i := 0; i < len(got); i++ {
		if c := got[i]; c < 0x20 || c > 0x7e {
			t.Fatalf("findProbe(%q, %q): probe sample %q holds byte %#x", path, query, got, c)
		}
	}
}

// TestProbeSampleParamName: a probe's parameter name is as much the
// client's as its value.
func TestProbeSampleParamName(t *testing.T) {
	checkFindProbe(t, "/api/search", "a%0Ab=1%27%20OR%20%271%27%3D%271")
}

// ordinaryPaths are what an API's traffic mostly is.
var ordinaryPaths = []string{"/api/v1/orders/123", "/api/v1/orders", "/api/v2/users/42/profile",
	"/static/app.js", "/static/css/site.css", "/robots.txt", "/favicon.ico", "/api/v1/search",
	"/Datasets%20Description/Network/ftp.html", "/", "/health", "/api/v1/products/9876/reviews"}

func TestSigOfAllocs(t *testing.T) {
	// Every event with a path pays for sigOf: ordinary ones must not
	// allocate, nor probes keyed by a segment, method or host. (An exploit
	// POST's key, "POST .php", is built: those are rare.)
	var probes []sigCase
	for _, c := range sigCases {
		if !strings.Contains(c.key, " ") {
			probes = append(probes, c)
		}
	}
	for _, tt := range []struct {
		name string
		run  func()
	}{
		{"ordinary", func() {
			for _, p := range ordinaryPaths {
				sigOf("GET", p, 200)
				sigOf("GET", p, 404)
			}
		}},
		{"probes", func() {
			for i := range probes {
				sigOf(probes[i].method, probes[i].path, probes[i].status)
			}
		}},
	} {
		if allocs := testing.AllocsPerRun(100, tt.run); allocs != 0 {
			t.Errorf("sigOf allocates %.1f times per run of the %s requests, want 0", allocs, tt.name)
		}
	}
}

func BenchmarkSigOf(b *testing.B) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, p := range ordinaryPaths {
			if s, _ := sigOf("GET", p, 200); s != sigNone {
				b.Fatalf("%s is a %v probe", p, s)
			}
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/path")
}

// TestAbsoluteForm: a request line naming another host is an open-proxy
// check; one naming the host its referer comes from is for the site.
func TestAbsoluteForm(t *testing.T) {
	for _, tt := range []struct {
		host, referer, format string
		want                  bool
	}{
		{"www.yahoo.com", "-", "apache_combined", true},
		{"dc.tickerbar.net:42857", "", "nginx_combined", true},
		{"howto.basjes.nl", "http://howto.basjes.nl/", "nginx_combined", false},
		{"niels.basj.es", "http://niels.basj.es/join_form", "nginx_combined", false},
		{"www.yahoo.com", "", "aws_alb", false},
		{"", "", "nginx_combined", false},
	} {
		ev := ingest.Event{Host: tt.host, Referer: tt.referer, Format: tt.format}
		if got := absoluteForm(&ev); got != tt.want {
			t.Errorf("host %q referer %q format %s: %v, want %v", tt.host, tt.referer, tt.format, got, tt.want)
		}
	}
}
