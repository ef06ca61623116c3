package slack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"
)

// ActionKind is what a person did to an incident from Slack.
type ActionKind string

// Action kinds.
const (
	KindAck           ActionKind = "ack"            // acknowledged: someone is on it
	KindSilence       ActionKind = "silence"        // silenced until Action.Until
	KindFalsePositive ActionKind = "false_positive" // not an incident: feed it back to detection
)

// User is the Slack user who acted.
type User struct {
	ID   string // Slack user id, U…
	Name string // Slack user name, for people; may be empty
}

// Action is one click on an incident message's buttons.
type Action struct {
	Kind       ActionKind
	IncidentID string
	Client     string // as the message's button carried it (very long keys are cut)
	Detector   string
	Until      time.Time // KindSilence: when the silence ends; zero otherwise
	User       User
	At         time.Time // when the handler received the click
	Channel    string    // the message clicked: channel id and timestamp
	MessageTS  string
}

// Feedback receives the actions people take in Slack. The caller stores
// them in the audit trail and feeds them to detection (silences, false
// positives). Record is called while Slack waits for the answer (3s):
// it should be quick.
type Feedback interface {
	Record(ctx context.Context, a Action) error
}

// Defaults of InteractionOptions.
const (
	DefaultMaxBody     = 64 << 10
	DefaultReplayCache = 10000
)

// replayWindow is how long a signed request stays valid: the verifier's
// five minutes either side of now, plus slack.
const replayWindow = 11 * time.Minute

// InteractionOptions configures the interaction endpoint.
type InteractionOptions struct {
	// SigningSecret is the Slack app's signing secret. Without it every
	// request is refused.
	SigningSecret string
	// Feedback records the actions; nil records nothing.
	Feedback Feedback
	// Sink, in bot mode, edits the clicked message to say who did what;
	// nil leaves messages as they are.
	Sink *Sink
	// MaxBody bounds a request's body; 0 means DefaultMaxBody.
	MaxBody int64
	// ReplayCache is how many recent signatures are remembered to refuse
	// replays; 0 means DefaultReplayCache.
	ReplayCache int
	// Logger gets failures; nil means slog.Default().
	Logger *slog.Logger
}

// interactionHandler serves Slack's interaction requests.
type interactionHandler struct {
	opts    InteractionOptions
	replays *replayCache
	edits   chan struct{} // bounds concurrent message edits
	wg      sync.WaitGroup
	now     func() time.Time
}

// NewInteractionHandler returns the endpoint Slack posts button clicks
// to (the app's Interactivity Request URL). It verifies Slack's
// signature over a bounded body, refuses stale and replayed requests,
// records the four incident actions through Feedback, answers 200, and
// then edits the message in the background. Error answers are terse.
func NewInteractionHandler(opts InteractionOptions) http.Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.ReplayCache <= 0 {
		opts.ReplayCache = DefaultReplayCache
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &interactionHandler{opts: opts, replays: newReplayCache(opts.ReplayCache),
		edits: make(chan struct{}, 8), now: time.Now}
}

// ServeHTTP implements http.Handler.
func (h *interactionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if !h.verify(r.Header, body) {
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	key := r.Header.Get("X-Slack-Request-Timestamp") + ":" + r.Header.Get("X-Slack-Signature")
	if !h.replays.add(key, h.now()) {
		http.Error(w, "replayed request", http.StatusConflict)
		return
	}
	ic, err := parseCallback(body)
	if err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	if err := h.handle(r.Context(), ic); err != nil {
		h.opts.Logger.Error("slack: recording an action failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// verify checks the request's signature and timestamp.
func (h *interactionHandler) verify(header http.Header, body []byte) bool {
	v, err := slackapi.NewSecretsVerifier(header, h.opts.SigningSecret)
	if err != nil {
		return false
	}
	if _, err := v.Write(body); err != nil {
		return false
	}
	return v.Ensure() == nil
}

// parseCallback decodes the form body's payload field.
func parseCallback(body []byte) (slackapi.InteractionCallback, error) {
	var ic slackapi.InteractionCallback
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return ic, err
	}
	payload := form.Get("payload")
	if payload == "" {
		return ic, errors.New("no payload")
	}
	err = json.Unmarshal([]byte(payload), &ic)
	return ic, err
}

// handle records the incident actions of ic and starts the edits of the
// message. Other interactions are ignored.
func (h *interactionHandler) handle(ctx context.Context, ic slackapi.InteractionCallback) error {
	if ic.Type != slackapi.InteractionTypeBlockActions {
		return nil
	}
	for _, ba := range ic.ActionCallback.BlockActions {
		a, ok := toAction(ic, ba, h.now())
		if !ok {
			continue
		}
		if h.opts.Feedback != nil {
			if err := h.opts.Feedback.Record(ctx, a); err != nil {
				return err
			}
		}
		h.edit(ic, a)
	}
	return nil
}

// toAction reads one click; ok is false for anything but the four
// incident buttons with a readable value.
func toAction(ic slackapi.InteractionCallback, ba *slackapi.BlockAction, now time.Time) (Action, bool) {
	a := Action{User: User{ID: ic.User.ID, Name: ic.User.Name}, At: now,
		Channel: ic.Container.ChannelID, MessageTS: ic.Container.MessageTs}
	switch ba.ActionID {
	case ActionAck:
		a.Kind = KindAck
	case ActionSilence1h:
		a.Kind, a.Until = KindSilence, now.Add(time.Hour)
	case ActionSilence24h:
		a.Kind, a.Until = KindSilence, now.Add(24*time.Hour)
	case ActionFalsePositive:
		a.Kind = KindFalsePositive
	default:
		return Action{}, false
	}
	var ref buttonRef
	if json.Unmarshal([]byte(ba.Value), &ref) != nil || ref.IncidentID == "" {
		return Action{}, false
	}
	a.IncidentID, a.Client, a.Detector = ref.IncidentID, ref.Client, ref.Detector
	if a.Channel == "" {
		a.Channel = ic.Channel.ID
	}
	if a.MessageTS == "" {
		a.MessageTS = ic.Message.Timestamp
	}
	return a, true
}

// edit has the sink note a on the clicked message, in the background
// and bounded: Slack wants its answer within three seconds.
func (h *interactionHandler) edit(ic slackapi.InteractionCallback, a Action) {
	s := h.opts.Sink
	if s == nil || s.api == nil || a.Channel == "" || a.MessageTS == "" {
		return
	}
	select {
	case h.edits <- struct{}{}:
	default:
		h.opts.Logger.Warn("slack: too many message edits in flight; skipped one", "incident", a.IncidentID)
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer func() { <-h.edits }()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := s.annotate(ctx, a, ic.Message.Blocks.BlockSet, ic.Message.Text); err != nil {
			h.opts.Logger.Warn("slack: editing the message after an action failed",
				"incident", a.IncidentID, "err", err)
		}
	}()
}

// replayCache remembers the signatures of recent requests, at most max,
// oldest dropped first.
type replayCache struct {
	mu    sync.Mutex
	max   int
	seen  map[string]time.Time
	order []string
}

// newReplayCache returns an empty cache of max entries.
func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: make(map[string]time.Time, max)}
}

// add records key at now, and reports false when it was seen already.
func (c *replayCache) add(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.order) > 0 && (len(c.order) >= c.max || now.Sub(c.seen[c.order[0]]) > replayWindow) {
		delete(c.seen, c.order[0])
		c.order = c.order[1:]
	}
	if _, dup := c.seen[key]; dup {
		return false
	}
	c.seen[key] = now
	c.order = append(c.order, key)
	return true
}
