// Package kafkatopic is the sink that forwards notifications to a Kafka
// topic, for SIEM pipelines that consume from Kafka (Logstash, Vector,
// a Splunk Connect for Kafka): one message per notification, keyed by
// incident so an incident's emissions stay in order on one partition,
// the delivery id in a header, the body from any alert.Encoder (ECS,
// OCSF, the finding's JSON by default).
package kafkatopic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/ingest/transport"
)

// Options configure a Sink; Kafka and Topic are required.
type Options struct {
	// Name is the sink's name in routes and metrics ("kafka" when empty).
	Name string
	// Kafka is the cluster, with its TLS and SASL settings.
	Kafka transport.Config
	// Topic receives the notifications.
	Topic string
	// Encoder renders a message's value; nil sends the finding's JSON.
	Encoder alert.Encoder
	// AllowAutoTopicCreation lets the broker create Topic (tests).
	AllowAutoTopicCreation bool
}

// Sink writes notifications to a topic, acknowledged by every in-sync
// replica before Notify returns.
type Sink struct {
	opts Options
	w    *kafka.Writer
}

// New checks opts and returns a Sink.
func New(opts Options) (*Sink, error) {
	if opts.Topic == "" {
		return nil, errors.New("kafka sink: topic is required")
	}
	if err := opts.Kafka.Validate(); err != nil {
		return nil, fmt.Errorf("kafka sink: %w", err)
	}
	tr, err := opts.Kafka.Transport()
	if err != nil {
		return nil, fmt.Errorf("kafka sink: %w", err)
	}
	if opts.Name == "" {
		opts.Name = "kafka"
	}
	w := &kafka.Writer{Addr: opts.Kafka.Addr(), Topic: opts.Topic, Transport: tr, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, MaxAttempts: 1, BatchTimeout: time.Millisecond,
		AllowAutoTopicCreation: opts.AllowAutoTopicCreation}
	return &Sink{opts: opts, w: w}, nil
}

// Name implements alert.Sink.
func (s *Sink) Name() string { return s.opts.Name }

// MaxBatch implements alert.Batcher.
func (s *Sink) MaxBatch() int { return 500 }

// Notify writes ns in one produce request per partition.
func (s *Sink) Notify(ctx context.Context, ns ...alert.Notification) (bool, error) {
	msgs := make([]kafka.Message, 0, len(ns))
	for _, n := range ns {
		var v []byte
		var err error
		if s.opts.Encoder != nil {
			v, err = s.opts.Encoder(nil, n)
		} else {
			v, err = json.Marshal(n.Finding)
		}
		if err != nil {
			return false, fmt.Errorf("kafka sink: encode: %w", err)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(n.Finding.IncidentID), Value: v,
			Headers: []kafka.Header{{Key: "delivery_id", Value: []byte(n.DeliveryID)}}})
	}
	if err := s.w.WriteMessages(ctx, msgs...); err != nil {
		return retryable(err), fmt.Errorf("kafka sink: %w", err)
	}
	return false, nil
}

// retryable: a message too large or a topic we may not write will not
// get better; everything else (leaders moving, brokers down) may.
func retryable(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && !retryable(e) {
				return false
			}
		}
		return true
	}
	for _, bad := range []kafka.Error{kafka.MessageSizeTooLarge, kafka.TopicAuthorizationFailed,
		kafka.InvalidTopic, kafka.SASLAuthenticationFailed} {
		if errors.Is(err, bad) {
			return false
		}
	}
	return true
}

// Close flushes and closes the writer.
func (s *Sink) Close() error { return s.w.Close() }
