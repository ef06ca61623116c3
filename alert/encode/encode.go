// Package encode renders findings in the wire formats SIEMs and people
// read: ArcSight CEF, QRadar LEEF 2.0, RFC 5424 syslog (with gatewatch's
// structured data, or carrying CEF or LEEF), Elastic Common Schema and
// OCSF JSON documents, and one line of text.
//
// Every encoder has the signature of alert.Encoder: it appends one
// notification to dst and returns the extended slice. Encoders are pure
// (no I/O, no state but the package variables below, read-only while
// encoding) and safe for concurrent use.
//
// A finding's strings (client, routes, samples, summary, why, campaign)
// come from the traffic and may hold anything: the format's delimiters,
// quotes, backslashes, line breaks, terminal escapes, bidirectional
// overrides and invalid UTF-8. Every encoder escapes them so that the
// consumer parses back the value that was meant, and its output is valid
// UTF-8:
//
//   - JSON formats (ECS, OCSF) keep values as they are, but for invalid
//     UTF-8, which becomes U+FFFD; encoding/json escapes the rest.
//   - The text-based formats (CEF, LEEF, syslog, Text) never emit a
//     control character: C0 controls and DEL become \xNN, the C1 controls,
//     bidirectional controls and line/paragraph separators become \uNNNN,
//     and a byte that is not UTF-8 becomes \xNN, as visible text. CEF keeps
//     line breaks as its own \r and \n escapes.
package encode

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// ProductVersion is the gatewatch version the encoders report (CEF and
// LEEF headers, ECS observer.version, OCSF metadata.product.version).
// cmd sets it once at start-up, before any encoding.
var ProductVersion = "dev"

// Product names gatewatch in every format: vendor and product.
const (
	productName = "gatewatch"
	vendorName  = "gatewatch"
)

// encoders maps the names ByName accepts to their encoders.
var encoders = map[string]alert.Encoder{
	"cef":         CEF,
	"leef":        LEEF,
	"rfc5424":     RFC5424,
	"syslog-cef":  SyslogCEF,
	"syslog-leef": SyslogLEEF,
	"ecs":         ECS,
	"ocsf":        OCSF,
	"text":        Text,
}

// Names returns the names ByName accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(encoders))
	for name := range encoders {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ByName returns the encoder named name, as a configuration names it:
// "cef", "leef", "rfc5424", "syslog-cef", "syslog-leef", "ecs", "ocsf" or
// "text" (case-insensitive).
func ByName(name string) (alert.Encoder, error) {
	if enc, ok := encoders[strings.ToLower(strings.TrimSpace(name))]; ok {
		return enc, nil
	}
	return nil, fmt.Errorf("unknown encoding %q (want one of %s)", name, strings.Join(Names(), ", "))
}

// severityLevel maps a finding's severity to the 0-10 scale of CEF, LEEF
// and ECS event.severity: low 3, medium 5, high 8, critical 10. An
// unknown severity ranks as low, as detect.Severity.Rank does.
func severityLevel(s detect.Severity) int {
	return [...]int{3, 5, 8, 10}[s.Rank()]
}

// detectorNames are the event names (CEF Name, OCSF finding title) of
// the detectors: stable per detector, unlike the summary.
var detectorNames = map[string]string{
	detect.DetectorVolume:       "Anomalous request volume",
	detect.DetectorErrorRatio:   "Anomalous error ratio",
	detect.DetectorAuthFailures: "Authentication failures",
	detect.DetectorScanning:     "Path scanning",
	detect.DetectorEnumeration:  "Object enumeration",
	detect.DetectorInjection:    "Injection probes",
	detect.DetectorExfiltration: "Anomalous response volume",
	detect.DetectorSharing:      "Credential sharing",
	detect.DetectorBruteForce:   "Login brute force",
	detect.DetectorFleetVolume:  "Fleet-wide request volume anomaly",
	detect.DetectorFleetAuth:    "Fleet-wide authentication failures",
	detect.DetectorCampaign:     "Distributed attack campaign",
	detect.DetectorContract:     "Requests outside the API contract",
}

// eventName is the name of detector d's events.
func eventName(d string) string {
	if name, ok := detectorNames[d]; ok {
		return name
	}
	if d == "" {
		return "Anomaly"
	}
	return d + " anomaly"
}

// clientIP returns the finding's client as an address, when it is one:
// ClientKind "ip" and a Client that parses as an IPv4 or IPv6 address
// without a zone (4-in-6 addresses unmapped). Formats with an IP-typed
// field (CEF src, ECS source.ip, OCSF src_endpoint.ip) set it only then.
func clientIP(f *detect.Finding) (netip.Addr, bool) {
	if f.ClientKind != "ip" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(f.Client)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// Client kinds whose client is not a user of the API.
const (
	kindIP       = "ip"
	kindHost     = "host"
	kindFleet    = "fleet"
	kindCampaign = "campaign"
)

// clientUser returns the client key when it names a user of the API (an
// API key, a JWT subject, a certificate, a token): not an address, a
// host name, the fleet or a campaign.
func clientUser(f *detect.Finding) string {
	switch f.ClientKind {
	case kindIP, kindHost, kindFleet, kindCampaign:
		return ""
	}
	return f.Client
}

// httpMethods are the methods a route may start with ("POST /login").
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}

// request returns the finding's first route and its HTTP method when the
// route names one ("POST /login"). Without routes, a login campaign's
// route ("login /login") or a write route campaign's ("route /signup")
// stands in; its method stays unknown (POST or PUT).
func request(f *detect.Finding) (method, path string) {
	switch {
	case len(f.Routes) > 0:
		path = f.Routes[0]
	case f.ClientKind == kindCampaign && strings.HasPrefix(f.Campaign, "login /"):
		path = strings.TrimPrefix(f.Campaign, "login ")
	case f.ClientKind == kindCampaign && strings.HasPrefix(f.Campaign, "route /"):
		path = strings.TrimPrefix(f.Campaign, "route ")
	}
	for _, m := range httpMethods {
		if rest, ok := strings.CutPrefix(path, m+" "); ok {
			return m, rest
		}
	}
	return "", path
}

// finite reports whether x is neither NaN nor infinite.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// epochMillis returns t in milliseconds since the Unix epoch.
func epochMillis(t time.Time) int64 { return t.UnixMilli() }

// isoTime returns t in UTC as RFC 3339 with nanoseconds, or "" when its
// year has not four digits (which RFC 3339 cannot write).
func isoTime(t time.Time) string {
	t = t.UTC()
	if t.Year() < 0 || t.Year() > 9999 {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}
