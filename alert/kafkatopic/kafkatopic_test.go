package kafkatopic

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/ingest/transport"
)

func TestRetryable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{io.ErrUnexpectedEOF, true},
		{kafka.LeaderNotAvailable, true},
		{fmt.Errorf("write: %w", kafka.MessageSizeTooLarge), false},
		{kafka.TopicAuthorizationFailed, false},
		{kafka.WriteErrors{nil, kafka.NotLeaderForPartition}, true},
		{kafka.WriteErrors{nil, kafka.MessageSizeTooLarge}, false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("%v: retryable %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{Kafka: transport.Config{Brokers: []string{"127.0.0.1:9092"}}}); err == nil {
		t.Error("no topic accepted")
	}
	s, err := New(Options{Kafka: transport.Config{Brokers: []string{"127.0.0.1:9092"}}, Topic: "alerts"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "kafka" || s.MaxBatch() < 1 {
		t.Errorf("defaults: %q %d", s.Name(), s.MaxBatch())
	}
	if err := s.Close(); err != nil && !errors.Is(err, io.EOF) {
		t.Error(err)
	}
}
