package ingest

import (
	"net/netip"
	"time"
	"unsafe"
)

// ClientKind says how an event's client key was derived, strongest identity
// first. Detectors compare a client with its own past, so the kind tells an
// analyst what "a client" means for a finding.
type ClientKind uint8

// Client kinds, in the order the Normalizer prefers them.
const (
	ClientUnknown ClientKind = iota
	ClientAPIKey             // a keyed HMAC of an API key, or a gateway's consumer/key id
	ClientJWTSub             // a subject the gateway verified: a JWT "sub", an authorizer principal, a Basic or authenticated user
	ClientMTLS               // the subject of a client certificate
	ClientToken              // a keyed HMAC of an opaque bearer token
	ClientIP                 // the remote IP address
	ClientHost               // the host name a server logged in place of the address (Apache's HostnameLookups)
)

var clientKindNames = [...]string{"unknown", "api_key", "jwt_sub", "mtls", "token", "ip", "host"}

func (k ClientKind) String() string {
	if int(k) < len(clientKindNames) {
		return clientKindNames[k]
	}
	return "unknown"
}

// ParseClientKind is the inverse of ClientKind.String.
func ParseClientKind(s string) ClientKind {
	for i, n := range clientKindNames {
		if n == s {
			return ClientKind(i)
		}
	}
	return ClientUnknown
}

// AuthOutcome is what the gateway decided about the caller's credentials.
type AuthOutcome uint8

// Auth outcomes. When a log does not say, the Normalizer derives the outcome
// from the status code (401 -> AuthFailed, 403 -> AuthForbidden).
const (
	AuthUnknown   AuthOutcome = iota
	AuthNone                  // no credentials presented and none required
	AuthOK                    // credentials accepted
	AuthFailed                // credentials missing or rejected (401)
	AuthForbidden             // authenticated but not allowed (403)
)

var authNames = [...]string{"unknown", "none", "ok", "failed", "forbidden"}

func (a AuthOutcome) String() string {
	if int(a) < len(authNames) {
		return authNames[a]
	}
	return "unknown"
}

// ParseAuthOutcome is the inverse of AuthOutcome.String.
func ParseAuthOutcome(s string) AuthOutcome {
	for i, n := range authNames {
		if n == s {
			return AuthOutcome(i)
		}
	}
	return AuthUnknown
}

// Failure reports whether the outcome counts as an authentication or
// authorisation failure for the detectors.
func (a AuthOutcome) Failure() bool { return a == AuthFailed || a == AuthForbidden }

// Event is one normalised API request as seen by a gateway.
//
// Strings alias the parsed line or the Event's scratch buffer (see the
// package doc); Clone returns an Event that owns its memory.
type Event struct {
	Time   time.Time // when the gateway received (or logged) the request
	Source string    // configured name of the log source, e.g. "edge-nginx"
	Format string    // log format it was parsed from, e.g. "nginx_combined"

	ClientKey  string     // who made the request: see ClientKind; never a secret in clear
	ClientKind ClientKind // how ClientKey was derived
	RemoteIP   netip.Addr // the client's address, X-Forwarded-For honoured only from trusted proxies
	// ClaimedSubject is "c_" and a keyed HMAC of an identity the request
	// claimed but nobody vouched for (the "sub" of a JWT or the user of a
	// Basic header the gateway is not known to have verified): such a
	// claim never becomes the client key, and is never kept in clear.
	// It is not (yet) part of the wire encoding.
	ClaimedSubject string

	Method     string
	Host       string
	Path       string // the raw path, without the query string
	Route      string // Path with ids templated: /orders/123 -> /orders/{id}
	Query      string // the query string with sensitive values redacted
	Status     int
	BytesIn    int64
	BytesOut   int64
	Latency    time.Duration
	UserAgent  string
	Referer    string
	Auth       AuthOutcome
	Scheme     string // http or https
	TLSVersion string // e.g. TLSv1.3, when the log says
	APIVersion string // from the path (/v2/...) or a version header
	RequestID  string
	// Truncated says a field was longer than its limit and was cut
	// (Bound; MaxPathBytes and the others): the event is not the whole
	// request as logged.
	Truncated bool
	// Origin and Pos say where in which file the line was read, for a
	// consumer to recognise a line sent again (a collector re-sends the
	// lines after its last saved position when it restarts after a
	// crash): Origin identifies the file (source, inode and its first
	// line, so a file truncated in place is a new origin), Pos is the
	// offset just past the line, increasing within an origin. Origin is 0
	// when the input has no positions (stdin, syslog, HTTP).
	Origin uint64
	Pos    int64

	// Raw holds what a parser found that only the Normalizer may read:
	// credentials and proxy headers. The Normalizer clears it, so secrets
	// never travel further than the parser.
	Raw RawFields

	scratch []byte // arena for derived strings; reused across Reset
}

// RawFields are parser outputs consumed (and cleared) by the Normalizer.
type RawFields struct {
	RemoteAddr    string // the peer address as logged (may carry a port)
	XForwardedFor string // the X-Forwarded-For header as logged
	APIKey        string // an API key in clear: hashed, never kept
	APIKeyID      string // a gateway's non-secret key or consumer id
	Authorization string // an Authorization header: hashed, reduced to a verified subject, or its claim HMAC'd; never kept
	JWTSub        string // a subject a gateway already extracted from a verified token
	MTLSSubject   string // a client certificate subject
	AuthOutcome   AuthOutcome
	Version       string // an API version header
	RawQuery      string // the query as logged, before redaction
	Target        string // request target (path?query) when the log has it as one field
	// ClaimedUser is a user name the log gives without saying the gateway
	// verified it (Traefik's ClientUsername, which a client sets with
	// http://name@host/ when no auth middleware runs): a claim, like a
	// Basic user.
	ClaimedUser string
	// IdentityVerified is the value of the log field or header the
	// gateway sets once it verified the caller's credentials
	// (NormalizerOptions.Identity.VerifiedField), as logged.
	IdentityVerified string
}

// Reset clears the event for reuse, keeping its scratch capacity.
func (e *Event) Reset() {
	s := e.scratch[:0]
	*e = Event{}
	e.scratch = s
}

func (e *Event) appendScratch(b []byte) string {
	start := len(e.scratch)
	e.scratch = append(e.scratch, b...)
	return bytesString(e.scratch[start:])
}

// AppendString stores b in the event's scratch arena and returns it as a
// string that lives as long as the event is not Reset. Parsers use it for
// values they had to unescape.
func (e *Event) AppendString(b []byte) string { return e.appendScratch(b) }

// Clone returns a copy of e that owns all of its strings, in one allocation.
func (e *Event) Clone() Event {
	c := *e
	c.scratch = nil
	n := len(e.Source) + len(e.Format) + len(e.ClientKey) + len(e.ClaimedSubject) + len(e.Method) + len(e.Host) +
		len(e.Path) + len(e.Route) + len(e.Query) + len(e.UserAgent) + len(e.Referer) +
		len(e.Scheme) + len(e.TLSVersion) + len(e.APIVersion) + len(e.RequestID)
	buf := make([]byte, 0, n)
	own := func(s string) string {
		if s == "" {
			return ""
		}
		start := len(buf)
		buf = append(buf, s...)
		return bytesString(buf[start:len(buf):len(buf)])
	}
	c.Source, c.Format, c.ClientKey = own(e.Source), own(e.Format), own(e.ClientKey)
	c.ClaimedSubject = own(e.ClaimedSubject)
	c.Method, c.Host, c.Path, c.Route = own(e.Method), own(e.Host), own(e.Path), own(e.Route)
	c.Query, c.UserAgent, c.Referer = own(e.Query), own(e.UserAgent), own(e.Referer)
	c.Scheme, c.TLSVersion, c.APIVersion, c.RequestID = own(e.Scheme), own(e.TLSVersion), own(e.APIVersion), own(e.RequestID)
	c.Raw = RawFields{}
	return c
}

// bytesString views b as a string without copying. The caller guarantees
// b is not modified while the string is in use.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// stringBytes views s as bytes without copying; the bytes must not be
// modified.
func stringBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
