package ingest

// Apache's combined and common formats are the same family as nginx's
// combined and go through the same scanner (clfParser in nginx.go):
//
//	apache_combined: %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"
//	apache_common:   %h %l %u %t "%r" %>s %b
//	apache_vhost_combined: %v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"
//
// The last is Debian's and Ubuntu's other_vhosts_access.log: the combined
// format behind the virtual host that served the request. The virtual
// host is not kept (Host stays the host of an absolute-form request, as
// in the other formats).
//
// Apache escapes quotes in fields as \" (nginx writes \x22); the scanner
// reads both. %h is a host name when HostnameLookups is on: it is kept as
// the remote address, and the Normalizer then finds no IP in it. An
// apache_common line that does carry a quoted referer and user agent (a
// combined log read as common) has them filled in too.
func init() {
	registerParser("apache_combined",
		`Apache "combined" LogFormat: %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`,
		func(ParserOptions) (Parser, error) { return newCLFParser("apache_combined", true), nil })
	registerParser("apache_common",
		`Apache "common" LogFormat (CLF): %h %l %u %t "%r" %>s %b`,
		func(ParserOptions) (Parser, error) { return newCLFParser("apache_common", false), nil })
	registerParser("apache_vhost_combined",
		`Apache "vhost_combined" LogFormat (Debian's other_vhosts_access.log): %v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"`,
		func(ParserOptions) (Parser, error) {
			p := newCLFParser("apache_vhost_combined", true)
			p.vhost = true
			return p, nil
		})
}
