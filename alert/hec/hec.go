// Package hec delivers findings to a Splunk HTTP Event Collector (HEC).
//
// A Sink posts a batch of notifications as one request to
// {URL}/services/collector/event: one JSON envelope per notification,
// concatenated, each carrying the encoded finding as its "event" and the
// notification's DeliveryID as the indexed field "delivery_id". HEC has no
// idempotent write, so a redelivered batch is indexed twice; searches
// deduplicate on delivery_id (`| dedup delivery_id`).
//
// With Options.Ack (indexer acknowledgement, the token's useACK), Notify
// returns only once Splunk reports the batch indexed, polling
// {URL}/services/collector/ack; without it, a 200 answer (the events are
// queued on the receiving HEC node) counts as delivered.
//
// The sink never retries or sleeps between attempts (the alert.Dispatcher
// does); the only waiting it does is the acknowledgement poll, which is
// part of one delivery and stops when ctx ends.
package hec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/alert"
)

// Defaults of Options.
const (
	DefaultName       = "hec"
	DefaultSource     = "gatewatch"
	DefaultSourcetype = "gatewatch:finding"
	DefaultMaxBatch   = 100
	DefaultAckTimeout = 60 * time.Second
	DefaultAckPoll    = time.Second
	DefaultTimeout    = 30 * time.Second
)

// Options configure a Sink. URL and Token are required.
type Options struct {
	// Name is the sink's name in notifications and logs (default "hec").
	Name string
	// URL is the collector's base URL, e.g. https://splunk:8088; the sink
	// appends /services/collector/event and /services/collector/ack.
	URL string
	// Token is the HEC token, sent as "Authorization: Splunk <token>".
	// The caller reads it from a file; the sink never logs it.
	Token string
	// Index, Source and Sourcetype go into every envelope. An empty Index
	// is left out (the token's default index); Source defaults to
	// "gatewatch", Sourcetype to "gatewatch:finding".
	Index, Source, Sourcetype string
	// Encoder renders a notification as the envelope's "event". Output
	// that is valid JSON is embedded as is (an object for ECS or OCSF);
	// anything else (CEF, LEEF, text) is embedded as a JSON string. Nil
	// means json.Marshal(n.Finding) (detect.Finding's JSON fields).
	Encoder alert.Encoder
	// CAFile and ServerName set up TLS (through internal/tlsfiles) when
	// HTTPClient is nil: the CAs to trust instead of the system roots, and
	// the name to verify instead of URL's host.
	CAFile, ServerName string
	// Channel is the X-Splunk-Request-Channel, a UUID. Empty means a random
	// UUID made by New: one channel per Sink, hence per process; it is not
	// persisted, since HEC forgets a channel's pending acks on restart too.
	Channel string
	// Ack turns on indexer acknowledgement: Notify polls the ack endpoint
	// after 50ms, then at doubling intervals up to AckPoll (default 1s),
	// until the batch is indexed, and gives up
	// after AckTimeout (default 60s) with retry true.
	Ack        bool
	AckTimeout time.Duration
	AckPoll    time.Duration
	// MaxBatch is the most notifications per request (default 100).
	MaxBatch int
	// HTTPClient sends the requests; nil means a client with a 30s timeout
	// and the TLS configuration above.
	HTTPClient *http.Client
}

// String describes the options without the token, so that logging them
// does not leak it.
func (o Options) String() string {
	return fmt.Sprintf("hec{name=%s url=%s index=%s ack=%v token=%s}", o.Name, o.URL, o.Index, o.Ack, redacted(o.Token))
}

func redacted(secret string) string {
	if secret == "" {
		return "(none)"
	}
	return "(redacted)"
}

// Sink delivers notifications to one HEC endpoint. It is safe for
// concurrent use.
type Sink struct {
	o        Options
	eventURL string
	ackURL   string
	client   *http.Client
}

var (
	_ alert.Sink    = (*Sink)(nil)
	_ alert.Batcher = (*Sink)(nil)
)

// New checks o, fills in the defaults and returns the sink.
func New(o Options) (*Sink, error) {
	base, err := url.Parse(strings.TrimRight(o.URL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("hec: url %q: want http(s)://host:port", o.URL)
	}
	if o.Token == "" {
		return nil, errors.New("hec: a token is required")
	}
	if err := o.defaults(); err != nil {
		return nil, err
	}
	client := o.HTTPClient
	if client == nil {
		if client, err = newClient(o.CAFile, o.ServerName); err != nil {
			return nil, fmt.Errorf("hec: %w", err)
		}
	}
	s := &Sink{o: o, client: client, eventURL: base.String() + "/services/collector/event"}
	s.ackURL = base.String() + "/services/collector/ack?channel=" + url.QueryEscape(o.Channel)
	return s, nil
}

// defaults fills in o's zero fields and checks the channel.
func (o *Options) defaults() error {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Source == "" {
		o.Source = DefaultSource
	}
	if o.Sourcetype == "" {
		o.Sourcetype = DefaultSourcetype
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.AckPoll <= 0 {
		o.AckPoll = DefaultAckPoll
	}
	if o.Encoder == nil {
		o.Encoder = findingJSON
	}
	if o.Channel == "" {
		ch, err := newUUID()
		if err != nil {
			return fmt.Errorf("hec: channel: %w", err)
		}
		o.Channel = ch
	} else if !isUUID(o.Channel) {
		return fmt.Errorf("hec: channel %q is not a UUID", o.Channel)
	}
	return nil
}

// findingJSON is the default Encoder: the finding's JSON.
func findingJSON(dst []byte, n alert.Notification) ([]byte, error) {
	b, err := json.Marshal(n.Finding)
	return append(dst, b...), err
}

// Name returns the sink's name.
func (s *Sink) Name() string { return s.o.Name }

// MaxBatch returns the most notifications Notify takes at once.
func (s *Sink) MaxBatch() int { return s.o.MaxBatch }

// Channel returns the X-Splunk-Request-Channel the sink sends.
func (s *Sink) Channel() string { return s.o.Channel }

// Notify sends ns in one request and, with Ack, waits until they are
// indexed. Notifications the Encoder fails on are reported in a
// *alert.RejectedError (the others are still sent). Transport failures
// (including a certificate that does not verify), 429, 503, other 5xx and
// missing acknowledgements return retry true, 429/503 wrapped in an
// *alert.RetryAfterError when they carry Retry-After; other answers
// (400 bad data, 401/403 bad token) return retry false with an *Error.
func (s *Sink) Notify(ctx context.Context, ns ...alert.Notification) (bool, error) {
	if len(ns) == 0 {
		return false, nil
	}
	body, ids, rejected := s.encode(ns)
	if len(ids) > 0 {
		ackID, retry, err := s.send(ctx, body, ids)
		if err != nil {
			return retry, err
		}
		if s.o.Ack {
			if retry, err := s.waitAck(ctx, ackID); err != nil {
				return retry, err
			}
		}
	}
	if len(rejected) > 0 {
		return false, &alert.RejectedError{Reasons: rejected}
	}
	return false, nil
}

// send posts body and returns the ack id HEC gave it (-1 without Ack).
func (s *Sink) send(ctx context.Context, body []byte, ids []string) (int64, bool, error) {
	resp, err := s.post(ctx, s.eventURL, body)
	if err != nil {
		return -1, true, fmt.Errorf("hec %s: %w", s.o.Name, err)
	}
	if resp.status != http.StatusOK {
		return classify(resp, ids)
	}
	if resp.code < 0 {
		return -1, true, fmt.Errorf("hec %s: HTTP 200 but not HEC's answer (a proxy?): %s", s.o.Name, snippet(resp.raw))
	}
	if !s.o.Ack {
		return -1, false, nil
	}
	if resp.ack == nil {
		return -1, false, fmt.Errorf("hec %s: Ack is set but the answer has no ackId: "+
			"the token has indexer acknowledgement off (the events were accepted unacknowledged); "+
			"turn on useACK for the token or unset Ack", s.o.Name)
	}
	return *resp.ack, false, nil
}

// envelope is one event of a request body.
type envelope struct {
	Time       json.RawMessage   `json:"time,omitempty"`
	Host       string            `json:"host,omitempty"`
	Source     string            `json:"source,omitempty"`
	Sourcetype string            `json:"sourcetype,omitempty"`
	Index      string            `json:"index,omitempty"`
	Event      json.RawMessage   `json:"event"`
	Fields     map[string]string `json:"fields"`
}

// encode renders the request body: one envelope per notification the
// Encoder accepts. ids lists their delivery ids in body order; rejected
// holds the reasons of the others.
func (s *Sink) encode(ns []alert.Notification) (body []byte, ids []string, rejected map[string]string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	var scratch []byte
	for _, n := range ns {
		var err error
		scratch, err = s.o.Encoder(scratch[:0], n)
		if err == nil && len(bytes.TrimSpace(scratch)) == 0 {
			err = errors.New("empty event")
		}
		if err != nil {
			if rejected == nil {
				rejected = make(map[string]string)
			}
			rejected[n.DeliveryID] = "encode: " + err.Error()
			continue
		}
		env := envelope{Host: n.Host, Source: s.o.Source, Sourcetype: s.o.Sourcetype, Index: s.o.Index,
			Event: eventJSON(scratch), Fields: map[string]string{"delivery_id": n.DeliveryID}}
		if t := n.Finding.WindowEnd; !t.IsZero() {
			env.Time = json.RawMessage(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
		}
		if err := enc.Encode(env); err != nil { // cannot fail: every part is valid JSON
			panic(err)
		}
		ids = append(ids, n.DeliveryID)
	}
	return buf.Bytes(), ids, rejected
}

// eventJSON embeds an encoder's output: valid JSON as is (compacted),
// anything else as a JSON string.
func eventJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		var out bytes.Buffer
		if json.Compact(&out, b) == nil {
			return out.Bytes()
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(strings.TrimRight(string(b), "\r\n")) // a string always encodes
	return bytes.TrimRight(out.Bytes(), "\n")
}
