package slack

import (
	"context"
	"strconv"

	slackapi "github.com/slack-go/slack"

	"github.com/gatewatch/gatewatch/detect"
)

// msgRef is a message found in the channel's history.
type msgRef struct {
	ts     string
	digest bool
}

// adopt looks for messages of the incidents fresh in the channel's
// recent history (posted before a crash lost the state), records and
// edits those it finds, and returns the others, which need a post. A
// lookup Slack refuses is logged and skipped; one worth retrying stops
// the call, as does an edit error b.handle says stops it.
func (s *Sink) adopt(ctx context.Context, b *batch, fresh []*incident) (rest []*incident, stop, retry bool, err error) {
	ch := s.historyChannel()
	if len(fresh) == 0 || ch == "" {
		return fresh, false, false, nil
	}
	want := make(map[string]bool, len(fresh))
	for _, in := range fresh {
		want[in.f.IncidentID] = true
	}
	found, err := s.lookup(ctx, ch, want)
	if err != nil {
		if retry, err := classify(err); retry || ctx.Err() != nil {
			return nil, true, true, err
		}
		s.log.Warn("slack: history lookup failed; posting without looking for earlier messages",
			"sink", s.opts.Name, "err", err)
		return fresh, false, false, nil
	}
	for _, in := range fresh {
		ref, ok := found[in.f.IncidentID]
		if !ok {
			rest = append(rest, in)
			continue
		}
		e := entry{Channel: ch, TS: ref.ts, Digest: ref.digest, Status: detect.StatusOpen}
		if stop, retry, err := b.handle(ctx, s.edit(ctx, in, e), in.ids); stop {
			return nil, true, retry, err
		}
	}
	return rest, false, false, nil
}

// historyChannel is the channel id to look in: the one Slack reported,
// or Options.Channel when it is an id; "" when unknown.
func (s *Sink) historyChannel() string {
	if id := s.st.channelID(); id != "" {
		return id
	}
	if looksLikeID(s.opts.Channel) {
		return s.opts.Channel
	}
	return ""
}

// looksLikeID reports whether ch is a conversation id (C…, G…, D…).
func looksLikeID(ch string) bool {
	if len(ch) < 9 || (ch[0] != 'C' && ch[0] != 'G' && ch[0] != 'D') {
		return false
	}
	for _, r := range ch {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// lookup reads the channel's latest messages (at most historyLimit,
// within historyWindow) and returns the newest message of each wanted
// incident, by its metadata.
func (s *Sink) lookup(ctx context.Context, ch string, want map[string]bool) (map[string]msgRef, error) {
	oldest := s.now().Add(-historyWindow).Unix()
	resp, err := s.api.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{
		ChannelID: ch, Limit: historyLimit, Oldest: strconv.FormatInt(oldest, 10) + ".000000",
		IncludeAllMetadata: true})
	if err != nil {
		return nil, err
	}
	found := map[string]msgRef{}
	for _, m := range resp.Messages {
		for _, id := range metadataIncidents(m.Metadata) {
			if _, seen := found[id]; want[id] && !seen {
				found[id] = msgRef{ts: m.Timestamp, digest: m.Metadata.EventType == EventDigest}
			}
		}
	}
	return found, nil
}

// metadataIncidents returns the incident ids a message's metadata names.
func metadataIncidents(md slackapi.SlackMetadata) []string {
	switch md.EventType {
	case EventIncident:
		if id, ok := md.EventPayload["incident_id"].(string); ok {
			return []string{id}
		}
	case EventDigest:
		list, _ := md.EventPayload["incident_ids"].([]any)
		var ids []string
		for _, v := range list {
			if id, ok := v.(string); ok {
				ids = append(ids, id)
			}
		}
		return ids
	}
	return nil
}
