package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/internal/tlsfiles"
)

// maxAnswer is the most of an answer's body the sink reads: a filtered
// _bulk answer is about 100 bytes per document.
const maxAnswer = 16 << 20

// Error is a request OpenSearch answered with an error status.
type Error struct {
	// Op is what was asked ("_bulk of 500 documents (…)", "index template").
	Op string
	// StatusCode is the HTTP status.
	StatusCode int
	// Type and Reason are OpenSearch's error type and reason, or Reason is
	// the start of the body when it was not OpenSearch's JSON.
	Type, Reason string
	// Hint says what to change, for answers that need a configuration fix.
	Hint string
}

// Error implements error.
func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: HTTP %d", e.Op, e.StatusCode)
	if e.Type != "" {
		msg += " " + e.Type
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// answer is a response's status, Retry-After and body.
type answer struct {
	status     int
	retryAfter string
	raw        []byte
}

// do sends one request with the sink's credentials and reads the answer.
// A non-nil error is a transport failure.
func (s *Sink) do(ctx context.Context, method, path, contentType string, body []byte) (*answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	switch {
	case s.o.APIKey != "":
		req.Header.Set("Authorization", "ApiKey "+s.o.APIKey)
	case s.o.Username != "" || s.o.Password != "":
		req.SetBasicAuth(s.o.Username, s.o.Password)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	return &answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), raw: raw}, nil
}

// classify turns a whole-request error answer into Notify's result: 429
// and 503 are worth retrying (after Retry-After when given), so are other
// 5xx and 408; 401/403 (credentials), 413 (batch too large) and other 4xx
// are not.
func classify(op string, a *answer, docs int) (bool, error) {
	e := &Error{Op: op, StatusCode: a.status}
	var j struct {
		Error json.RawMessage `json:"error"`
	}
	var ie itemError
	switch {
	case json.Unmarshal(a.raw, &j) == nil && json.Unmarshal(j.Error, &ie) == nil && ie.Type != "":
		e.Type, e.Reason = ie.Type, truncate(ie.Reason, maxReason)
	case len(j.Error) > 0 && j.Error[0] == '"': // {"error":"..."}, older servers and proxies
		_ = json.Unmarshal(j.Error, &e.Reason)
	default:
		e.Reason = truncate(strings.TrimSpace(string(a.raw)), 200)
	}
	switch {
	case a.status == http.StatusTooManyRequests || a.status == http.StatusServiceUnavailable:
		if d, ok := alert.ParseRetryAfter(a.retryAfter, time.Now()); ok {
			return true, &alert.RetryAfterError{After: d, Err: e}
		}
		return true, e
	case a.status >= 500 || a.status == http.StatusRequestTimeout:
		return true, e
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		e.Hint = "check the username/password or API key and its index privileges"
	case a.status == http.StatusRequestEntityTooLarge:
		e.Hint = fmt.Sprintf("batch too large: lower MaxBatch below %d or raise the server's http.max_content_length", max(docs, 1))
	}
	return false, e
}

// newClient returns the default HTTP client: the default transport's
// settings with the TLS configuration of tlsfiles.
func newClient(caFile, serverName string) (*http.Client, error) {
	cfg, err := tlsfiles.Files{CAFile: caFile, ServerName: serverName}.Client()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr, Timeout: DefaultTimeout}, nil
}
