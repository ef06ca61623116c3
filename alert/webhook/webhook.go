// Package webhook is the generic HTTPS webhook sink: each notification
// POSTed as one document (JSON by default, or any alert.Encoder: ECS,
// OCSF), signed with a keyed HMAC so the receiver can tell it came from
// gatewatch and was not replayed.
//
// The request carries:
//
//	Content-Type: application/json
//	X-Gatewatch-Delivery: <delivery id>     (the same on a redelivery)
//	X-Gatewatch-Timestamp: <unix seconds>
//	X-Gatewatch-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//	Authorization: Bearer <token>           (when a token is configured)
//
// A 2xx answer delivers; 408, 425, 429, 5xx and network errors are
// retried (429 and 503 after their Retry-After); other answers are
// refused for good.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/internal/tlsfiles"
)

// Options configure a Sink. URL is required.
type Options struct {
	// Name is the sink's name in routes and metrics ("webhook" when empty).
	Name string
	// URL is where notifications are POSTed; https unless AllowHTTP.
	URL string
	// AllowHTTP permits a plain http URL (a receiver on loopback).
	AllowHTTP bool
	// Encoder renders the body; nil sends the finding's JSON.
	Encoder alert.Encoder
	// Secret signs each request (X-Gatewatch-Signature); empty sends no
	// signature.
	Secret []byte
	// Token, when set, is sent as a bearer token.
	Token string
	// TLS names the CA (and client certificate) files.
	TLS tlsfiles.Files
	// Timeout bounds one request (10 s when 0).
	Timeout time.Duration
	// Client overrides the HTTP client (tests).
	Client *http.Client
}

// Sink posts notifications to a webhook.
type Sink struct {
	opts   Options
	client *http.Client
	now    func() time.Time
}

// New checks opts and returns a Sink.
func New(opts Options) (*Sink, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || u.Host == "" {
		return nil, errors.New("webhook: url must be an absolute URL")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && opts.AllowHTTP) {
		return nil, errors.New("webhook: url must be https (allow_http for a loopback receiver)")
	}
	if opts.Name == "" {
		opts.Name = "webhook"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	client := opts.Client
	if client == nil {
		tc, err := opts.TLS.Client()
		if err != nil {
			return nil, fmt.Errorf("webhook: %w", err)
		}
		client = &http.Client{Timeout: opts.Timeout, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	}
	return &Sink{opts: opts, client: client, now: time.Now}, nil
}

// Name implements alert.Sink.
func (s *Sink) Name() string { return s.opts.Name }

// Notify posts the notification (one per call).
func (s *Sink) Notify(ctx context.Context, ns ...alert.Notification) (bool, error) {
	for _, n := range ns {
		if retry, err := s.post(ctx, n); err != nil {
			return retry, err
		}
	}
	return false, nil
}

// Body renders n as the sink sends it.
func (s *Sink) Body(n alert.Notification) ([]byte, error) {
	if s.opts.Encoder != nil {
		return s.opts.Encoder(nil, n)
	}
	return json.Marshal(n.Finding)
}

// Sign returns the signature header value of body sent at ts.
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

func (s *Sink) post(ctx context.Context, n alert.Notification) (bool, error) {
	body, err := s.Body(n)
	if err != nil {
		return false, fmt.Errorf("webhook: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("webhook: %w", err)
	}
	ts := s.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gatewatch")
	req.Header.Set("X-Gatewatch-Delivery", n.DeliveryID)
	req.Header.Set("X-Gatewatch-Timestamp", strconv.FormatInt(ts, 10))
	if len(s.opts.Secret) > 0 {
		req.Header.Set("X-Gatewatch-Signature", Sign(s.opts.Secret, ts, body))
	}
	if s.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.opts.Token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return true, fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return alert.ClassifyHTTP(resp)
}
