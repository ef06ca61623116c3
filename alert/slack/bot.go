package slack

import (
	"context"
	"strconv"

	slackapi "github.com/slack-go/slack"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// incident is one incident of a batch: its latest emission and the
// delivery ids of all its notifications in the batch.
type incident struct {
	f        detect.Finding
	delivery string   // of the latest emission
	ids      []string // every notification of the incident in the batch
}

// coalesce groups ns by incident, in order of first appearance, keeping
// each incident's latest emission: only its latest state is worth an
// edit.
func coalesce(ns []alert.Notification) []*incident {
	var out []*incident
	byID := map[string]*incident{}
	for _, n := range ns {
		in := byID[n.Finding.IncidentID]
		if in == nil {
			in = &incident{}
			byID[n.Finding.IncidentID] = in
			out = append(out, in)
		}
		in.f, in.delivery = n.Finding, n.DeliveryID
		in.ids = append(in.ids, n.DeliveryID)
	}
	return out
}

// notifyBot delivers ns through the Web API: edits for incidents with
// a message, posts (or one digest) for the others.
func (s *Sink) notifyBot(ctx context.Context, ns []alert.Notification) (bool, error) {
	var b batch
	var fresh []*incident
	for _, in := range coalesce(ns) {
		e, ok := s.st.get(in.f.IncidentID)
		if !ok {
			fresh = append(fresh, in)
			continue
		}
		if stop, retry, err := b.handle(ctx, s.edit(ctx, in, e), in.ids); stop {
			return retry, err
		}
	}
	fresh, stop, retry, err := s.adopt(ctx, &b, fresh)
	if stop {
		return retry, err
	}
	if s.opts.DigestOver >= 0 && len(fresh) > s.opts.DigestOver {
		var ids []string
		for _, in := range fresh {
			ids = append(ids, in.ids...)
		}
		if stop, retry, err := b.handle(ctx, s.postDigest(ctx, fresh), ids); stop {
			return retry, err
		}
		return b.result()
	}
	for _, in := range fresh {
		if stop, retry, err := b.handle(ctx, s.post(ctx, in), in.ids); stop {
			return retry, err
		}
	}
	return b.result()
}

// metadata is the message metadata of an incident's message.
func metadata(id string) slackapi.MsgOption {
	return slackapi.MsgOptionMetadata(slackapi.SlackMetadata{
		EventType: EventIncident, EventPayload: map[string]any{"incident_id": id}})
}

// post posts in's message and records where it is, then attaches the
// chart of an incident resolved already. A crash between the post and
// the record is healed by adopt on the next attempt.
func (s *Sink) post(ctx context.Context, in *incident) error {
	f := in.f
	ch, ts, err := s.api.PostMessageContext(ctx, s.opts.Channel,
		slackapi.MsgOptionBlocks(Blocks(f, s.blockOpts(in.delivery, nil))...),
		slackapi.MsgOptionText(FallbackText(f), false), metadata(f.IncidentID))
	if err != nil {
		return err
	}
	e := entry{Channel: ch, TS: ts, Status: f.Status}
	if err := s.st.put(ch, map[string]entry{f.IncidentID: e}); err != nil {
		return err
	}
	return s.attachChart(ctx, f, e)
}

// edit brings in's message up to date: chat.update with the latest state
// (a digest is left alone), then a thread reply when the status changed
// to update or resolved, then, once resolved, the chart in the thread.
// A message deleted in Slack is posted anew.
func (s *Sink) edit(ctx context.Context, in *incident, e entry) error {
	f := in.f
	if !e.Digest {
		_, _, _, err := s.api.UpdateMessageContext(ctx, e.Channel, e.TS,
			slackapi.MsgOptionBlocks(Blocks(f, s.blockOpts(in.delivery, e.Notes))...),
			slackapi.MsgOptionText(FallbackText(f), false), metadata(f.IncidentID))
		switch slackCode(err) {
		case "message_not_found":
			if err := s.st.del(f.IncidentID); err != nil {
				return err
			}
			return s.post(ctx, in)
		case "cant_update_message", "edit_window_closed":
			// Not ours to edit any more: the thread reply still tells.
		default:
			if err != nil {
				return err
			}
		}
	}
	if f.Status != detect.StatusOpen && f.Status != e.Status {
		_, _, err := s.api.PostMessageContext(ctx, e.Channel, slackapi.MsgOptionTS(e.TS),
			slackapi.MsgOptionText(replyText(f), false))
		if err != nil {
			return err
		}
		e.Status = f.Status
	}
	// Recorded before the chart, so a retry after a failed upload does
	// not repeat the reply.
	if err := s.st.put("", map[string]entry{f.IncidentID: e}); err != nil {
		return err
	}
	return s.attachChart(ctx, f, e)
}

// replyText is the thread reply announcing f's new status.
func replyText(f detect.Finding) string {
	var s string
	switch f.Status {
	case detect.StatusResolved:
		s = ":white_check_mark: *Resolved* after " + strconv.Itoa(f.Windows) + " anomalous windows"
	default:
		s = severityEmoji(f.Severity) + " *Ongoing* (" + esc(string(f.Severity), 20) + "), " +
			strconv.Itoa(f.Windows) + " windows so far"
	}
	if f.Summary != "" {
		s += ": " + withClient(f.Summary, f.Client, 600)
	}
	return s
}

// postDigest posts one message for the new incidents fresh and maps
// each of them to it: their updates go in its thread.
func (s *Sink) postDigest(ctx context.Context, fresh []*incident) error {
	fs := make([]detect.Finding, len(fresh))
	ids := make([]any, len(fresh))
	for i, in := range fresh {
		fs[i], ids[i] = in.f, in.f.IncidentID
	}
	ch, ts, err := s.api.PostMessageContext(ctx, s.opts.Channel,
		slackapi.MsgOptionBlocks(DigestBlocks(fs)...),
		slackapi.MsgOptionText(digestText(fs), false),
		slackapi.MsgOptionMetadata(slackapi.SlackMetadata{
			EventType: EventDigest, EventPayload: map[string]any{"incident_ids": ids}}))
	if err != nil {
		return err
	}
	es := make(map[string]entry, len(fs))
	for _, f := range fs {
		es[f.IncidentID] = entry{Channel: ch, TS: ts, Digest: true, Status: f.Status}
	}
	return s.st.put(ch, es)
}

// digestText is the notification text of a digest.
func digestText(fs []detect.Finding) string {
	return strconv.Itoa(len(fs)) + " new incidents: " + severityCounts(fs)
}
