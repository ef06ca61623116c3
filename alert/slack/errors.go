package slack

import (
	"errors"
	"net/http"

	slackapi "github.com/slack-go/slack"

	"github.com/gatewatch/gatewatch/alert"
)

// Slack error codes that doom every message of a call: the token, the
// app's permissions or the channel are wrong until someone fixes them.
var fatalCodes = map[string]bool{
	"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true,
	"token_expired": true, "no_permission": true, "missing_scope": true, "not_allowed_token_type": true,
	"channel_not_found": true, "is_archived": true, "not_in_channel": true, "restricted_action": true,
	"team_access_not_granted": true, "ekm_access_denied": true, "org_login_required": true,
	"invalid_token": true, "no_service": true, "no_service_id": true, "no_team": true,
	"action_prohibited": true, "posting_to_general_channel_denied": true, "channel_is_archived": true,
}

// Slack error codes worth retrying: Slack's own trouble.
var transientCodes = map[string]bool{
	"ratelimited": true, "internal_error": true, "fatal_error": true, "service_unavailable": true,
	"request_timeout": true, "team_added_to_org": true,
}

// classify maps a slack-go error to the Sink contract: retry for rate
// limits (with their delay), network errors, timeouts and 5xx; no retry
// for Slack's refusals. Unknown errors are retried: dropping an alert is
// worse than a duplicate.
func classify(err error) (retry bool, _ error) {
	if err == nil {
		return false, nil
	}
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		return true, &alert.RetryAfterError{After: rl.RetryAfter, Err: err}
	}
	var sc slackapi.StatusCodeError
	if errors.As(err, &sc) {
		return sc.Code >= 500 || sc.Code == http.StatusTooManyRequests || sc.Code == http.StatusRequestTimeout, err
	}
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) {
		return transientCodes[se.Err], err
	}
	// Network errors, timeouts, a cancelled context, a failed state
	// write, an unreadable answer: nothing is known delivered for sure.
	return true, err
}

// fatal reports an error that no other message of the call could
// escape: a bad token, a missing channel.
func fatal(err error) bool {
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) {
		return fatalCodes[se.Err]
	}
	var sc slackapi.StatusCodeError
	if errors.As(err, &sc) {
		// Incoming webhooks answer 403/404/410 for a revoked or unknown hook.
		return sc.Code == http.StatusForbidden || sc.Code == http.StatusNotFound || sc.Code == http.StatusGone
	}
	return false
}

// slackCode returns the Slack error code in err's chain, or "".
func slackCode(err error) string {
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}
