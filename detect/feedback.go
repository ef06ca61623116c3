package detect

import "time"

// FalsePositives says which client/detector pairs people have marked as
// false positives (the alert stage's "False positive" button; see
// detect/feedback for the file it keeps). Options.FalsePositives is
// consulted only for windows a detector found anomalous, so a lookup may
// take a lock.
type FalsePositives interface {
	// FalsePositive reports whether the anomaly detector (a Finding.Detector
	// name) found in client's window ending at end was marked as normal
	// for that client.
	FalsePositive(client, detector string, end time.Time) bool
}

// forgiven reports whether people marked client idx's anomaly of detector
// d, in the window being closed, as a false positive. Such a window is
// neither reported nor counted as an anomaly: the baselines absorb it as
// an ordinary window, so the client's own past comes to include what
// people said is normal for it, instead of being winsorised away as an
// attack would be.
func (e *Engine) forgiven(idx int32, d detector) bool {
	fp := e.opts.FalsePositives
	if fp == nil {
		return false
	}
	client := FleetClient
	if idx >= 0 {
		client = e.tab.key(idx)
	}
	if !fp.FalsePositive(client, d.String(), e.clock.start(e.closing+1)) {
		return false
	}
	e.stats.Forgiven++
	return true
}
