package slack

import (
	"context"

	slackapi "github.com/slack-go/slack"

	"github.com/gatewatch/gatewatch/alert"
	"github.com/gatewatch/gatewatch/detect"
)

// notifyWebhook delivers ns through the incoming webhook, which cannot
// edit: open emissions are posted (as one digest when there are more
// than DigestOver new ones), resolved ones posted, updates skipped. The
// state records what was posted, so a retry does not post it again.
func (s *Sink) notifyWebhook(ctx context.Context, ns []alert.Notification) (bool, error) {
	var b batch
	var opens []*incident
	seen := map[string]bool{}
	for _, n := range ns {
		id := n.Finding.IncidentID
		if _, known := s.st.get(id); n.Finding.Status == detect.StatusOpen && !known && !seen[id] {
			seen[id] = true
			opens = append(opens, &incident{f: n.Finding, delivery: n.DeliveryID, ids: []string{n.DeliveryID}})
		}
	}
	if s.opts.DigestOver >= 0 && len(opens) > s.opts.DigestOver {
		var ids []string
		for _, in := range opens {
			ids = append(ids, in.ids...)
		}
		if stop, retry, err := b.handle(ctx, s.webhookDigest(ctx, opens), ids); stop {
			return retry, err
		}
	}
	for _, n := range ns {
		if _, refused := b.rejected[n.DeliveryID]; refused {
			continue // in a digest Slack refused
		}
		if stop, retry, err := b.handle(ctx, s.webhookOne(ctx, n), []string{n.DeliveryID}); stop {
			return retry, err
		}
	}
	return b.result()
}

// webhookOne posts n unless it is an update or was posted already.
func (s *Sink) webhookOne(ctx context.Context, n alert.Notification) error {
	f := n.Finding
	e, known := s.st.get(f.IncidentID)
	switch {
	case f.Status == detect.StatusOpen && known,
		f.Status == detect.StatusResolved && known && e.Status == detect.StatusResolved,
		f.Status != detect.StatusOpen && f.Status != detect.StatusResolved:
		return nil
	}
	blocks := Blocks(f, s.blockOpts(n.DeliveryID, nil))
	if err := s.webhook(ctx, blocks, FallbackText(f)); err != nil {
		return err
	}
	return s.st.put("", map[string]entry{f.IncidentID: {Status: f.Status}})
}

// webhookDigest posts one digest for the new incidents opens.
func (s *Sink) webhookDigest(ctx context.Context, opens []*incident) error {
	fs := make([]detect.Finding, len(opens))
	for i, in := range opens {
		fs[i] = in.f
	}
	if err := s.webhook(ctx, DigestBlocks(fs), digestText(fs)); err != nil {
		return err
	}
	es := make(map[string]entry, len(fs))
	for _, f := range fs {
		es[f.IncidentID] = entry{Digest: true, Status: f.Status}
	}
	return s.st.put("", es)
}

// webhook posts one message to the incoming webhook.
func (s *Sink) webhook(ctx context.Context, blocks []slackapi.Block, text string) error {
	return slackapi.PostWebhookCustomHTTPContext(ctx, s.opts.WebhookURL, s.http,
		&slackapi.WebhookMessage{Text: text, Blocks: &slackapi.Blocks{BlockSet: blocks}})
}
