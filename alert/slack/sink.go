package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/gatewatch/gatewatch/alert"
)

// DefaultAPIURL is Slack's Web API base URL.
const DefaultAPIURL = "https://slack.com/api/"

// Defaults of Options.
const (
	DefaultName       = "slack"
	DefaultDigestOver = 5
	DefaultMaxBatch   = 50
)

// Message metadata event types, by which a restarted sink finds its
// messages in the channel's history.
const (
	EventIncident = "gatewatch_incident" // payload {"incident_id": …}
	EventDigest   = "gatewatch_digest"   // payload {"incident_ids": […]}
)

// History lookback when looking for a message posted before a crash.
const (
	historyLimit  = 200
	historyWindow = 24 * time.Hour
)

// Options configures a Sink. The zero value of every field but the
// destination (Token and Channel, or WebhookURL) works.
type Options struct {
	// Token is the bot token (xoxb-…); the command reads it from its
	// token_file. Set, it selects bot mode: one message per incident,
	// edited as the incident changes.
	Token string
	// Channel is where bot mode posts: a channel id (C…) or name. With a
	// name, the crash-recovery lookup works only once a post has told
	// the sink the channel's id.
	Channel string
	// APIURL is the Web API base URL; empty means DefaultAPIURL.
	APIURL string
	// WebhookURL is an incoming webhook, used when Token is empty:
	// messages cannot be edited there, so only open and resolved
	// emissions are posted, without buttons.
	WebhookURL string
	// StateDir is the directory of the file mapping incidents to their
	// messages. Empty keeps the map in memory only: after a restart the
	// sink relies on the channel's history to find its messages.
	StateDir string
	// GrafanaURL is a link template with placeholders {{client}},
	// {{detector}}, {{incident}}, {{from}} and {{to}} (Unix ms), e.g.
	// https://grafana.example/d/gw-client?var-client={{client}}. Values
	// are URL-escaped. Empty leaves the link out.
	GrafanaURL string
	// DigestOver is how many new incidents one batch may open before the
	// sink posts one digest message for them instead; 0 means
	// DefaultDigestOver, negative never digests.
	DigestOver int
	// HTTPClient sends the requests; nil means a client with a 30s
	// timeout.
	HTTPClient *http.Client
	// Name is the sink's name for routing and logs; empty means
	// DefaultName.
	Name string
	// Logger gets warnings the caller cannot act on (a failed history
	// lookup, a chart not attached); nil means slog.Default().
	Logger *slog.Logger
	// Chart draws a resolved incident's chart, uploaded in bot mode into
	// its message's thread (the app needs the files:write scope); nil
	// attaches no charts.
	Chart Charter
}

// Sink delivers notifications to Slack. It implements alert.Sink and
// alert.Batcher; it never retries, waits or rate-limits: the dispatcher
// does. It is safe for concurrent use; calls to Notify are serialised.
type Sink struct {
	opts Options
	api  *slackapi.Client // nil in webhook mode
	http *http.Client
	st   *store
	mu   sync.Mutex // serialises Notify, so an incident is posted once
	log  *slog.Logger
	now  func() time.Time
	// chartFails counts the retryable failures of each incident's chart
	// upload in this process (under mu): see maxChartTries.
	chartFails map[string]int
}

var (
	_ alert.Sink    = (*Sink)(nil)
	_ alert.Batcher = (*Sink)(nil)
)

// New returns a Sink for opts, with its state loaded from StateDir.
func New(opts Options) (*Sink, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	st, err := openStore(opts.StateDir, opts.Name)
	if err != nil {
		return nil, err
	}
	s := &Sink{opts: opts, http: opts.HTTPClient, st: st, log: opts.Logger, now: time.Now, chartFails: map[string]int{}}
	if opts.Token != "" {
		s.api = slackapi.New(opts.Token, slackapi.OptionAPIURL(opts.APIURL), slackapi.OptionHTTPClient(opts.HTTPClient))
	}
	return s, nil
}

// fill checks o and sets its defaults.
func (o *Options) fill() error {
	switch {
	case o.Token != "" && o.Channel == "":
		return errors.New("slack: a channel is required with a token")
	case o.Token == "" && o.WebhookURL == "":
		return errors.New("slack: a token or a webhook URL is required")
	case o.Token == "" && !httpURL(o.WebhookURL):
		return errors.New("slack: the webhook URL must be an http(s) URL")
	}
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	if !httpURL(o.APIURL) {
		return fmt.Errorf("slack: bad API URL %q", o.APIURL)
	}
	if !strings.HasSuffix(o.APIURL, "/") {
		o.APIURL += "/"
	}
	if o.DigestOver == 0 {
		o.DigestOver = DefaultDigestOver
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// httpURL reports whether s is an absolute http(s) URL.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Name returns the sink's name.
func (s *Sink) Name() string { return s.opts.Name }

// MaxBatch is the most notifications Notify takes at once.
func (s *Sink) MaxBatch() int { return DefaultMaxBatch }

// Notify delivers ns: in bot mode as one message per incident, edited
// and replied to in its thread as the incident changes (or one digest
// for a burst of new incidents); in webhook mode as one message per open
// and resolved emission. See alert.Sink for what the results mean;
// notifications already delivered are never posted again on a retry.
func (s *Sink) Notify(ctx context.Context, ns ...alert.Notification) (retry bool, err error) {
	if len(ns) == 0 {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.api == nil {
		return s.notifyWebhook(ctx, ns)
	}
	return s.notifyBot(ctx, ns)
}

// blockOpts returns the block options of a message of this sink.
func (s *Sink) blockOpts(delivery string, notes []string) BlockOptions {
	return BlockOptions{DeliveryID: delivery, GrafanaURL: s.opts.GrafanaURL, NoButtons: s.api == nil, Notes: notes}
}

// batch collects the outcome of one Notify call.
type batch struct {
	rejected map[string]string // delivery id → reason
}

// handle decides what err, from delivering the notifications ids, means
// for the call: stop now (retry or fatal), or go on with the others
// after rejecting ids.
func (b *batch) handle(ctx context.Context, err error, ids []string) (stop, retry bool, out error) {
	if err == nil {
		return false, false, nil
	}
	if ctx.Err() != nil {
		return true, true, err
	}
	retry, err = classify(err)
	if retry || fatal(err) {
		return true, retry, err
	}
	reason := slackCode(err)
	if reason == "" {
		reason = err.Error()
	}
	if b.rejected == nil {
		b.rejected = map[string]string{}
	}
	for _, id := range ids {
		b.rejected[id] = reason
	}
	return false, false, nil
}

// result is the call's outcome once every notification was tried.
func (b *batch) result() (bool, error) {
	if len(b.rejected) > 0 {
		return false, &alert.RejectedError{Reasons: b.rejected}
	}
	return false, nil
}
