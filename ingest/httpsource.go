package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// HTTPToken is one bearer token HTTPSource accepts. The token itself is
// never kept: only its HMAC-SHA256 under HTTPSourceOptions.TokenKey.
type HTTPToken struct {
	// Name identifies the sender in HTTPBatch.Identity and in logs, in place
	// of the token.
	Name string
	// Hash is HashToken(TokenKey, token), hex; give Hash or File.
	Hash string
	// File holds the token (surrounding white space ignored), e.g. a
	// mounted secret.
	File string
}

// HashToken returns the hex HMAC-SHA256 of token under key: what
// HTTPToken.Hash holds, so configuration never carries a usable token.
func HashToken(key []byte, token string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(token))
	return hex.EncodeToString(mac.Sum(nil))
}

// HTTPSourceOptions configure an HTTPSource.
type HTTPSourceOptions struct {
	// Tokens are the bearer tokens accepted. With none, RequireClientCert
	// must be set: an open ingest endpoint is not offered.
	Tokens []HTTPToken
	// TokenKey is the HMAC key token hashes were made with; required with
	// hashes, and generated per process when only token files are used.
	TokenKey []byte
	// RequireClientCert admits only requests over TLS with a verified client
	// certificate (the server's tls.Config must ask for one); its subject is
	// then the identity. Tokens, if any, are required as well.
	RequireClientCert bool
	// MaxBodyBytes bounds a request body, after decompression (default 10
	// MiB); larger requests get 413.
	MaxBodyBytes int64
	// Rate is the requests per second each identity may send (0: no
	// limit), with bursts of Burst (default: one second's worth, at least 1).
	Rate  float64
	Burst int
	// RetryAfter is what 503 answers ask a sender to wait (default 1s).
	RetryAfter time.Duration
	// MaxLineBytes is the longest line taken (default DefaultMaxLine); a
	// longer one is rejected on its own ("line too long"), cut to it.
	MaxLineBytes int
	// MaxWait bounds how long one request waits for the pipeline to take
	// its lines (the transport's buffer full, the request before still
	// being taken) before it is answered 503 (default 10s).
	MaxWait time.Duration
	// Logger gets rejected requests and callback failures; default discard.
	Logger *slog.Logger
}

// HTTPBatch is what one request carried, and what the callback did with
// it. Lines, Events and Invalid alias buffers reused after the callback
// returns.
type HTTPBatch struct {
	Identity string // token name or client certificate subject
	Source   string // X-Gatewatch-Source, or ""
	Format   string // X-Gatewatch-Format or ?format=, or "" (for Lines)
	// Lines are the body's non-blank lines, in order (for /v1/events each
	// event's text), and Numbers their 1-based numbers in the
	// (decompressed) body, blank lines counted: what answers name.
	Lines   [][]byte
	Numbers []int
	// Events, for /v1/events only, are Lines decoded, index-aligned.
	Events []Event
	// Invalid[i], when not "", is why Lines[i] was refused before
	// decoding: longer than MaxLineBytes (it is cut to it), or for
	// /v1/events no wire event. The callback rejects such a line.
	Invalid []string

	// Rejected is the callback's: the lines it rejected (kept as dead
	// letters, not to be sent again), in order, with why.
	Rejected []HTTPRejected
	// Handled is the callback's when it fails: how many lines, from the
	// first, it took or rejected before it failed. The answer asks the
	// sender to send the others again; left 0, all of them.
	Handled int
}

// HTTPRejected is a line the callback rejected.
type HTTPRejected struct {
	Index  int    // into HTTPBatch.Lines
	Reason string // why, for the sender: about the line, never internals
}

// HTTPSourceStats are an HTTPSource's counters.
type HTTPSourceStats struct {
	Requests       int64 // requests taken whole (callback returned nil)
	Lines          int64 // lines accepted (taken, not rejected)
	Events         int64 // events accepted
	Rejected       int64 // lines and events rejected one by one
	Unauthorized   int64 // 401s
	RateLimited    int64 // 429s
	TooLarge       int64 // 413s
	BadRequests    int64 // 400s, 405s, 415s
	CallbackErrors int64 // 503s (the callback failed)
}

// HTTPSource receives access-log lines and wire-encoded events over HTTP:
//
//	POST /v1/lines   text/plain, one raw log line per line
//	POST /v1/events  application/x-ndjson, one DecodeWire event per line
//
// The Content-Type is required (415 otherwise: a form post is a mistake,
// not log lines); application/ndjson and application/jsonl also do for
// events. The format of lines is named by X-Gatewatch-Format or ?format=
// (400 for one Formats does not list), the sender's name for them by
// X-Gatewatch-Source. Bodies may be gzip-compressed (Content-Encoding: gzip).
//
// Each admitted request is handed whole to the callback, which takes its
// lines in order and answers for each. The answer is JSON and names lines
// by their 1-based number in the (decompressed) body, blank lines counted:
//
//	200 {"accepted":97,"rejected":[{"line":3,"reason":"nginx_combined: bad status"}]}
//
// 200: every line was taken. "accepted" counts those published;
// "rejected" lists, in order, the lines refused one by one (a line that
// does not parse, is longer than MaxLineBytes, has a time far in the
// future, or for /v1/events is no wire event) — each is kept as a dead
// letter, so sending it again changes nothing. "rejected" is [] when
// there is none.
//
//	503 {"accepted":40,"rejected":[],"retry_from":42}   (and Retry-After)
//
// 503: the pipeline could not take everything in time (Kafka's buffer
// full, MaxWait passed). The lines before "retry_from" were taken,
// accepted or rejected as listed; that line and those after it were not.
// A sender waits Retry-After and sends again only the lines from
// "retry_from" on: nothing is then published twice. ("retry_from" is the
// first line when nothing was taken.)
//
// Refused requests (401, 405, 413, 415, 429 with Retry-After, 400 for an
// unknown format or a bad X-Gatewatch-Source) take no line. Answers are
// terse on purpose: a client learns what to fix, never internals.
type HTTPSource struct {
	opts    HTTPSourceOptions
	fn      func(ctx context.Context, batch *HTTPBatch) error
	formats []string
	hashes  [][]byte // decoded HMACs, index-aligned with names
	names   []string
	log     *slog.Logger

	limMu    sync.Mutex
	limiters map[string]*rate.Limiter

	bufs sync.Pool // *httpBuf

	requests, lines, events, rejected, unauthorized    atomic.Int64
	rateLimited, tooLarge, badRequests, callbackErrors atomic.Int64
}

// maxLimiters bounds the per-identity limiter map; certificate subjects
// are verified, so only a misconfigured CA could come near it.
const maxLimiters = 10000

// httpBuf holds one request's decoded body, its parsed form and answer.
type httpBuf struct {
	body     bytes.Buffer
	lines    [][]byte
	numbers  []int
	invalid  []string
	events   []Event
	rejected []HTTPRejected
	answer   []byte
	gz       *gzip.Reader
}

// NewHTTPSource returns an HTTPSource calling fn once per admitted
// request, possibly from several goroutines at once. fn takes the batch's
// lines in order, records what it rejected in batch.Rejected, and when it
// fails (an error only for a failure of the pipeline, not of a line) sets
// batch.Handled; its context ends after MaxWait.
func NewHTTPSource(opts HTTPSourceOptions, fn func(ctx context.Context, batch *HTTPBatch) error) (*HTTPSource, error) {
	if fn == nil {
		return nil, errors.New("http source: nil callback")
	}
	if len(opts.Tokens) == 0 && !opts.RequireClientCert {
		return nil, errors.New("http source: no tokens and no client certificates required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 10 << 20
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLine
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 10 * time.Second
	}
	if opts.Rate > 0 && opts.Burst <= 0 {
		opts.Burst = max(1, int(math.Ceil(opts.Rate)))
	}
	h := &HTTPSource{opts: opts, fn: fn, formats: Formats(), log: opts.Logger, limiters: map[string]*rate.Limiter{}}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.bufs.New = func() any { return new(httpBuf) }
	if len(h.opts.TokenKey) == 0 {
		for _, t := range opts.Tokens {
			if t.Hash != "" {
				return nil, fmt.Errorf("http source: token %q: a hash needs the TokenKey it was made with", t.Name)
			}
		}
		h.opts.TokenKey = make([]byte, 32)
		rand.Read(h.opts.TokenKey) // never fails: crypto/rand panics rather than return weak bytes
	}
	for i, t := range opts.Tokens {
		name := t.Name
		if name == "" {
			name = "token" + strconv.Itoa(i+1)
		}
		var sum []byte
		switch {
		case t.Hash != "" && t.File != "":
			return nil, fmt.Errorf("http source: token %q: give a hash or a file, not both", name)
		case t.Hash != "":
			var err error
			if sum, err = hex.DecodeString(t.Hash); err != nil || len(sum) != sha256.Size {
				return nil, fmt.Errorf("http source: token %q: hash is not a hex HMAC-SHA256", name)
			}
		case t.File != "":
			data, err := os.ReadFile(t.File)
			if err != nil {
				return nil, fmt.Errorf("http source: token %q: %w", name, err)
			}
			tok := strings.TrimSpace(string(data))
			if tok == "" {
				return nil, fmt.Errorf("http source: token %q: %s is empty", name, t.File)
			}
			sum, _ = hex.DecodeString(HashToken(h.opts.TokenKey, tok))
		default:
			return nil, fmt.Errorf("http source: token %q: no hash or file", name)
		}
		h.hashes = append(h.hashes, sum)
		h.names = append(h.names, name)
	}
	return h, nil
}

// Stats returns the counters.
func (h *HTTPSource) Stats() HTTPSourceStats {
	return HTTPSourceStats{
		Requests:       h.requests.Load(),
		Lines:          h.lines.Load(),
		Events:         h.events.Load(),
		Rejected:       h.rejected.Load(),
		Unauthorized:   h.unauthorized.Load(),
		RateLimited:    h.rateLimited.Load(),
		TooLarge:       h.tooLarge.Load(),
		BadRequests:    h.badRequests.Load(),
		CallbackErrors: h.callbackErrors.Load(),
	}
}

// ServeHTTP implements http.Handler.
func (h *HTTPSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var events bool
	switch r.URL.Path {
	case "/v1/lines":
	case "/v1/events":
		events = true
	default:
		http.NotFound(w, r)
		return
	}
	batch, ok := h.admit(w, r, events)
	if !ok {
		return
	}
	buf := h.bufs.Get().(*httpBuf)
	defer h.putBuf(buf)
	if status, msg := h.readBody(w, r, buf); status != 0 {
		if status == http.StatusRequestEntityTooLarge {
			h.tooLarge.Add(1)
		} else {
			h.badRequests.Add(1)
		}
		http.Error(w, msg, status)
		return
	}
	buf.splitLines(h.opts.MaxLineBytes, events)
	if events {
		buf.decodeEvents()
		batch.Events = buf.events
	}
	batch.Lines, batch.Numbers, batch.Invalid, batch.Rejected = buf.lines, buf.numbers, buf.invalid, buf.rejected[:0]
	h.hand(w, r, &batch, events, buf)
}

// admit checks a request before its body is read — method, credentials,
// rate, content type, format and source headers — and answers the ones it
// refuses. It returns the batch the request will fill.
func (h *HTTPSource) admit(w http.ResponseWriter, r *http.Request, events bool) (HTTPBatch, bool) {
	refuse := func(counter *atomic.Int64, status int, msg string) (HTTPBatch, bool) {
		counter.Add(1)
		http.Error(w, msg, status)
		return HTTPBatch{}, false
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return refuse(&h.badRequests, http.StatusMethodNotAllowed, "method not allowed")
	}
	id, ok := h.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatewatch"`)
		return refuse(&h.unauthorized, http.StatusUnauthorized, "unauthorized")
	}
	if wait, ok := h.allow(id); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		return refuse(&h.rateLimited, http.StatusTooManyRequests, "rate limit exceeded")
	}
	if !h.checkContentType(r, events) {
		return refuse(&h.badRequests, http.StatusUnsupportedMediaType, "unsupported content type")
	}
	batch := HTTPBatch{Identity: id, Source: r.Header.Get("X-Gatewatch-Source")}
	if !events {
		batch.Format = r.Header.Get("X-Gatewatch-Format")
		if batch.Format == "" {
			batch.Format = r.URL.Query().Get("format")
		}
		if batch.Format != "" && batch.Format != "auto" {
			if _, found := slices.BinarySearch(h.formats, batch.Format); !found {
				return refuse(&h.badRequests, http.StatusBadRequest, "unknown format")
			}
		}
	}
	if len(batch.Source) > 128 || strings.ContainsFunc(batch.Source, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		return refuse(&h.badRequests, http.StatusBadRequest, "bad X-Gatewatch-Source")
	}
	return batch, true
}

// hand passes an admitted request's lines to the callback, bounded by
// MaxWait, and answers per line (see HTTPSource): 200 when it took them
// all, else 503 with Retry-After and the line to send again from.
func (h *HTTPSource) hand(w http.ResponseWriter, r *http.Request, batch *HTTPBatch, events bool, buf *httpBuf) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.MaxWait)
	err := h.fn(ctx, batch)
	cancel()
	n := len(batch.Lines)
	handled := n
	if err != nil {
		handled = min(max(batch.Handled, 0), n)
	}
	rejected := 0
	for _, rj := range batch.Rejected {
		if rj.Index >= 0 && rj.Index < handled {
			rejected++
		}
	}
	if events {
		h.events.Add(int64(handled - rejected))
	} else {
		h.lines.Add(int64(handled - rejected))
	}
	h.rejected.Add(int64(rejected))
	buf.rejected = batch.Rejected[:0] // keep the grown slice for the next request
	status, retryFrom := http.StatusOK, 0
	switch {
	case err != nil && handled < n:
		h.callbackErrors.Add(1)
		h.log.Warn("http source: batch taken in part", "identity", batch.Identity, "taken", handled, "lines", n, "err", err)
		w.Header().Set("Retry-After", retryAfter(h.opts.RetryAfter))
		status, retryFrom = http.StatusServiceUnavailable, batch.Numbers[handled]
	case err != nil:
		h.log.Warn("http source: callback failed after taking every line", "identity", batch.Identity, "err", err)
		fallthrough
	default:
		h.requests.Add(1)
	}
	buf.answer = appendAnswer(buf.answer[:0], batch, handled-rejected, handled, retryFrom)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.answer)
}

// appendAnswer appends the JSON answer to a request whose first handled
// lines were taken: how many were accepted, those rejected, and the line
// to send again from (0: none).
func appendAnswer(dst []byte, batch *HTTPBatch, accepted, handled, retryFrom int) []byte {
	dst = append(dst, `{"accepted":`...)
	dst = strconv.AppendInt(dst, int64(accepted), 10)
	dst = append(dst, `,"rejected":[`...)
	first := true
	for _, rj := range batch.Rejected {
		if rj.Index < 0 || rj.Index >= handled {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, `{"line":`...)
		dst = strconv.AppendInt(dst, int64(batch.Numbers[rj.Index]), 10)
		dst = append(dst, `,"reason":`...)
		dst = AppendJSONString(dst, rj.Reason)
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	if retryFrom > 0 {
		dst = append(dst, `,"retry_from":`...)
		dst = strconv.AppendInt(dst, int64(retryFrom), 10)
	}
	return append(dst, "}\n"...)
}

// authenticate returns the request's identity. Every configured token is
// compared, in constant time, so timing tells nothing about which
// matched or how closely.
func (h *HTTPSource) authenticate(r *http.Request) (string, bool) {
	id := ""
	if h.opts.RequireClientCert {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
			return "", false
		}
		id = r.TLS.PeerCertificates[0].Subject.String()
	}
	if len(h.hashes) == 0 {
		return id, true
	}
	authz := r.Header.Get("Authorization")
	const bearer = "bearer "
	if len(authz) <= len(bearer) || !strings.EqualFold(authz[:len(bearer)], bearer) {
		return "", false
	}
	mac := hmac.New(sha256.New, h.opts.TokenKey)
	mac.Write([]byte(strings.TrimSpace(authz[len(bearer):])))
	var sum [sha256.Size]byte
	got := mac.Sum(sum[:0])
	match := -1
	for i, want := range h.hashes {
		if subtle.ConstantTimeCompare(got, want) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", false
	}
	if id == "" {
		id = h.names[match]
	}
	return id, true
}

// allow takes one request from id's token bucket, or says how long to
// wait for one.
func (h *HTTPSource) allow(id string) (time.Duration, bool) {
	if h.opts.Rate <= 0 {
		return 0, true
	}
	h.limMu.Lock()
	lim := h.limiters[id]
	if lim == nil {
		if len(h.limiters) >= maxLimiters {
			clear(h.limiters)
		}
		lim = rate.NewLimiter(rate.Limit(h.opts.Rate), h.opts.Burst)
		h.limiters[id] = lim
	}
	h.limMu.Unlock()
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// retryAfter renders d as whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

func (h *HTTPSource) checkContentType(r *http.Request, events bool) bool {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if events {
		switch mt {
		case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/json":
			return true
		}
		return false
	}
	return mt == "text/plain"
}

// readBody reads the (possibly gzipped) body into buf, bounded by
// MaxBodyBytes on the wire and once decompressed. It returns a status
// and message when the request must be refused.
func (h *HTTPSource) readBody(w http.ResponseWriter, r *http.Request, buf *httpBuf) (int, string) {
	limit := h.opts.MaxBodyBytes
	if r.ContentLength > limit {
		return http.StatusRequestEntityTooLarge, "request body too large"
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	gzipped := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		var err error
		if buf.gz == nil {
			buf.gz, err = gzip.NewReader(body)
		} else {
			err = buf.gz.Reset(body)
		}
		if err != nil {
			if isTooLarge(err) {
				return http.StatusRequestEntityTooLarge, "request body too large"
			}
			return http.StatusBadRequest, "bad gzip body"
		}
		body, gzipped = buf.gz, true
	default:
		return http.StatusUnsupportedMediaType, "unsupported content encoding"
	}
	// One byte over the limit tells a body at the limit from a larger one,
	// which matters for a gzip body that the wire limit does not bound.
	n, err := buf.body.ReadFrom(io.LimitReader(body, limit+1))
	switch {
	case isTooLarge(err) || n > limit:
		return http.StatusRequestEntityTooLarge, "request body too large"
	case err != nil && gzipped:
		return http.StatusBadRequest, "bad gzip body"
	case err != nil:
		return http.StatusBadRequest, "could not read body"
	}
	return 0, ""
}

func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// splitLines cuts the body into lines with their numbers, dropping CRs
// and blank lines (for events, white space around a line too). A line
// longer than maxLine is cut to it and marked invalid.
func (b *httpBuf) splitLines(maxLine int, trim bool) {
	data := b.body.Bytes()
	b.lines, b.numbers, b.invalid = b.lines[:0], b.numbers[:0], b.invalid[:0]
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if trim {
			line = bytes.TrimSpace(line)
		}
		if len(line) == 0 {
			continue
		}
		invalid := ""
		if len(line) > maxLine {
			line, invalid = truncateBytes(line, maxLine), lineTooLong(maxLine)
		}
		b.lines = append(b.lines, line)
		b.numbers = append(b.numbers, n)
		b.invalid = append(b.invalid, invalid)
	}
}

// decodeEvents decodes each line as a wire event, index-aligned; a line
// that is none is marked invalid with the reason.
func (b *httpBuf) decodeEvents() {
	b.events = slices.Grow(b.events[:0], len(b.lines))[:len(b.lines)]
	for i, line := range b.lines {
		ev := &b.events[i]
		ev.Reset()
		if b.invalid[i] != "" {
			continue
		}
		if err := DecodeWire(line, ev); err != nil {
			// The error may quote the value: keep the reason short.
			b.invalid[i] = "invalid event: " + truncateUTF8(err.Error(), 200)
		}
	}
}

// putBuf returns buf to the pool unless it grew unusually large, so one
// huge request does not pin its memory.
func (h *HTTPSource) putBuf(buf *httpBuf) {
	if buf.body.Cap() > 4<<20 || cap(buf.events) > 64<<10 {
		return
	}
	buf.body.Reset()
	clear(buf.lines)
	clear(buf.invalid)
	clear(buf.rejected[:cap(buf.rejected)])
	buf.lines, buf.numbers, buf.invalid = buf.lines[:0], buf.numbers[:0], buf.invalid[:0]
	buf.events, buf.rejected = buf.events[:0], buf.rejected[:0]
	h.bufs.Put(buf)
}
