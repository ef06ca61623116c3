package detect

import (
	"net/url"
	"strings"

	"github.com/corazawaf/libinjection-go"
)

// Injection probes.
//
// A request is a probe when a URL-decoded query value or path segment is
// SQL injection or XSS by libinjection, or carries a path-traversal or
// command-injection pattern. libinjection costs microseconds and dozens of
// allocations per call, while ordinary API traffic never holds the bytes
// an injection needs, so a byte prefilter runs first: only a request whose
// path or query holds one of ' " < > ; | ` $ ( ) \ % or ".." is decoded and
// checked. Raw query strings are not checked as a whole: parameters must be
// decoded one by one, or encoded payloads slip through.

// Probe kinds, as they appear in samples.
const (
	probeSQLi      = "sqli"
	probeXSS       = "xss"
	probeTraversal = "traversal"
	probeCommand   = "cmdi"
	probeJNDI      = "jndi" // Log4Shell lookups (CVE-2021-44228)
)

// suspicious marks the bytes the prefilter looks for.
var suspicious = func() (t [256]bool) {
	for _, c := range []byte("'\"<>;|`$()\\%") {
		t[c] = true
	}
	return t
}()

// mayProbe is the prefilter: false means s cannot hold a probe.
func mayProbe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if suspicious[c] || c == '.' && i+1 < len(s) && s[i+1] == '.' {
			return true
		}
	}
	return false
}

// probeMatch describes a probe: its kind, where it was found (a parameter
// name or "path") and the value that matched. sure marks a probe no
// legitimate client sends even once (sureProbe).
type probeMatch struct {
	kind, where, value string
	sure               bool
}

// sureProbe reports whether a probe of kind with value is an attack by
// itself, one request being enough to report: a Log4Shell lookup, or a
// traversal that climbs two directories or names a system file
// ("/cgi-bin/.%2e/.%2e/bin/sh", CVE-2021-41773). A single "../" can be a
// relative link a site passes in a parameter (?next=../account), and
// libinjection's and the command patterns' matches can be odd search
// terms, so those still need Options.Probes.Floor requests or a second
// client.
func sureProbe(kind, value string) bool {
	switch kind {
	case probeJNDI:
		return true
	case probeTraversal:
		l := strings.ToLower(value)
		if strings.Contains(l, "../..") || strings.Contains(l, "..\\..") {
			return true
		}
		for _, m := range systemFiles {
			if strings.Contains(l, m) {
				return true
			}
		}
	}
	return false
}

// surely returns m with sure set by sureProbe.
func surely(m probeMatch) probeMatch {
	m.sure = sureProbe(m.kind, m.value)
	return m
}

// findProbe checks a request's path and query; ok is false for an
// ordinary request.
func findProbe(path, query string) (m probeMatch, ok bool) {
	if mayProbe(path) {
		if m, ok = probePath(path); ok {
			return m, true
		}
	}
	if mayProbe(query) {
		return probeQuery(query)
	}
	return probeMatch{}, false
}

func probePath(path string) (probeMatch, bool) {
	p, err := url.PathUnescape(path)
	if err != nil {
		p = path
	}
	if kind := patternKind(p); kind != "" {
		return surely(probeMatch{kind: kind, where: "path", value: p}), true
	}
	for seg := range strings.SplitSeq(p, "/") {
		if kind := injectionKind(seg); kind != "" {
			return probeMatch{kind: kind, where: "path", value: seg}, true
		}
	}
	return probeMatch{}, false
}

func probeQuery(query string) (probeMatch, bool) {
	for kv := range strings.SplitSeq(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if !mayProbe(v) && !mayProbe(k) {
			continue
		}
		if d, err := url.QueryUnescape(v); err == nil {
			v = d
		}
		if d, err := url.QueryUnescape(k); err == nil {
			k = d
		}
		if kind := valueKind(v); kind != "" {
			return surely(probeMatch{kind: kind, where: k, value: v}), true
		}
		// A payload in a parameter's name, or a bare query
		// ("?0'union/**/select ..."), is checked as well.
		if kind := valueKind(k); kind != "" {
			return surely(probeMatch{kind: kind, where: "query", value: k}), true
		}
	}
	return probeMatch{}, false
}

// valueKind is the probe kind of one decoded value, "" for none.
func valueKind(v string) string {
	if kind := patternKind(v); kind != "" {
		return kind
	}
	return injectionKind(v)
}

// injectionKind runs libinjection on one decoded value.
func injectionKind(v string) string {
	if len(v) < 2 || !mayProbe(v) && !strings.ContainsAny(v, "-#/*=") {
		return ""
	}
	if sqli, _ := libinjection.IsSQLi(v); sqli {
		return probeSQLi
	}
	if libinjection.IsXSS(v) {
		return probeXSS
	}
	return ""
}

// traversalMarks and commandMarks are substrings of decoded values that
// no legitimate API parameter holds.
var (
	systemFiles    = []string{"/etc/passwd", "/etc/shadow", "win.ini", "/proc/self/"}
	traversalMarks = append([]string{"../", "..\\"}, systemFiles...)
	commandMarks   = []string{"$(", "`", "${ifs}", ";cat ", "; cat ", "|cat ", "| cat ", ";id", "; id", "|id", "| id",
		"&&id", "&& id", ";ls", "; ls", "|ls", "| ls", "wget http", "curl http", ";sh ", "|sh ", "/bin/sh", "/bin/bash",
		"; whoami", ";whoami", "|whoami", "| whoami", "nc -e", ";uname", "; uname", "|uname", "ping -c",
		// Exploits of well-known CVEs that mass scanners still send:
		// Shellshock, ThinkPHP's invokefunction, Spring4Shell, Struts
		// OGNL, PHP-CGI's argument injection.
		"() {", "invokefunction", "call_user_func_array", "class.module.classloader", "#_memberaccess",
		"%{(#", "allow_url_include", "auto_prepend_file", "php://input"}
	// jndiMarks are Log4Shell lookups and their usual obfuscations.
	jndiMarks = []string{"${jndi:", "${${", "${lower:", "${upper:", "${env:", "${::-", "${date:"}
)

// patternKind matches traversal and command-injection patterns.
func patternKind(v string) string {
	l := strings.ToLower(v)
	for _, m := range traversalMarks {
		if strings.Contains(l, m) {
			return probeTraversal
		}
	}
	for _, m := range commandMarks {
		if strings.Contains(l, m) {
			return probeCommand
		}
	}
	if strings.Contains(l, "${") {
		for _, m := range jndiMarks {
			if strings.Contains(l, m) {
				return probeJNDI
			}
		}
	}
	return ""
}

// headerProbe checks the headers exploits ride in (Shellshock and
// Log4Shell in the user agent or referer). Both need a '{', which no
// browser's user agent holds, so an ordinary request costs two byte scans.
func headerProbe(userAgent, referer string) (probeMatch, bool) {
	for _, h := range [...]struct{ name, v string }{{"user-agent", userAgent}, {"referer", referer}} {
		if strings.IndexByte(h.v, '{') < 0 {
			continue
		}
		if kind := patternKind(h.v); kind != "" {
			return surely(probeMatch{kind: kind, where: h.name, value: h.v}), true
		}
	}
	return probeMatch{}, false
}

// probeSample renders a probe for a finding: kind, route and where, and
// the start of the matched value with anything unprintable escaped, so a
// payload cannot forge log lines or carry much of anything.
func probeSample(s *sample, route string, m probeMatch) {
	s.reset()
	s.write(m.kind)
	s.write(" ")
	s.write(route)
	switch m.where {
	case "path":
		s.write(" path:")
	case "user-agent", "referer":
		s.write(" header ")
		s.write(m.where)
		s.write(":")
	default:
		s.write(" ?")
		s.writeSafe(m.where)
		s.write("=")
	}
	s.writeSafe(m.value)
}
