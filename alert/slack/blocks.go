package slack

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/gatewatch/gatewatch/detect"
)

// Action ids of the buttons on an incident message. The interaction
// handler acts on the first four; Slack reports clicks on the Grafana
// link button too, and the handler ignores them.
const (
	ActionAck           = "gw_ack"
	ActionSilence1h     = "gw_silence_1h"
	ActionSilence24h    = "gw_silence_24h"
	ActionFalsePositive = "gw_false_positive"
	ActionGrafana       = "gw_grafana"
)

// Block ids the sink and the interaction handler find blocks by.
const (
	blockIDActions = "gw_actions"
	blockIDNotes   = "gw_notes"
)

// Block Kit limits the builders keep to. Slack refuses a message over
// any of them (invalid_blocks); slack-go does not check them.
const (
	MaxBlocks      = 50   // blocks in a message
	MaxSectionText = 3000 // bytes of a section's text, as slack-go counts
	MaxHeaderText  = 150  // characters of a header
	MaxButtonText  = 75   // characters of a button's text
)

// Smaller limits and the builders' own budgets.
const (
	maxFieldText   = 2000 // a section field
	maxFields      = 10   // fields in a section
	maxContextText = 2000 // a context element (Slack allows 3,000)
	maxContextElem = 10   // elements in a context block
	maxButtonValue = 2000 // a button's value
	maxURL         = 3000 // a link button's url
	maxListed      = 10   // routes, clients listed
	maxSamples     = 5    // sample requests shown
	maxSampleBytes = 300  // one sample, escaped
	maxRouteBytes  = 120  // one route, escaped
	maxClientBytes = 64   // one client in a list, escaped
	maxSummary     = 2000 // the summary, escaped
	maxWhy         = 800  // the explanation, escaped
)

// BlockOptions tunes Blocks. The zero value renders a bot message with
// buttons and no Grafana link.
type BlockOptions struct {
	// DeliveryID is shown in the context line, for support.
	DeliveryID string
	// GrafanaURL is the link template (see Options.GrafanaURL); empty
	// leaves the link button out.
	GrafanaURL string
	// NoButtons leaves out the action buttons (incoming webhooks cannot
	// receive interactions); the Grafana link stays.
	NoButtons bool
	// Notes are trusted mrkdwn lines saying who did what ("Acknowledged
	// by <@U123>"), shown in a context block; the last ten are kept.
	Notes []string
}

// Blocks renders finding f as a Block Kit message that reads well on a
// phone: a header with severity, detector and client; what happened;
// the figures; the evidence; the incident and delivery ids; notes; and
// the buttons. Untrusted values (client keys, routes, samples) are
// escaped so they cannot mention, link or format, and every Block Kit
// limit holds whatever f holds: long values are cut with a note.
func Blocks(f detect.Finding, o BlockOptions) []slackapi.Block {
	bs := []slackapi.Block{headerBlock(f), summaryBlock(f), factsBlock(f)}
	if b := evidenceBlock(f); b != nil {
		bs = append(bs, b)
	}
	if b := samplesBlock(f.Samples); b != nil {
		bs = append(bs, b)
	}
	bs = append(bs, idsBlock(f.IncidentID, o.DeliveryID))
	if b := notesBlock(o.Notes); b != nil {
		bs = append(bs, b)
	}
	if b := actionsBlock(f, o); b != nil {
		bs = append(bs, b)
	}
	if len(bs) > MaxBlocks {
		bs = bs[:MaxBlocks]
	}
	return bs
}

// mrkdwn returns a verbatim mrkdwn text object: Slack does not turn
// bare URLs, channel names or @-words in it into links or mentions.
func mrkdwn(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, s, false, true)
}

// plain returns a plain_text object with emoji shortcodes enabled.
func plain(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, s, true, false)
}

// section returns a section block of mrkdwn text cut to the limit.
func section(text string) *slackapi.SectionBlock {
	return slackapi.NewSectionBlock(mrkdwn(cutBytes(text, MaxSectionText)), nil, nil)
}

// severityEmoji is the shortcode shown before a severity.
func severityEmoji(s detect.Severity) string {
	switch s {
	case detect.SeverityCritical:
		return ":red_circle:"
	case detect.SeverityHigh:
		return ":large_orange_circle:"
	case detect.SeverityMedium:
		return ":large_yellow_circle:"
	}
	return ":white_circle:"
}

// clientLabel names f's client for a title.
func clientLabel(f detect.Finding) string {
	switch {
	case f.Client == detect.FleetClient:
		return "whole fleet"
	case f.Client == "" && f.Campaign != "":
		return f.Campaign
	}
	return f.Client
}

// title is the one-line name of f: "HIGH scanning · 203.0.113.7", or
// "Resolved: scanning · 203.0.113.7".
func title(f detect.Finding) string {
	what := strings.ReplaceAll(f.Detector, "_", " ") + " · " + clientLabel(f)
	if f.Status == detect.StatusResolved {
		return "Resolved: " + what
	}
	return strings.ToUpper(string(f.Severity)) + " " + what
}

// headerBlock is the message's header, edited on resolve.
func headerBlock(f detect.Finding) slackapi.Block {
	emoji := severityEmoji(f.Severity)
	if f.Status == detect.StatusResolved {
		emoji = ":white_check_mark:"
	}
	return slackapi.NewHeaderBlock(plain(plainN(emoji+" "+title(f), MaxHeaderText)))
}

// summaryBlock says what happened, the client's key shown as code.
func summaryBlock(f detect.Finding) slackapi.Block {
	text := "*What happened*\n" + withClient(f.Summary, f.Client, maxSummary)
	if f.Summary == "" {
		text = "*What happened*\n" + esc(title(f), maxSummary)
	}
	if f.Why != "" {
		text += "\n_Why:_ " + withClient(f.Why, f.Client, maxWhy)
	}
	return section(text)
}

// withClient escapes text, showing each occurrence of client in it as
// inline code, so a key like "*x*" neither formats nor hides; the result
// is at most about max bytes (cut with an ellipsis).
func withClient(text, client string, max int) string {
	if client == "" || len(client) > 256 || !strings.Contains(text, client) {
		return esc(text, max)
	}
	var b strings.Builder
	for i, part := range strings.Split(text, client) {
		if i > 0 {
			c := code(client, maxClientBytes*2)
			if b.Len()+len(c) > max {
				b.WriteString(ellipsis)
				break
			}
			b.WriteString(c)
		}
		e := esc(part, max-b.Len())
		b.WriteString(e)
		if strings.HasSuffix(e, ellipsis) && !strings.HasSuffix(part, ellipsis) {
			break
		}
	}
	return b.String()
}

// factsBlock holds the figures as two-column fields.
func factsBlock(f detect.Finding) slackapi.Block {
	fields := []string{
		clientField(f),
		"*Severity*\n" + esc(string(f.Severity), 20) + " · score " + strconv.FormatFloat(f.Score, 'f', 2, 64),
		"*Observed*\n" + fmtValue(f.Observed, f.Unit, true),
		"*Expected*\n" + expectedText(f),
		"*Since*\n" + since(f),
		"*Status*\n" + statusText(f.Status),
	}
	objs := make([]*slackapi.TextBlockObject, 0, maxFields)
	for _, s := range fields[:min(len(fields), maxFields)] {
		objs = append(objs, mrkdwn(cutBytes(s, maxFieldText)))
	}
	return slackapi.NewSectionBlock(nil, objs, nil)
}

// clientField names the client and how its key was derived; for a
// campaign without one, how many clients took part.
func clientField(f detect.Finding) string {
	if f.Client == "" && (f.ClientCount > 0 || len(f.Clients) > 0) {
		return "*Clients*\n" + fmtNum(float64(max(f.ClientCount, len(f.Clients)))) + " (campaign)"
	}
	if f.Client == detect.FleetClient {
		return "*Client*\nwhole fleet"
	}
	s := "*Client*\n" + code(f.Client, 300)
	if f.ClientKind != "" {
		s += " (" + esc(f.ClientKind, 40) + ")"
	}
	return s
}

// expectedText is the baseline's expectation: "48 ±6 req/min".
func expectedText(f detect.Finding) string {
	switch f.Baseline {
	case detect.BaselineNone:
		return "no baseline (floor-based)"
	case detect.BaselinePopulation:
		return fmtValue(f.Expected, f.Unit, false) + " ±" + fmtValue(f.Spread, f.Unit, true) + "\n_population baseline_"
	}
	return fmtValue(f.Expected, f.Unit, false) + " ±" + fmtValue(f.Spread, f.Unit, true)
}

// fmtValue renders a figure, with its unit when withUnit; ratios as
// percentages ("42%", then the rest of the unit: "5xx").
func fmtValue(x float64, unit string, withUnit bool) string {
	num := fmtNum(x)
	if strings.Contains(unit, "ratio") {
		num = fmtNum(100*x) + "%"
		unit = strings.TrimSpace(strings.ReplaceAll(unit, "ratio", ""))
	}
	if !withUnit || unit == "" {
		return num
	}
	return num + " " + esc(unit, 40)
}

// statusText names a status for people.
func statusText(s detect.Status) string {
	switch s {
	case detect.StatusOpen:
		return "open"
	case detect.StatusUpdate:
		return "ongoing"
	case detect.StatusResolved:
		return ":white_check_mark: resolved"
	}
	return esc(string(s), 20)
}

// since says when the incident began, in the reader's time zone (Slack
// date token, UTC fallback), how long it lasted and over how many
// windows.
func since(f detect.Finding) string {
	if f.WindowStart.IsZero() {
		return "unknown"
	}
	start := f.WindowStart.UTC()
	s := "<!date^" + strconv.FormatInt(start.Unix(), 10) + "^{date_short_pretty} {time}|" +
		start.Format("2006-01-02 15:04 UTC") + ">"
	if d := f.WindowEnd.Sub(f.WindowStart); d > 0 {
		s += "\nfor " + fmtDuration(d)
	}
	if f.Windows > 0 {
		s += " · " + strconv.Itoa(f.Windows) + " window"
		if f.Windows != 1 {
			s += "s"
		}
	}
	return s
}

// fmtDuration renders d in minutes, hours and days ("1h 12m").
func fmtDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "<1m"
	}
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	h, m := d/time.Hour, (d%time.Hour)/time.Minute
	var parts []string
	for _, p := range []struct {
		n    time.Duration
		unit string
	}{{days, "d"}, {h, "h"}, {m, "m"}} {
		if p.n > 0 {
			parts = append(parts, strconv.FormatInt(int64(p.n), 10)+p.unit)
		}
	}
	return strings.Join(parts, " ")
}

// idsBlock is the context line with the incident and delivery ids.
func idsBlock(incident, delivery string) slackapi.Block {
	text := "incident " + code(incident, 100)
	if delivery != "" {
		text += " · delivery " + code(delivery, 100)
	}
	return slackapi.NewContextBlock("", mrkdwn(text+" · gatewatch"))
}

// notesBlock shows who did what, the latest notes last.
func notesBlock(notes []string) slackapi.Block {
	if len(notes) == 0 {
		return nil
	}
	if len(notes) > maxContextElem {
		notes = notes[len(notes)-maxContextElem:]
	}
	els := make([]slackapi.MixedElement, 0, len(notes))
	for _, n := range notes {
		if n != "" {
			els = append(els, mrkdwn(cutBytes(n, maxContextText)))
		}
	}
	if len(els) == 0 {
		return nil
	}
	return slackapi.NewContextBlock(blockIDNotes, els...)
}

// actionsBlock holds the buttons and the Grafana link; nil when there
// are none.
func actionsBlock(f detect.Finding, o BlockOptions) slackapi.Block {
	var els []slackapi.BlockElement
	if !o.NoButtons {
		value := buttonValue(f)
		ack := slackapi.NewButtonBlockElement(ActionAck, value, plain("Acknowledge"))
		ack.Style = slackapi.StylePrimary
		fp := slackapi.NewButtonBlockElement(ActionFalsePositive, value, plain("False positive"))
		fp.Style = slackapi.StyleDanger
		els = append(els, ack,
			slackapi.NewButtonBlockElement(ActionSilence1h, value, plain("Silence 1h")),
			slackapi.NewButtonBlockElement(ActionSilence24h, value, plain("Silence 24h")), fp)
	}
	if u := grafanaURL(o.GrafanaURL, f); u != "" {
		link := slackapi.NewButtonBlockElement(ActionGrafana, "", plain(":bar_chart: Grafana"))
		link.URL = u
		els = append(els, link)
	}
	if len(els) == 0 {
		return nil
	}
	return slackapi.NewActionBlock(blockIDActions, els...)
}

// buttonRef is what a button's value carries: enough to act on the
// incident without the sink's state.
type buttonRef struct {
	IncidentID string `json:"i"`
	Client     string `json:"c"`
	Detector   string `json:"d"`
}

// buttonValue encodes f's incident id, client and detector as compact
// JSON within the value limit; an overlong client key is cut (the
// incident id is what identifies the incident).
func buttonValue(f detect.Finding) string {
	v := buttonRef{cutRaw(f.IncidentID, 200), f.Client, cutRaw(f.Detector, 100)}
	for limit := 1500; ; limit /= 2 {
		v.Client = cutRaw(v.Client, limit)
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if enc.Encode(v) == nil && b.Len() <= maxButtonValue {
			return strings.TrimSuffix(b.String(), "\n")
		}
		if limit == 0 {
			return `{"i":""}`
		}
	}
}

// cutRaw cuts s to at most n bytes at a rune boundary.
func cutRaw(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xc0) == 0x80 {
		n--
	}
	return s[:n]
}

// grafanaURL fills tmpl's placeholders with f's URL-escaped values:
// {{client}}, {{detector}}, {{incident}}, and {{from}}/{{to}} (Unix
// milliseconds, an hour before the incident to an hour after its last
// window). It returns "" when tmpl is empty or the result is not a
// usable http(s) URL.
func grafanaURL(tmpl string, f detect.Finding) string {
	if tmpl == "" {
		return ""
	}
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	r := strings.NewReplacer(
		"{{client}}", url.QueryEscape(f.Client),
		"{{detector}}", url.QueryEscape(f.Detector),
		"{{incident}}", url.QueryEscape(f.IncidentID),
		"{{from}}", ms(f.WindowStart.Add(-time.Hour)),
		"{{to}}", ms(f.WindowEnd.Add(time.Hour)),
	)
	u := r.Replace(tmpl)
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || len(u) > maxURL {
		return ""
	}
	return u
}
