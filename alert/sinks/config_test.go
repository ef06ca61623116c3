package sinks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"empty", Config{}, ""},
		{"syslog", Config{Syslog: []SyslogConfig{{Address: "siem:6514", Transport: "tls", Format: "cef"}}}, ""},
		{"syslog transport", Config{Syslog: []SyslogConfig{{Address: "siem:514", Transport: "sctp", Format: "cef"}}}, `transport "sctp"`},
		{"syslog format", Config{Syslog: []SyslogConfig{{Address: "siem:514", Transport: "udp", Format: "json"}}}, `format "json"`},
		{"slack without token", Config{Slack: &SlackConfig{Channel: "#x"}}, "token_file or webhook_url_file"},
		{"slack bot without channel", Config{Slack: &SlackConfig{TokenFile: "t"}}, "channel"},
		{"two unnamed webhooks", Config{Webhook: []WebhookConfig{{URL: "https://a"}, {URL: "https://b"}}}, ""},
		{"duplicate names", Config{Webhook: []WebhookConfig{{Name: "x", URL: "https://a"}}, Kafka: []KafkaConfig{{Name: "x", Topic: "t"}}}, `two sinks named "x"`},
		{"route to nowhere", Config{Webhook: []WebhookConfig{{URL: "https://a"}}, Routes: []alert.Route{{Sinks: []string{"slack"}}}}, `no sink named "slack"`},
		{"bad severity", Config{Webhook: []WebhookConfig{{URL: "https://a"}}, Routes: []alert.Route{{Sinks: []string{"webhook"}, MinSeverity: "urgent"}}}, "min_severity"},
		{"hec needs a token", Config{HEC: []HECConfig{{URL: "https://splunk:8088"}}}, "token_file"},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestReadSecretAndSendTest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	if _, err := ReadSecret(empty); err == nil {
		t.Error("an empty secret file accepted")
	}
	cfg := Config{Webhook: []WebhookConfig{{URL: "https://127.0.0.1:1/hook"}}}
	if _, err := SendTest(context.Background(), cfg, Deps{}, "slack"); err == nil {
		t.Error("a test of an unconfigured sink succeeded")
	}
	res, err := SendTest(context.Background(), Config{Webhook: []WebhookConfig{{URL: "https://127.0.0.1:1/hook"}}}, Deps{}, "webhook")
	if err != nil || res.Err == nil || !res.Retryable || res.Attempts != 3 {
		t.Errorf("sending to a closed port: %+v, %v", res, err)
	}
	if f := SampleFinding(time.Now()); f.Status != detect.StatusOpen || !strings.Contains(f.Summary, "test") {
		t.Errorf("sample finding %+v", f)
	}
}

func TestInteractionsRateLimited(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := limited(ok, 1, 3)
	codes := map[int]int{}
	for range 10 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/slack/interactions", nil))
		codes[rec.Code]++
	}
	if codes[http.StatusOK] != 3 || codes[http.StatusTooManyRequests] != 7 {
		t.Errorf("10 requests at once with a burst of 3: %v", codes)
	}
}
