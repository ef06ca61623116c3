package slack

import (
	"context"
	"strconv"
	"time"

	slackapi "github.com/slack-go/slack"
)

// annotate notes action a on its message: the note joins the incident's
// notes in the state (so later edits keep it) and the message, rebuilt
// from blocks (the message as Slack sent it with the click), shows them.
// Without blocks the note goes in the message's thread.
//
// It holds the lock Notify holds, so edits reach Slack in the order their
// notes were saved: the message's last edit carries every note, even when
// two people click at once.
func (s *Sink) annotate(ctx context.Context, a Action, blocks []slackapi.Block, text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	note := noteText(a)
	notes, err := s.st.addNote(a.IncidentID, note)
	if err != nil {
		s.log.Warn("slack: saving a note failed", "incident", a.IncidentID, "err", err)
	}
	if notes == nil {
		notes = append(messageNotes(blocks), note)
	}
	if len(blocks) == 0 {
		_, _, err := s.api.PostMessageContext(ctx, a.Channel, slackapi.MsgOptionTS(a.MessageTS),
			slackapi.MsgOptionText(note, false))
		return err
	}
	_, _, _, err = s.api.UpdateMessageContext(ctx, a.Channel, a.MessageTS,
		slackapi.MsgOptionBlocks(withNotes(blocks, notes)...),
		slackapi.MsgOptionText(text, false), metadata(a.IncidentID))
	return err
}

// noteText says who did what, as trusted mrkdwn: the user as a mention
// when the id is well formed, times as Slack date tokens (shown in the
// reader's zone).
func noteText(a Action) string {
	who := "someone"
	switch {
	case slackID(a.User.ID):
		who = "<@" + a.User.ID + ">"
	case a.User.Name != "":
		who = esc(a.User.Name, 80)
	}
	switch a.Kind {
	case KindAck:
		return ":eyes: Acknowledged by " + who + " at " + dateToken(a.At, "{time}", "15:04 UTC")
	case KindSilence:
		return ":mute: Silenced by " + who + " until " + dateToken(a.Until, "{date_short_pretty} {time}", "2006-01-02 15:04 UTC")
	case KindFalsePositive:
		return ":no_entry_sign: Marked false positive by " + who + " at " + dateToken(a.At, "{time}", "15:04 UTC")
	}
	return esc(string(a.Kind), 40) + " by " + who
}

// dateToken is a Slack date token for t with a UTC fallback.
func dateToken(t time.Time, format, fallback string) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return "<!date^" + strconv.FormatInt(t.Unix(), 10) + "^" + format + "|" + t.UTC().Format(fallback) + ">"
}

// slackID reports whether id looks like a Slack user id (U…, W…).
func slackID(id string) bool {
	if len(id) < 2 || len(id) > 32 || (id[0] != 'U' && id[0] != 'W') {
		return false
	}
	for _, r := range id {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// messageNotes returns the notes shown in blocks' notes block.
func messageNotes(blocks []slackapi.Block) []string {
	var notes []string
	for _, b := range blocks {
		cb, ok := b.(*slackapi.ContextBlock)
		if !ok || cb.BlockID != blockIDNotes {
			continue
		}
		for _, el := range cb.ContextElements.Elements {
			if t, ok := el.(*slackapi.TextBlockObject); ok && t.Text != "" {
				notes = append(notes, t.Text)
			}
		}
	}
	return notes
}

// withNotes returns blocks with their notes block replaced by one of
// notes, placed before the buttons.
func withNotes(blocks []slackapi.Block, notes []string) []slackapi.Block {
	out := make([]slackapi.Block, 0, len(blocks)+1)
	nb := notesBlock(notes)
	for _, b := range blocks {
		switch b.ID() {
		case blockIDNotes:
			continue
		case blockIDActions:
			if nb != nil {
				out, nb = append(out, nb), nil
			}
		}
		out = append(out, b)
	}
	if nb != nil {
		out = append(out, nb)
	}
	if len(out) > MaxBlocks { // keep the header, drop from the middle
		out = append(out[:1], out[len(out)-MaxBlocks+1:]...)
	}
	return out
}
