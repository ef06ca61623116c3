package hec

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/internal/tlsfiles"
)

// maxAnswer is the most of an answer's body the sink reads.
const maxAnswer = 64 << 10

// HEC status codes (the "code" of an answer) the sink tells apart.
const (
	codeServerBusy  = 9
	codeAckDisabled = 14
)

// Error is a request HEC answered with an error.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code and Text are HEC's code and message ("Invalid data format",
	// 6); Code is -1 when the answer was not HEC's JSON.
	Code int
	Text string
	// InvalidEvent is the delivery id of the event HEC named as invalid
	// (its "invalid-event-number"), if any. Events before it in the same
	// request may have been indexed.
	InvalidEvent string
}

// Error implements error.
func (e *Error) Error() string {
	msg := fmt.Sprintf("hec: HTTP %d", e.StatusCode)
	if e.Code >= 0 {
		msg += fmt.Sprintf(", code %d", e.Code)
	}
	if e.Text != "" {
		msg += ": " + e.Text
	}
	if e.InvalidEvent != "" {
		msg += " (event " + e.InvalidEvent + ")"
	}
	return msg
}

// answer is the part of an HEC answer the sink reads.
type answer struct {
	status     int
	code       int
	text       string
	ack        *int64
	invalid    int
	retryAfter string
	raw        []byte
}

// post sends body to u with the token and channel headers and reads the
// answer. A non-nil error is a transport failure.
func (s *Sink) post(ctx context.Context, u string, body []byte) (*answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Splunk "+s.o.Token)
	req.Header.Set("X-Splunk-Request-Channel", s.o.Channel)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	a := &answer{status: resp.StatusCode, code: -1, invalid: -1, raw: raw, retryAfter: resp.Header.Get("Retry-After")}
	var j struct {
		Text    string `json:"text"`
		Code    *int   `json:"code"`
		AckID   *int64 `json:"ackId"`
		Invalid *int   `json:"invalid-event-number"`
	}
	if json.Unmarshal(raw, &j) == nil {
		a.text, a.ack = j.Text, j.AckID
		if j.Code != nil {
			a.code = *j.Code
		}
		if j.Invalid != nil {
			a.invalid = *j.Invalid
		}
	}
	return a, nil
}

// classify turns an error answer to an event request into Notify's
// result: 429 and 503 (busy, queues full) are worth retrying, after
// Retry-After when given; so are other 5xx. 4xx (bad token, bad data,
// wrong index, ack disabled) are not.
func classify(a *answer, ids []string) (int64, bool, error) {
	e := &Error{StatusCode: a.status, Code: a.code, Text: a.text}
	if e.Text == "" && e.Code < 0 {
		e.Text = snippet(a.raw)
	}
	if a.invalid >= 0 && a.invalid < len(ids) {
		e.InvalidEvent = ids[a.invalid]
	}
	switch {
	case a.status == http.StatusTooManyRequests || a.status == http.StatusServiceUnavailable || a.code == codeServerBusy:
		if d, ok := alert.ParseRetryAfter(a.retryAfter, time.Now()); ok {
			return -1, true, &alert.RetryAfterError{After: d, Err: e}
		}
		return -1, true, e
	case a.status >= 500:
		return -1, true, e
	default:
		return -1, false, e
	}
}

// snippet shortens a non-HEC answer for an error message.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
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

// newUUID returns a random (version 4) UUID.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// isUUID reports whether s looks like a UUID (8-4-4-4-12 hex digits).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}
