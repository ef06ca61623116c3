// Package slack is the Slack sink of gatewatch's alerting: it delivers
// notifications (alert.Notification) to a channel, and serves the
// endpoint the messages' buttons post back to.
//
// In bot mode (Options.Token) each incident gets one message, posted at
// its first emission with Block Kit blocks and message metadata naming
// the incident, then edited in place as the incident changes, with a
// short reply in its thread when it changes status (ongoing, resolved).
// Where each incident's message is lives in a small state file written
// atomically before a delivery is reported done; a sink that crashed
// between a post and that write finds its message again by its metadata
// in the channel's recent history instead of posting twice. A burst of
// new incidents becomes one digest message whose thread gets their
// updates.
//
// With Options.Chart, a resolved incident's thread also gets its chart:
// a PNG of the client's metric against its expected band, drawn by the
// Charter the caller provides and uploaded with files.getUploadURLExternal
// and files.completeUploadExternal, which need the bot token's
// files:write scope. The state records the upload, so a retried delivery never uploads twice. The
// chart is an extra: one that cannot be drawn, or an upload Slack
// refuses (missing_scope, not_allowed), is logged and given up, never
// failing the delivery; a network error, a 5xx or a rate limit is
// retried like a failed post. Digests get no chart.
//
// In webhook mode (Options.WebhookURL) messages cannot be edited: open
// and resolved emissions are posted, updates skipped, and there are no
// buttons.
//
// The sink never retries, waits or rate-limits: it classifies failures
// for the dispatcher (alert.Sink) — Slack's rate limit as an
// alert.RetryAfterError, network errors and 5xx as retryable, refusals
// such as invalid_auth or channel_not_found as final.
//
// NewInteractionHandler serves the buttons (Acknowledge, Silence 1h,
// Silence 24h, False positive): it verifies Slack's request signature,
// refuses stale and replayed requests, hands each action to a Feedback
// the caller provides, and notes on the message who did what.
//
// Blocks and DigestBlocks are pure: untrusted values (client keys,
// routes, samples) are escaped so they cannot mention, link or format,
// and Block Kit's limits hold whatever a finding holds.
package slack
