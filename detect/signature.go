package detect

import "strings"

// Probe signatures.
//
// Much of what reaches an internet-facing gateway is commodity probing:
// worms and mass scanners asking every address for the same few files —
// a Windows shell (Nimda, Code Red), a leaked .env, a .git directory, a
// WordPress login, phpMyAdmin, backups, CGI scripts, the admin console of
// some other product — and open-proxy checks. No API serves these, so a
// request for one says something about its client whatever the client
// did before, and the same probe from many addresses is one campaign, not
// many incidents.
//
// sigOf maps a request to at most one signature. Some signatures are
// probes whatever the answer (nobody has a reason to ask for cmd.exe or
// /.env); the others only when the site did not serve them (status 400 or
// above): a WordPress site answers its own wp-login.php, and there the
// route is a login route, judged as such.
//
// The check runs for every event with a path, so it is a byte scan with
// early exits: an ordinary API path (no dot, no "cgi", no "admin") costs a
// few comparisons.

// signature identifies one kind of probe; 0 is none.
type signature uint8

const (
	sigNone        signature = iota
	sigWinShell              // cmd.exe, root.exe, IIS traversal and Code Red paths
	sigEnvFile               // /.env and its variants
	sigVCS                   // .git, .svn, .hg, .DS_Store
	sigSecrets               // /etc/passwd, keys, credentials, server configuration
	sigWPLogin               // wp-login.php where the site does not serve it
	sigXMLRPC                // xmlrpc.php where the site does not serve it
	sigWordPress             // wp-admin, wp-content, wp-includes where not served
	sigPHPMyAdmin            // phpMyAdmin and other database consoles
	sigBackup                // backup archives and dumps
	sigCGI                   // cgi-bin scripts
	sigConsole               // admin consoles and debug endpoints of other products
	sigShell                 // web shells and exploit kits' droppers
	sigProxy                 // CONNECT or absolute-URI open-proxy checks
	sigOverflow              // very long request paths with binary payloads (WebDAV, IIS overflows)
	sigWebDAV                // WebDAV methods on a server that refuses them
	sigFingerprint           // requests scanners make to fingerprint a server's 404s
	sigInjection             // campaigns only: clients with a few injection probes each (probe.go)
	numSignatures
)

// signatureNames are the names findings use (Finding.Campaign, samples).
var signatureNames = [numSignatures]string{"", "windows-shell", "env-file", "vcs-metadata", "secrets",
	"wp-login", "xmlrpc", "wordpress", "db-console", "backup-files", "cgi-bin", "admin-console",
	"web-shell", "open-proxy", "overflow", "webdav", "scanner-fingerprint", "injection"}

func (s signature) String() string {
	if s < numSignatures {
		return signatureNames[s]
	}
	return "unknown"
}

// sigDescriptions say what each signature asks for, in findings.
var sigDescriptions = [numSignatures]string{"", "Windows shells and IIS traversal (Nimda, Code Red)",
	".env files", "version-control metadata (.git, .svn)", "credentials and server configuration files",
	"wp-login.php on a site that does not serve it", "xmlrpc.php on a site that does not serve it",
	"WordPress paths on a site that does not serve them", "database consoles (phpMyAdmin and others)",
	"backup archives and dumps", "CGI scripts", "admin consoles of other products", "web shells",
	"open-proxy checks (CONNECT, absolute URIs)", "overlong requests with binary payloads",
	"WebDAV methods the server refuses", "scanner fingerprint requests", "injection probes"}

// segmentSigs maps a lower-cased path segment to its signature, and
// whether it is a probe only when the site refused it.
var segmentSigs = func() map[string]sigEntry {
	m := map[string]sigEntry{}
	add := func(sig signature, unserved bool, segs ...string) {
		for _, s := range segs {
			m[s] = sigEntry{sig: sig, unserved: unserved, key: s}
		}
	}
	add(sigWinShell, false, "cmd.exe", "root.exe", "winnt", "system32", "default.ida", "_vti_bin", "_mem_bin",
		"msadc", "iisadmpwd", "null.ida", "null.idq", "shell.exe", "nsiislog.dll", "fp30reg.dll", "_vti_aut",
		"owssvr.dll", "shtml.exe", "admin.dll", "httpodbc.dll")
	add(sigFingerprint, false, "sumthin", "nessustest", "nmaplowercheck")
	add(sigEnvFile, false, ".env")
	add(sigVCS, false, ".git", ".svn", ".hg", ".ds_store", ".bzr")
	add(sigSecrets, false, "passwd", "shadow", ".aws", ".ssh", "id_rsa", "id_dsa", ".htpasswd", ".htaccess",
		"web.config", ".docker", ".npmrc", ".bash_history", ".vscode", ".idea", "credentials.json", "secrets.json",
		"sftp-config.json")
	add(sigSecrets, true, "phpinfo.php", "info.php", "config.php", "configuration.php", "config.inc.php", "settings.php", "config.json", "config.yml")
	add(sigWPLogin, true, "wp-login.php")
	add(sigXMLRPC, true, "xmlrpc.php")
	add(sigWordPress, true, "wp-admin", "wp-content", "wp-includes", "wordpress", "wp")
	add(sigPHPMyAdmin, true, "phpmyadmin", "pma", "myadmin", "mysqladmin", "dbadmin", "sqlmanager", "adminer",
		"adminer.php", "phpmyadmin2", "sqladmin", "websql")
	add(sigCGI, true, "cgi-bin")
	add(sigConsole, true, "jmx-console", "web-console", "actuator", "hnap1", "boaform", "phpunit", "invoker",
		"administrator", "solr", "owa", "axis2", "_ignition", "telescope", "server-status",
		// routers' and appliances' exploited endpoints (GPON, Huawei HG532,
		// F5 BIG-IP, WebLogic, Pulse Secure, Cisco ASA, MobileIron)
		"gponform", "ctrlt", "picsdesc.xml", "tmui", "wls-wsat", "dana-na", "+cscoe+", "mifs", "hudson",
		// and more mass-exploited products' paths, seen in honeypot logs
		// since: Exchange, Fortinet, Palo Alto, WebLogic, Struts,
		// ColdFusion, GeoServer, Druid, Nacos, Jolokia, Liferay, Docker
		// registries, routers' goform, file-manager plugins
		"ecp", "fgt_lang", "global-protect", "sslmgr", "_async", "uddiexplorer", "ws_utc", "struts2-showcase",
		"cfide", "cf_scripts", "geoserver", "druid", "nacos", "jolokia", "jsonws", "_catalog", "goform",
		"setup.cgi", "elfinder", "kcfinder", "fckeditor", "jkstatus")
	add(sigConsole, false, "eval-stdin.php")
	add(sigShell, false, "c99.php", "r57.php", "wso.php")
	add(sigShell, true, "shell.php", "cmd.php", "webshell", "alfa.php")
	return m
}()

// sigEntry is one signature of a path segment.
type sigEntry struct {
	sig      signature
	unserved bool
	key      string // the segment, naming the probe within its signature
}

// prefixSigs catch segments that start like a probe: .env.local,
// .git-credentials, wp-config.php.bak, phpMyAdmin-4.9.
var prefixSigs = []struct {
	prefix string
	sig    signature
}{{".env", sigEnvFile}, {".git", sigVCS}, {"wp-config", sigSecrets}, {"phpmyadmin", sigPHPMyAdmin},
	{"w00tw00t", sigFingerprint}}

// backupExts are the endings of backup files and dumps, probes when the
// site did not serve them.
var backupExts = []string{".bak", ".old", ".orig", ".sql", ".sql.gz", ".sql.zip", ".swp", ".save", "~"}

// backupNames are archive names that mass scanners try at a site's root.
var backupNames = []string{"backup", "backups", "dump", "db", "database", "site", "www", "wwwroot", "htdocs"}

// overflowLen is the path length beyond which a path with unprintable
// bytes is an overflow attempt rather than a request.
const overflowLen = 1024

// maxSegment bounds the segments looked up: longer ones are no probe
// name (their prefixes are still checked).
const maxSegment = 40

// sigOf returns the signature of a request, or sigNone, and a key that
// names the probe within its signature: the path segment matched
// ("root.exe", "default.ida"), the proxied host, the method. Requests
// with the same signature and key are the same probe: their clients are
// one campaign. It looks at each path segment, lower-cased into a stack
// buffer: a table of the keys' first bytes and lengths rejects most
// segments, the others cost a map lookup; nothing allocates. When several
// segments match, the most specific signature (the lowest) wins: a worm's
// /scripts/../cmd.exe is a Windows shell probe.
func sigOf(method, path string, status int) (signature, string) {
	s, key := sigOfPath(method, path, status)
	if s != sigNone && !isUpper(method) {
		// A worm's own spelling ("get") sets its probes apart.
		key = method
	}
	return s, key[:min(len(key), maxSegment)]
}

// sigOfPath is sigOf before the method's spelling is considered.
func sigOfPath(method, path string, status int) (signature, string) {
	if method == "CONNECT" {
		return sigProxy, hostOf(path)
	}
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return sigProxy, hostOf(path[strings.Index(path, "//")+2:])
	}
	if len(path) >= overflowLen && hasBinary(path) {
		return sigOverflow, method
	}
	unserved := status >= 400 || status == 0
	if !unserved && !mayBeServedProbe(path) {
		return sigNone, "" // most requests: one pass over the bytes
	}
	if unserved && isWebDAV(method) {
		return sigWebDAV, method
	}
	best, key := sigNone, ""
	var buf [maxSegment]byte
	for p := path; len(p) > 0; {
		var seg string
		if i := strings.IndexByte(p, '/'); i >= 0 {
			seg, p = p[:i], p[i+1:]
		} else {
			seg, p = p, ""
		}
		s, k := segSig(seg, &buf, unserved, p == "")
		if s != sigNone && (best == sigNone || s < best) {
			best, key = s, k
		}
	}
	if best == sigNone && unserved && (method == "POST" || method == "PUT") && isScriptProbe(path, status) {
		return sigShell, method + " " + path[strings.LastIndexByte(path, '.'):]
	}
	return best, key
}

// segSig is the signature of one path segment and its key; last says
// it ends the path.
func segSig(seg string, buf *[maxSegment]byte, unserved, last bool) (signature, string) {
	if len(seg) == 0 {
		return sigNone, ""
	}
	first := lower(seg[0])
	keys := &segKeys
	if !unserved {
		keys = &servedKeys // most requests: only the always-probes can match
	}
	if len(seg) <= maxSegment && keys[first]&(1<<len(seg)) != 0 {
		for i := 0; i < len(seg); i++ {
			buf[i] = lower(seg[i])
		}
		if s, ok := segmentSigs[string(buf[:len(seg)])]; ok && (unserved || !s.unserved) {
			return s.sig, s.key
		}
	}
	if first == '.' || unserved && (first == 'w' || first == 'p') {
		n := min(len(seg), maxSegment)
		for i := 0; i < n; i++ {
			buf[i] = lower(seg[i])
		}
		if s, k := prefixSig(buf[:n]); s != sigNone && (unserved || s == sigEnvFile || s == sigVCS) {
			return s, k
		}
	}
	if unserved && last && isBackupName(seg) {
		return sigBackup, "backup"
	}
	return sigNone, ""
}

// scriptExts are the server-side script endings a POST or PUT to a path
// the server does not have is an exploit attempt on (a webshell drop, an
// old CMS's or IIS extension's hole).
var scriptExts = []string{".php", ".asp", ".aspx", ".jsp", ".cgi", ".pl", ".dll", ".exe", ".cfm"}

// isScriptProbe reports whether a POST or PUT answered status went to a
// server-side script the server does not have (404, 405, 410, 418; 400
// too for .dll and .exe, which no form posts to).
func isScriptProbe(path string, status int) bool {
	switch status {
	case 404, 405, 410, 418, 400:
	default:
		return false
	}
	dot := strings.LastIndexByte(path, '.')
	if dot < 0 || strings.IndexByte(path[dot:], '/') >= 0 {
		return false
	}
	ext := path[dot:]
	for _, x := range scriptExts {
		if len(ext) == len(x) && hasSuffixFold(ext, x) {
			return status != 400 || x == ".dll" || x == ".exe"
		}
	}
	return false
}

// isWebDAV reports whether method is one of WebDAV's.
func isWebDAV(method string) bool {
	switch method {
	case "PROPFIND", "PROPPATCH", "MKCOL", "LOCK", "UNLOCK", "COPY", "MOVE", "SEARCH":
		return true
	}
	return false
}

// hostOf returns the host (and port) that starts s.
func hostOf(s string) string {
	if i := strings.IndexAny(s, "/?"); i >= 0 {
		s = s[:i]
	}
	return s[:min(len(s), maxSegment)]
}

// isUpper reports whether s has no lower-case ASCII letter.
func isUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'a' && s[i] <= 'z' {
			return false
		}
	}
	return true
}

// mayBeServedProbe reports whether a path the site served could be a
// probe: whether one of its segments has the first byte and length of a
// probe whatever the answer, or starts with a dot.
func mayBeServedProbe(path string) bool {
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		if n := i - start; n > 0 {
			first := lower(path[start])
			if first == '.' || n <= maxSegment && servedKeys[first]&(1<<n) != 0 {
				return true
			}
		}
		start = i + 1
	}
	return false
}

// segKeys has, for each first byte of a segmentSigs key, bit n set when a
// key of that byte has length n; servedKeys the same for the keys that
// are probes whatever the answer.
var segKeys, servedKeys = func() (all, served [256]uint64) {
	for k, e := range segmentSigs {
		all[k[0]] |= 1 << len(k)
		if !e.unserved {
			served[k[0]] |= 1 << len(k)
		}
	}
	return all, served
}()

// prefixSig matches the start of a lower-cased segment against
// prefixSigs, returning the prefix as the key.
func prefixSig(low []byte) (signature, string) {
	if len(low) < 4 || (low[0] != '.' && low[0] != 'w' && low[0] != 'p') {
		return sigNone, ""
	}
	for _, p := range prefixSigs {
		if len(low) > len(p.prefix) && string(low[:len(p.prefix)]) == p.prefix {
			return p.sig, p.prefix
		}
	}
	return sigNone, ""
}

// isBackupName reports whether the last path segment looks like a
// backup file or dump.
func isBackupName(last string) bool {
	if strings.IndexByte(last, '.') < 0 && !strings.HasSuffix(last, "~") {
		return false
	}
	for _, x := range backupExts {
		if len(last) > len(x) && hasSuffixFold(last, x) {
			return true
		}
	}
	if !hasArchiveExt(last) {
		return false
	}
	base := last[:strings.IndexByte(last, '.')]
	for _, n := range backupNames {
		if len(base) == len(n) && containsFold(base, n) {
			return true
		}
	}
	return false
}

// hasArchiveExt reports whether name ends in an archive extension.
func hasArchiveExt(name string) bool {
	for _, x := range []string{".zip", ".tar", ".tar.gz", ".tgz", ".rar", ".7z", ".gz", ".sql"} {
		if hasSuffixFold(name, x) {
			return true
		}
	}
	return false
}

// hasBinary reports whether s holds a byte outside printable ASCII.
func hasBinary(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains sub, ASCII case-insensitively;
// sub is lower case.
func containsFold(s, sub string) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	first := sub[0]
	for i := 0; i+n <= len(s); i++ {
		if lower(s[i]) != first {
			continue
		}
		j := 1
		for j < n && lower(s[i+j]) == sub[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

// hasSuffixFold is strings.HasSuffix, ASCII case-insensitively; suffix
// is lower case.
func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && containsFold(s[len(s)-len(suffix):], suffix)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Login routes.
//
// A login route is where credentials are tried: by name (login, signin,
// logon, token, auth, session, wp-login.php, xmlrpc.php, j_security_check)
// or listed in Options.LoginRoutes. POSTs (and PUTs) to one are login
// attempts: the brute_force detector counts them per client, and the
// login campaign counts them across clients whose own counts stay small.

// loginWords are the path fragments that name a login route.
var loginWords = []string{"login", "signin", "sign-in", "sign_in", "logon", "log-in", "/token", "/oauth",
	"/auth", "/session", "wp-login.php", "xmlrpc.php", "j_security_check", "/authenticate"}

// isLoginRoute reports whether route names a login route by its words or
// the configured list.
func (e *Engine) isLoginRoute(route string) bool {
	if len(e.loginRoutes) > 0 {
		if _, ok := e.loginRoutes[route]; ok {
			return true
		}
	}
	for _, w := range loginWords {
		if containsFold(route, w) {
			return true
		}
	}
	return false
}

// sigList names the signatures whose bits are set in mask: "env-file,
// vcs-metadata".
func sigList(mask uint32) string {
	var b strings.Builder
	for s := signature(1); s < numSignatures; s++ {
		if mask&(1<<s) != 0 {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(s.String())
		}
	}
	return b.String()
}

// scannerAgents are user agents of attack tools, lower case. A user agent
// is what a client says it is, so it is evidence, never the only signal:
// it lowers the bar for refused requests (judgeSweeps), it does not make
// a finding on its own.
var scannerAgents = []string{"nikto", "sqlmap", "nuclei", "zgrab", "masscan", "nmap", "dirbuster", "gobuster",
	"wpscan", "acunetix", "nessus", "openvas", "w3af", "zmeu", "morfeus", "havij", "netsparker", "feroxbuster",
	"ffuf", "whatweb", "jaeles", "commix", "arachni", "skipfish"}

// isScannerAgent reports whether ua names an attack tool.
func isScannerAgent(ua string) bool {
	if len(ua) < 4 {
		return false
	}
	for _, a := range scannerAgents {
		if containsFold(ua, a) {
			return true
		}
	}
	return false
}

// keyOrder ranks probe keys for the one a client window's campaign is
// named by: the worms' hallmarks first (Nimda's root.exe, Code Red's
// default.ida), then any key by its hash. A worm sends its dozen probes
// within a second, in whatever order an unsorted or merged log keeps
// them; the least key, unlike the first, is the same for every order, so
// every host of the worm joins one campaign.
func keyOrder(key string) uint32 {
	switch key {
	case "root.exe":
		return 0
	case "default.ida":
		return 1
	}
	return 2 + uint32(hashString(key)>>34)
}
