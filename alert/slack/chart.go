package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/gatewatch/gatewatch/detect"
)

// Charter draws an incident's chart for its Slack thread. Chart returns
// the PNG image of f's band; nil and no error when the incident has
// none (a campaign, no data). It may be called again for the same
// incident after a failure.
type Charter interface {
	Chart(ctx context.Context, f detect.Finding) (png []byte, err error)
}

// maxChartTries is how many Notify calls in a row may fail on one
// incident's chart upload for a retryable reason before the sink gives
// the chart up: a chart is not worth holding the channel's alerts
// behind an upload path that keeps failing.
const maxChartTries = 8

// Limits of the uploaded file's texts.
const (
	maxChartTitle = 200
	maxChartAlt   = 1000
)

// attachChart uploads the chart of f, resolved, into the thread of its
// message e, once: the entry records that it was dealt with. A chart
// that cannot be drawn, or an upload Slack refuses, is logged and given
// up; a retryable upload error is returned, for the dispatcher to retry
// the call. Digests get no chart.
func (s *Sink) attachChart(ctx context.Context, f detect.Finding, e entry) error {
	if s.opts.Chart == nil || e.Digest || e.Chart || f.Status != detect.StatusResolved || e.Status != detect.StatusResolved {
		return nil
	}
	png, err := s.opts.Chart.Chart(ctx, f)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("slack: chart of incident %s: %w", f.IncidentID, ctx.Err())
	case err != nil:
		s.log.Warn("slack: no chart for the resolved incident", "sink", s.opts.Name, "incident", f.IncidentID, "err", terse(err))
	case len(png) > 0:
		if err := s.upload(ctx, f, e, png); err != nil {
			return err
		}
	}
	e.Chart = true
	return s.st.put("", map[string]entry{f.IncidentID: e})
}

// upload posts png into the thread of message e (files.getUploadURLExternal,
// the upload, files.completeUploadExternal). It returns only the errors
// worth a retry, until maxChartTries; it logs the others.
func (s *Sink) upload(ctx context.Context, f detect.Finding, e entry, png []byte) error {
	_, err := s.api.UploadFileContext(ctx, slackapi.UploadFileParameters{
		Reader: bytes.NewReader(png), FileSize: len(png), Filename: "incident-" + fileSafe(f.IncidentID) + ".png",
		Title: chartTitle(f), AltTxt: chartAlt(f), Channel: e.Channel, ThreadTimestamp: e.TS,
	})
	if err == nil {
		delete(s.chartFails, f.IncidentID)
		return nil
	}
	retry, _ := classify(err)
	if ctx.Err() != nil {
		retry = true
	} else if retry {
		s.chartFails[f.IncidentID]++
		retry = s.chartFails[f.IncidentID] < maxChartTries
	}
	if retry {
		return fmt.Errorf("slack: chart of incident %s: %w", f.IncidentID, err)
	}
	delete(s.chartFails, f.IncidentID)
	args := []any{"sink", s.opts.Name, "incident", f.IncidentID, "err", terse(err)}
	if slackCode(err) == "missing_scope" {
		args = append(args, "hint", "the Slack app needs the files:write scope")
	}
	s.log.Warn("slack: chart not attached to the resolved incident", args...)
	return nil
}

// chartTitle is the uploaded chart's title.
func chartTitle(f detect.Finding) string {
	return plainN("Band of "+strings.ReplaceAll(f.Detector, "_", " ")+" · "+clientLabel(f), maxChartTitle)
}

// chartAlt describes the chart for screen readers.
func chartAlt(f detect.Finding) string {
	return plainN("Chart of client "+clientLabel(f)+" around incident "+f.IncidentID+" ("+f.Detector+
		"): the observed metric per window against the expected value and the band of one spread around it; "+
		"the incident's windows are shaded.", maxChartAlt)
}

// terse is err's text for a log line, a URL in it cut to its scheme
// and host (an upload URL is a capability).
func terse(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err.Error()
	}
	host := "Slack"
	if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
		host = u.Scheme + "://" + u.Host
	}
	return fmt.Sprintf("%s %s: %v", ue.Op, host, ue.Err)
}
