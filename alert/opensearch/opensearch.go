// Package opensearch indexes findings as documents in OpenSearch (or
// Elasticsearch) through the _bulk API.
//
// A Sink sends a batch of notifications as one _bulk request of "create"
// actions whose _id is the notification's DeliveryID. Redelivery is
// therefore idempotent: a document sent again answers 409
// version_conflict_engine_exception, which the sink counts as delivered.
// That is also how partial failures are handled: the sink cannot retry
// part of a batch, so when any document of a batch answers 429 or 5xx it
// returns retry true for the whole batch, and on the next attempt the
// documents that were already created come back as 409s.
//
// Documents that fail for good (400 mapper_parsing_exception: a field of
// the wrong type) are reported in an *alert.RejectedError, the others
// being delivered. A batch that needs another attempt reports no
// rejections: the refused documents are refused again, and reported, on
// the attempt that has nothing left to retry.
//
// Whole-request answers: 429 and 503 return retry true (in an
// *alert.RetryAfterError when they carry Retry-After), as do other 5xx,
// 408 and transport failures; 401/403 (credentials), 413 (the batch is
// larger than http.max_content_length: lower MaxBatch) and other 4xx
// return retry false with an *Error.
//
// With Options.Template the sink installs a composable index template
// (PUT _index_template/<Index>) once per process, before its first bulk
// request, so that @timestamp is a date, source.ip an ip, the ids and
// names keywords and the gatewatch.* numbers doubles. A template only
// applies to indices created after it: install it before the first
// document, or roll over to a new (daily) index.
package opensearch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/alert"
)

// Defaults of Options.
const (
	DefaultName     = "opensearch"
	DefaultIndex    = "gatewatch-findings"
	DefaultMaxBatch = 500
	DefaultTimeout  = 30 * time.Second
)

// Options configure a Sink. URL and Encoder are required.
type Options struct {
	// Name is the sink's name in notifications and logs (default
	// "opensearch").
	Name string
	// URL is the cluster's base URL, e.g. https://opensearch:9200.
	URL string
	// Index is the index the documents go to (default
	// "gatewatch-findings"). With IndexDaily each document goes to
	// Index-YYYY.MM.DD instead, the UTC day of its finding's window end.
	Index      string
	IndexDaily bool
	// Username and Password log in with HTTP basic authentication;
	// APIKey (the base64 "id:key" form) with "Authorization: ApiKey".
	// At most one of the two; neither is ever logged.
	Username, Password string
	APIKey             string
	// CAFile and ServerName set up TLS (through internal/tlsfiles) when
	// HTTPClient is nil.
	CAFile, ServerName string
	// Encoder renders a notification as its document: one JSON object
	// (encode.ECS). Output that is not a JSON object is rejected.
	Encoder alert.Encoder
	// Template installs the index template (IndexTemplate) once, before
	// the first bulk request.
	Template bool
	// MaxBatch is the most notifications per _bulk request (default 500).
	MaxBatch int
	// HTTPClient sends the requests; nil means a client with a 30s timeout
	// and the TLS configuration above.
	HTTPClient *http.Client
}

// String describes the options without the password or API key.
func (o Options) String() string {
	return fmt.Sprintf("opensearch{name=%s url=%s index=%s daily=%v user=%s password=%s api_key=%s}",
		o.Name, o.URL, o.Index, o.IndexDaily, o.Username, redacted(o.Password), redacted(o.APIKey))
}

func redacted(secret string) string {
	if secret == "" {
		return "(none)"
	}
	return "(redacted)"
}

// Sink indexes notifications into one OpenSearch cluster. It is safe for
// concurrent use.
type Sink struct {
	o      Options
	base   string
	client *http.Client

	tmplMu    sync.Mutex
	installed bool
}

var (
	_ alert.Sink    = (*Sink)(nil)
	_ alert.Batcher = (*Sink)(nil)
)

// New checks o, fills in the defaults and returns the sink.
func New(o Options) (*Sink, error) {
	base, err := url.Parse(strings.TrimRight(o.URL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("opensearch: url %q: want http(s)://host:port", o.URL)
	}
	if o.Encoder == nil {
		return nil, errors.New("opensearch: an Encoder is required (encode.ECS)")
	}
	if o.APIKey != "" && (o.Username != "" || o.Password != "") {
		return nil, errors.New("opensearch: set either Username/Password or APIKey, not both")
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Index == "" {
		o.Index = DefaultIndex
	}
	if err := checkIndex(o.Index); err != nil {
		return nil, err
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	client := o.HTTPClient
	if client == nil {
		if client, err = newClient(o.CAFile, o.ServerName); err != nil {
			return nil, fmt.Errorf("opensearch: %w", err)
		}
	}
	return &Sink{o: o, base: base.String(), client: client}, nil
}

// checkIndex refuses names OpenSearch refuses (lowercase, none of
// \/*?"<>| ,#:, no leading -_+), before the first request does.
func checkIndex(name string) error {
	if name != strings.ToLower(name) || strings.ContainsAny(name, `\/*?"<>| ,#:`) ||
		strings.IndexAny(name[:1], "-_+.") == 0 || len(name) > 200 {
		return fmt.Errorf("opensearch: invalid index name %q (lowercase, no spaces or \\/*?\"<>|,#:, "+
			"not starting with -_+.)", name)
	}
	return nil
}

// Name returns the sink's name.
func (s *Sink) Name() string { return s.o.Name }

// MaxBatch returns the most notifications Notify takes at once.
func (s *Sink) MaxBatch() int { return s.o.MaxBatch }

// IndexFor returns the index n's document goes to.
func (s *Sink) IndexFor(n alert.Notification) string {
	if !s.o.IndexDaily {
		return s.o.Index
	}
	t := n.Finding.WindowEnd
	if t.IsZero() {
		t = time.Now()
	}
	return s.o.Index + "-" + t.UTC().Format("2006.01.02")
}

// Notify indexes ns with one _bulk request; see the package comment for
// how per-document answers map to retry and *alert.RejectedError.
func (s *Sink) Notify(ctx context.Context, ns ...alert.Notification) (bool, error) {
	if len(ns) == 0 {
		return false, nil
	}
	if s.o.Template {
		if retry, err := s.ensureTemplate(ctx); err != nil {
			return retry, err
		}
	}
	body, ids, rejected := s.bulkBody(ns)
	if rejected == nil {
		rejected = make(map[string]string)
	}
	if len(ids) > 0 {
		ans, retry, err := s.bulk(ctx, body, len(ids))
		if err != nil {
			return retry, err
		}
		if retry, err := s.collect(ans, ids, rejected); retry || err != nil {
			return retry, err
		}
	}
	if len(rejected) > 0 {
		return false, &alert.RejectedError{Reasons: rejected}
	}
	return false, nil
}

// ensureTemplate installs the index template unless this sink already
// did. A failure leaves it to the next call.
func (s *Sink) ensureTemplate(ctx context.Context) (bool, error) {
	s.tmplMu.Lock()
	defer s.tmplMu.Unlock()
	if s.installed {
		return false, nil
	}
	ans, err := s.do(ctx, http.MethodPut, "/_index_template/"+url.PathEscape(s.o.Index), "application/json", IndexTemplate(s.o.Index))
	if err != nil {
		return true, fmt.Errorf("opensearch %s: index template: %w", s.o.Name, err)
	}
	if ans.status/100 != 2 {
		retry, err := classify("index template", ans, 0)
		return retry, fmt.Errorf("opensearch %s: %w", s.o.Name, err)
	}
	s.installed = true
	return false, nil
}
