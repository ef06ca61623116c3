package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Size limits.
//
// One access-log line may carry anything a client sent: a 600 KB path
// became a 1.2 MB event (path and route both carried it), over Kafka's
// 1 MiB message limit, and stopped the collector at the same offset on
// every restart. So every variable-length field of a normalised event is
// bounded (Event.Bound, which the Normalizer applies): a field over its
// limit is cut at a UTF-8 boundary and the event marked Truncated ("truncated"
// on the wire). A route is templated from the already cut path. A client
// key over its limit keeps its start and gets a fingerprint of the whole,
// so two long identities that share a prefix stay two clients.
//
// Limits are in bytes of the field's value, before JSON escaping.
const (
	MaxPathBytes      = 8 << 10 // path, without the query
	MaxRouteBytes     = 8 << 10 // route template (templating can lengthen a path: /1/2 -> /{id}/{id})
	MaxQueryBytes     = 8 << 10 // query string, after redaction
	MaxRefererBytes   = 2 << 10
	MaxUserAgentBytes = 1 << 10
	MaxHostBytes      = 512
	MaxClientKeyBytes = 512
	MaxRequestIDBytes = 256
	MaxSourceBytes    = 256
	// MaxTokenBytes bounds the short fields: method, format, scheme, TLS
	// version, API version, and an IPv6 address's zone (dropped when
	// longer).
	MaxTokenBytes = 64
)

// MaxWireEventBytes bounds AppendWire's encoding of a bounded event
// (Event.Bound): the field limits, each byte escaped in JSON's longest
// form (\u00XX, or \ufffd for invalid UTF-8: six bytes), plus 1 KiB for
// the keys, time, address and numbers. At ~174 KiB it is far below
// Kafka's default 1 MiB message limit.
const MaxWireEventBytes = 6*(MaxPathBytes+MaxRouteBytes+MaxQueryBytes+MaxRefererBytes+MaxUserAgentBytes+
	MaxHostBytes+MaxClientKeyBytes+MaxRequestIDBytes+MaxSourceBytes+5*MaxTokenBytes) + 1024

// DefaultMaxLine is the longest raw line the line readers take by default
// (files, standard input, an HTTP request's lines); a longer one is
// rejected with ReasonLineTooLong and its first DefaultMaxLine bytes.
const DefaultMaxLine = 1 << 20

// ReasonLineTooLong starts the reason of a line rejected for its length.
const ReasonLineTooLong = "line too long"

// lineTooLong is the reason of a line longer than limit.
func lineTooLong(limit int) string {
	return ReasonLineTooLong + " (over " + strconv.Itoa(limit) + " bytes)"
}

// ReasonEventTooLarge starts the reason of a line (or event) whose event
// the transport refused for its size (a TooLargeError).
const ReasonEventTooLarge = "event too large"

// TooLargeError is a transport's refusal of a message larger than it
// carries; transport.Producer returns one (wrapped). An Intake whose Emit
// fails with it dead-letters the line with ReasonEventTooLarge and carries
// on: the same message would be refused on every retry.
type TooLargeError struct {
	Size  int64 // bytes of the message, key included
	Limit int64 // the most the transport takes
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%d bytes, limit %d", e.Size, e.Limit)
}

// Bound cuts every variable-length field of e to its limit (MaxPathBytes
// and the others), sets e.Truncated when it cut anything and reports
// whether it did. Cut strings alias the originals, except a long client
// key, which is rebuilt in e's scratch arena. With every field within its
// limit AppendWire writes at most MaxWireEventBytes.
func (e *Event) Bound() bool {
	if len(e.Path) <= MaxPathBytes && len(e.Route) <= MaxRouteBytes && len(e.Query) <= MaxQueryBytes &&
		len(e.Referer) <= MaxRefererBytes && len(e.UserAgent) <= MaxUserAgentBytes && len(e.Host) <= MaxHostBytes &&
		len(e.RequestID) <= MaxRequestIDBytes && len(e.Source) <= MaxSourceBytes && len(e.ClientKey) <= MaxClientKeyBytes &&
		len(e.Method) <= MaxTokenBytes && len(e.Format) <= MaxTokenBytes && len(e.Scheme) <= MaxTokenBytes &&
		len(e.TLSVersion) <= MaxTokenBytes && len(e.APIVersion) <= MaxTokenBytes && len(e.RemoteIP.Zone()) <= MaxTokenBytes {
		return false // the common case, without the work below
	}
	return e.bound()
}

// bound is Bound's work when a field may be over its limit.
func (e *Event) bound() bool {
	cut := false
	bound := func(s *string, limit int) {
		if len(*s) > limit {
			*s, cut = truncateUTF8(*s, limit), true
		}
	}
	bound(&e.Path, MaxPathBytes)
	bound(&e.Route, MaxRouteBytes)
	bound(&e.Query, MaxQueryBytes)
	bound(&e.Referer, MaxRefererBytes)
	bound(&e.UserAgent, MaxUserAgentBytes)
	bound(&e.Host, MaxHostBytes)
	bound(&e.RequestID, MaxRequestIDBytes)
	bound(&e.Source, MaxSourceBytes)
	for _, s := range []*string{&e.Method, &e.Format, &e.Scheme, &e.TLSVersion, &e.APIVersion} {
		bound(s, MaxTokenBytes)
	}
	if len(e.RemoteIP.Zone()) > MaxTokenBytes {
		e.RemoteIP, cut = e.RemoteIP.WithZone(""), true
	}
	if len(e.ClientKey) > MaxClientKeyBytes {
		e.ClientKey, cut = e.fingerprintKey(e.ClientKey), true
	}
	if cut {
		e.Truncated = true
	}
	return cut
}

// fingerprintKey shortens a client key over MaxClientKeyBytes to its
// start, "~" and 16 hex digits of the SHA-256 of the whole key, written to
// e's scratch arena. Unkeyed: a client key is never a secret (secrets are
// HMAC'd before they become one), and anyone must derive the same key.
func (e *Event) fingerprintKey(key string) string {
	sum := sha256.Sum256(stringBytes(key))
	start := len(e.scratch)
	e.scratch = append(e.scratch, truncateUTF8(key, MaxClientKeyBytes-17)...)
	e.scratch = append(e.scratch, '~')
	e.scratch = hex.AppendEncode(e.scratch, sum[:8])
	return bytesString(e.scratch[start:])
}

// truncateUTF8 returns at most the first limit bytes of s, cut before a
// UTF-8 continuation byte rather than inside a character (so a valid
// string stays valid).
func truncateUTF8(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
		cut--
	}
	return s[:cut]
}

// truncateBytes is truncateUTF8 for bytes.
func truncateBytes(b []byte, limit int) []byte {
	return b[:len(truncateUTF8(bytesString(b), limit))]
}
