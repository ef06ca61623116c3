package transport

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestGroupReaderConfig checks the reader GroupReader sets up, and that
// it refuses what kafka-go would panic on or could not dial with. The
// readers point at a closed port: nothing is read.
func TestGroupReaderConfig(t *testing.T) {
	t.Parallel()
	closed := []string{"127.0.0.1:1"}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		name         string
		cfg          Config
		topic, group string
		maxWait      time.Duration
		wantWait     time.Duration
		wantBrokers  []string
		wantErr      string
	}{
		{name: "default wait", cfg: Config{Brokers: closed}, topic: "t", group: "g", wantWait: DefaultMaxWait, wantBrokers: closed},
		{name: "own wait", cfg: Config{Brokers: closed}, topic: "t", group: "g", maxWait: 250 * time.Millisecond, wantWait: 250 * time.Millisecond, wantBrokers: closed},
		{name: "default broker", topic: "t", group: "g", wantWait: DefaultMaxWait, wantBrokers: []string{DefaultBroker}},
		{name: "no topic", cfg: Config{Brokers: closed}, group: "g", wantErr: "topic and group"},
		{name: "no group", cfg: Config{Brokers: closed}, topic: "t", wantErr: "topic and group"},
		{name: "missing ca", cfg: Config{Brokers: closed, TLS: TLSConfig{Enabled: true, CAFile: missing}}, topic: "t", group: "g", wantErr: "ca file"},
		{name: "invalid", cfg: Config{Brokers: []string{"no-port"}}, topic: "t", group: "g", wantErr: "broker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.cfg.GroupReader(tc.topic, tc.group, tc.maxWait, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("GroupReader error = %v, want one about %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			c := r.Config()
			if c.Topic != tc.topic || c.GroupID != tc.group || c.MaxWait != tc.wantWait || strings.Join(c.Brokers, ",") != strings.Join(tc.wantBrokers, ",") {
				t.Errorf("topic %q group %q wait %v brokers %v", c.Topic, c.GroupID, c.MaxWait, c.Brokers)
			}
			// Commits are the caller's, after its data is durable; a new
			// group starts at the oldest message.
			if c.CommitInterval != 0 || c.StartOffset != kafka.FirstOffset || !c.WatchPartitionChanges || c.Dialer == nil || c.ErrorLogger == nil ||
				c.MinBytes != 1 || c.MaxBytes != 10<<20 {
				t.Errorf("reader config %+v", c)
			}
		})
	}
}

// TestGroupReaderRealBroker reads what was produced as a group member
// and commits it explicitly: the next reader of the group goes on after
// the commit, reading nothing twice.
func TestGroupReaderRealBroker(t *testing.T) {
	t.Parallel()
	cfg := plaintextConfig(t)
	topic := createTopic(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	publish := func(values ...string) {
		t.Helper()
		p, err := NewProducer(cfg, ProducerOptions{Topic: topic})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if err := p.PublishRaw(ctx, []byte(v), []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	read := func(n int) {
		t.Helper()
		r, err := cfg.GroupReader(topic, "gatewatch-test-"+topic, 100*time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var ms []kafka.Message
		for range n {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if seen[string(m.Value)] {
				t.Errorf("%s read twice: the earlier reader's commit did not hold", m.Value)
			}
			seen[string(m.Value)] = true
			ms = append(ms, m)
		}
		if err := r.CommitMessages(ctx, ms...); err != nil {
			t.Fatal(err)
		}
	}
	publish("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
	read(10)
	publish("10", "11", "12")
	read(3)
}
