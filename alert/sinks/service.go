package sinks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"golang.org/x/time/rate"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/alert/slack"
)

// DefaultGroupPrefix names the consumer groups of `gatewatch alert`: one
// per sink, DefaultGroupPrefix + "-" + the sink's name.
const DefaultGroupPrefix = "gatewatch-alert"

// Options configure a Service.
type Options struct {
	Config Config
	Deps   Deps
	// Outbox feeds the sinks in the embedded pipeline (`gatewatch run`):
	// each sink reads it from its own cursor.
	Outbox *alert.Outbox
	// FindingsTopic, when Outbox is nil, feeds each sink from its own
	// consumer group on this topic (`gatewatch alert`).
	FindingsTopic string
	// GroupPrefix prefixes those groups' ids (DefaultGroupPrefix).
	GroupPrefix string
}

// Service is the running alert stage: the configured sinks behind one
// Dispatcher, the dead letter, the feedback record and, with Slack's
// signing secret, the buttons' interaction endpoint.
type Service struct {
	d            *alert.Dispatcher
	silences     *alert.Silences
	dead         *alert.DeadLetterFile
	interactions http.Handler
	closers      []io.Closer
}

// New builds the sinks and their feeds. Call Run, then nothing else.
func New(o Options) (s *Service, err error) {
	if o.Outbox == nil && o.FindingsTopic == "" {
		return nil, errors.New("alert: neither an outbox nor a findings topic to read")
	}
	dir := o.Config.stateDir(o.Deps)
	if dir == "" {
		return nil, errors.New("alert: no state directory for the dead letter and feedback")
	}
	built, err := Build(o.Config, o.Deps)
	if err != nil {
		return nil, err
	}
	s = &Service{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.silences, err = alert.OpenSilences(filepath.Join(dir, FeedbackFile)); err != nil {
		return nil, err
	}
	if s.dead, err = alert.OpenDeadLetterFile(filepath.Join(dir, "alert-dead.jsonl")); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.silences, s.dead)
	s.d = alert.New(alert.Options{Routing: o.Config.Routes, Host: host(o.Config.Host), DeadLetter: s.dead,
		Silences: s.silences, FailAfter: o.Config.FailAfter, Log: o.Deps.Log,
		Backoff: alert.Backoff{Initial: o.Config.RetryInitial, Max: o.Config.RetryMax}})
	for _, b := range built {
		feed, err := s.feed(o, b.Sink.Name())
		if err != nil {
			return nil, err
		}
		if err := s.d.Add(b.Sink, feed, b.Pace); err != nil {
			return nil, err
		}
	}
	return s, s.slackInteractions(o.Config.Slack, built)
}

// feed opens the Feed of the sink named name.
func (s *Service) feed(o Options, name string) (alert.Feed, error) {
	if o.Outbox != nil {
		return o.Outbox.Feed(name)
	}
	prefix := o.GroupPrefix
	if prefix == "" {
		prefix = DefaultGroupPrefix
	}
	if _, err := o.Deps.Kafka.Dialer(); err != nil { // the TLS and SASL files, checked now
		return nil, fmt.Errorf("alert sink %s: %w", name, err)
	}
	log := o.Deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &topicFeed{kafka: o.Deps.Kafka, topic: o.FindingsTopic, group: prefix + "-" + name, log: log}
	s.closers = append(s.closers, f)
	return f, nil
}

// slackInteractions builds the buttons' endpoint when a signing secret
// is configured.
func (s *Service) slackInteractions(c *SlackConfig, built []Built) error {
	if c == nil || c.SigningSecretFile == "" {
		return nil
	}
	secret, err := ReadSecret(c.SigningSecretFile)
	if err != nil {
		return fmt.Errorf("alert sink slack: %w", err)
	}
	var sink *slack.Sink
	for _, b := range built {
		if sk, ok := b.Sink.(*slack.Sink); ok {
			sink = sk
		}
	}
	s.interactions = limited(slack.NewInteractionHandler(slack.InteractionOptions{SigningSecret: secret,
		Feedback: slackFeedback{s.silences}, Sink: sink}), interactionRate, interactionBurst)
	return nil
}

// Button clicks are people: a few a second at most. More is someone
// hammering the endpoint, answered 429 before any signature check.
const (
	interactionRate  = 10
	interactionBurst = 30
)

// limited answers 429 (with Retry-After) to requests beyond rate per
// second, bursts of burst.
func limited(h http.Handler, perSecond float64, burst int) http.Handler {
	lim := rate.NewLimiter(rate.Limit(perSecond), burst)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !lim.Allow() {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests", http.StatusTooManyRequests)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Run delivers until ctx is done, then releases the feeds and files.
func (s *Service) Run(ctx context.Context) error {
	defer s.close()
	return s.d.Run(ctx)
}

// Healthy reports sinks failing for longer than Config.FailAfter.
func (s *Service) Healthy() error { return s.d.Healthy() }

// Stats returns every sink's delivery figures.
func (s *Service) Stats() []alert.SinkStats { return s.d.Stats() }

// Interactions is the Slack buttons' endpoint (mount it at
// /slack/interactions), or nil when no signing secret is configured.
func (s *Service) Interactions() http.Handler { return s.interactions }

func (s *Service) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i].Close()
	}
	s.closers = nil
}

// slackFeedback records Slack's button clicks in the feedback file,
// which silences what people silenced.
type slackFeedback struct{ s *alert.Silences }

func (f slackFeedback) Record(ctx context.Context, a slack.Action) error {
	return f.s.Record(ctx, alert.Feedback{At: a.At, Kind: string(a.Kind), IncidentID: a.IncidentID, Client: a.Client,
		Detector: a.Detector, Until: a.Until, User: a.User.ID + " " + a.User.Name, Source: "slack"})
}

// host is the configured name, else the machine's.
func host(configured string) string {
	if configured != "" {
		return configured
	}
	h, _ := os.Hostname()
	return h
}
